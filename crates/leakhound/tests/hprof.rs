//! JVM heap dumps end to end: the Java sample apps of testkit/apps/java run on
//! the machine's JDK 17, dumped with `jcmd PID GC.heap_dump` (plain and
//! `-gz=1`) between steps of their leak, then analysed and diffed.

mod common;

use common::{json_of, leakhound, s};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{java_apps, spawn_ready, Proc, READY_TIMEOUT};

/// A running leak scenario of LeakApp with a scratch directory for its dumps.
struct App {
    proc: Proc,
    pid: u32,
    step: u32,
    dir: tempfile::TempDir,
}

impl App {
    fn start(scenario: &str) -> App {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx64m", "-XX:+UseSerialGC", "-cp"])
            .arg(java_apps())
            .args(["LeakApp", scenario])
            .arg(dir.path());
        let (proc, line) = spawn_ready(cmd, "ready 0");
        let pid = line.split_whitespace().nth(2).unwrap().parse().unwrap();
        App {
            proc,
            pid,
            step: 0,
            dir,
        }
    }

    /// Runs one more step of the scenario and waits until it is done.
    fn step(&mut self) {
        self.step += 1;
        std::fs::write(self.dir.path().join("next"), b"").unwrap();
        let want = format!("ready {}", self.step);
        loop {
            match self.proc.lines.recv_timeout(READY_TIMEOUT) {
                Ok(l) if l == want => return,
                Ok(_) => continue,
                Err(_) => panic!("the app did not print {want:?} in time"),
            }
        }
    }

    /// `jcmd PID GC.heap_dump [-gz=1] FILE`: a full GC, then the live objects.
    fn dump(&self, name: &str, gz: bool) -> PathBuf {
        let file = self.dir.path().join(name);
        let mut cmd = Command::new("jcmd");
        cmd.arg(self.pid.to_string()).arg("GC.heap_dump");
        if gz {
            cmd.arg("-gz=1");
        }
        let out = cmd.arg(&file).output().expect("run jcmd");
        assert!(
            out.status.success() && file.exists(),
            "jcmd failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        file
    }

    /// Three dumps with a step of the scenario between them.
    fn three_dumps(&mut self) -> Vec<PathBuf> {
        let mut dumps = vec![self.dump("d0.hprof", false)];
        for i in 1..3 {
            self.step();
            dumps.push(self.dump(&format!("d{i}.hprof"), false));
        }
        dumps
    }
}

fn analyze(file: &Path) -> Value {
    json_of(&leakhound(&[
        "analyze",
        "--format",
        "json",
        "--top",
        "100000",
        s(file),
    ]))
}

fn diff(files: &[PathBuf]) -> Value {
    let mut args = vec!["diff", "--format", "json", "--top", "100000"];
    args.extend(files.iter().map(|f| s(f)));
    json_of(&leakhound(&args))
}

fn group<'a>(report: &'a Value, key: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}"))
}

