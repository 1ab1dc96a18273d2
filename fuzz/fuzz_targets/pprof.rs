//! Any bytes given to the pprof reader end in a profile or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = lh_pprof::parse(data) {
        for by in [lh_pprof::Granularity::Function, lh_pprof::Granularity::Line] {
            let _ = lh_pprof::summarize(&p, "fuzz", by, None);
        }
        let _ = lh_pprof::diff_profile(&p, &p);
    }
});
