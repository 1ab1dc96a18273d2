//! leakhound against real processes: real memory cgroups, real kernel OOM
//! kills, real inspectors. Every test checks that leakhound left no cgroup
//! and no process behind; tests needing a memory cgroup skip, saying why,
//! only on machines without a writable one.

mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use testkit::{
    go_app, memory_cgroups_named, native_app, process_alive, repo_root, start_listening, Allocator,
};

fn leakhound() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
}

/// Whether this machine lets us make memory cgroups; prints why not.
fn cgroups_writable() -> bool {
    let own = match testkit::own_memory_cgroup() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("SKIP: no memory cgroup: {why}");
            return false;
        }
    };
    let probe = own.join(format!("leakhound-probe-{}", std::process::id()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            true
        }
        Err(e) => {
            eprintln!("SKIP: cannot create a child of {}: {e}", own.display());
            false
        }
    }
}

/// The pid leakhound printed as `started pid N`.
fn started_pid(stderr: &str) -> Option<u32> {
    stderr
        .split("started pid ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// After leakhound `lh_pid` has exited: none of its cgroups, and not its program, is left.
fn assert_nothing_left(lh_pid: u32, stderr: &str) {
    let left = memory_cgroups_named(&format!("leakhound-{lh_pid}-"));
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
    // Suite-wide: no cgroup of any leakhound that has exited, from any test
    // so far; the last test to finish checks what every other one left.
    let orphans: Vec<_> = memory_cgroups_named("leakhound-")
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let owner = name.split('-').nth(1).and_then(|n| n.parse().ok());
            owner.is_some_and(|o: u32| !process_alive(o))
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "cgroups of exited leakhound runs: {orphans:?}"
    );
    if let Some(app) = started_pid(stderr) {
        assert!(!process_alive(app), "program {app} left running");
    }
}

/// Runs leakhound to the end; returns (exit code, stdout, stderr) after the leftovers check.
fn run(mut cmd: Command) -> (i32, String, String) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    let (so, se) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert_nothing_left(pid, &se);
    (status.code().unwrap_or(-1), so, se)
}

fn assert_private_files(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, want, "{} is {mode:o}", e.path().display());
    }
}

/// Runs a `soak --format json` command: its exit code, its JSON report and stderr.
fn run_soak(cmd: Command) -> (i32, Value, String) {
    let (code, out, err) = run(cmd);
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("soak printed no JSON ({e}): {out}\nstderr: {err}"));
    common::schema::assert_valid("outcome.schema.json", &v);
    (code, v, err)
}

fn soak_go(app: &str, limit: &str, duration: &str, dir: &Path) -> (i32, Value, String) {
    let mut cmd = leakhound();
    cmd.args([
        "soak",
        "--format",
        "json",
        "--memory-limit",
        limit,
        "--duration",
        duration,
    ])
    .args(["--http-load", "/work?n=5", "--rps", "20", "-o"])
    .arg(dir)
    .arg("--")
    .arg(go_app(app))
    .env("LISTEN", "127.0.0.1:0");
    let soaked = run_soak(cmd);
    // report.json beside the snapshots keeps the same contract as stdout.
    let file = std::fs::read(dir.join("report.json")).expect("report.json");
    let report: Value = serde_json::from_slice(&file).expect("report.json is JSON");
    common::schema::assert_valid("outcome.schema.json", &report);
    soaked
}

