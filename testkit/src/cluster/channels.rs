//! The streaming subresources of a pod, as the kubelet serves them through
//! the API server: exec and port-forward over WebSocket with the
//! Kubernetes channel protocols, and the HTTP proxy into the pod.
//!
//! Channel protocol: every binary message starts with a channel byte. For
//! exec, 0 is stdin, 1 stdout, 2 stderr, 3 the error channel (a `Status`
//! with the exit code at the end), 4 terminal resize; `v5.channel.k8s.io`
//! adds 255, "close this channel" (`[255, 0]` closes stdin). For
//! port-forward (`v4.channel.k8s.io`), port *i* has data channel 2*i* and
//! error channel 2*i*+1, and the server's first message on each is the port
//! number, 2 bytes little-endian.

use std::net::TcpStream;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::api::{default_container, App, Query};
use super::launch;
use super::store::{ApiError, PODS};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const CLOSE: u8 = 255;

async fn upgrade(
    req: Request,
    protocols: &'static [&'static str],
) -> Result<WebSocketUpgrade, ApiError> {
    let (mut parts, _) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|e| {
            ApiError::new(
                400,
                "BadRequest",
                format!("Upgrade request required: the test API server speaks WebSocket ({}) only, not SPDY: {e}", protocols.join(", ")),
            )
        })?;
    Ok(ws.protocols(protocols.iter().copied()))
}

/// `pods/NAME/exec?command=...&container=...&stdin=...`: runs the command
/// in the container's namespaces and cgroup and relays its streams.
pub async fn exec(
    app: &Arc<App>,
    ns: &str,
    name: &str,
    q: &Query,
    req: Request,
) -> Result<Response, ApiError> {
    let pod = app.store.get(&PODS, ns, name)?;
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .map(String::from)
        .unwrap_or_else(|| default_container(&pod));
    let argv = q.all("command");
    if argv.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let (setup, env) = app.kubelet.exec_setup(ns, name, &container)?;
    let want_stdin = q.flag("stdin");
    let ws = upgrade(req, &["v5.channel.k8s.io", "v4.channel.k8s.io"]).await?;
    let v5 = ws
        .selected_protocol()
        .is_some_and(|p| p == "v5.channel.k8s.io");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .env_clear()
        .envs(env)
        .stdin(if want_stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let app = app.clone();
    Ok(ws.on_upgrade(move |socket| async move {
        let child = launch::spawn(cmd, setup);
        if let Ok(c) = &child {
            app.kubelet.note_exec(c);
        }
        exec_session(socket, v5, child, argv).await
    }))
}

/// A close frame with code 1000: client-go reads any other (even a bare
/// close) as an error on the stream.
fn normal_close() -> Message {
    Message::Close(Some(axum::extract::ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

fn frame(ch: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(ch);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

/// The `Status` the error channel ends with: success, a non-zero exit, or
/// a command that could not be started.
fn exit_status(argv: &[String], result: Result<i32, String>) -> Value {
    match result {
        Ok(0) => json!({"metadata": {}, "status": "Success"}),
        Ok(code) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {argv:?}, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        Err(e) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("OCI runtime exec failed: exec failed: unable to start container process: exec: {:?}: {e}: unknown", argv.first().map_or("", |s| s.as_str())),
            "reason": "InternalError",
            "details": {"causes": [{"message": e}]},
            "code": 500,
        }),
    }
}

async fn exec_session(
    socket: WebSocket,
    v5: bool,
    child: std::io::Result<tokio::process::Child>,
    argv: Vec<String>,
) {
    let (mut sink, mut stream) = socket.split();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            let st = exit_status(&argv, Err(e.to_string()));
            let _ = sink.send(frame(ERROR, st.to_string().as_bytes())).await;
            let _ = sink.send(normal_close()).await;
            return;
        }
    };
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
        let _ = sink.send(normal_close()).await;
    });
    let mut pumps = Vec::new();
    for (ch, out) in [
        (
            STDOUT,
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ),
        (
            STDERR,
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ),
    ] {
        let Some(mut out) = out else { continue };
        let tx = tx.clone();
        pumps.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match out.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(frame(ch, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }));
    }
    let mut stdin = child.stdin.take();
    let program = child.id().and_then(launch::program_pid);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let data = match msg {
                Message::Binary(b) => b,
                Message::Close(_) => return true,
                _ => continue,
            };
            match data.first() {
                Some(&STDIN) => {
                    if let Some(s) = stdin.as_mut() {
                        if s.write_all(&data[1..]).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Some(&CLOSE) if v5 && data.get(1) == Some(&STDIN) => stdin = None,
                _ => {}
            }
        }
        true
    });
    let status = tokio::select! {
        st = child.wait() => st,
        _ = reader => {
            // The client went away: the command goes too.
            if let Some(pid) = program {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            }
            child.wait().await
        }
    };
    for p in pumps {
        let _ = p.await;
    }
    let code = status
        .map(|s| {
            s.code()
                .or(std::os::unix::process::ExitStatusExt::signal(&s).map(|x| 128 + x))
                .unwrap_or(128)
        })
        .map_err(|e| e.to_string());
    let _ = tx
        .send(frame(
            ERROR,
            exit_status(&argv, code).to_string().as_bytes(),
        ))
        .await;
    drop(tx);
    let _ = writer.await;
}

