//! The load put on the program under test: a built-in paced HTTP GET loop,
//! or a user's command in its own process group. Stopped on drop.

use crate::outdir::OutputDir;
use crate::Error;
use lh_capture::transport::Port;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What load to put on the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadSpec {
    /// None: the program makes its own work.
    None,
    /// GET `url` at `rps` requests a second; a path (`/work?n=5`) goes to the
    /// program's own port.
    Http {
        /// A URL or a path.
        url: String,
        /// Requests per second.
        rps: u32,
    },
    /// A shell command; `$LEAKHOUND_APP_URL` holds the program's address.
    Command(String),
}

impl LoadSpec {
    /// Whether the load needs the program's own port to aim at.
    pub fn needs_app_port(&self) -> bool {
        matches!(self, LoadSpec::Http { url, .. } if url.starts_with('/'))
    }
}

/// A running load, stopped on drop.
#[derive(Debug)]
pub enum Load {
    /// No load.
    None,
    /// The HTTP loop's thread.
    Http {
        /// Set to stop it.
        stop: Arc<AtomicBool>,
        /// Requests answered so far.
        sent: Arc<AtomicU64>,
        /// Joined on drop.
        thread: Option<JoinHandle<()>>,
    },
    /// The load command, leader of its own process group.
    Cmd(Child),
}

impl Drop for Load {
    fn drop(&mut self) {
        match self {
            Load::None => {}
            Load::Http { stop, thread, .. } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Load::Cmd(c) => {
                // The load runs in its own process group: kill all of it.
                if let Some(g) = i32::try_from(c.id())
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process_group(g, rustix::process::Signal::KILL);
                }
                let _ = c.wait();
            }
        }
    }
}

impl Load {
    /// Starts `spec` against the program listening on `app` (if known).
    pub fn start(spec: &LoadSpec, app: Option<&Port>, out: &OutputDir) -> Result<Self, Error> {
        match spec {
            LoadSpec::None => Ok(Load::None),
            LoadSpec::Http { url, rps } => {
                let url = if url.starts_with('/') {
                    let app = app.ok_or_else(|| {
                        Error::Input(
                            "--http-load with a path needs the program to listen on a port".into(),
                        )
                    })?;
                    format!("http://{app}{url}")
                } else {
                    url.clone()
                };
                Ok(Self::http(url, *rps))
            }
            LoadSpec::Command(cmd) => {
                let log = out.private_file("load.log")?;
                let log2 = log
                    .try_clone()
                    .map_err(|e| Error::io(&out.join("load.log"), e))?;
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(cmd)
                    .env(
                        "LEAKHOUND_APP_URL",
                        app.map(|a| format!("http://{a}")).unwrap_or_default(),
                    )
                    .stdin(Stdio::null())
                    .stdout(log2)
                    .stderr(log)
                    .process_group(0);
                let child = c.spawn().map_err(|source| Error::Start {
                    program: format!("sh -c {cmd:?}"),
                    source,
                })?;
                Ok(Load::Cmd(child))
            }
        }
    }

    fn http(url: String, rps: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (s, n) = (stop.clone(), sent.clone());
        let period = Duration::from_secs_f64(1.0 / rps.max(1) as f64);
        let thread = std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build();
            let mut next = Instant::now();
            while !s.load(Ordering::SeqCst) {
                if agent.get(&url).call().is_ok() {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                next += period;
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                } else {
                    next = now;
                }
            }
        });
        Load::Http {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    /// Requests the HTTP load had answered, for the report.
    pub fn requests(&self) -> Option<u64> {
        match self {
            Load::Http { sent, .. } => Some(sent.load(Ordering::Relaxed)),
            _ => None,
        }
    }
}