#[test]
fn go_leak_is_oom_killed_and_named_from_profiles_taken_before_the_kill() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, v, err) = soak_go("leak", "64Mi", "180s", dir.path());
    assert_eq!(code, 1, "{err}");
    let ended = &v["ended"];
    assert_eq!(ended["reason"], "OOMKilled", "{v:#}\n{err}");
    assert_eq!(ended["exit_code"], 137);
    assert!(v["reasons"][0]
        .as_str()
        .unwrap()
        .contains("OOMKilled, exit code 137"));
    let snaps = v["snapshots"].as_array().unwrap();
    assert!(snaps.len() >= 3, "{snaps:?}");
    // Every snapshot was taken while the program lived: the soak takes none after the kill.
    assert_eq!(
        v["report"]["snapshots"].as_array().unwrap().len(),
        snaps.len()
    );
    assert_eq!(v["report"]["suspects"][0]["key"], "main.(*registry).track");
    assert!(v["peak_bytes"].as_u64().unwrap() > 32 << 20);
    assert_private_files(dir.path());

    // The HTML report beside report.json, in a real browser: the chart
    // with the samples, every snapshot and the OOM kill; the suspect; the
    // flame graph's frame that grew most is the leaking function.
    let page = common::browse(&dir.path().join("report.html"), "soak");
    assert_eq!(page.suspects[0], "main.(*registry).track");
    assert_eq!(page.top_frame, "main.(*registry).track");
    assert_eq!(
        page.chart_samples,
        v["samples"].as_array().unwrap().len() as u64
    );
    let marks = |c: &str| page.chart_marks.iter().filter(|m| *m == c).count();
    assert_eq!(marks("snapshot"), snaps.len(), "{:?}", page.chart_marks);
    assert_eq!(marks("oom"), 1, "{:?}", page.chart_marks);
}

#[test]
fn go_leak_under_a_roomy_limit_is_found_from_the_diff() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, v, err) = soak_go("leak", "1Gi", "8s", dir.path());
    assert_eq!(code, 1, "{v:#}\n{err}");
    assert!(v["ended"].is_null(), "{v:#}");
    assert_eq!(v["verdict"], "leak");
    assert_eq!(v["report"]["suspects"][0]["key"], "main.(*registry).track");
}

#[test]
fn go_steady_soaks_clean() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, v, err) = soak_go("steady", "128Mi", "8s", dir.path());
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["verdict"], "no-leak");
    assert!(v["requests"].as_u64().unwrap() > 20, "the load ran: {v:#}");
    assert_private_files(dir.path());
}

#[test]
fn capture_go_by_pid_and_by_url_writes_private_profiles() {
    let (app, addr) = start_listening(Command::new(go_app("leak")));
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", app.pid()), "--count", "2"])
        .args([
            "--interval",
            "200ms",
            "--goroutines",
            "--format",
            "json",
            "-o",
        ])
        .arg(dir.path());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"], "go");
    assert_eq!(v["files"].as_array().unwrap().len(), 4);
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("url:http://{addr}"), "-o"])
        .arg(dir.path().join("byurl"));
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let file = out.lines().next().unwrap();
    assert_eq!(&std::fs::read(file).unwrap()[..2], &[0x1f, 0x8b]);
    // What was captured is what `diff` reads.
    let mut cmd = leakhound();
    cmd.arg("diff")
        .arg(dir.path().join("001-heap.pb.gz"))
        .arg(dir.path().join("002-heap.pb.gz"));
    assert_eq!(run(cmd).0, 0);
    assert_private_files(dir.path());
}

#[test]
fn node_capture_through_the_inspector_of_an_app_with_no_debug_endpoint() {
    let mut node = Command::new("node");
    // --inspect-port only picks the port SIGUSR1 will open: no clash with 9229.
    node.arg("--inspect-port=0")
        .arg(repo_root().join("crates/leakhound/demo/server.js"));
    let (app, addr) = start_listening(node);
    testkit::http_ok(&addr, "/work?n=50");
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
        .arg(dir.path());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let file = out.lines().next().unwrap();
    let head = std::fs::read(file).unwrap();
    assert!(
        head.starts_with(b"{\"snapshot\":{\"meta\":"),
        "not a V8 snapshot"
    );
    let text = String::from_utf8_lossy(&head);
    assert!(
        text.contains("\"Session\""),
        "the app's class is in the snapshot"
    );
    assert_private_files(dir.path());
}

