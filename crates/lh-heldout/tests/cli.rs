//! The `lh-heldout` binary: files written, never overwritten by accident, bad
//! input answered with exit 2.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lh-heldout"))
}

#[test]
fn writes_series_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.jsonl");
    let l = dir.path().join("l.jsonl");
    let run = |extra: &[&str]| {
        bin()
            .args(["--seed", "9", "--count", "12", "--out-series"])
            .arg(&s)
            .arg("--out-labels")
            .arg(&l)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&["--shapes", "crash-loop,steady", "--max-points", "300"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let series = std::fs::read_to_string(&s).unwrap();
    let labels = std::fs::read_to_string(&l).unwrap();
    assert_eq!(series.lines().count(), 12);
    assert_eq!(labels.lines().count(), 12);
    for (a, b) in series.lines().zip(labels.lines()) {
        let a: serde_json::Value = serde_json::from_str(a).unwrap();
        let b: serde_json::Value = serde_json::from_str(b).unwrap();
        assert_eq!(a["id"], b["id"]);
        assert!(a["points"].as_array().unwrap().len() <= 320);
        assert!(["crash-loop", "steady"].contains(&b["shape"].as_str().unwrap()));
    }

    // Existing files are kept unless --force.
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists"));
    assert_eq!(std::fs::read_to_string(&s).unwrap(), series);
    let out = run(&[
        "--force",
        "--shapes",
        "crash-loop,steady",
        "--max-points",
        "300",
    ]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&s).unwrap(),
        series,
        "deterministic"
    );
}

#[test]
fn bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.jsonl");
    let l = dir.path().join("l.jsonl");
    let out = bin()
        .args(["--seed", "1", "--shapes", "nope", "--out-series"])
        .arg(&s)
        .arg("--out-labels")
        .arg(&l)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown shape"));
    assert!(!s.exists());
    let out = bin().args(["--seed", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["--seed", "1", "--out-series"])
        .arg(&s)
        .arg("--out-labels")
        .arg(&s)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
