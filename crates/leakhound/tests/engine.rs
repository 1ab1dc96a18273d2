//! The run engine's bugs, each caught where a user meets it: through the
//! binary, against real programs. (The engine itself is tested in lh-run.)

mod common;

use common::on_terminal;
use std::path::Path;
use std::process::{Command, Stdio};
use testkit::{go_app, repo_root, start_listening};

fn leakhound() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_leakhound"));
    c.env("NO_COLOR", "1");
    c
}

/// Runs to the end with stdout and stderr piped: (exit code, stdout, stderr).
fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run leakhound");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether this machine lets us make memory cgroups; prints why not.
fn cgroups_writable() -> bool {
    match lh_cgroup::MemoryCgroup::create(64 << 20) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIP: no writable memory cgroup: {e}");
            false
        }
    }
}

fn python_soak(cwd: &Path, mode: &str, extra: &[&str]) -> Command {
    let mut cmd = leakhound();
    cmd.current_dir(cwd)
        .args(["soak", "--format", "json", "--duration", "3s"])
        .args(["--http-load", "/work?n=5"])
        .args(extra)
        .args(["--", "python3"])
        .arg(repo_root().join("testkit/apps/python-plain/server.py"))
        .arg(mode)
        .env("LISTEN", "127.0.0.1:0");
    cmd
}

/// Bug: the second soak into the default `-o leakhound-soak` truncated the
/// first one's app.log, read its helper address file and exited 3.
#[test]
fn a_second_soak_into_the_same_directory_is_refused_and_the_first_is_kept() {
    if !cgroups_writable() {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&mut python_soak(cwd.path(), "leak", &[]));
    assert!(code == 0 || code == 1, "first soak: {code} {err}");
    let log = cwd.path().join("leakhound-soak/app.log");
    let report = cwd.path().join("leakhound-soak/report.json");
    let (log_before, report_before) = (
        std::fs::read(&log).unwrap(),
        std::fs::read(&report).unwrap(),
    );
    let (code, _, err) = run(&mut python_soak(cwd.path(), "steady", &[]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("leakhound-soak is not empty"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    assert_eq!(
        std::fs::read(&log).unwrap(),
        log_before,
        "app.log was touched"
    );
    assert_eq!(std::fs::read(&report).unwrap(), report_before);
    // Reused on purpose, nothing of the first run is read: the helper's
    // address is this run's, so the soak works.
    let (code, out, err) = run(&mut python_soak(cwd.path(), "steady", &["--overwrite"]));
    assert!(code == 0 || code == 1, "with --overwrite: {code} {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["runtime"], "python");
    assert_eq!(v["schema_version"], 1);
}

/// Bug: `--http-load /PATH` on a program that opens no port of its own
/// waited out --ready-timeout, then blamed "nothing to capture from".
#[test]
fn http_load_on_a_program_without_a_port_says_so() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(leakhound()
        .args(["soak", "--ready-timeout", "5s", "--duration", "5s"])
        .args(["--http-load", "/x", "-o"])
        .arg(dir.path().join("out"))
        .args(["--", "python3", "-c", "import time; time.sleep(120)"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("listens on no port of its own"), "{err}");
    assert!(!err.contains("serves nothing"), "{err}");
}

/// Bug: `soak --duration 2d` was refused; one grammar now serves every flag.
#[test]
fn every_duration_flag_takes_days() {
    // A bad size fails after the flags parsed, before any cgroup is made.
    let (code, _, err) = run(leakhound().args([
        "soak",
        "--duration",
        "2d",
        "--ready-timeout",
        "1h30m",
        "--memory-limit",
        "lots",
        "--",
        "true",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad size \"lots\""), "{err}");
    for flag in [["diagnose", "--interval"], ["capture", "--interval"]] {
        let (code, _, err) = run(leakhound().args([flag[0], "pid:abc", flag[1], "2d"]));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("bad pid"), "{flag:?} 2d: {err}");
    }
    let (code, _, err) = run(leakhound().args(["soak", "--duration", "2x", "--", "true"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("500ms, 30s, 10m, 6h, 2d"), "{err}");
}

/// Bug: `--format pprof` was accepted by these commands and printed a table.
#[test]
fn format_pprof_is_refused_where_there_is_no_profile_to_write() {
    for args in [
        &["capture", "url:http://127.0.0.1:1"][..],
        &["soak", "--", "true"],
        &["diagnose", "pid:1"],
        &["demo"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Before any `--`, whose words are the program's.
        let (code, out, err) = run(leakhound()
            .arg(args[0])
            .args(["--format", "pprof"])
            .args(&args[1..])
            .current_dir(dir.path()));
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("'pprof'"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{args:?} wrote files"
        );
    }
}

/// A progress bar on a terminal; on a pipe, the log lines only.
#[test]
fn capture_and_diagnose_show_progress_on_a_terminal_and_none_on_a_pipe() {
    let (app, _) = start_listening(Command::new(go_app("leak")));
    let dir = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("capture", &["--count", "2"][..]),
        ("diagnose", &["--count", "2"]),
    ] {
        let target = format!("pid:{}", app.pid());
        let tty = dir.path().join(format!("{name}-tty"));
        let mut args = vec![name, &target, "--interval", "1s", "-o", common::s(&tty)];
        args.extend(extra);
        let (code, all) = on_terminal(&args);
        assert_eq!(code, Some(0), "{name}: {all}");
        assert!(
            all.contains(&format!("{name} [")),
            "{name}: no bar on a terminal: {all:?}"
        );
        let mut cmd = leakhound();
        cmd.args([name, &format!("pid:{}", app.pid()), "--interval", "1s"])
            .args(extra)
            .arg("-o")
            .arg(dir.path().join(format!("{name}-pipe")));
        let (code, _, err) = run(&mut cmd);
        assert_eq!(code, 0, "{name}: {err}");
        assert!(
            !err.contains('\r') && !err.contains('\u{1b}'),
            "{name}: {err:?}"
        );
        assert!(!err.contains(&format!("{name} [")), "{name}: {err:?}");
    }
}

#[test]
fn soak_shows_progress_on_a_terminal_and_none_on_a_pipe() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let app = go_app("steady");
    let soak_args = |out: &'static str| -> Vec<String> {
        let mut v: Vec<String> = ["soak", "--duration", "3s", "--http-load", "/work?n=1", "-o"]
            .map(String::from)
            .into();
        v.push(dir.path().join(out).to_string_lossy().into_owned());
        // `env` execs the app in the same process, with its listen address.
        v.extend(["--", "env", "LISTEN=127.0.0.1:0"].map(String::from));
        v.push(app.to_string_lossy().into_owned());
        v
    };
    let tty = soak_args("tty");
    let (code, all) = on_terminal(&tty.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(code == Some(0) || code == Some(1), "{all}");
    assert!(all.contains("soak ["), "no bar on a terminal: {all:?}");
    let (code, _, err) = run(leakhound().args(soak_args("pipe")));
    assert!(code == 0 || code == 1, "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}