#[test]
fn bad_targets_say_what_is_wrong() {
    for (target, want) in [
        ("pid:999999999", "does not exist"),
        ("pid:abc", "bad pid"),
        ("nothing", "bad target"),
        ("url:http://127.0.0.1:1", "127.0.0.1:1"),
    ] {
        let mut cmd = leakhound();
        cmd.args(["capture", target, "-o"])
            .arg(std::env::temp_dir().join("lh-never-written"));
        let (code, _, err) = run(cmd);
        assert!(code == 2 || code == 3, "{target}: {code} {err}");
        assert!(err.contains(want), "{target}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn an_endpoint_answering_500_or_garbage_is_a_clear_error() {
    let (_app, addr) = start_listening(Command::new(go_app("steady")));
    // The Go app has no /debug/heapsnapshot: a 404 page instead of JSON.
    let mut cmd = leakhound();
    cmd.args([
        "capture",
        &format!("url:http://{addr}/debug/heapsnapshot"),
        "-o",
    ])
    .arg(std::env::temp_dir().join("lh-never-written"));
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    // /work answers 200 with text, not {"snapshot": path}.
    let mut cmd = leakhound();
    cmd.args([
        "capture",
        &format!("url:http://{addr}/work?n=1&x=/debug/heapsnapshot"),
    ]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_go_program_without_pprof_is_told_the_one_line_fix() {
    if !cgroups_writable() {
        return;
    }
    let err = soak_refused(&go_app("nopprof"));
    assert!(err.contains("import _ \"net/http/pprof\""), "{err}");
}

/// Soaks `app`, which serves nothing leakhound can capture from, with short
/// timeouts; asserts that soak refuses (exit 2) and returns what it said.
fn soak_refused(app: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["soak", "--ready-timeout", "5s", "--duration", "5s", "-o"])
        .arg(dir.path())
        .arg("--")
        .arg(app)
        .env("LISTEN", "127.0.0.1:0");
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
    err
}

#[test]
fn ctrl_c_during_soak_stops_the_program_and_removes_its_cgroup() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = leakhound()
        .args([
            "soak",
            "--memory-limit",
            "512Mi",
            "--duration",
            "300s",
            "--http-load",
            "/work?n=1",
        ])
        .arg("-o")
        .arg(dir.path())
        .arg("--")
        .arg(go_app("leak"))
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lh = child.id();
    let mut err = String::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        err.push_str(&line);
        err.push('\n');
        if line.contains("snapshot 1") {
            break;
        }
    }
    assert!(err.contains("snapshot 1"), "{err}");
    sigint(lh);
    for line in lines {
        err.push_str(&line.unwrap());
        err.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert_nothing_left(lh, &err);
}

fn soak_node(app: &Path, load: &str, duration: &str, dir: &Path) -> (i32, Value, String) {
    let mut cmd = leakhound();
    cmd.args([
        "soak",
        "--format",
        "json",
        "--memory-limit",
        "512Mi",
        "--duration",
        duration,
    ])
    .args(["--http-load", load, "--rps", "20", "-o"])
    .arg(dir)
    .arg("--")
    .arg("node")
    .arg(app)
    .env("LISTEN", "127.0.0.1:0");
    run_soak(cmd)
}

/// The app has no leakhound code: soak turns the inspector on itself.
#[test]
fn node_leak_under_soak_names_the_class_and_what_holds_it() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = repo_root().join("crates/leakhound/demo/server.js");
    let (code, v, err) = soak_node(&app, "/work?n=10", "10s", dir.path());
    assert_eq!(code, 1, "{v:#}\n{err}");
    assert_eq!(v["verdict"], "leak");
    assert_eq!(v["report"]["format"], "v8");
    let groups = v["report"]["groups"].as_array().unwrap();
    let session = groups
        .iter()
        .find(|g| g["key"] == "Session")
        .expect("Session group");
    assert!(
        session["delta_count"].as_i64().unwrap() > 100,
        "{session:#}"
    );
    assert_eq!(session["monotonic"], true);
    // One inspector session across snapshots keeps V8's object ids, so the
    // objects that stayed are found, and what holds them.
    let top = &v["report"]["suspects"][0];
    assert_eq!(top["key"], "Session", "{:#}", v["report"]["suspects"]);
    let path = top["retainer_path"].as_array().unwrap();
    assert!(
        path.iter()
            .any(|p| p.as_str().unwrap().contains("sessionCache")),
        "{path:?}"
    );
    assert_private_files(dir.path());
}

/// `soak --redact-strings` of the Node listener leak: the run's report.json
/// and report.html hold neither the app's secret nor the event name (a key
/// of the emitter's `_events`, the one string a V8 report would show), and
/// still name the leak: the listener list on the emitter, by its field names.
#[test]
fn redacted_soak_reports_hold_no_strings() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["soak", "--redact-strings", "--format", "json"])
        .args(["--memory-limit", "512Mi", "--duration", "10s"])
        .args(["--http-load", "/req?id=1", "--rps", "100", "-o"])
        .arg(dir.path())
        .arg("--")
        .arg("node")
        .arg(repo_root().join("testkit/apps/node/listener.js"))
        .env("LISTEN", "127.0.0.1:0");
    let (code, v, err) = run_soak(cmd);
    assert_eq!(code, 1, "{v:#}\n{err}");
    let top = &v["report"]["suspects"][0];
    assert_eq!(top["pattern"], "event-listener", "{v:#}");
    let path = top["retainer_path"].to_string();
    assert!(path.contains(".configBus → EventEmitter"), "{path}");
    assert!(path.contains("._events → Object"), "{path}");
    for file in ["report.json", "report.html"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap();
        for s in ["config-changed", "LEAKHOUND-SECRET-v8"] {
            assert!(!common::holds(&bytes, s), "{file} holds {s:?}");
        }
        assert!(common::holds(&bytes, "configBus"), "{file}");
        assert!(common::holds(&bytes, "redacted 14 bytes"), "{file}");
    }
}

