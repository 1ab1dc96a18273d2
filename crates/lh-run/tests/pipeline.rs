//! The engine without the binary: a real soak of a real sample app in a real
//! memory cgroup, and a diagnosis of a running one, through lh-run's API.

use lh_model::VerdictKind;
use lh_run::{DiagnoseConfig, LoadSpec, OutputDir, Quiet, SoakConfig};
use std::process::Command;
use std::time::Duration;
use testkit::{go_app, start_listening};

fn cgroups_writable() -> bool {
    match lh_cgroup::MemoryCgroup::create(64 << 20) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIP: no writable memory cgroup: {e}");
            false
        }
    }
}

#[test]
fn a_soak_of_the_go_leak_names_the_leaking_function() {
    if !cgroups_writable() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::claim(dir.path(), false).unwrap();
    let cfg = SoakConfig {
        memory_limit: 1 << 30,
        duration: Duration::from_secs(8),
        load: LoadSpec::Http {
            url: "/work?n=5".into(),
            rps: 20,
        },
        sample_interval: Duration::from_millis(500),
        captures: 3,
        ready_timeout: Duration::from_secs(60),
        force: false,
        preload: None,
        redact_strings: false,
        // `env` execs the app in the same process: the pid is the Go program's.
        cmd: vec![
            "env".into(),
            "LISTEN=127.0.0.1:0".into(),
            go_app("leak").to_string_lossy().into_owned(),
        ],
    };
    let o = lh_run::soak(&cfg, &out, &Quiet).unwrap();
    assert_eq!(o.verdict, VerdictKind::Leak, "{o:#?}");
    assert_eq!(o.runtime, "go");
    assert!(o.ended.is_none(), "{:?}", o.ended);
    assert!(o.snapshots.len() >= 3, "{:?}", o.snapshots);
    assert!(o.requests.unwrap() > 20);
    let report = o.report.as_ref().unwrap();
    assert_eq!(report.suspects[0].key, "main.(*registry).track");
    assert!(o.trend.is_some());
    assert!(o.peak_bytes > 0 && o.limit_bytes == 1 << 30);
    assert!(out.join("app.log").exists());
}

#[test]
fn a_diagnosis_by_pid_runs_the_same_pipeline() {
    let (app, _) = start_listening(Command::new(go_app("steady")));
    let dir = tempfile::tempdir().unwrap();
    let out = OutputDir::claim(dir.path(), false).unwrap();
    let cfg = DiagnoseConfig {
        target: format!("pid:{}", app.pid()).parse().unwrap(),
        count: 2,
        interval: Duration::from_millis(200),
        force: false,
        redact_strings: false,
    };
    let o = lh_run::diagnose(&cfg, &out, &Quiet).unwrap();
    assert_eq!(o.verdict, VerdictKind::NoLeak, "{o:#?}");
    assert_eq!(o.snapshots.len(), 2);
    assert!(o.trend.is_none());
    assert_eq!(o.report.unwrap().snapshots.len(), 2);
    let e = lh_run::diagnose(
        &DiagnoseConfig {
            target: "pod/cart".parse().unwrap(),
            ..cfg
        },
        &out,
        &Quiet,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("not supported by this build yet"),
        "{e}"
    );
    assert_eq!(lh_model::Classify::class(&e), lh_model::ErrorClass::Usage);
}
