//! Any bytes given to the legacy pprof readers (gperftools' and Java's text
//! and binary profiles, Go's debug=1 text) end in a profile or an error,
//! never a panic; a profile that reads must also summarize.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = lh_pprof::parse_legacy(data) {
        for by in [lh_pprof::Granularity::Function, lh_pprof::Granularity::Line] {
            let _ = lh_pprof::summarize(&p, "fuzz", by, None);
        }
    }
});