#[test]
fn node_bounded_cache_under_soak_exits_0() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = repo_root().join("testkit/apps/node/lru.js");
    let (code, v, err) = soak_node(&app, "/req?id=1", "10s", dir.path());
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["verdict"], "no-leak");
}

#[test]
fn demo_names_the_leak_of_its_bundled_app() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["demo", "--duration", "10s", "--format", "json", "-o"])
        .arg(dir.path());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["verdict"], "leak");
    assert_eq!(v["runtime"], "node");
    assert_eq!(v["report"]["suspects"][0]["key"], "Session");
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        page.contains("data-key=\"Session\""),
        "the demo's HTML report names the leak"
    );
}

/// A JVM sample app under soak: each `touch DIR/next` from the load runs one more step.
fn soak_java(scenario: &str) -> (i32, Value, String) {
    let steps = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let load = format!(
        "while :; do touch {}/next; sleep 0.3; done",
        steps.path().display()
    );
    let mut cmd = leakhound();
    cmd.args([
        "soak",
        "--format",
        "json",
        "--memory-limit",
        "512Mi",
        "--duration",
        "8s",
    ])
    .args(["--load", &load, "-o"])
    .arg(dir.path())
    .args(["--", "java", "-Xmx256m", "-cp"])
    .arg(testkit::java_apps())
    .args(["LeakApp", scenario])
    .arg(steps.path());
    let (code, v, err) = run_soak(cmd);
    assert_private_files(dir.path());
    (code, v, err)
}

#[test]
fn jvm_static_leak_under_soak_names_the_class() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_java("static");
    assert_eq!(code, 1, "{v:#}\n{err}");
    assert_eq!(v["report"]["format"], "hprof");
    assert_eq!(v["report"]["suspects"][0]["key"], "StaticLeak", "{err}");
}

#[test]
fn jvm_bounded_cache_under_soak_exits_0() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_java("bounded");
    assert_eq!(code, 0, "{v:#}\n{err}");
}

