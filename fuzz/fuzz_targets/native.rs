//! The native reader end to end on any bytes: a heap text profile (jemalloc,
//! tcmalloc) and the binary it maps, as `diff --symbols DIR` reads them. The
//! input is the profile, then the binary from its `\x7fELF` magic on (so a
//! seed is a dump with the sample app appended); the binary is stored under
//! the file name of each mapping, where `--symbols DIR` looks. Reading,
//! symbolizing, pruning and summarizing end in a profile or an error, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

/// One directory for the whole run: a new one per input would cost more
/// than the target itself.
fn symbols_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("leakhound-fuzz-native-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("a scratch directory");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let split = data
        .windows(4)
        .position(|w| w == b"\x7fELF")
        .unwrap_or(data.len());
    let (text, elf) = data.split_at(split);
    let Ok(h) = lh_pprof::legacy::heap::parse(text) else {
        return;
    };
    let mut p = h.profile;
    let dir = symbols_dir();
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::create_dir_all(dir);
    for m in p.mapping.iter().take(8) {
        let name = p.string(m.filename);
        if let Some(base) = Path::new(name).file_name() {
            let _ = std::fs::write(dir.join(base), elf);
        }
    }
    lh_native::symbolize(&mut p, &lh_native::Symbols::Dir(dir.to_path_buf()));
    lh_native::prune_allocator(&mut p);
    for by in [lh_pprof::Granularity::Function, lh_pprof::Granularity::Line] {
        let _ = lh_pprof::summarize(&p, "fuzz", by, None);
    }
});
