//! The command line's promises: bad input exits 2 with a message naming the
//! file, output conventions (version, completions, kubectl plugin name,
//! broken pipes, no colour off a TTY), and never overwriting what the user had.

mod common;

use common::s;
use lh_pprof::{encode_gzip, from_groups};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs the binary without `NO_COLOR`, so that colour is left to its TTY check.
fn leakhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .output()
        .expect("run leakhound")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must fail as bad input: exit 2, the file named, no panic.
fn bad_input(args: &[&str], file: &Path, says: &str) {
    let o = leakhound(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(file.to_str().unwrap()),
        "{args:?} must name {}: {err}",
        file.display()
    );
    assert!(err.contains(says), "{args:?} must say {says:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Files(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        testkit::write_file(self.0.path(), name, bytes)
    }
    fn heap(&self, name: &str, leak: i64) -> PathBuf {
        let p = from_groups(
            "inuse_space",
            "bytes",
            &[
                ("main.leak".into(), leak, leak / 1024),
                ("main.ok".into(), 4096, 4),
            ],
        );
        self.write(name, &encode_gzip(&p))
    }
}

#[test]
fn an_empty_file() {
    let f = Files::new();
    let empty = f.write("empty.pb.gz", b"");
    let ok = f.heap("ok.pb.gz", 1 << 20);
    bad_input(&["diff", s(&empty), s(&ok)], &empty, "empty");
    bad_input(&["analyze", s(&empty)], &empty, "empty");
}

#[test]
fn a_truncated_gzip() {
    let f = Files::new();
    let whole = encode_gzip(&from_groups(
        "inuse_space",
        "bytes",
        &[("main.leak".into(), 1 << 20, 1)],
    ));
    let cut = f.write("cut.pb.gz", &whole[..whole.len() - 12]);
    bad_input(&["analyze", s(&cut)], &cut, "truncated");
}

#[test]
fn random_bytes() {
    let f = Files::new();
    // A fixed xorshift stream: random-looking, and the same on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let r = f.write("random.bin", &bytes);
    bad_input(&["analyze", s(&r)], &r, "not");
}

#[test]
fn a_file_of_another_format() {
    let f = Files::new();
    let png = f.write(
        "heap.pb.gz",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0",
    );
    bad_input(&["analyze", s(&png)], &png, "not a recognized snapshot");
    let json = f.write(
        "notes.json",
        br#"{"name": "not a heap snapshot", "items": [1, 2, 3]}"#,
    );
    bad_input(&["analyze", s(&json)], &json, "not a recognized snapshot");
}

#[test]
fn a_profile_with_no_samples() {
    let f = Files::new();
    let mut p = from_groups("inuse_space", "bytes", &[]);
    p.sample.clear();
    let none = f.write("none.pb.gz", &encode_gzip(&p));
    bad_input(&["analyze", s(&none)], &none, "no samples");
}

#[test]
fn profiles_of_different_sample_types() {
    let f = Files::new();
    let heap = f.heap("heap.pb.gz", 1 << 20);
    let g = from_groups("goroutine", "count", &[("main.wait".into(), 10, 10)]);
    let gor = f.write("goroutine.pb.gz", &encode_gzip(&g));
    bad_input(&["diff", s(&heap), s(&gor)], &gor, "different sample types");
}

#[test]
fn missing_file_unknown_sample_type_and_bad_flags() {
    let f = Files::new();
    let heap = f.heap("heap.pb.gz", 1 << 20);
    let missing = f.0.path().join("nope.pb.gz");
    bad_input(&["diff", s(&heap), s(&missing)], &missing, "No such file");
    bad_input(
        &["analyze", "--sample-index", "alloc_space", s(&heap)],
        &heap,
        "no sample type",
    );
    let one = leakhound(&["diff", s(&heap)]);
    assert_eq!(one.status.code(), Some(2), "diff needs two files");
    let by = leakhound(&["analyze", "--by", "module", s(&heap)]);
    assert_eq!(by.status.code(), Some(2));
    assert!(
        stderr(&by).contains("function, line or file"),
        "{}",
        stderr(&by)
    );
}

