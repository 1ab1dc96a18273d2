//! Any bytes given to the HPROF reader end in a histogram, a graph or an
//! error, never a panic. The reader streams from files, so each input goes
//! through a scratch file (on tmpfs, ideally: TMPDIR=/dev/shm).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("lh-fuzz-hprof-{}", std::process::id()));
    std::fs::write(&path, data).expect("write scratch file");
    let _ = lh_hprof::histogram(&path, &|_, _| {});
    let _ = lh_hprof::open(&path, &|_, _| {});
});
