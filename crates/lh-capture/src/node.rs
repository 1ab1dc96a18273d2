//! Node: V8 heap snapshots through the inspector (Chrome DevTools Protocol),
//! or from an app's own `/debug/heapsnapshot` endpoint.
//!
//! The inspector is opened with SIGUSR1 when it is not open yet (Node listens
//! on 127.0.0.1:9229 by default; `soak` starts Node with `--inspect=127.0.0.1:0`
//! instead, so tests and parallel runs never fight over a port). Its address
//! is found among the ports the target itself listens on, never by trusting
//! whatever answers on 9229, which may be another process. An inspector that
//! leakhound opened is closed again when the capture is done: whoever reaches
//! that port can run code in the process.

use crate::target::Endpoint;
use crate::transport::{get_bytes, Port, Signal, Stream, Transport};
use crate::{Error, PrivateFile};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long Node gets to open (or close) its inspector.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Snapshotting needs about twice the used heap on top of it.
pub const SNAPSHOT_FACTOR: u64 = 2;

/// The port and WebSocket URL of the target's inspector, if one of the
/// ports it listens on is one.
pub fn find_inspector(t: &dyn Transport) -> Result<Option<(Port, String)>, Error> {
    for p in t.listening_ports()? {
        let Ok(body) = get_bytes(t, &p, "/json/list") else {
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
            return Ok(Some((p, u.to_string())));
        }
    }
    Ok(None)
}

/// Opens the inspector with SIGUSR1 and waits for it to listen.
fn open_inspector(t: &dyn Transport) -> Result<(Port, String), Error> {
    t.signal(Signal::Usr1)?;
    let deadline = Instant::now() + OPEN_TIMEOUT;
    loop {
        if let Some(found) = find_inspector(t)? {
            return Ok(found);
        }
        if Instant::now() >= deadline {
            let who = t.describe();
            let taken = t.connect(&Port::loopback(9229)).is_ok();
            return Err(Error::Inspector(if taken {
                format!(
                    "Node {who} did not open its inspector after SIGUSR1: 127.0.0.1:9229 is already taken by another process. \
                     Free the port, or start the program with --inspect=127.0.0.1:0 (leakhound soak does this itself)"
                )
            } else {
                format!(
                    "Node {who} did not open its inspector within {} s of SIGUSR1 (started with --disable-sigusr1, or not Node?)",
                    OPEN_TIMEOUT.as_secs()
                )
            }));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Node process reached through its inspector. One session is kept open
/// across snapshots: V8 forgets its object ids when the heap profiler is
/// disabled, and without shared ids snapshots of one process look like
/// snapshots of different ones.
#[derive(Debug, Default)]
pub struct Inspector {
    state: Mutex<InspectorState>,
}

#[derive(Debug, Default)]
struct InspectorState {
    session: Option<Session>,
    /// The inspector's port, when leakhound opened it (and so must close it).
    opened_here: Option<Port>,
}

impl Inspector {
    /// Takes a heap snapshot into `dest`, connecting first if need be (and
    /// opening the inspector if it is closed); a failed session is dropped so
    /// the next capture reconnects. With `room` (the bytes its cgroup has
    /// left), refuses unless `force` when the snapshot would need more: V8
    /// builds the snapshot in the same heap, and an OOM kill in the middle of
    /// a capture would lose both the process and the evidence.
    pub fn capture(
        &self,
        t: &dyn Transport,
        dest: &Path,
        room: Option<u64>,
        force: bool,
        progress: &dyn Fn(u64),
    ) -> Result<u64, Error> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.session.is_none() {
            let (port, url) = match find_inspector(t)? {
                Some(found) => found,
                None => {
                    let found = open_inspector(t)?;
                    st.opened_here = Some(found.0.clone());
                    found
                }
            };
            st.session = Some(Session::connect(t, &port, &url)?);
        }
        let s = st.session.as_mut().expect("connected above");
        let r = snapshot_with_headroom(s, t, dest, room, force, progress);
        if matches!(r, Err(Error::Inspector(_))) {
            st.session = None;
        }
        r
    }

    /// Closes the inspector if leakhound opened it, and waits until its port
    /// is gone; an inspector that was open before is left as it was.
    pub fn close(&self, t: &dyn Transport) -> Result<(), Error> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(port) = st.opened_here.take() else {
            return Ok(());
        };
        if t.check_alive().is_err() {
            return Ok(());
        }
        let mut session = match st.session.take() {
            Some(s) => s,
            None => match find_inspector(t)? {
                Some((p, url)) => Session::connect(t, &p, &url)?,
                None => return Ok(()),
            },
        };
        // `_debugEnd` is what Node itself pairs with SIGUSR1's `_debugProcess`;
        // it closes the server under us, so the answer may never come.
        let _ = session.call(
            "Runtime.evaluate",
            json!({"expression": "process._debugEnd()"}),
            &mut |_, _| Ok(()),
        );
        drop(session);
        let deadline = Instant::now() + OPEN_TIMEOUT;
        while t.listening_ports()?.contains(&port) {
            if Instant::now() >= deadline {
                return Err(Error::Inspector(format!(
                    "the inspector leakhound opened on {port} of {} did not close; it lets anyone who reaches it run code in the process",
                    t.describe()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// The app's own endpoint (`{"snapshot": path}`), as the seed sample apps serve it.
pub fn capture_endpoint(t: &dyn Transport, at: &Endpoint, dest: &Path) -> Result<u64, Error> {
    crate::from_snapshot_endpoint(t, at, dest)
}

/// One CDP session over the inspector's WebSocket.
pub struct Session {
    ws: WebSocket<Box<dyn Stream>>,
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
    /// Opens a session to the inspector at `port`, whose `/json/list` named `ws_url`.
    pub fn connect(t: &dyn Transport, port: &Port, ws_url: &str) -> Result<Self, Error> {
        let stream = t
            .connect(port)
            .map_err(|e| Error::Inspector(format!("cannot connect to {port}: {e}")))?;
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

fn snapshot_with_headroom(
    s: &mut Session,
    t: &dyn Transport,
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
                "a heap snapshot of {} needs about {} MiB ({}× the {} MiB heap in use) but its cgroup has {} MiB left; \
                 taking it could get the process OOM-killed. Pass --force to take it anyway",
                t.describe(),
                need >> 20,
                SNAPSHOT_FACTOR,
                used >> 20,
                room >> 20
            )));
        }
    }
    s.take_heap_snapshot(dest, progress)
}
