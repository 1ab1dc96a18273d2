//! Native leaks, end to end: the C sample app on Debian's jemalloc and on
//! gperftools' tcmalloc, and the Rust sample app on tikv-jemallocator, each run
//! with its allocator's heap profiler; leakhound diffs the dumps the allocator
//! wrote, symbolizes them from the binaries, and must name the leaking function
//! (and its line), while the bounded twins yield no suspect.

mod common;

use common::{json_of, leakhound, s};
use serde_json::Value;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{native_app, repo_root, rust_native_app, Allocator};

/// Enough rounds for a dozen dumps at one per 4 MiB allocated (256 requests of
/// 12 KiB allocated each per round).
const ROUNDS: &str = "24";

/// Runs `cmd` to completion with its allocator's profiler writing into `dir`,
/// and returns the dumps in the order they were written.
fn run_profiled(mut cmd: Command, dir: &Path, alloc: Allocator) -> Vec<PathBuf> {
    profile(&mut cmd, alloc, &dir.join("prof"));
    let out = cmd.arg(ROUNDS).output().expect("run the sample app");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dumps: Vec<(u64, PathBuf)> = heap_files(dir)
        .into_iter()
        .map(|p| (sequence(&p), p))
        .collect();
    dumps.sort();
    assert!(
        dumps.len() >= 6,
        "too few dumps in {}: {dumps:?}",
        dir.display()
    );
    dumps.into_iter().map(|(_, p)| p).collect()
}

/// Turns on `alloc`'s heap profiler for `cmd`, as a user would by hand, with
/// one dump per 4 MiB allocated to `prefix.…heap`.
fn profile(cmd: &mut Command, alloc: Allocator, prefix: &Path) {
    match alloc {
        Allocator::Jemalloc => {
            // Debian's jemalloc reads MALLOC_CONF; tikv-jemallocator's prefixed build reads
            // _RJEM_MALLOC_CONF. Each ignores the other's.
            let conf = format!(
                "prof:true,prof_prefix:{},lg_prof_interval:22",
                prefix.display()
            );
            cmd.env("MALLOC_CONF", &conf)
                .env("_RJEM_MALLOC_CONF", &conf);
        }
        Allocator::Tcmalloc => {
            cmd.env("HEAPPROFILE", prefix)
                .env("HEAP_PROFILE_ALLOCATION_INTERVAL", "4194304");
        }
        Allocator::Glibc => unreachable!("glibc's malloc has no heap profiler"),
    }
}

/// The `.heap` files in `dir`.
fn heap_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "heap"))
        .collect()
}

/// The dump's sequence number: `prof.PID.SEQ.iN.heap` (jemalloc) or `prof.SEQ.heap` (tcmalloc).
fn sequence(p: &Path) -> u64 {
    let name = p.file_name().unwrap().to_string_lossy();
    let parts: Vec<&str> = name.split('.').collect();
    let field = if parts.len() >= 5 { parts[2] } else { parts[1] };
    field
        .parse()
        .unwrap_or_else(|_| panic!("no sequence in {name}"))
}

/// Three dumps spread over the run, past the first (start-up) ones.
fn spread(dumps: &[PathBuf]) -> Vec<&str> {
    let n = dumps.len();
    [n / 4, n / 2, n - 1]
        .iter()
        .map(|&i| s(&dumps[i]))
        .collect()
}

