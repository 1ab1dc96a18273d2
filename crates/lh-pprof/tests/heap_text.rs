//! The heap text reader against `go tool pprof` itself, on the heap profiles of
//! google/pprof's own testdata (Debian's golang-github-google-pprof-dev installs
//! them; CI installs it): every sample's values, stack and block size, the
//! sample types and the period must be equal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const TESTDATA: &str = "/usr/share/gocode/src/github.com/google/pprof/profile/testdata";

/// What both readers must agree on: sample types, period, and per stack of
/// addresses the summed values and block sizes.
#[derive(Debug, PartialEq)]
struct Seen {
    types: Vec<String>,
    period: i64,
    samples: BTreeMap<Vec<u64>, Vec<(Vec<i64>, i64)>>,
    mapping_of: BTreeMap<u64, String>,
}

fn ours(path: &Path) -> Seen {
    let bytes = std::fs::read(path).unwrap();
    let p = lh_pprof::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let addr: BTreeMap<u64, u64> = p.location.iter().map(|l| (l.id, l.address)).collect();
    let mut samples: BTreeMap<Vec<u64>, Vec<(Vec<i64>, i64)>> = BTreeMap::new();
    for s in &p.sample {
        let stack = s.location_id.iter().map(|id| addr[id]).collect();
        let block = s.label.first().map_or(0, |l| l.num);
        samples
            .entry(stack)
            .or_default()
            .push((s.value.clone(), block));
    }
    samples.values_mut().for_each(|v| v.sort());
    let mapping_of = p
        .location
        .iter()
        .map(|l| {
            let m = p.mapping.iter().find(|m| m.id == l.mapping_id).unwrap();
            (l.address, p.string(m.filename).to_string())
        })
        .collect();
    Seen {
        types: p
            .sample_types()
            .iter()
            .map(|(t, u)| format!("{t}/{u}"))
            .collect(),
        period: p.period,
        samples,
        mapping_of,
    }
}

impl Seen {
    fn total(&self, i: usize) -> i64 {
        self.samples.values().flatten().map(|(v, _)| v[i]).sum()
    }
}

/// The total of sample type `i` in bytes, as `go tool pprof -top` states it.
fn go_pprof_total(path: &Path, i: usize) -> i64 {
    let out = Command::new("go")
        .args(["tool", "pprof", "-top", "-unit=B", "-nodecount=1"])
        .arg(format!("-sample_index={i}"))
        .arg(path)
        .env("PPROF_BINARY_PATH", "/nonexistent")
        .output()
        .expect("run go tool pprof");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(" total"))
        .unwrap_or_else(|| panic!("no total in {text}"));
    let of = line.split(" of ").nth(1).unwrap();
    of.trim_end_matches(" total")
        .trim_end_matches('B')
        .parse()
        .unwrap()
}

/// Reads `go tool pprof -raw`: the profile as pprof parsed it.
fn go_pprof(path: &Path) -> Seen {
    let out = Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(path)
        .env("PPROF_BINARY_PATH", "/nonexistent")
        .output()
        .expect("run go tool pprof (apt-get install golang-go)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().peekable();
    let mut period = 0;
    let mut types = Vec::new();
    let mut raw_samples: Vec<(Vec<i64>, Vec<u64>, i64)> = Vec::new();
    let mut locs: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut maps: BTreeMap<u64, String> = BTreeMap::new();
    let mut section = "";
    while let Some(line) = lines.next() {
        let t = line.trim();
        if let Some(p) = t.strip_prefix("Period: ") {
            period = p.parse().unwrap();
        } else if t == "Samples:" {
            section = "samples";
            types = lines
                .next()
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect();
        } else if t == "Locations" {
            section = "locations";
        } else if t == "Mappings" {
            section = "mappings";
        } else if section == "samples" && t.contains(':') && !t.starts_with("bytes:") {
            let (vals, ids) = t.split_once(':').unwrap();
            let values = vals
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect();
            let ids = ids.split_whitespace().map(|v| v.parse().unwrap()).collect();
            let block = lines
                .peek()
                .and_then(|l| l.trim().strip_prefix("bytes:["))
                .map_or(0, |b| b.trim_end_matches(']').parse().unwrap());
            raw_samples.push((values, ids, block));
        } else if section == "locations" && !t.is_empty() {
            let mut w = t.split_whitespace();
            let id: u64 = w.next().unwrap().trim_end_matches(':').parse().unwrap();
            let addr = u64::from_str_radix(w.next().unwrap().trim_start_matches("0x"), 16).unwrap();
            let m = w
                .next()
                .and_then(|m| m.strip_prefix("M="))
                .map_or(0, |m| m.parse().unwrap());
            locs.insert(id, (addr, m));
        } else if section == "mappings" && !t.is_empty() {
            let (id, rest) = t.split_once(':').unwrap();
            let file = rest.split_whitespace().nth(1).unwrap_or_default();
            maps.insert(id.parse().unwrap(), file.to_string());
        }
    }
    let mut samples: BTreeMap<Vec<u64>, Vec<(Vec<i64>, i64)>> = BTreeMap::new();
    for (values, ids, block) in raw_samples {
        let stack = ids.iter().map(|id: &u64| locs[id].0).collect();
        samples.entry(stack).or_default().push((values, block));
    }
    samples.values_mut().for_each(|v| v.sort());
    let mapping_of = locs
        .values()
        .map(|(a, m)| (*a, maps.get(m).cloned().unwrap_or_default()))
        .collect();
    Seen {
        types,
        period,
        samples,
        mapping_of,
    }
}

fn heap_files() -> Vec<PathBuf> {
    let dir = Path::new(TESTDATA);
    assert!(
        dir.is_dir(),
        "{TESTDATA} is missing: apt-get install golang-github-google-pprof-dev"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let head = std::fs::read(p).unwrap_or_default();
            lh_pprof::legacy::heap::sniff(&head).is_some()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn equals_go_tool_pprof_on_pprofs_heap_testdata() {
    let files = heap_files();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // The two heap text files pprof's own tests read; the Java heap is another format.
    for want in ["cppbench.heap", "gobench.heap"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} not found in {names:?}"
        );
    }
    for f in &files {
        let (mut a, b) = (ours(f), go_pprof(f));
        // Every byte total equals `-top`'s, which counts samples with an empty
        // stack too; `-raw` does not list those, so they are compared here only.
        for (i, t) in a.types.iter().enumerate() {
            if t.ends_with("/bytes") {
                assert_eq!(
                    a.total(i),
                    go_pprof_total(f, i),
                    "{}: {t} total",
                    f.display()
                );
            }
        }
        a.samples.remove(&Vec::new());
        assert_eq!(a.types, b.types, "{}", f.display());
        assert_eq!(a.period, b.period, "{}", f.display());
        assert_eq!(a.samples.len(), b.samples.len(), "{}", f.display());
        for (stack, v) in &b.samples {
            assert_eq!(
                a.samples.get(stack),
                Some(v),
                "{}: stack {stack:x?}",
                f.display()
            );
        }
        for (addr, file) in &b.mapping_of {
            assert_eq!(
                a.mapping_of.get(addr),
                Some(file),
                "{}: mapping of {addr:#x}",
                f.display()
            );
        }
    }
}
