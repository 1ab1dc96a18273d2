//! Any bytes given to the tracemalloc reader (pickle or JSON) end in a
//! snapshot or an error, never a panic, and never run anything.
#![no_main]

use lh_tracemalloc::KeyType;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = lh_tracemalloc::parse(data) {
        for key in [KeyType::Lineno, KeyType::Filename, KeyType::Traceback] {
            let _ = lh_tracemalloc::compare_to(&s, &s, key, false);
        }
        let _ = lh_tracemalloc::compare_to(&s, &s, KeyType::Lineno, true);
    }
});