fn diff(files: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["diff", "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(files);
    json_of(&leakhound(&args))
}

/// The line of the `LEAK-SITE` marker in a sample app's source.
fn leak_line(src: &Path) -> usize {
    std::fs::read_to_string(src)
        .unwrap()
        .lines()
        .position(|l| l.contains("LEAK-SITE"))
        .expect("a LEAK-SITE marker")
        + 1
}

/// Asserts the leak is named by function, then by `file:line`, and that the
/// bounded twin's dumps yield no suspect.
fn check(format: &str, leaky: &[PathBuf], bounded: &[PathBuf], function: &str, src: &Path) {
    let r = diff(&spread(leaky), &[]);
    assert_eq!(r["format"], format);
    assert_eq!(r["suspects"][0]["key"], function, "{r:#}");
    assert!(r["suspects"][0]["hint"]
        .as_str()
        .unwrap()
        .contains(function));
    // The allocator's own frames are looked past: none is a group key.
    for g in r["groups"].as_array().unwrap() {
        let k = g["key"].as_str().unwrap();
        assert!(
            !(k == "malloc"
                || k.starts_with("je_")
                || k.starts_with("_rjem_")
                || k.starts_with("alloc::")),
            "allocator frame {k} kept"
        );
    }
    let by_line = diff(&spread(leaky), &["--by", "line"]);
    let key = by_line["suspects"][0]["key"].as_str().unwrap();
    let file = src.file_name().unwrap().to_str().unwrap();
    assert!(
        key.starts_with(function) && key.ends_with(&format!("{file}:{}", leak_line(src))),
        "{key} is not {function} at {file}:{}",
        leak_line(src)
    );
    let quiet = diff(&spread(bounded), &[]);
    assert_eq!(quiet["suspects"], Value::Array(vec![]), "{quiet:#}");
}

fn c_dumps(bounded: bool, alloc: Allocator, dir: &Path) -> Vec<PathBuf> {
    let sub = dir.join(if bounded { "bounded" } else { "leaky" });
    std::fs::create_dir(&sub).unwrap();
    run_profiled(Command::new(native_app(bounded, alloc)), &sub, alloc)
}

#[test]
fn jemalloc_c_leak_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let leaky = c_dumps(false, Allocator::Jemalloc, dir.path());
    let bounded = c_dumps(true, Allocator::Jemalloc, dir.path());
    let src = repo_root().join("testkit/apps/native/leaky.c");
    check("jemalloc", &leaky, &bounded, "remember_request", &src);
}

#[test]
fn tcmalloc_c_leak_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let leaky = c_dumps(false, Allocator::Tcmalloc, dir.path());
    let bounded = c_dumps(true, Allocator::Tcmalloc, dir.path());
    let src = repo_root().join("testkit/apps/native/leaky.c");
    check("tcmalloc", &leaky, &bounded, "remember_request", &src);
}

#[test]
fn jemalloc_rust_leak_is_named_with_its_line() {
    let app = rust_native_app();
    let dir = tempfile::tempdir().unwrap();
    let run = |bounded: bool| {
        let sub = dir.path().join(if bounded { "bounded" } else { "leaky" });
        std::fs::create_dir(&sub).unwrap();
        let mut cmd = Command::new(&app);
        if bounded {
            cmd.arg("--bounded");
        }
        run_profiled(cmd, &sub, Allocator::Jemalloc)
    };
    let (leaky, bounded) = (run(false), run(true));
    let src = repo_root().join("testkit/apps/native/rust/src/main.rs");
    check(
        "jemalloc",
        &leaky,
        &bounded,
        "leaky_rust::remember_request",
        &src,
    );
}

/// Binaries copied out of a "container" are found under `--symbols DIR`, by
/// their path inside it; without them the frames stay addresses and a note says why.
#[test]
fn symbols_dir_stands_in_for_the_targets_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let app = native_app(false, Allocator::Tcmalloc);
    // Run from a path that will not exist when the dumps are read.
    let moved = dir.path().join("gone/app");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::copy(&app, &moved).unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dumps = run_profiled(Command::new(&moved), &out, Allocator::Tcmalloc);
    let copy = dir.path().join("symbols");
    let inside = copy.join(moved.strip_prefix("/").unwrap());
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::rename(&moved, &inside).unwrap();

    let blind = diff(&spread(&dumps), &[]);
    assert!(
        blind["suspects"][0]["key"]
            .as_str()
            .unwrap()
            .starts_with("0x"),
        "{blind:#}"
    );
    let notes = blind["notes"].to_string();
    assert!(notes.contains("--symbols"), "{notes}");

    let seen = diff(&spread(&dumps), &["--symbols", s(&copy)]);
    assert_eq!(seen["suspects"][0]["key"], "remember_request", "{seen:#}");
}

