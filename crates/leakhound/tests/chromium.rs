//! A real browser heap: Debian's Chromium, headless, loads a page that
//! leaks detached DOM trees (removed from the document, kept in an array),
//! and its snapshots come over the DevTools protocol, as DevTools takes
//! them. leakhound must read Chromium's V8 (another version than Node's,
//! with Blink's native nodes and `detachedness`) and name the leak
//! `detached-dom`.

mod common;

use common::{json_of, leakhound, s};
use lh_capture::node::Session;
use lh_capture::transport::{Local, Port};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use testkit::browser::Browser;

/// Each call of the page's `leakOnce`: 1000 tooltips shown and closed, each a
/// `<div>` with a `<span>` and text, removed from the document but kept in
/// a global array: the textbook detached-DOM leak.
const PAGE: &str = r#"<!doctype html>
<html><body><main id="app"></main>
<script>
window.closedTooltips = [];
window.leakOnce = function () {
  const app = document.getElementById('app');
  for (let i = 0; i < PER_ROUND; i++) {
    const div = document.createElement('div');
    div.className = 'tooltip';
    const span = document.createElement('span');
    span.textContent = 'hint ' + i;
    div.appendChild(span);
    app.appendChild(div);
    app.removeChild(div);
    closedTooltips.push(div);
  }
  return closedTooltips.length;
};
</script></body></html>"#;
const PER_ROUND: u64 = 1000;

fn evaluate(page: &mut Session, expr: &str) -> Value {
    let r = page
        .call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
            &mut |_, _| Ok(()),
        )
        .expect("Runtime.evaluate");
    r["result"]["value"].clone()
}

fn snapshot(page: &mut Session, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    page.call("HeapProfiler.collectGarbage", json!({}), &mut |_, _| Ok(()))
        .expect("collectGarbage");
    page.take_heap_snapshot(&path, &|_| {}).expect("a snapshot");
    path
}

#[test]
fn chromium_detached_dom_leak_is_the_first_suspect() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("leaky.html");
    std::fs::write(&html, PAGE.replace("PER_ROUND", &PER_ROUND.to_string())).unwrap();
    let mut browser = Browser::start();
    browser.open(&html);
    // A second DevTools client of the page, the one leakhound's capture uses.
    let mut page = Session::connect(
        &Local::network(),
        &Port::loopback(browser.port()),
        &browser.page_ws_url(),
    )
    .expect("connect to the page");
    assert_eq!(evaluate(&mut page, "typeof leakOnce"), json!("function"));
    let mut snaps = Vec::new();
    for round in 0..3 {
        assert_eq!(
            evaluate(&mut page, "leakOnce()"),
            json!(PER_ROUND * (round + 1))
        );
        snaps.push(snapshot(
            &mut page,
            dir.path(),
            &format!("s{round}.heapsnapshot"),
        ));
    }
    let one = json_of(&leakhound(&["analyze", "--format", "json", s(&snaps[0])]));
    assert_eq!(one["format"], "v8");
    assert!(
        one["snapshots"][0]["total_count"].as_u64().unwrap() > 1000,
        "{:#}",
        one["snapshots"]
    );

    let mut args = vec!["diff", "--format", "json"];
    args.extend(snaps.iter().map(|p| s(p)));
    let report = json_of(&leakhound(&args));
    let first = &report["suspects"][0];
    assert_eq!(
        first["pattern"], "detached-dom",
        "suspects: {:#}",
        report["suspects"]
    );
    let key = first["key"].as_str().unwrap();
    // Blink names element nodes by their tag and attributes.
    assert!(key.contains("div"), "{first:#}");
    let path: Vec<&str> = first["retainer_path"]
        .as_array()
        .expect("a retainer path")
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        path.iter().any(|p| p.contains("closedTooltips")),
        "the path names the array that holds them: {path:?}"
    );
}