#[test]
fn without_a_writable_memory_cgroup_soak_says_so_with_exit_3() {
    if std::process::Command::new("setpriv")
        .arg("--version")
        .output()
        .is_err()
    {
        return eprintln!("SKIP: no setpriv to drop privileges with");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut perm = std::fs::metadata(dir.path()).unwrap().permissions();
    perm.set_mode(0o777);
    std::fs::set_permissions(dir.path(), perm).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_leakhound"))
        .args(["soak", "--memory-limit", "64Mi", "-o"])
        .arg(dir.path().join("out"))
        .args(["--", "true"]);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no writable memory cgroup"), "{err}");
}

#[test]
fn jcmd_missing_is_named() {
    let steps = tempfile::tempdir().unwrap();
    let mut java = Command::new("java");
    java.arg("-cp")
        .arg(testkit::java_apps())
        .args(["LeakApp", "bounded"])
        .arg(steps.path());
    let (app, _) = testkit::spawn_ready(java, "ready 0");
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
        .arg(steps.path().join("out"))
        .env("PATH", "/nonexistent");
    let (code, _, err) = run(cmd);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("cannot run jcmd"), "{err}");
}

#[test]
fn a_taken_inspector_port_is_named() {
    // Hold 9229 ourselves; if another process holds it, the case is the same.
    let _hold = std::net::TcpListener::bind("127.0.0.1:9229");
    let mut node = Command::new("node");
    node.arg(repo_root().join("crates/leakhound/demo/server.js"));
    let (app, _) = start_listening(node);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
        .arg(dir.path());
    let (code, _, err) = run(cmd);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("9229 is already taken"), "{err}");
    assert!(
        testkit::process_alive(app.pid()),
        "the app survives a failed capture"
    );
}

/// The Python app has no leakhound code: soak turns tracemalloc and the
/// helper's endpoint on through a sitecustomize.
fn soak_python(mode: &str) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args([
        "soak",
        "--format",
        "json",
        "--memory-limit",
        "256Mi",
        "--duration",
        "8s",
    ])
    .args(["--http-load", "/work?n=50", "--rps", "20", "-o"])
    .arg(dir.path())
    .arg("--")
    .arg("python3")
    .arg(repo_root().join("testkit/apps/python-plain/server.py"))
    .arg(mode)
    .env("LISTEN", "127.0.0.1:0");
    let (code, v, err) = run_soak(cmd);
    assert_private_files(dir.path());
    (code, v, err)
}

#[test]
fn python_leak_under_soak_names_the_line() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_python("leak");
    assert_eq!(code, 1, "{v:#}\n{err}");
    assert_eq!(v["report"]["format"], "tracemalloc");
    let key = v["report"]["suspects"][0]["key"].as_str().unwrap();
    assert!(key.ends_with("python-plain/server.py:21"), "{key}");
}

#[test]
fn python_bounded_cache_under_soak_exits_0() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_python("steady");
    assert_eq!(code, 0, "{v:#}\n{err}");
}

