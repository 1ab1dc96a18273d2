//! Differential tests against the machine's CPython: real snapshots taken by
//! the sample apps of testkit/apps/python, compared by CPython's own
//! `Snapshot.compare_to` and by ours, entry by entry and in order.

use lh_tracemalloc::{compare_to, group, parse, Frame, KeyType, Snapshot, Stat};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use testkit::repo_root;

fn python(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 (CPython 3.8+) must be installed");
    assert!(
        out.status.success(),
        "python3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn app(name: &str) -> String {
    repo_root()
        .join("testkit/apps/python")
        .join(name)
        .display()
        .to_string()
}

/// Snapshots 0..3 of the dict-cache leak with 10 frames, taken once per test binary.
fn snapshots() -> &'static (tempfile::TempDir, Vec<PathBuf>) {
    static S: OnceLock<(tempfile::TempDir, Vec<PathBuf>)> = OnceLock::new();
    S.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        python(&[&app("dict_cache.py"), &d, "3", "10"]);
        let paths = (0..3)
            .map(|i| dir.path().join(format!("snap-{i}.pickle")))
            .collect();
        (dir, paths)
    })
}

/// `Snapshot._group_by` of one snapshot, keyed by frames.
fn group_by(snap: &Snapshot, key: KeyType) -> HashMap<Vec<Frame<'_>>, Stat> {
    group(&[snap], key, false)
        .unwrap()
        .into_iter()
        .map(|g| (g.key.frames(), g.stats[0]))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn compare_to_equals_cpython_for_every_key_type() {
    let (_, paths) = snapshots();
    let (old_p, new_p) = (&paths[0], &paths[2]);
    let oracle: Value =
        serde_json::from_slice(&python(&[&app("compare.py"), s(old_p), s(new_p)])).unwrap();
    let old = lh_tracemalloc::open(old_p).unwrap();
    let new = lh_tracemalloc::open(new_p).unwrap();
    let modes = [
        ("lineno", KeyType::Lineno, false),
        ("lineno/cumulative", KeyType::Lineno, true),
        ("filename", KeyType::Filename, false),
        ("filename/cumulative", KeyType::Filename, true),
        ("traceback", KeyType::Traceback, false),
    ];
    for (name, key, cumulative) in modes {
        let expected = oracle[name].as_array().unwrap();
        let ours: Vec<Value> = compare_to(&new, &old, key, cumulative)
            .unwrap()
            .into_iter()
            .map(|d| {
                let frames: Vec<Value> = d
                    .traceback
                    .iter()
                    .map(|(f, l)| serde_json::json!([f, l]))
                    .collect();
                serde_json::json!([frames, d.size, d.size_diff, d.count, d.count_diff])
            })
            .collect();
        assert!(
            expected.len() > 3,
            "{name}: too few entries to mean anything"
        );
        assert_eq!(ours.len(), expected.len(), "{name}: number of entries");
        for (i, (a, b)) in ours.iter().zip(expected).enumerate() {
            assert_eq!(a, b, "{name}: entry {i} differs from CPython");
        }
    }
}

#[test]
fn json_format_reads_the_same_snapshot_as_the_pickle() {
    let dir = tempfile::tempdir().unwrap();
    let (p, j) = (dir.path().join("s.pickle"), dir.path().join("s.json"));
    let helpers = repo_root().join("helpers/python");
    let code = format!(
        "import sys, tracemalloc; sys.path.insert(0, {h:?}); import leakhound_helper as h\n\
         tracemalloc.start(5); keep = [bytes(100 + i) for i in range(2000)]\n\
         snap = h.take_snapshot(); import pickle\n\
         h.write_private({p:?}, pickle.dumps(snap, 4)); h.write_private({j:?}, h.snapshot_json(snap))",
        h = s(&helpers),
        p = s(&p),
        j = s(&j)
    );
    python(&["-c", &code]);
    let a = lh_tracemalloc::open(&p).unwrap();
    let b = lh_tracemalloc::open(&j).unwrap();
    assert!(a.len() > 2000);
    assert_eq!((a.len(), a.total_size()), (b.len(), b.total_size()));
    assert_eq!(a.traceback_limit, Some(5));
    assert_eq!(b.traceback_limit, Some(5));
    for key in [KeyType::Lineno, KeyType::Traceback] {
        assert_eq!(group_by(&a, key), group_by(&b, key));
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&j).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "snapshot files are private");
}

#[test]
fn every_pickle_protocol_and_three_field_traces() {
    // Protocols 2 to 5, and a snapshot whose traces have Python 3.8's three
    // fields (domain, size, traceback), built from a real one.
    let code = "import pickle, sys, tracemalloc\n\
        tracemalloc.start(3); keep = [bytearray(64) for _ in range(500)]\n\
        snap = tracemalloc.take_snapshot()\n\
        old = tracemalloc.Snapshot([t[:3] for t in snap.traces._traces], 3)\n\
        out = [pickle.dumps(snap, p).hex() for p in (2, 3, 4, 5)] + [pickle.dumps(old, 4).hex()]\n\
        print(' '.join(out))";
    let out = String::from_utf8(python(&["-c", code])).unwrap();
    let snaps: Vec<_> = out
        .split_whitespace()
        .map(|h| parse(&hex(h)).unwrap())
        .collect();
    let expected = group_by(&snaps[0], KeyType::Lineno);
    assert!(snaps[0].len() >= 500);
    for s in &snaps[1..] {
        assert_eq!(s.len(), snaps[0].len());
        assert_eq!(group_by(s, KeyType::Lineno), expected);
    }
}

fn hex(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&data);
    }

    #[test]
    fn mutated_real_pickles_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let real = std::fs::read(&snapshots().1[0]).unwrap();
        let mut data = real.clone();
        for (i, b) in flips {
            let i = i.index(data.len());
            data[i] = b;
        }
        let _ = parse(&data);
        let _ = parse(&real[..cut.index(real.len())]);
    }
}
