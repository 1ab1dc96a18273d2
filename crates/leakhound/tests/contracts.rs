//! The JSON contracts of docs/schema/, checked against real outputs: the
//! reports of `diff` and `analyze` on snapshots of real sample apps (Go,
//! Node, Python), and the verdicts of `detect` and `trend` on the recorded
//! series of testdata/. (The soak report is checked in runner.rs, on every
//! real soak.)

mod common;

use common::schema::assert_valid;
use common::{json_of, leakhound, s};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use testkit::{go_app, http_ok, repo_root, start_listening};

fn check_reports(snaps: &[PathBuf]) {
    let mut diff = vec!["diff", "--format", "json"];
    diff.extend(snaps.iter().map(|p| s(p)));
    let d = json_of(&leakhound(&diff));
    assert_valid("report.schema.json", &d);
    assert_eq!(d["schema_version"], 1);
    let a = json_of(&leakhound(&["analyze", "--format", "json", s(&snaps[1])]));
    assert_valid("report.schema.json", &a);
}

#[test]
fn diff_and_analyze_of_go_node_and_python_follow_the_report_schema() {
    let dir = tempfile::tempdir().unwrap();
    // Go: heap profiles of the leaking sample app.
    let (_go, addr) = start_listening(Command::new(go_app("leak")));
    let heaps: Vec<PathBuf> = (0..2)
        .map(|i| {
            http_ok(&addr, "/work?n=100");
            let body = http_ok(&addr, "/debug/pprof/heap?gc=1");
            testkit::write_file(dir.path(), &format!("h{i}.pb.gz"), &body)
        })
        .collect();
    check_reports(&heaps);

    // Node: two snapshots of a process whose Map grows.
    let script = "const v8 = require('v8'); const m = new Map(); \
        for (const [i, p] of process.argv.slice(1).entries()) { \
          for (let k = 0; k < 2000; k++) m.set(i * 2000 + k, {s: 'x'.repeat(100)}); \
          v8.writeHeapSnapshot(p); }";
    let snaps = [
        dir.path().join("n1.heapsnapshot"),
        dir.path().join("n2.heapsnapshot"),
    ];
    let st = Command::new("node")
        .args(["-e", script, s(&snaps[0]), s(&snaps[1])])
        .status()
        .expect("node 20 must be installed");
    assert!(st.success());
    check_reports(&snaps);

    // Python: real tracemalloc pickles of a sample app.
    let app = repo_root().join("testkit/apps/python/dict_cache.py");
    let out = Command::new("python3")
        .args([s(&app), s(dir.path()), "2", "10", "pickle"])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pickles: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("snapshot "))
        .map(PathBuf::from)
        .collect();
    check_reports(&pickles);
}

#[test]
fn detect_and_trend_follow_the_verdict_schema() {
    let real = repo_root().join("testdata/series/real.jsonl");
    let o = leakhound(&["detect", "--format", "json", "--file", s(&real)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(lines.len() > 1);
    for v in &lines {
        assert_valid("verdict.schema.json", v);
    }
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read_to_string(&real).unwrap();
    let one = testkit::write_file(
        dir.path(),
        "one.jsonl",
        first.lines().next().unwrap().as_bytes(),
    );
    let t = json_of(&leakhound(&[
        "trend",
        "--format",
        "json",
        "--file",
        s(&one),
    ]));
    assert_valid("verdict.schema.json", &t);
    assert_eq!(t["verdict"], lines[0]["verdict"]);
}

/// The validator itself must catch what it claims to: a report missing a
/// field, a wrong type, an unknown pattern.
#[test]
fn the_validator_catches_broken_contracts() {
    let mut r: Value = serde_json::from_str(
        r#"{"schema_version": 1, "format": "pprof", "unit": "bytes",
            "snapshots": [{"path": "a", "total_bytes": 1, "total_count": 1}],
            "groups": [], "suspects": [{"key": "k", "delta_bytes": 1, "retained_bytes": null,
            "retainer_path": null, "pattern": "goroutine-leak", "hint": "", "confidence": 0.5}]}"#,
    )
    .unwrap();
    assert!(common::schema::violations("report.schema.json", &r).is_empty());
    r["suspects"][0]["pattern"] = "no-such-pattern".into();
    r["snapshots"][0]["total_bytes"] = "1".into();
    r.as_object_mut().unwrap().remove("unit");
    r.as_object_mut().unwrap().remove("schema_version");
    let v = common::schema::violations("report.schema.json", &r);
    assert_eq!(v.len(), 4, "{v:#?}");
}
