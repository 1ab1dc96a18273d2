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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A headless Chromium in its own process group, all of it killed on drop.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium forks a zygote and renderers: end the whole group.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Browser {
    fn start(url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--remote-debugging-port=0",
            "--remote-debugging-address=127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .expect("chromium is installed (Debian's chromium, as .ci/run installs)");
        let mut b = Browser {
            child,
            _profile: profile,
            port: 0,
        };
        // Chromium writes the port it bound to, then the browser target's path.
        let port_file = b._profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(120);
        b.port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .filter(|t| t.ends_with('\n') || t.lines().count() >= 2)
                .and_then(|t| t.lines().next()?.trim().parse().ok())
            {
                break p;
            }
            if let Ok(Some(st)) = b.child.try_wait() {
                panic!("chromium exited before listening: {st}");
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        b
    }

    /// The page's DevTools WebSocket, once the page has loaded `leakOnce`.
    fn page(&self) -> Session {
        let addr = format!("127.0.0.1:{}", self.port);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let list = json_list(&addr);
            let ws = list.as_ref().and_then(|l| {
                l.as_array()?.iter().find(|t| {
                    t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with("file:"))
                })?["webSocketDebuggerUrl"]
                    .as_str()
                    .map(str::to_string)
            });
            if let Some(ws) = ws {
                let mut page = Session::connect(&Local::network(), &Port::loopback(self.port), &ws)
                    .expect("connect to the page");
                if evaluate(&mut page, "typeof leakOnce") == json!("function") {
                    return page;
                }
            }
            assert!(Instant::now() < deadline, "the page did not load: {list:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The DevTools targets. Chromium's DevTools server answers HTTP/1.1 only
/// (testkit's helper speaks 1.0) and keeps the connection open, so the
/// body is read by its Content-Length.
fn json_list(addr: &str) -> Option<Value> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(s, "GET /json/list HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut r = BufReader::new(s);
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

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
    let browser = Browser::start(&format!("file://{}", html.display()));
    let mut page = browser.page();
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