/// Connects to the pod's own `127.0.0.1:port`, from inside its network namespace.
async fn connect_in_pod(
    app: &App,
    ns: &str,
    name: &str,
    port: u16,
) -> Result<tokio::net::TcpStream, String> {
    let netns = app
        .kubelet
        .netns(ns, name)
        .ok_or_else(|| format!("pod {name} has no network namespace (not running)"))?;
    let std = tokio::task::spawn_blocking(move || {
        launch::in_netns(&netns, move || {
            let s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("dial tcp 127.0.0.1:{port}: connect: {e}"))?;
    tokio::net::TcpStream::from_std(std).map_err(|e| e.to_string())
}

/// `pods/NAME/portforward?ports=P[,Q]`: one TCP connection per port into the pod.
pub async fn portforward(
    app: &Arc<App>,
    ns: &str,
    name: &str,
    q: &Query,
    req: Request,
) -> Result<Response, ApiError> {
    app.store.get(&PODS, ns, name)?;
    let mut ports = Vec::new();
    for p in q
        .all("ports")
        .iter()
        .flat_map(|p| p.split(',').map(str::to_string).collect::<Vec<_>>())
    {
        ports.push(
            p.trim()
                .parse::<u16>()
                .map_err(|_| ApiError::bad_request(format!("invalid port {p:?}")))?,
        );
    }
    if ports.is_empty() {
        return Err(ApiError::bad_request("at least one port must be specified"));
    }
    let ws = upgrade(req, &["v4.channel.k8s.io", "portforward.k8s.io"]).await?;
    let app = app.clone();
    let (ns, name) = (ns.to_string(), name.to_string());
    Ok(ws.on_upgrade(
        move |socket| async move { forward_session(socket, app, ns, name, ports).await },
    ))
}

async fn forward_session(
    socket: WebSocket,
    app: Arc<App>,
    ns: String,
    name: String,
    ports: Vec<u16>,
) {
    let (mut sink, mut stream) = socket.split();
    for (i, p) in ports.iter().enumerate() {
        for ch in [2 * i as u8, 2 * i as u8 + 1] {
            if sink.send(frame(ch, &p.to_le_bytes())).await.is_err() {
                return;
            }
        }
    }
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        match connect_in_pod(&app, &ns, &name, *p).await {
            Ok(conn) => {
                let (mut r, w) = conn.into_split();
                writers.push(Some(w));
                let tx = tx.clone();
                let ch = 2 * i as u8;
                readers.push(tokio::spawn(async move {
                    let mut buf = vec![0u8; 32 * 1024];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || tx.send(frame(ch, &buf[..n])).await.is_err() {
                            break;
                        }
                    }
                }));
            }
            Err(e) => {
                writers.push(None);
                let msg = format!("error forwarding port {p} to pod {name}, uid : failed to connect to localhost:{p} inside the pod's network namespace: {e}");
                let _ = tx.send(frame(2 * i as u8 + 1, msg.as_bytes())).await;
            }
        }
    }
    // Ends when every pod connection has closed (or none opened).
    let all_done = {
        let readers = std::mem::take(&mut readers);
        let tx = tx.clone();
        tokio::spawn(async move {
            for r in readers {
                let _ = r.await;
            }
            drop(tx);
        })
    };
    drop(tx);
    let pump = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        let _ = sink.send(normal_close()).await;
    });
    while let Some(Ok(msg)) = stream.next().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&ch, rest)) = data.split_first() else {
            continue;
        };
        if ch % 2 == 0 {
            if let Some(Some(w)) = writers.get_mut(ch as usize / 2) {
                if w.write_all(rest).await.is_err() {
                    writers[ch as usize / 2] = None;
                }
            }
        }
    }
    drop(writers);
    all_done.abort();
    pump.abort();
}