/// GETs to a sample app every 5 ms from a thread, at most `max` of them:
/// bounded in count and time, and stopped (joined) when dropped.
struct PacedLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PacedLoad {
    fn start(addr: &str, path: &str, max: usize) -> PacedLoad {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, addr, path) = (stop.clone(), addr.to_string(), path.to_string());
        let thread = std::thread::spawn(move || {
            for _ in 0..max {
                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let _ = testkit::http_get(&addr, &path);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        PacedLoad {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for PacedLoad {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `diagnose TARGET`: three snapshots a second apart, exit 1 on a leak,
/// JSON on stdout, files into `dir`.
fn diagnose_json(target: &str, dir: &Path) -> (i32, String, String) {
    let mut cmd = leakhound();
    cmd.args(["diagnose", target, "--count", "3", "--interval", "1s"])
        .args(["--fail-on-leak", "--format", "json", "-o"])
        .arg(dir);
    run(cmd)
}

#[test]
fn diagnose_a_running_go_leak_by_pid() {
    let (app, addr) = start_listening(Command::new(go_app("leak")));
    // Load while leakhound watches, paced so that it lasts the whole diagnosis.
    let load = PacedLoad::start(&addr, "/work?n=2", 3000);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = diagnose_json(&format!("pid:{}", app.pid()), dir.path());
    drop(load);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["report"]["suspects"][0]["key"], "main.(*registry).track");
    assert_private_files(dir.path());
}

/// A V8 snapshot needs about twice the used heap: in a cgroup without that
/// much room, capture refuses (exit 3) rather than get the process OOM-killed.
#[test]
fn node_snapshot_is_refused_when_the_cgroup_has_no_room_for_it() {
    if !cgroups_writable() {
        return;
    }
    let cg = lh_cgroup::MemoryCgroup::create(160 << 20).unwrap();
    let mut node = Command::new("node");
    node.arg("--inspect-port=0")
        .arg(repo_root().join("crates/leakhound/demo/server.js"));
    cg.enter_on_exec(&mut node).unwrap();
    let (app, addr) = start_listening(node);
    let dir = tempfile::tempdir().unwrap();
    let mut refused = None;
    for round in 0..60 {
        let _ = testkit::http_get(&addr, "/work?n=1000");
        let room = cg.limit().unwrap().unwrap() - cg.usage().unwrap();
        // Only ask once the heap has clearly outgrown half the room.
        if room > 48 << 20 {
            continue;
        }
        let mut cmd = leakhound();
        cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
            .arg(dir.path().join(round.to_string()));
        let (code, _, err) = run(cmd);
        if code == 3 && err.contains("--force") {
            refused = Some(err);
            break;
        }
        assert_eq!(code, 0, "{err}");
    }
    let err = refused.expect("the headroom guard never refused");
    assert!(err.contains("needs about"), "{err}");
    assert!(testkit::process_alive(app.pid()), "the app is still alive");
    drop(app);
    drop(cg);
}

/// Unmounts a test's small tmpfs when the test ends.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_is_a_clear_error_and_leaves_no_partial_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("small");
    std::fs::create_dir(&full).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        return eprintln!("SKIP: cannot mount a small tmpfs to fill (needs root)");
    }
    let _guard = Tmpfs(full.clone());
    let mut node = Command::new("node");
    node.arg("--inspect-port=0")
        .arg(repo_root().join("crates/leakhound/demo/server.js"));
    let (app, _) = start_listening(node);
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
        .arg(&full);
    let (code, _, err) = run(cmd);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().collect();
    assert!(left.is_empty(), "a partial snapshot was left: {left:?}");
    assert!(testkit::process_alive(app.pid()));
}

#[test]
fn capture_of_a_python_program_it_starts_itself_needs_no_code_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args([
        "capture",
        "--count",
        "2",
        "--interval",
        "200ms",
        "--format",
        "json",
        "-o",
    ])
    .arg(dir.path())
    .args(["--", "python3"])
    .arg(repo_root().join("testkit/apps/python-plain/server.py"))
    .arg("leak")
    .env("LISTEN", "127.0.0.1:0");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"], "python");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files.len(), 2);
    let mut diff = leakhound();
    diff.arg("diff").args(&files);
    assert_eq!(run(diff).0, 0);
}

#[test]
fn ctrl_c_during_capture_stops_the_program_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = leakhound()
        .args(["capture", "--count", "5", "--interval", "300s", "-o"])
        .arg(dir.path())
        .args(["--", "python3"])
        .arg(repo_root().join("testkit/apps/python-plain/server.py"))
        .arg("steady")
        .env("LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lh = child.id();
    // Ready when the first snapshot is on disk (the helper answers JSON).
    let first = dir.path().join("001-tracemalloc.json");
    let deadline = std::time::Instant::now() + testkit::READY_TIMEOUT;
    while !first.exists() {
        assert!(std::time::Instant::now() < deadline, "no first snapshot");
        assert!(
            child.try_wait().unwrap().is_none(),
            "leakhound exited early"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sigint(lh);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(started_pid(&err).is_some(), "{err}");
    assert_nothing_left(lh, &err);
}

#[test]
fn capture_a_running_python_by_pid_through_its_helper_or_say_how() {
    let app_py = repo_root().join("testkit/apps/python-plain/server.py");
    let mut py = Command::new("python3");
    py.args(["-m", "leakhound_helper"])
        .arg(&app_py)
        .arg("leak")
        .env("PYTHONPATH", repo_root().join("helpers/python"));
    let (app, _) = start_listening(py);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args([
        "capture",
        &format!("pid:{}", app.pid()),
        "--format",
        "json",
        "-o",
    ])
    .arg(dir.path());
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"], "python");
    // Without the helper there is nothing to ask: say how to get one.
    let mut bare = Command::new("python3");
    bare.arg(&app_py).arg("leak");
    let (bare, _) = start_listening(bare);
    let mut cmd = leakhound();
    cmd.args(["capture", &format!("pid:{}", bare.pid()), "-o"])
        .arg(dir.path());
    let (code, _, err) = run(cmd);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("leakhound_helper"), "{err}");
}

#[test]
fn a_process_that_exits_mid_capture_is_named() {
    let (mut app, _) = start_listening(Command::new(go_app("steady")));
    let pid = app.pid();
    let dir = tempfile::tempdir().unwrap();
    let child = leakhound()
        .args([
            "capture",
            &format!("pid:{pid}"),
            "--count",
            "3",
            "--interval",
            "2s",
            "-o",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lh = child.id();
    let first = dir.path().join("001-heap.pb.gz");
    let deadline = std::time::Instant::now() + testkit::READY_TIMEOUT;
    while !first.exists() {
        assert!(std::time::Instant::now() < deadline, "no first snapshot");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    app.child.kill().unwrap();
    app.child.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("exited mid-capture"), "{err}");
    assert!(
        err.contains(&format!("process {pid} does not exist")),
        "{err}"
    );
    assert_nothing_left(lh, &err);
}

#[test]
fn diagnose_a_cgroup_reads_its_oom_history_and_names_the_leak() {
    if !cgroups_writable() {
        return;
    }
    let cg = lh_cgroup::MemoryCgroup::create(256 << 20).unwrap();
    // History: one real OOM kill in this cgroup before leakhound looks.
    let mut hog = Command::new("python3");
    hog.args(["-c", "a = []\nwhile True: a.append(bytearray(1 << 20))"]);
    cg.enter_on_exec(&mut hog).unwrap();
    assert!(!hog.status().unwrap().success());
    assert_eq!(cg.oom_kills().unwrap(), 1);
    let mut leak = Command::new(go_app("leak"));
    cg.enter_on_exec(&mut leak).unwrap();
    let (_app, addr) = start_listening(leak);
    // Paced so that it lasts the diagnosis; at most 1500 × 64 KiB kept,
    // under the limit even with the GC's headroom.
    let load = PacedLoad::start(&addr, "/work?n=1", 1500);
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = diagnose_json(&format!("cgroup:{}", cg.path().display()), dir.path());
    drop(load);
    assert_eq!(code, 1, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["oom_kills_before"], 1);
    assert!(
        v["reasons"][0].as_str().unwrap().contains("1 OOM kill"),
        "{v:#}"
    );
    assert_eq!(v["report"]["suspects"][0]["key"], "main.(*registry).track");
    assert!(v["limit_bytes"].as_u64().unwrap() == 256 << 20);
}

/// Soaks the C sample app for a few seconds, as a user would: no profiling
/// flag, soak turns the allocator's heap profiler on itself. `extra` goes
/// before `--` (e.g. `--preload jemalloc`).
fn soak_native(bounded: bool, alloc: Allocator, extra: &[&str]) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = leakhound();
    cmd.args([
        "soak",
        "--format",
        "json",
        "--memory-limit",
        "1Gi",
        "--duration",
        "8s",
    ])
    .args(extra)
    .arg("-o")
    .arg(dir.path())
    .arg("--")
    .arg(native_app(bounded, alloc));
    let (code, v, err) = run_soak(cmd);
    assert_eq!(v["runtime"], "native", "{v:#}\n{err}");
    assert!(
        v["snapshots"].as_array().unwrap().len() >= 3,
        "{v:#}\n{err}"
    );
    // The dumps were copied out 0600; the allocator's own directory is 0700.
    assert_private_files(dir.path());
    (code, v, err)
}

fn assert_native_leak(code: i32, v: &Value, err: &str, format: &str) {
    assert_eq!(code, 1, "{v:#}\n{err}");
    assert_eq!(v["verdict"], "leak");
    assert_eq!(v["report"]["format"], format);
    assert_eq!(
        v["report"]["suspects"][0]["key"], "remember_request",
        "{v:#}\n{err}"
    );
}

#[test]
fn native_jemalloc_leak_under_soak_is_named_and_its_bounded_twin_soaks_clean() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_native(false, Allocator::Jemalloc, &[]);
    assert_native_leak(code, &v, &err, "jemalloc");
    let (code, v, err) = soak_native(true, Allocator::Jemalloc, &[]);
    assert_eq!(code, 0, "{v:#}\n{err}");
    assert_eq!(v["report"]["suspects"], Value::Array(vec![]), "{v:#}");
}

#[test]
fn native_tcmalloc_leak_under_soak_is_named() {
    if !cgroups_writable() {
        return;
    }
    let (code, v, err) = soak_native(false, Allocator::Tcmalloc, &[]);
    assert_native_leak(code, &v, &err, "tcmalloc");
}

/// glibc's malloc has no profiler: soak says to preload jemalloc, and with
/// `--preload jemalloc` names the leak.
#[test]
fn native_glibc_leak_under_soak_needs_and_takes_preload_jemalloc() {
    if !cgroups_writable() {
        return;
    }
    let err = soak_refused(&native_app(false, Allocator::Glibc));
    assert!(err.contains("glibc's malloc"), "{err}");
    assert!(err.contains("--preload jemalloc"), "{err}");
    let (code, v, err) = soak_native(false, Allocator::Glibc, &["--preload", "jemalloc"]);
    assert_native_leak(code, &v, &err, "jemalloc");
}

/// A native process leakhound did not start, without profiling: capture says
/// exactly what to set, exits 2, and leaves the process alone.
#[test]
fn an_attached_native_pid_without_profiling_is_told_what_to_set() {
    for (alloc, want) in [
        (
            Allocator::Jemalloc,
            "MALLOC_CONF=prof:true,prof_prefix:/tmp/heapdump,lg_prof_interval:25",
        ),
        (
            Allocator::Tcmalloc,
            "HEAPPROFILE=/tmp/heapdump HEAP_PROFILE_ALLOCATION_INTERVAL=33554432",
        ),
        (Allocator::Glibc, "LD_PRELOAD="),
    ] {
        // Bounded: it allocates as the leaky one does but holds little while we look.
        let (app, _) = testkit::spawn_ready(Command::new(native_app(true, alloc)), "ready");
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = leakhound();
        cmd.args(["capture", &format!("pid:{}", app.pid()), "-o"])
            .arg(dir.path().join("out"));
        let (code, _, err) = run(cmd);
        assert_eq!(code, 2, "{alloc:?}: {err}");
        assert!(err.contains(want), "{alloc:?}: {err}");
        assert!(err.contains(&format!("process {}", app.pid())), "{err}");
        assert!(!dir.path().join("out").exists(), "nothing written");
        assert!(
            testkit::process_alive(app.pid()),
            "the app survives a refused capture"
        );
    }
}

/// Ctrl-C, as a terminal sends it, to the leakhound we started.
fn sigint(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).expect("a child's pid is positive");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT to leakhound");
}
