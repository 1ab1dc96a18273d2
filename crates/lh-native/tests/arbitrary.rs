//! Bad input never panics the native reader: arbitrary bytes as a heap text
//! profile, and arbitrary or corrupted bytes as the binary it maps (the
//! symbolization input, read from a `--symbols DIR`), end in a profile or an
//! error, and symbolizing, pruning and summarizing what was read never panic.

use lh_native::{prune_allocator, symbolize, Symbols};
use lh_pprof::legacy::heap;
use lh_pprof::Granularity;
use proptest::collection::vec;
use proptest::num::u8::ANY;
use proptest::prelude::*;
use std::path::Path;

/// A well-formed tcmalloc dump whose stacks are in `/srv/app`.
const DUMP: &str = "heap profile:    3:   12288 [    3:   12288] @ heapprofile\n\
     2:  8192 [     2:  8192] @ 0x401136 0x401190 0x7f0000001000\n\
     1:  4096 [     1:  4096] @ 0x401200\n\
     \n\
     MAPPED_LIBRARIES:\n\
     00400000-00402000 r-xp 00000000 fe:00 1 /srv/app\n\
     7f0000000000-7f0000010000 r-xp 00000000 fe:00 2 /usr/lib/libc.so.6\n";

/// Reads `text` as a heap profile and, if it reads, symbolizes it from `dir`,
/// prunes it and summarizes it every way.
fn read_all(text: &[u8], dir: &Path) {
    let Ok(h) = heap::parse(text) else { return };
    let mut p = h.profile;
    symbolize(&mut p, &Symbols::Dir(dir.to_path_buf()));
    prune_allocator(&mut p);
    for by in [Granularity::Function, Granularity::Line, Granularity::File] {
        let _ = lh_pprof::summarize(&p, "arbitrary", by, None);
    }
}

/// A real ELF file to corrupt: a small one every Linux has.
fn small_elf() -> Vec<u8> {
    ["/usr/bin/true", "/bin/true"]
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .expect("/usr/bin/true")
}

/// The properties below start from [`DUMP`] and a real binary: both must
/// read, or the corrupted cases would test nothing past the first error.
#[test]
fn the_dump_and_binary_the_properties_start_from_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app"), small_elf()).unwrap();
    let mut p = heap::parse(DUMP.as_bytes()).expect("DUMP reads").profile;
    let out = symbolize(&mut p, &Symbols::Dir(dir.path().to_path_buf()));
    let missing: Vec<&str> = out.missing.iter().map(|(f, _)| f.as_str()).collect();
    assert!(!missing.contains(&"/srv/app"), "{missing:?}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_as_a_heap_profile_never_panic(bytes in vec(ANY, 0..1024)) {
        let dir = tempfile::tempdir().unwrap();
        read_all(&bytes, dir.path());
    }

    #[test]
    fn corrupted_heap_profiles_never_panic(flips in vec((0usize..4096, ANY), 1..8)) {
        let mut bytes = DUMP.as_bytes().to_vec();
        for (at, b) in flips {
            let n = bytes.len();
            bytes[at % n] = b;
        }
        let dir = tempfile::tempdir().unwrap();
        read_all(&bytes, dir.path());
    }

    #[test]
    fn arbitrary_bytes_as_the_mapped_binary_never_panic(bytes in vec(ANY, 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app"), &bytes).unwrap();
        read_all(DUMP.as_bytes(), dir.path());
    }

    #[test]
    fn corrupted_or_cut_binaries_never_panic(
        flips in vec((proptest::num::usize::ANY, ANY), 0..16),
        cut in proptest::num::usize::ANY,
    ) {
        let mut elf = small_elf();
        let n = elf.len();
        for (at, b) in flips {
            // Mostly the headers, where a flip changes the structure.
            elf[at % n.min(4096)] = b;
        }
        if cut % 3 == 0 {
            elf.truncate(cut % n);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app"), &elf).unwrap();
        read_all(DUMP.as_bytes(), dir.path());
    }
}
