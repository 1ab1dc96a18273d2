//! A real Chromium (Debian's `chromium`), headless, driven over the Chrome
//! DevTools Protocol: open a page, wait for its load event, read the DOM
//! with JavaScript, list what the page asked the network for, and take a
//! screenshot. Each [`Browser`] has a fresh profile directory and is killed,
//! with every process it forked, on drop (its directory removed).
//!
//! It also serves tests that need a second DevTools client on the page (such
//! as lh-capture's heap snapshot session): [`Browser::port`] and
//! [`Browser::page_ws_url`] say where to connect.

use crate::{build_dir, Proc, READY_TIMEOUT};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// A headless Chromium and one page of it.
pub struct Browser {
    ws: WebSocket<TcpStream>,
    session: String,
    /// The page's target id, which names its own DevTools WebSocket.
    target: String,
    port: u16,
    next_id: u64,
    /// Events seen while waiting for replies, oldest first.
    events: Vec<Value>,
    _proc: Proc,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
        // Chromium forks a zygote and renderers that may outlive the browser
        // process: end its whole process group (the Proc then reaps the browser).
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self._proc.pid() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// What a page did while it loaded.
#[derive(Debug)]
pub struct Load {
    /// From `Page.navigate` to `Page.loadEventFired`.
    pub elapsed: Duration,
    /// Every URL the page requested (`Network.requestWillBeSent`), the page itself included.
    pub requests: Vec<String>,
}

impl Browser {
    /// Starts Chromium with the flags of ARCHITECTURE.md and attaches to a blank page.
    pub fn start() -> Browser {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let profile = build_dir().join(format!(
            "chromium-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the browser profile directory");
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromium (apt-get install chromium): {e}"));
        let (_tx, lines) = std::sync::mpsc::channel();
        let proc = Proc { child, lines };
        // Chromium writes the port it picked, then the browser's path.
        let port_file = profile.join("DevToolsActivePort");
        let deadline = Instant::now() + READY_TIMEOUT;
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                let mut l = text.lines();
                if let (Some(p), Some(w)) = (l.next(), l.next()) {
                    break (p.to_string(), w.to_string());
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let stream = TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect to chromium");
        stream.set_read_timeout(Some(READY_TIMEOUT)).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}{path}"), stream)
            .expect("DevTools WebSocket handshake");
        let mut b = Browser {
            ws,
            session: String::new(),
            target: String::new(),
            port: port
                .parse()
                .expect("DevToolsActivePort starts with the port"),
            next_id: 0,
            events: Vec::new(),
            _proc: proc,
            profile,
        };
        let target = b.call("Target.createTarget", json!({"url": "about:blank"}));
        let id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = b.call(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        b.target = id;
        b.call("Page.enable", json!({}));
        b.call("Network.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b
    }

    /// The loopback port of Chromium's DevTools server.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The page's own DevTools WebSocket, for a second client of the same
    /// page (DevTools' `/json/list` gives the same URL).
    pub fn page_ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/devtools/page/{}", self.port, self.target)
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut msg = json!({"id": self.next_id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .expect("send to chromium");
        self.next_id
    }

    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("read from chromium") {
                Message::Text(t) => return serde_json::from_str(&t).expect("CDP sends JSON"),
                Message::Close(_) => panic!("chromium closed the DevTools connection"),
                _ => continue,
            }
        }
    }

    /// Sends a command and returns its result; panics on a CDP error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        loop {
            let v = self.read();
            if v["id"].as_u64() == Some(id) {
                if let Some(e) = v.get("error") {
                    panic!("{method}: {e}");
                }
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    /// Opens `file` and waits for its load event.
    pub fn open(&mut self, file: &Path) -> Load {
        let url = format!(
            "file://{}",
            file.canonicalize().expect("the page exists").display()
        );
        self.events.clear();
        let start = Instant::now();
        self.call("Page.navigate", json!({"url": url}));
        let mut elapsed = None;
        for e in &self.events {
            if e["method"] == "Page.loadEventFired" {
                elapsed = Some(start.elapsed());
            }
        }
        while elapsed.is_none() {
            let v = self.read();
            if v["method"] == "Page.loadEventFired" {
                elapsed = Some(start.elapsed());
            }
            self.events.push(v);
        }
        // One round trip more, so that events the page sent on load are in.
        self.eval("1");
        let requests = self
            .events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(String::from))
            .collect();
        Load {
            elapsed: elapsed.expect("loaded"),
            requests,
        }
    }

    /// Evaluates `expr` in the page and returns its value (JSON-serializable).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// A PNG of the whole page (up to `max_height` pixels), written to `out`.
    pub fn screenshot(&mut self, out: &Path, max_height: u32) {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let h = m["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(900.0)
            .min(max_height as f64);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": 1200, "height": h, "scale": 1}}),
        );
        let data = shot["data"].as_str().expect("screenshot data");
        std::fs::write(out, base64_decode(data)).expect("write the screenshot");
    }
}

/// Standard base64, as CDP sends binary data.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_base64() {
        assert_eq!(super::base64_decode("aGVsbG8="), b"hello");
        assert_eq!(super::base64_decode("YWI="), b"ab");
    }
}