fn path_text(suspect: &Value) -> String {
    suspect["retainer_path"]
        .as_array()
        .expect("a retainer path")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Asserts that `report` names `key` first, with `pattern` and a path through `via`.
fn assert_first_suspect(report: &Value, key: &str, pattern: &str, via: &[&str]) {
    let first = &report["suspects"][0];
    assert_eq!(first["key"], key, "suspects: {:#}", report["suspects"]);
    assert_eq!(first["pattern"], pattern, "{first:#}");
    let path = path_text(first);
    assert!(path.starts_with("(GC root)"), "{path}");
    for v in via {
        assert!(path.contains(v), "path lacks {v:?}: {path}");
    }
    assert!(
        first["retained_bytes"].as_u64().unwrap() > 4_000_000,
        "{first:#}"
    );
}

#[test]
fn static_map_leak_names_the_static_field() {
    let mut app = App::start("static");
    app.step();
    let plain = app.dump("static.hprof", false);
    let gz = app.dump("static.hprof.gz", true);
    for file in [&plain, &gz] {
        let r = analyze(file);
        assert_eq!(r["format"], "hprof");
        assert_first_suspect(
            &r,
            "StaticLeak",
            "static-collection",
            &["SESSIONS", "java.util.HashMap"],
        );
        let sessions = group(&r, "StaticLeak$Session");
        assert_eq!(sessions["count"][0], 8000);
        assert!(sessions["retained_bytes"].as_u64().unwrap() >= 8000 * 1024);
    }
    // The fast pass agrees with the full one on counts and shallow sizes.
    let full = analyze(&plain);
    let fast = json_of(&leakhound(&[
        "analyze",
        "--histogram-only",
        "--format",
        "json",
        "--top",
        "100000",
        s(&plain),
    ]));
    assert!(fast["suspects"].as_array().unwrap().is_empty());
    for g in fast["groups"].as_array().unwrap() {
        let f = group(&full, g["key"].as_str().unwrap());
        assert_eq!(
            (&g["count"], &g["bytes"]),
            (&f["count"], &f["bytes"]),
            "{}",
            g["key"]
        );
    }
    assert_eq!(
        fast["snapshots"][0]["total_count"],
        full["snapshots"][0]["total_count"]
    );

    // Compared over three dumps: the sessions grow at every step.
    let dumps = app.three_dumps();
    let r = diff(&dumps);
    assert_first_suspect(&r, "StaticLeak", "static-collection", &["SESSIONS"]);
    assert!(r["suspects"][0]["delta_bytes"].as_i64().unwrap() >= 8_000_000);
    let sessions = group(&r, "StaticLeak$Session");
    assert_eq!(sessions["delta_count"], 8000);
    assert_eq!(sessions["monotonic"], true);
    // The sessions' byte[]s grow too. Where a suspect names byte[], its path
    // leads to one of them, held where the class's memory is (SESSIONS), not
    // to the largest single byte[] (System.in's buffer).
    for s in r["suspects"].as_array().unwrap() {
        let path = path_text(s);
        assert!(path.contains("SESSIONS"), "{}: {path}", s["key"]);
    }
}

#[test]
fn thread_local_leak_in_a_pool() {
    let mut app = App::start("threadlocal");
    app.step();
    let gz = app.dump("tl.hprof.gz", true);
    assert_first_suspect(
        &analyze(&gz),
        "ThreadLocalLeak",
        "thread-local",
        &["threadLocals", "java.lang.Thread"],
    );
    let r = diff(&app.three_dumps());
    assert_first_suspect(&r, "ThreadLocalLeak", "thread-local", &["threadLocals"]);
}

#[test]
fn listener_list_that_only_grows() {
    let mut app = App::start("listener");
    app.step();
    let plain = app.dump("l.hprof", false);
    assert_first_suspect(
        &analyze(&plain),
        "ListenerLeak$EventBus",
        "listener-list",
        &["BUS", ".listeners"],
    );
    let r = diff(&app.three_dumps());
    assert_first_suspect(&r, "ListenerLeak$EventBus", "listener-list", &["listeners"]);
    assert_eq!(group(&r, "ListenerLeak$RequestHandler")["monotonic"], true);
}

#[test]
fn bounded_cache_is_not_a_suspect() {
    let mut app = App::start("bounded");
    app.step();
    let gz = app.dump("b.hprof.gz", true);
    let r = analyze(&gz);
    assert!(
        r["suspects"].as_array().unwrap().is_empty(),
        "{:#}",
        r["suspects"]
    );
    // The cache is there and large, it just bounds itself.
    assert!(
        group(&r, "BoundedCache$1")["retained_bytes"]
            .as_u64()
            .unwrap()
            > 2_000_000
    );
    let r = diff(&app.three_dumps());
    assert!(
        r["suspects"].as_array().unwrap().is_empty(),
        "{:#}",
        r["suspects"]
    );
    assert_eq!(group(&r, "BoundedCache$1")["monotonic"], false);
}

/// A minimal HPROF file: header with `id_size`, then `records`.
fn hprof(id_size: u32, records: &[u8]) -> Vec<u8> {
    let mut b = b"JAVA PROFILE 1.0.2\0".to_vec();
    b.extend(id_size.to_be_bytes());
    b.extend(0u64.to_be_bytes());
    b.extend(records);
    b
}

fn record(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![tag];
    r.extend(0u32.to_be_bytes());
    r.extend((body.len() as u32).to_be_bytes());
    r.extend(body);
    r
}

fn assert_bad(file: &Path, needles: &[&str]) {
    for args in [vec!["analyze"], vec!["analyze", "--histogram-only"]] {
        let mut args = args.clone();
        args.push(s(file));
        let out = leakhound(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(s(file)), "the message names the file: {err}");
        for n in needles {
            assert!(err.contains(n), "{n:?} missing from: {err}");
        }
    }
}

#[test]
fn bad_input_exits_2_with_offset_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, b: &[u8]| testkit::write_file(dir.path(), name, b);

    // A real dump cut short.
    let app = App::start("bounded");
    let dump = std::fs::read(app.dump("whole.hprof", false)).unwrap();
    drop(app);
    let cut = w("truncated.hprof", &dump[..dump.len() / 2]);
    assert_bad(
        &cut,
        &["byte ", "HEAP_DUMP_SEGMENT (tag 0x1c)", "ends early"],
    );

    let unknown = w("unknown.hprof", &hprof(8, &record(0x55, b"abc")));
    assert_bad(&unknown, &["byte 31", "unknown record tag 0x55"]);

    let ids3 = w("ids3.hprof", &hprof(3, &[]));
    assert_bad(&ids3, &["byte 19", "identifier size 3"]);

    // An instance whose 100 bytes of fields do not fit its 30-byte segment.
    let mut sub = vec![0x21];
    sub.extend(1u64.to_be_bytes());
    sub.extend(0u32.to_be_bytes());
    sub.extend(2u64.to_be_bytes());
    sub.extend(100u32.to_be_bytes());
    sub.extend([0u8; 5]);
    let long = w("long-sub.hprof", &hprof(8, &record(0x1c, &sub)));
    assert_bad(
        &long,
        &["INSTANCE_DUMP (tag 0x21)", "past the end of its segment"],
    );

    let text = w("notes.txt", b"this is not a heap dump\n");
    assert_bad(&text, &["not a recognized snapshot"]);
}

