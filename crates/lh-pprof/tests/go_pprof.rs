//! A differential test against the reference: every file of google/pprof's
//! own testdata (Debian's `golang-github-google-pprof-dev`, installed by
//! `.ci/run`) that `go tool pprof` reads, legacy formats included, must read
//! here with the same totals and the same value per leaf function (or leaf
//! address, where a profile carries no symbols), for every sample type.
//! `go tool pprof -raw -symbolize=none` prints the profile as pprof parsed
//! it; that is what we compare against.

use lh_pprof::{parse, summarize, Granularity};
use prost::Message;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian puts pprof's source; `PPROF_SRC` overrides.
fn pprof_src() -> PathBuf {
    let dir = std::env::var_os("PPROF_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/share/gocode/src/github.com/google/pprof".into());
    assert!(
        dir.join("profile/testdata").is_dir(),
        "pprof's testdata is missing at {}: install golang-github-google-pprof-dev (as .ci/run does)",
        dir.display()
    );
    dir
}

/// The profile as `go tool pprof` parsed it: per sample type its total and
/// its value per leaf. (Not the number of samples: pprof merges samples with
/// equal stacks, which a summary does not need.)
#[derive(Debug, PartialEq)]
struct View {
    types: Vec<String>,
    totals: Vec<i64>,
    by_leaf: Vec<BTreeMap<String, i64>>,
}

/// Reads `go tool pprof -raw` output; `None` when go cannot read the file.
fn go_view(path: &Path) -> Option<View> {
    let out = Command::new("go")
        .args(["tool", "pprof", "-raw", "-symbolize=none"])
        .arg(path)
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("go is installed (golang-go)");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().peekable();
    for l in lines.by_ref() {
        if l == "Samples:" {
            break;
        }
    }
    let types: Vec<String> = lines
        .next()?
        .split_whitespace()
        .map(|t| {
            t.trim_end_matches("[dflt]")
                .split('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut samples: Vec<(Vec<i64>, u64)> = Vec::new();
    for l in lines.by_ref() {
        if l == "Locations" {
            break;
        }
        let Some((values, stack)) = l.split_once(':') else {
            continue;
        };
        let values: Vec<i64> = match values.split_whitespace().map(str::parse).collect() {
            Ok(v) => v,
            Err(_) => continue, // a label line (`bytes:[…]`)
        };
        if values.len() != types.len() {
            continue;
        }
        let leaf = stack
            .split_whitespace()
            .next()
            .map_or(0, |id| id.parse().unwrap());
        samples.push((values, leaf));
    }
    // `ID: 0xADDR M=N [function file:line s=N]`, inlined callers on indented lines.
    let mut leaf_name: BTreeMap<u64, String> = BTreeMap::new();
    for l in lines {
        if l == "Mappings" {
            break;
        }
        let Some((id, rest)) = l.trim_start().split_once(": ") else {
            continue;
        };
        let Ok(id) = id.parse::<u64>() else { continue };
        let mut f = rest.split_whitespace();
        let addr = f.next().unwrap().to_string();
        let _mapping = f.next();
        let name = match f.next() {
            Some(func) if !func.starts_with("s=") => func.to_string(),
            _ => addr,
        };
        leaf_name.insert(id, name);
    }
    let mut totals = vec![0i64; types.len()];
    let mut by_leaf = vec![BTreeMap::new(); types.len()];
    for (values, leaf) in &samples {
        let key = leaf_name
            .get(leaf)
            .cloned()
            .unwrap_or_else(|| "(unknown)".into());
        for (i, v) in values.iter().enumerate() {
            totals[i] += v;
            *by_leaf[i].entry(key.clone()).or_insert(0) += v;
        }
    }
    for m in &mut by_leaf {
        m.retain(|_, v| *v != 0);
    }
    Some(View {
        types,
        totals,
        by_leaf,
    })
}

fn our_view(path: &Path) -> Result<View, String> {
    let p = parse(&std::fs::read(path).unwrap()).map_err(|e| e.to_string())?;
    let types: Vec<String> = p
        .sample_types()
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    let mut totals = Vec::new();
    let mut by_leaf = Vec::new();
    for i in 0..types.len() {
        let s = summarize(&p, "x", Granularity::Function, Some(&i.to_string()))
            .map_err(|e| e.to_string())?;
        // go tool pprof drops samples without a stack when it loads a
        // profile (gobench.heap has one); leakhound keeps them as "(unknown)".
        let stackless = s.groups.get("(unknown)").map_or(0, |g| g.bytes);
        totals.push(s.info.total_bytes - stackless);
        by_leaf.push(
            s.groups
                .into_iter()
                .filter(|(k, _)| k != "(unknown)")
                .map(|(k, g)| (k, g.bytes))
                .filter(|(_, v)| *v != 0)
                .collect(),
        );
    }
    Ok(View {
        types,
        totals,
        by_leaf,
    })
}

/// Every file under a `testdata` directory of pprof's source.
fn testdata_files(dir: &Path, inside: bool, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            testdata_files(&p, inside || p.ends_with("testdata"), out);
        } else if inside {
            out.push(p);
        }
    }
}

#[test]
fn every_profile_go_tool_pprof_reads_reads_the_same_here() {
    let src = pprof_src();
    let mut files = Vec::new();
    testdata_files(&src, false, &mut files);
    files.sort();
    let (mut compared, mut legacy, mut failures, mut names) = (0, 0, Vec::new(), Vec::new());
    for f in &files {
        let Some(want) = go_view(f) else { continue };
        let bytes = std::fs::read(f).unwrap();
        if !lh_pprof::is_gzip(&bytes) && lh_pprof::Profile::decode(bytes.as_slice()).is_err() {
            legacy += 1;
            names.push(f.file_name().unwrap().to_string_lossy().into_owned());
        }
        compared += 1;
        match our_view(f) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}: differs\n  go:   {:?} {:?}\n  ours: {:?} {:?}\n  first leaves go {:?}\n  ours {:?}",
                f.display(),
                want.types,
                want.totals,
                got.types,
                got.totals,
                want.by_leaf.first().map(|m| m.iter().take(4).collect::<Vec<_>>()),
                got.by_leaf.first().map(|m| m.iter().take(4).collect::<Vec<_>>()),
            )),
            Err(e) => failures.push(format!("{}: go reads it, we refuse: {e}", f.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // pprof's testdata has 18 legacy profiles, the heap ones included.
    assert!(legacy >= 18, "only {legacy} legacy profiles compared");
    eprintln!(
        "{compared} profiles compared with go tool pprof, {legacy} of them legacy: {names:?}"
    );
}
