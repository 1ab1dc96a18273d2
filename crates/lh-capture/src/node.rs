//! Node: V8 heap snapshots through the inspector (Chrome DevTools Protocol),
//! or from an app's own `/debug/heapsnapshot` endpoint.
//!
//! The inspector is opened with SIGUSR1 when it is not open yet (Node listens
//! on 127.0.0.1:9229 by default; `soak` starts Node with `--inspect=127.0.0.1:0`
//! instead, so tests and parallel runs never fight over a port). Its address
//! is found among the ports the pid itself listens on, never by trusting
//! whatever answers on 9229, which may be another process.

use crate::{from_snapshot_endpoint, procfs, transport, Error, PrivateFile};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long Node gets to open its inspector after SIGUSR1.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Snapshotting needs about twice the used heap on top of it.
pub const SNAPSHOT_FACTOR: u64 = 2;

/// The app's own endpoint (`{"snapshot": path}`), as the seed sample apps serve it.
pub fn capture_endpoint(url: &str, pid: Option<u32>, dest: &Path) -> Result<u64, Error> {
    from_snapshot_endpoint(url, pid, dest)
}

/// The inspector's WebSocket URL for `pid`, opening the inspector with
/// SIGUSR1 if it is closed.
pub fn inspector_url(pid: u32) -> Result<String, Error> {
    if let Some(u) = find_inspector(pid)? {
        return Ok(u);
    }
    transport::signal(pid, libc::SIGUSR1)?;
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        if let Some(u) = find_inspector(pid)? {
            return Ok(u);
        }
        if Instant::now() >= deadline {
            let taken = TcpStream::connect("127.0.0.1:9229").is_ok();
            return Err(Error::Inspector(if taken {
                format!(
                    "Node process {pid} did not open its inspector after SIGUSR1: 127.0.0.1:9229 is already taken by another process. \
                     Free the port, or start the program with --inspect=127.0.0.1:0 (leakhound soak does this itself)"
                )
            } else {
                format!(
                    "Node process {pid} did not open its inspector within {} s of SIGUSR1 (started with --disable-sigusr1, or not Node?)",
                    OPEN_TIMEOUT.as_secs()
                )
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Looks for an inspector among the ports `pid` listens on.
pub fn find_inspector(pid: u32) -> Result<Option<String>, Error> {
    for a in procfs::listening_addrs(pid)? {
        let Ok(body) = transport::get_bytes(&format!("http://{a}/json/list")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        if let Some(u) = v
            .as_array()
            .and_then(|l| l.first())
            .and_then(|t| t.get("webSocketDebuggerUrl"))
            .and_then(|u| u.as_str())
        {
            return Ok(Some(u.to_string()));
        }
    }
    Ok(None)
}

/// One CDP session over the inspector's WebSocket.
pub struct Session {
    ws: WebSocket<TcpStream>,
    next_id: u64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn connect(ws_url: &str) -> Result<Self, Error> {
        let host = ws_url
            .strip_prefix("ws://")
            .and_then(|r| r.split('/').next())
            .ok_or_else(|| Error::Inspector(format!("not a ws:// URL: {ws_url}")))?;
        let stream = TcpStream::connect(host)
            .map_err(|e| Error::Inspector(format!("cannot connect to {host}: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .map_err(|e| Error::Inspector(e.to_string()))?;
        let (ws, _) = tungstenite::client(ws_url, stream)
            .map_err(|e| Error::Inspector(format!("WebSocket handshake with {ws_url}: {e}")))?;
        Ok(Session { ws, next_id: 1 })
    }

    /// Calls `method` and returns its result; events that arrive meanwhile go to `on_event`.
    pub fn call(
        &mut self,
        method: &str,
        params: Value,
        on_event: &mut dyn FnMut(&str, &Value) -> Result<(), Error>,
    ) -> Result<Value, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::Text(msg))
            .map_err(|e| Error::Inspector(format!("{method}: {e}")))?;
        loop {
            let m = self
                .ws
                .read()
                .map_err(|e| Error::Inspector(format!("{method}: {e}")))?;
            let text = match m {
                Message::Text(t) => t,
                Message::Close(_) => {
                    return Err(Error::Inspector(format!(
                        "{method}: the inspector closed the connection (the process exited?)"
                    )))
                }
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| Error::Inspector(format!("{method}: bad message: {e}")))?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(Error::Inspector(format!("{method}: {err}")));
                }
                return Ok(v.get("result").cloned().unwrap_or(Value::Null));
            }
            if let Some(m) = v.get("method").and_then(Value::as_str) {
                on_event(m, v.get("params").unwrap_or(&Value::Null))?;
            }
        }
    }

    /// `Runtime.getHeapUsage`: (used, total) bytes of the V8 heap.
    pub fn heap_usage(&mut self) -> Result<(u64, u64), Error> {
        let r = self.call("Runtime.getHeapUsage", json!({}), &mut |_, _| Ok(()))?;
        let get = |k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(0.0) as u64;
        Ok((get("usedSize"), get("totalSize")))
    }

    /// Streams a heap snapshot into `dest` (0600), chunk by chunk as V8 sends
    /// them, calling `progress` with the bytes written so far.
    pub fn take_heap_snapshot(
        &mut self,
        dest: &Path,
        progress: &dyn Fn(u64),
    ) -> Result<u64, Error> {
        let mut out = PrivateFile::create(dest)?;
        let mut n = 0u64;
        self.call("HeapProfiler.enable", json!({}), &mut |_, _| Ok(()))?;
        self.call(
            "HeapProfiler.takeHeapSnapshot",
            json!({"reportProgress": false}),
            &mut |m, p| {
                if m == "HeapProfiler.addHeapSnapshotChunk" {
                    let chunk = p.get("chunk").and_then(Value::as_str).unwrap_or_default();
                    out.write_all(chunk.as_bytes())?;
                    n += chunk.len() as u64;
                    progress(n);
                }
                Ok(())
            },
        )?;
        if n == 0 {
            return Err(Error::Inspector("the snapshot came back empty".into()));
        }
        out.finish()?;
        Ok(n)
    }
}

/// Takes a heap snapshot of `pid` through its inspector, reusing `session`
/// (connecting it first if need be; a failed session is dropped so the next
/// capture reconnects). With `room` (the bytes its cgroup has left), refuses
/// unless `force` when the snapshot would need more: V8 builds the snapshot
/// in the same heap, and an OOM kill in the middle of a capture would lose
/// both the process and the evidence.
pub fn capture_inspector(
    pid: u32,
    session: &mut Option<Session>,
    dest: &Path,
    room: Option<u64>,
    force: bool,
    progress: &dyn Fn(u64),
) -> Result<u64, Error> {
    if session.is_none() {
        *session = Some(Session::connect(&inspector_url(pid)?)?);
    }
    let s = session.as_mut().expect("connected above");
    let r = snapshot_with_headroom(s, pid, dest, room, force, progress);
    if matches!(r, Err(Error::Inspector(_))) {
        *session = None;
    }
    r
}

fn snapshot_with_headroom(
    s: &mut Session,
    pid: u32,
    dest: &Path,
    room: Option<u64>,
    force: bool,
    progress: &dyn Fn(u64),
) -> Result<u64, Error> {
    let (used, _) = s.heap_usage()?;
    if let Some(room) = room {
        let need = used.saturating_mul(SNAPSHOT_FACTOR);
        if need > room && !force {
            return Err(Error::Headroom(format!(
                "a heap snapshot of pid {pid} needs about {} MiB ({}× the {} MiB heap in use) but its cgroup has {} MiB left; \
                 taking it could get the process OOM-killed. Pass --force to take it anyway",
                need >> 20,
                SNAPSHOT_FACTOR,
                used >> 20,
                room >> 20
            )));
        }
    }
    s.take_heap_snapshot(dest, progress)
}
