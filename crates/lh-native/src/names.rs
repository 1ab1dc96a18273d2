//! Function names as the user reads them, and which of them are the allocator's.

use std::path::Path;

/// The readable name of a symbol: Rust demangled without its hash, C++
/// demangled without its parameter list (pprof's default), C as it is.
pub fn simplify(raw: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(raw) {
        return format!("{d:#}");
    }
    if raw.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(raw) {
            let opts = cpp_demangle::DemangleOptions::new().no_params();
            if let Ok(s) = sym.demangle(&opts) {
                return s;
            }
        }
    }
    raw.to_string()
}

/// Allocation entry points, matched whole.
const ENTRY_POINTS: &[&str] = &[
    "malloc",
    "calloc",
    "realloc",
    "reallocarray",
    "free",
    "cfree",
    "memalign",
    "posix_memalign",
    "__posix_memalign",
    "aligned_alloc",
    "valloc",
    "pvalloc",
    "do_memalign",
    "strdup",
    "strndup",
    "__strdup",
    "__libc_malloc",
    "__libc_calloc",
    "__libc_realloc",
    "__libc_memalign",
    // jemalloc's non-standard API.
    "mallocx",
    "rallocx",
    "xallocx",
    "sallocx",
    "sdallocx",
    "nallocx",
    // Rust's global allocator shims.
    "__rust_alloc",
    "__rust_alloc_zeroed",
    "__rust_realloc",
    "__rust_dealloc",
    "__rg_alloc",
    "__rg_alloc_zeroed",
    "__rg_realloc",
    "__rdl_alloc",
    "__rdl_alloc_zeroed",
    "__rdl_realloc",
];

/// Name prefixes of allocator internals and wrappers.
const PREFIXES: &[&str] = &[
    // jemalloc, with Debian's and tikv-jemalloc-sys's symbol prefixes.
    "je_",
    "_rjem_",
    "prof_backtrace",
    // tcmalloc and gperftools.
    "tc_",
    "tcmalloc::",
    "MallocHook::",
    "HeapProfileTable::",
    "DoSampledAllocation",
    // C++.
    "operator new",
    "operator delete",
    "std::allocator<",
    "std::__new_allocator<",
    "__gnu_cxx::new_allocator<",
    "__gnu_cxx::__new_allocator<",
    // Rust: the alloc crate (Box, Vec, String growth) and allocator crates.
    "alloc::",
    "<alloc::",
    "std::alloc::",
    "core::alloc::",
    "<std::alloc::",
    "tikv_jemallocator::",
    "<tikv_jemallocator::",
    "jemallocator::",
    "<jemallocator::",
];

/// True for a frame of the allocator or of the allocation machinery around it,
/// which a leak report should look past.
pub fn is_allocator_frame(name: &str) -> bool {
    ENTRY_POINTS.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// True for a mapped file that is an allocator library, whose unnamed frames
/// (a stripped `libjemalloc.so.2`) are the allocator's too.
pub fn is_allocator_library(file: &str) -> bool {
    let name = Path::new(file)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    ["libjemalloc.so", "libtcmalloc", "libjemalloc_pic"]
        .iter()
        .any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplifies_mangled_names() {
        assert_eq!(
            simplify("_ZN5leaky8Registry8remember17h0123456789abcdefE"),
            "leaky::Registry::remember"
        );
        assert_eq!(simplify("_Znwm"), "operator new");
        assert_eq!(simplify("_ZN3foo3barEi"), "foo::bar");
        assert_eq!(simplify("remember_request"), "remember_request");
    }

    #[test]
    fn knows_allocator_frames() {
        for n in [
            "malloc",
            "je_malloc_default",
            "_rjem_je_prof_backtrace",
            "tc_newarray",
            "operator new",
            "alloc::alloc::exchange_malloc",
            "<alloc::vec::Vec<T,A> as core::clone::Clone>::clone",
            "__rust_alloc",
        ] {
            assert!(is_allocator_frame(n), "{n}");
        }
        for n in [
            "main",
            "remember_request",
            "leaky::remember",
            "__libc_start_main",
            "mallocate_things",
        ] {
            assert!(!is_allocator_frame(n), "{n}");
        }
        assert!(is_allocator_library(
            "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
        ));
        assert!(is_allocator_library("/usr/lib/libtcmalloc_minimal.so.4"));
        assert!(!is_allocator_library("/usr/lib/x86_64-linux-gnu/libc.so.6"));
    }
}
