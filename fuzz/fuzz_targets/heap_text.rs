//! Any bytes given to the heap text reader (jemalloc, tcmalloc, Go legacy) end
//! in a profile or an error, never a panic; so do pruning and summarizing it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = lh_pprof::legacy::heap::parse(data) {
        let mut p = h.profile;
        lh_native::prune_allocator(&mut p);
        for by in [lh_pprof::Granularity::Function, lh_pprof::Granularity::Line] {
            let _ = lh_pprof::summarize(&p, "fuzz", by, None);
        }
    }
});
