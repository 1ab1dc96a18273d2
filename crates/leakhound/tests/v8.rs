//! Node.js leaks, end to end: real Node 20 sample apps under real HTTP load,
//! real heap snapshots from `v8.writeHeapSnapshot`, and leakhound's verdict
//! on them: the leaking class, the path that holds it and the pattern.

mod common;

use common::{json_of, leakhound};
use serde_json::Value;
use std::path::{Path, PathBuf};
use testkit::{http_ok, node_app, start_listening, write_file, Proc};

/// A running Node sample app and a private directory for its snapshots.
struct App {
    _proc: Proc,
    addr: String,
    dir: tempfile::TempDir,
    next_id: usize,
}

impl App {
    fn start(name: &str) -> App {
        let (proc, addr) = start_listening(node_app(name));
        App {
            _proc: proc,
            addr,
            dir: tempfile::tempdir().unwrap(),
            next_id: 0,
        }
    }

    /// `requests` real HTTP requests, then a snapshot (after a full GC).
    fn round(&mut self, requests: usize, file: &str) -> PathBuf {
        for _ in 0..requests {
            self.next_id += 1;
            http_ok(&self.addr, &format!("/req?id={}", self.next_id));
        }
        let path = self.dir.path().join(file);
        let body = http_ok(
            &self.addr,
            &format!("/snapshot?path={}", path.to_str().unwrap()),
        );
        assert_eq!(Path::new(std::str::from_utf8(&body).unwrap()), path);
        path
    }

    /// Three snapshots with 200 requests before each.
    fn three(&mut self) -> Vec<PathBuf> {
        (0..3)
            .map(|i| self.round(200, &format!("s{i}.heapsnapshot")))
            .collect()
    }
}

fn diff(paths: &[PathBuf]) -> Value {
    let mut args = vec!["diff", "--format", "json"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    json_of(&leakhound(&args))
}

/// The first suspect, checked for key and pattern; returns its path as one string.
fn first_suspect(report: &Value, key: &str, pattern: &str) -> String {
    let s = &report["suspects"][0];
    assert_eq!(s["key"], key, "suspects: {:#}", report["suspects"]);
    assert_eq!(s["pattern"], pattern, "suspect: {s:#}");
    let path: Vec<&str> = s["retainer_path"]
        .as_array()
        .expect("a retainer path")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(path[0], "(GC root)", "{path:?}");
    assert!(
        path.last().unwrap().ends_with(key) || path.last().unwrap().contains(&format!("{key} (×")),
        "the path ends at the leaked object: {path:?}"
    );
    assert!(s["retained_bytes"].as_u64().unwrap() >= 200 * 2048, "{s:#}");
    assert!(s["confidence"].as_f64().unwrap() > 0.7, "{s:#}");
    path.join(" → ")
}

#[test]
fn listener_closure_leak_names_the_emitter() {
    let mut app = App::start("listener");
    let report = diff(&app.three());
    let path = first_suspect(&report, "RequestContext", "event-listener");
    assert!(path.contains(".configBus → EventEmitter"), "{path}");
    assert!(path.contains("._events"), "{path}");
    assert!(path.contains("(closure) onConfigChanged"), "{path}");
    let hint = report["suspects"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("'config-changed'"), "{hint}");
    // The payload Array and the closures are part of the same leak, not more suspects.
    let keys: Vec<&str> = report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["RequestContext"], "{keys:?}");
}