/// `pods/[SCHEME:]NAME[:PORT]/proxy/PATH`: the request, forwarded over HTTP
/// to the pod's 127.0.0.1:PORT (a named or the first declared port when
/// PORT is missing or not a number, else 80).
pub async fn proxy(
    app: &Arc<App>,
    ns: &str,
    name_port: &str,
    tail: &[&str],
    req: Request,
) -> Result<Response, ApiError> {
    let parts: Vec<&str> = name_port.split(':').collect();
    let (name, port) = match parts.as_slice() {
        [n] => (*n, None),
        [n, p] => (*n, Some(*p)),
        [_scheme, n, p] => (*n, Some(*p)),
        _ => {
            return Err(ApiError::bad_request(format!(
                "invalid pod proxy target {name_port:?}"
            )))
        }
    };
    let pod = app.store.get(&PODS, ns, name)?;
    let declared: Vec<&Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .collect();
    let port: u16 = match port {
        Some(p) => match p.parse() {
            Ok(n) => n,
            Err(_) => declared
                .iter()
                .find(|d| d["name"] == json!(p))
                .and_then(|d| d["containerPort"].as_u64())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("no port named {p:?} in pod {name}"))
                })? as u16,
        },
        None => declared
            .first()
            .and_then(|d| d["containerPort"].as_u64())
            .unwrap_or(80) as u16,
    };
    // `/proxy` alone and `/proxy/` both mean the pod's `/`.
    let rest = match tail {
        [] => "/".to_string(),
        t => format!("/{}", t.join("/")),
    };
    let path = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    let conn = connect_in_pod(app, ns, name, port).await.map_err(|e| {
        ApiError::new(
            503,
            "ServiceUnavailable",
            format!("error trying to reach service: {e}"),
        )
    })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(conn))
        .await
        .map_err(|e| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("error trying to reach service: {e}"),
            )
        })?;
    tokio::spawn(conn);
    let (mut parts, body) = req.into_parts();
    parts.uri = path
        .parse()
        .map_err(|_| ApiError::bad_request("invalid proxy path"))?;
    parts.version = axum::http::Version::HTTP_11;
    for h in [
        header::CONNECTION,
        header::UPGRADE,
        header::HOST,
        header::AUTHORIZATION,
    ] {
        parts.headers.remove(h);
    }
    parts.headers.insert(
        header::HOST,
        HeaderValue::from_str(&format!("127.0.0.1:{port}")).expect("a header value"),
    );
    let resp = send
        .send_request(axum::http::Request::from_parts(parts, body))
        .await
        .map_err(|e| {
            ApiError::new(
                503,
                "ServiceUnavailable",
                format!("error trying to reach service: {e}"),
            )
        })?;
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(header::CONNECTION);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let mut out = Response::from_parts(parts, Body::new(body));
    if out.status() == StatusCode::SWITCHING_PROTOCOLS {
        *out.status_mut() = StatusCode::BAD_GATEWAY;
    }
    Ok(out.into_response())
}