/// Dumps are compared per class: a diff of the same dump twice shows no growth.
#[test]
fn same_dump_twice_has_no_growth() {
    let app = App::start("static");
    let d = app.dump("same.hprof", false);
    let r = diff(&[d.clone(), d]);
    assert!(r["suspects"].as_array().unwrap().is_empty());
    assert!(r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["delta_bytes"] == 0));
}

/// `--redact-strings` on the static map leak, whose keys hold the app's
/// secret. lh-hprof never reads the contents of char or byte arrays, so no
/// HPROF report shows a string's value, redacted or not: the test checks
/// that the dumps really hold the marker (the premise), that no output of
/// either run does, and that the leak is still named with its path.
#[test]
fn redacted_reports_hold_no_strings() {
    const SECRET: &str = "LEAKHOUND-SECRET-hprof";
    let mut app = App::start("static");
    let dumps = app.three_dumps();
    assert!(
        common::holds(&std::fs::read(&dumps[2]).unwrap(), SECRET),
        "the dump holds the app's keys"
    );
    let files: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
    let (redacted, plain) = common::assert_redacted(&files, app.dir.path(), SECRET, "StaticLeak");
    assert_eq!(plain.holding(SECRET), Vec::<&str>::new());
    assert_first_suspect(
        &redacted.report(),
        "StaticLeak",
        "static-collection",
        &["SESSIONS"],
    );
}

#[test]
fn html_report_in_a_browser_names_the_leak() {
    let mut app = App::start("static");
    let dumps = app.three_dumps();
    let files: Vec<&Path> = dumps.iter().map(PathBuf::as_path).collect();
    let dir = app.dir.path().to_path_buf();
    common::html_diff_names(&files, &dir, "StaticLeak", "hprof");
}