#[test]
fn map_cache_leak_names_the_map() {
    let mut app = App::start("cache");
    let snaps = app.three();
    let report = diff(&snaps);
    let path = first_suspect(&report, "CachedResponse", "unbounded-collection");
    assert!(path.contains(".responseCache → Map"), "{path}");
    let hint = report["suspects"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("Map 'responseCache'"), "{hint}");
    // All 200 leaked entries share one path: Map slots are folded.
    assert!(hint.contains("200 of them"), "{hint}");
    let g = report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "CachedResponse")
        .unwrap();
    assert_eq!(g["count"], serde_json::json!([200, 400, 600]), "{g:#}");
    assert_eq!(g["monotonic"], true);

    // Two snapshots: DevTools' Comparison, by object id.
    let two = diff(&snaps[1..]);
    let churn = &two["churn"]["CachedResponse"];
    assert_eq!(churn["new_count"], 200, "{churn:#}");
    assert_eq!(churn["deleted_count"], 0, "{churn:#}");
    assert_eq!(two["suspects"][0]["key"], "CachedResponse");
    assert!(two["suspects"][0]["confidence"].as_f64().unwrap() <= 0.7);

    // One snapshot: the Map is among the largest objects, with its path.
    let one = json_of(&leakhound(&[
        "analyze",
        "--format",
        "json",
        snaps[2].to_str().unwrap(),
    ]));
    let map = one["largest"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"] == "Map")
        .expect("the cache Map is among the largest objects");
    assert!(
        map["retained_bytes"].as_u64().unwrap() >= 600 * 2048,
        "{map:#}"
    );
    let p = map["retainer_path"].to_string();
    assert!(p.contains(".responseCache → Map"), "{p}");
    let g = one["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "CachedResponse")
        .unwrap();
    assert!(g["retained_bytes"].as_u64().unwrap() >= 600 * 2048, "{g:#}");
}

#[test]
fn interval_leak_names_the_timer_list() {
    let mut app = App::start("timer");
    let report = diff(&app.three());
    let path = first_suspect(&report, "Timeout", "timer");
    assert!(path.contains("TimersList"), "{path}");
    let hint = report["suspects"][0]["hint"].as_str().unwrap();
    assert!(hint.contains("clearInterval"), "{hint}");
}

#[test]
fn bounded_lru_with_garbage_has_no_suspect() {
    let mut app = App::start("lru");
    let snaps = app.three();
    let report = diff(&snaps);
    assert_eq!(report["suspects"], serde_json::json!([]), "{report:#}");
    let out = leakhound(&[
        "diff",
        snaps[0].to_str().unwrap(),
        snaps[2].to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("Suspects"), "{text}");
}

#[test]
fn snapshots_of_different_processes_are_named_as_such() {
    let mut a = App::start("lru");
    let s1 = a.round(10, "a.heapsnapshot");
    let mut b = App::start("cache");
    let s2 = b.round(400, "b.heapsnapshot");
    let report = diff(&[s1, s2]);
    let notes = report["notes"].to_string();
    assert!(notes.contains("different processes"), "{report:#}");
    assert!(report.get("churn").is_none());
}

/// A real snapshot rewritten with what other writers do: a meta that lists
/// only V8's first 12 node types while nodes use the later ones (a public
/// Chrome snapshot does this), and 64-bit ids (Julia's writer uses addresses).
/// Rewritten as text, so that everything else stays where V8 put it.
fn as_other_writers_write(src: &Path, dest: &Path) -> usize {
    let text = std::fs::read_to_string(src).unwrap();
    let head_end = text.find("\"nodes\":[").unwrap();
    let head: Value = serde_json::from_str(&format!(
        "{}}}",
        &text[..head_end].trim_end().trim_end_matches(',')
    ))
    .unwrap();
    let fields: Vec<String> =
        serde_json::from_value(head["snapshot"]["meta"]["node_fields"].clone()).unwrap();
    let (t, id) = (
        fields.iter().position(|f| f == "type").unwrap(),
        fields.iter().position(|f| f == "id").unwrap(),
    );
    // The types list ends `…,"sliced string","symbol","bigint",…]`: cut it after the 12th.
    let twelfth = text.find(r#""sliced string""#).unwrap() + r#""sliced string""#.len();
    let list_end = twelfth + text[twelfth..].find(']').unwrap();
    let head = format!("{}{}", &text[..twelfth], &text[list_end..head_end]);
    let body_start = head_end + "\"nodes\":[".len();
    let body_end = body_start + text[body_start..].find(']').unwrap();
    let mut values: Vec<u64> = text[body_start..body_end]
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let mut unlisted = 0;
    for rec in values.chunks_mut(fields.len()) {
        unlisted += usize::from(rec[t] >= 12);
        rec[id] += 1 << 36;
    }
    let nodes: Vec<String> = values.iter().map(u64::to_string).collect();
    let out = format!("{head}\"nodes\":[{}{}", nodes.join(","), &text[body_end..]);
    std::fs::write(dest, out).unwrap();
    unlisted
}

#[test]
fn unlisted_node_types_and_wide_ids_read_the_same() {
    let mut app = App::start("cache");
    let snaps = app.three();
    let want = diff(&snaps);
    let other: Vec<PathBuf> = snaps
        .iter()
        .map(|p| {
            let dest = p.with_extension("other.heapsnapshot");
            let unlisted = as_other_writers_write(p, &dest);
            assert!(
                unlisted > 100,
                "Node 20 writes symbols and object shapes: {unlisted}"
            );
            dest
        })
        .collect();
    let got = diff(&other);
    for (g, w) in got["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["snapshots"].as_array().unwrap())
    {
        assert_eq!(g["total_bytes"], w["total_bytes"], "{g:#} vs {w:#}");
        assert_eq!(g["total_count"], w["total_count"], "{g:#} vs {w:#}");
    }
    first_suspect(&got, "CachedResponse", "unbounded-collection");
    assert_eq!(
        got["suspects"][0]["delta_bytes"],
        want["suspects"][0]["delta_bytes"]
    );
}

/// A tiny snapshot in the format of Node 20: root → Holder → Leaf.
const TINY: &str = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"]},"node_count":3,"edge_count":2},
"nodes":[9,0,1,0,1,0,0,3,1,3,100,1,0,0,3,2,5,50,0,0,0],
"edges":[1,0,7,2,3,14],
"strings":["","Holder","Leaf","child"]}"#;

/// Each bad file exits 2 with a message naming the file and the byte offset.
#[test]
fn bad_snapshots_exit_2_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write_file(dir.path(), "ok.heapsnapshot", TINY.as_bytes());
    let good = json_of(&leakhound(&[
        "analyze",
        "--format",
        "json",
        ok.to_str().unwrap(),
    ]));
    assert_eq!(good["groups"][0]["key"], "Holder");
    assert_eq!(good["groups"][0]["retained_bytes"], 150);

    let edge_at = TINY.find("\"edges\":[").unwrap() + "\"edges\":[1,0,7,2,3,".len();
    let cases: Vec<(&str, String, String)> = vec![
        (
            "truncated",
            TINY[..TINY.len() / 2 + 40].to_string(),
            "truncated".into(),
        ),
        (
            "no-meta",
            // The meta is there, but not inside "snapshot".
            TINY.replace("{\"snapshot\":{\"meta\":", "{\"meta\":")
                .replace(
                    "\"edge_count\":2},",
                    "\"edge_count\":2,\"snapshot\":{\"node_count\":3},",
                ),
            "no \"meta\"".into(),
        ),
        (
            "odd-meta",
            TINY.replace("\"self_size\"", "\"size\""),
            "no \"self_size\" field".into(),
        ),
        (
            "edge-outside",
            TINY.replace("\"edges\":[1,0,7,2,3,14]", "\"edges\":[1,0,7,2,3,700]"),
            format!("at byte {edge_at}: edge 1 points to node array index 700"),
        ),
        (
            "not-a-snapshot",
            r#"{"snapshot": {"meta": "yes"}, "nodes": []}"#.into(),
            "bad snapshot.meta".into(),
        ),
    ];
    for (name, text, want) in cases {
        let p = write_file(dir.path(), name, text.as_bytes());
        for args in [
            vec!["analyze", p.to_str().unwrap()],
            vec!["diff", ok.to_str().unwrap(), p.to_str().unwrap()],
        ] {
            let out = leakhound(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{name}: {err}");
            assert!(err.contains(p.to_str().unwrap()), "{name}: {err}");
            assert!(err.contains("at byte "), "{name}: {err}");
            assert!(err.contains(&want), "{name}: want {want:?} in {err}");
            assert!(!err.contains("panicked"), "{name}: {err}");
        }
    }
    // Plain JSON is refused by format detection, before any reader.
    let plain = write_file(
        dir.path(),
        "plain.json",
        br#"{"name": "app", "version": 1}"#,
    );
    let out = leakhound(&["analyze", plain.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a recognized snapshot"), "{err}");
}

/// `--redact-strings` on real Node heaps. The leaked objects hold the app's
/// secret as string values, which lh-v8 never reads: no report shows them,
/// redacted or not (the snapshots hold them, which the test checks first).
/// What a V8 report can show of the program's data is a property name that
/// is a key (the listener app's event name, a key of the emitter's
/// `_events`): shown without the flag, a marker with it, and the redacted
/// page, opened in Chromium, shows its suspects and neither string.
#[test]
fn redacted_reports_hold_no_strings() {
    const SECRET: &str = "LEAKHOUND-SECRET-v8";
    let mut app = App::start("cache");
    let snaps = app.three();
    assert!(
        common::holds(&std::fs::read(&snaps[2]).unwrap(), SECRET),
        "the snapshot holds the app's strings"
    );
    let files: Vec<&Path> = snaps.iter().map(PathBuf::as_path).collect();
    let (_, plain) = common::assert_redacted(&files, app.dir.path(), SECRET, "CachedResponse");
    assert_eq!(plain.holding(SECRET), Vec::<&str>::new());

    let mut app = App::start("listener");
    let snaps = app.three();
    let files: Vec<&Path> = snaps.iter().map(PathBuf::as_path).collect();
    const EVENT: &str = "config-changed";
    let (redacted, plain) =
        common::assert_redacted(&files, app.dir.path(), EVENT, "RequestContext");
    assert_eq!(plain.holding(EVENT), ["json", "html"]);
    assert_eq!(redacted.holding(SECRET), Vec::<&str>::new());
    let r = redacted.report();
    let path = first_suspect(&r, "RequestContext", "event-listener");
    let marker = format!(".<redacted {} bytes> → ", EVENT.len());
    assert!(path.contains(&marker), "{path}");
    assert!(path.contains("._events"), "field names stay: {path}");

    let page = common::browse(&app.dir.path().join("redacted.html"), "v8-redacted");
    assert_eq!(page.suspects, ["RequestContext"]);
    assert!(page.frames > 1, "the flame graph renders");
    for s in [EVENT, SECRET] {
        assert!(!page.dom.contains(s), "the page shows {s:?}");
    }
    assert!(page
        .dom
        .contains(&format!("redacted {} bytes", EVENT.len())));
}

#[test]
fn html_report_in_a_browser_names_the_leak() {
    let mut app = App::start("cache");
    let snaps = app.three();
    let files: Vec<&Path> = snaps.iter().map(PathBuf::as_path).collect();
    let dir = app.dir.path().to_path_buf();
    common::html_diff_names(&files, &dir, "CachedResponse", "v8");
}