#[test]
fn never_writes_over_an_input() {
    let f = Files::new();
    let a = f.heap("a.pb.gz", 1 << 20);
    let b = f.heap("b.pb.gz", 8 << 20);
    let before = std::fs::read(&b).unwrap();
    let o = leakhound(&["diff", "--format", "json", "-o", s(&b), s(&a), s(&b)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("refusing"));
    assert_eq!(
        std::fs::read(&b).unwrap(),
        before,
        "the snapshot is untouched"
    );
}

#[test]
fn writes_reports_to_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let f = Files::new();
    let a = f.heap("a.pb.gz", 1 << 20);
    let b = f.heap("b.pb.gz", 8 << 20);
    let out = f.0.path().join("report.json");
    let o = leakhound(&["diff", "--format", "json", "-o", s(&out), s(&a), s(&b)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(v["suspects"][0]["key"], "main.leak");
    assert_eq!(v["suspects"][0]["delta_bytes"], 7 << 20);
}

#[test]
fn version_help_and_completions() {
    let v = leakhound(&["--version"]);
    assert!(v.status.success());
    assert_eq!(
        String::from_utf8_lossy(&v.stdout).trim(),
        format!("leakhound {}", env!("CARGO_PKG_VERSION"))
    );
    let h = leakhound(&["--help"]);
    let help = String::from_utf8_lossy(&h.stdout);
    assert!(help.contains("diff") && help.contains("analyze"), "{help}");
    let dh = leakhound(&["diff", "--help"]);
    assert!(String::from_utf8_lossy(&dh.stdout).contains("Examples:"));
    for shell in ["bash", "zsh", "fish"] {
        let c = leakhound(&["completions", shell]);
        assert!(c.status.success());
        let script = String::from_utf8_lossy(&c.stdout);
        assert!(
            script.contains("leakhound") && script.contains("analyze"),
            "{shell}"
        );
    }
}

#[test]
fn answers_as_kubectl_leak() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("kubectl-leak");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_leakhound"), &plugin).unwrap();
    let h = Command::new(&plugin).arg("--help").output().unwrap();
    assert!(h.status.success());
    assert!(String::from_utf8_lossy(&h.stdout).contains("Usage: kubectl leak"));
    let f = Files::new();
    let (a, b) = (f.heap("a.pb.gz", 1 << 20), f.heap("b.pb.gz", 9 << 20));
    let d = Command::new(&plugin)
        .args(["diff", "--format", "json", s(&a), s(&b)])
        .output()
        .unwrap();
    assert!(d.status.success());
    assert!(String::from_utf8_lossy(&d.stdout).contains("\"main.leak\""));
}

#[test]
fn no_colour_off_a_tty_and_logs_on_stderr() {
    let f = Files::new();
    let (a, b) = (f.heap("a.pb.gz", 1 << 20), f.heap("b.pb.gz", 9 << 20));
    let o = leakhound(&["-v", "diff", s(&a), s(&b)]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("main.leak") && !out.contains('\u{1b}'),
        "{out}"
    );
    assert!(
        stderr(&o).contains("INFO"),
        "-v logs to stderr: {}",
        stderr(&o)
    );
}

#[test]
fn a_closed_pipe_exits_quietly() {
    let f = Files::new();
    let groups: Vec<(String, i64, i64)> = (0..20_000)
        .map(|i| (format!("main.f{i}"), 1000 + i, 1))
        .collect();
    let big = f.write(
        "big.pb.gz",
        &encode_gzip(&from_groups("inuse_space", "bytes", &groups)),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(["analyze", "--top", "20000", s(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then hang up, as `| head -1` does.
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status:?}: {err}");
    assert!(err.is_empty(), "{err}");
}

/// A cause printed twice (`Is a directory (os error 21): Is a directory (os
/// error 21)`) reads as two failures; a directory was also an environment
/// failure (exit 3), though the user only named the wrong path.
#[test]
fn a_directory_or_a_missing_file_is_said_once() {
    let f = Files::new();
    let dir = f.0.path();
    let o = leakhound(&["analyze", s(dir)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(s(dir)) && err.contains("is a directory"),
        "{err}"
    );
    assert_eq!(err.matches("directory").count(), 1, "{err}");
    assert!(!err.contains("os error"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let missing = dir.join("nope.pb.gz");
    let heap = f.heap("heap.pb.gz", 1 << 20);
    for args in [
        vec!["analyze", s(&missing)],
        vec!["diff", s(&heap), s(&missing)],
        vec!["detect", "--file", s(&missing)],
    ] {
        let o = leakhound(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.matches("No such file").count(), 1, "{args:?}: {err}");
        assert!(err.contains(s(&missing)), "{args:?}: {err}");
    }
}

/// Refusing to print binary to a terminal is a usage error (exit 2), not the
/// environment's (it was 3).
#[test]
fn pprof_to_a_terminal_is_refused_as_usage() {
    let f = Files::new();
    let heap = f.heap("heap.pb.gz", 1 << 20);
    let (code, shown) = common::on_terminal(&["analyze", "--format", "pprof", s(&heap)]);
    assert_eq!(code, Some(2), "{shown}");
    assert!(
        shown.contains("refusing to write a binary pprof profile"),
        "{shown}"
    );
}

/// `detect` on a large file and `trend --prometheus` show progress on a
/// terminal (stderr a pty), and nothing when stderr is a pipe.
#[test]
fn progress_on_a_terminal_only() {
    let f = Files::new();
    let mut jsonl = String::new();
    for i in 0..400 {
        let points: Vec<String> = (0..400)
            .map(|t| {
                format!(
                    "[{}, {}]",
                    1_764_300_000 + t * 30,
                    100_000_000 + t * (i % 7) * 1000
                )
            })
            .collect();
        jsonl += &format!(
            "{{\"id\": \"s{i}\", \"points\": [{}]}}\n",
            points.join(", ")
        );
    }
    let series = f.write("fleet.jsonl", jsonl.as_bytes());
    let detect = ["detect", "--file", s(&series), "--format", "json"];
    let (code, shown) = common::on_terminal(&detect);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("judging series"), "{shown}");
    let piped = leakhound(&detect);
    assert!(piped.status.success());
    assert_eq!(stderr(&piped), "", "no progress off a terminal");

    // A port nobody listens on: the spinner shows while the query runs, then
    // the failure is the environment's.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let trend = ["trend", "--prometheus", &url, "-n", "ns", "--pod", "p"];
    let (code, shown) = common::on_terminal(&trend);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("querying Prometheus at"), "{shown}");
    let piped = leakhound(&trend);
    assert_eq!(piped.status.code(), Some(3));
    assert!(!stderr(&piped).contains("querying"), "{}", stderr(&piped));
}