/// `capture --format json` of three snapshots a second apart: the files it
/// wrote, each checked to be 0600 (heap dumps hold secrets).
fn capture(target: &[&str], out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "capture",
        "--count",
        "3",
        "--interval",
        "1s",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-o", s(out)]);
    args.extend_from_slice(target);
    let got = json_of(&leakhound(&args));
    assert_eq!(got["runtime"], "native", "{got:#}");
    let files: Vec<String> = got["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files.len(), 3, "{got:#}");
    for f in &files {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f} is {mode:o}");
    }
    files
}

/// A native process leakhound did not start, whose user turned its
/// allocator's profiler on: `capture pid:` finds the dumps from its
/// environment, copies the newest each time, and leaves the user's own dumps
/// where the allocator wrote them.
#[test]
fn an_attached_profiled_native_pid_is_captured_and_its_leak_named() {
    for (alloc, format) in [
        (Allocator::Jemalloc, "jemalloc"),
        (Allocator::Tcmalloc, "tcmalloc"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let dumps = dir.path().join("dumps");
        std::fs::create_dir(&dumps).unwrap();
        // No ROUNDS: it serves until killed, as a service would.
        let mut cmd = Command::new(native_app(false, alloc));
        profile(&mut cmd, alloc, &dumps.join("prof"));
        // An environment is bytes: a variable that is no UTF-8 must not hide the profiler's.
        cmd.env(
            "LEAKHOUND_TEST_LATIN1",
            std::ffi::OsStr::from_bytes(b"caf\xe9"),
        );
        let (app, _) = testkit::spawn_ready(cmd, "ready");
        let pid = format!("pid:{}", app.pid());
        let files = capture(&[&pid], &dir.path().join("caps"), &[]);
        let r = diff(&files.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
        assert_eq!(r["format"], format, "{r:#}");
        assert_eq!(r["suspects"][0]["key"], "remember_request", "{r:#}");
        assert!(
            heap_files(&dumps).len() >= 3,
            "{format}: the user's dumps were removed"
        );
    }
}

/// `capture -- CMD` of a program on glibc's malloc takes `--preload jemalloc`,
/// as soak does; a running process's allocator is chosen, so the flag is
/// refused with a target.
#[test]
fn capture_runs_a_glibc_program_on_preloaded_jemalloc() {
    let dir = tempfile::tempdir().unwrap();
    let app = native_app(false, Allocator::Glibc);
    let files = capture(
        &["--", s(&app)],
        &dir.path().join("caps"),
        &["--preload", "jemalloc"],
    );
    let r = diff(&files.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_eq!(r["format"], "jemalloc", "{r:#}");
    assert_eq!(r["suspects"][0]["key"], "remember_request", "{r:#}");

    let out = leakhound(&[
        "capture",
        "pid:1",
        "--preload",
        "jemalloc",
        "-o",
        s(&dir.path().join("no")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--preload is for a program capture starts"),
        "{err}"
    );
    assert!(!dir.path().join("no").exists(), "nothing written");
}

#[test]
fn bad_native_profiles_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        ("truncated-header", "heap_v2/\n"),
        (
            "bad-count",
            "heap_v2/524288\n  t*: 1: 2 [0: 0]\n@ 0x1\n  t*: x: y [0: 0]\n",
        ),
        (
            "bad-sample",
            "heap profile: 1: 2 [1: 2] @ heapprofile\n1: 2 [1: 2] @ 0x1\nnot a sample\n",
        ),
        (
            "zero-count",
            "heap profile: 1: 2 [1: 2] @ heapprofile\n0: 64 [0: 64] @ 0x1\n",
        ),
    ];
    for (name, text) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = leakhound(&["analyze", s(&p)]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}
