//! How leakhound reaches a target: the [`Transport`] trait, and [`Local`],
//! its implementation for processes on this machine.
//!
//! Runtime code (Go, Node, Python, JVM, native) asks a transport for what it needs and
//! never for a pid or a path of this machine, so that a second transport (a
//! pod reached through the Kubernetes API server: the pod proxy for HTTP,
//! port-forward for byte streams, exec for commands, files and directory
//! listings) plugs in
//! without a change to any runtime.

use crate::{procfs, Error, PrivateFile};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Heap profiles of large heaps take a while to produce; be generous.
const TIMEOUT: Duration = Duration::from_secs(300);

/// A port the target listens on. `host` is where this transport reaches it
/// (`127.0.0.1`, `[::1]`; a pod's own address means nothing from outside it,
/// so a Kubernetes transport uses only `port`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    /// The host part, IPv6 in brackets.
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl Port {
    /// A port on loopback.
    pub fn loopback(port: u16) -> Self {
        Port {
            host: "127.0.0.1".into(),
            port,
        }
    }

    /// Parses `host:port` (`[v6]:port` for IPv6).
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.rsplit_once(':')?;
        if host.is_empty() {
            return None;
        }
        Some(Port {
            host: host.into(),
            port: port.parse().ok()?,
        })
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A two-way byte stream to a port of the target (the inspector's WebSocket
/// runs over one). Reads time out rather than hang on a silent peer.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A file of the target, named as the target sees it.
#[derive(Debug, Clone, Copy)]
pub enum TargetFile<'a> {
    /// `/proc/PID/<name>` of the target's process (`maps`, `cmdline`, `exe`, `net/tcp`).
    Proc(&'a str),
    /// A file of the target's memory cgroup (`memory.max`, `memory.stat`).
    Cgroup(&'a str),
    /// A file in the target's own file system (its mount namespace).
    Root(&'a Path),
}

/// The signals leakhound sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Node opens its inspector on SIGUSR1.
    Usr1,
}

/// What a command run with [`Transport::exec`] did.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// Whether it exited with 0.
    pub success: bool,
    /// Its stdout and stderr, in that order, as text.
    pub output: String,
}

/// Everything runtime code may ask of the place a target lives.
pub trait Transport: Send + Sync + fmt::Debug {
    /// The target as messages name it: `process 4242`, `pod shop/cart-7d9`.
    fn describe(&self) -> String;

    /// GETs `path` (with its query) from `port` of the target; the body as a
    /// stream. An answer other than 2xx is [`Error::BadAnswer`].
    fn http_get(&self, port: &Port, path: &str) -> Result<Box<dyn Read + Send>, Error>;

    /// Opens a byte stream to `port` of the target.
    fn connect(&self, port: &Port) -> Result<Box<dyn Stream>, Error>;

    /// Runs `argv` where it can reach the target (locally: this machine; in a
    /// pod: inside its container). [`Transport::pid`] is the target's pid as
    /// such a command sees it.
    fn exec(&self, argv: &[String]) -> Result<ExecOutput, Error>;

    /// Copies the target's file `path` (as the target sees it) into `dest`.
    fn copy_out(&self, path: &Path, dest: &mut PrivateFile) -> Result<u64, Error>;

    /// Removes the target's file `path` (a dump it wrote for us).
    fn remove_file(&self, path: &Path) -> Result<(), Error>;

    /// The names of the files in the target's directory `dir` (as the target
    /// sees it), in no order: where an allocator writes its numbered heap dumps.
    fn list_dir(&self, dir: &Path) -> Result<Vec<String>, Error>;

    /// Sends `sig` to the target's process.
    fn signal(&self, sig: Signal) -> Result<(), Error>;

    /// Reads a file of the target, as a stream (an executable is large).
    fn read_file(&self, file: TargetFile<'_>) -> Result<Box<dyn Read + Send>, Error>;

    /// The TCP ports the target's process listens on.
    fn listening_ports(&self) -> Result<Vec<Port>, Error>;

    /// Fails with [`Error::NoProcess`] (or the transport's like error) once
    /// the target has exited.
    fn check_alive(&self) -> Result<(), Error>;

    /// The target's pid as commands run by [`Transport::exec`] see it, when
    /// there is a process (a `url:` target has none).
    fn pid(&self) -> Option<u32>;
}

/// Reads a small file of the target (at most 16 MiB).
pub fn read_bytes(t: &dyn Transport, file: TargetFile<'_>) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    let name = format!("{file:?}");
    t.read_file(file)?
        .take(16 << 20)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(Path::new(&name), e))?;
    Ok(bytes)
}

/// Reads a small file of the target as text, invalid UTF-8 kept lossily
/// (U+FFFD): a process's environment, command line and mapped file names are
/// bytes, and one odd variable must not hide the `MALLOC_CONF` beside it.
pub fn read_text(t: &dyn Transport, file: TargetFile<'_>) -> Result<String, Error> {
    Ok(String::from_utf8_lossy(&read_bytes(t, file)?).into_owned())
}

/// The URL a GET goes to, for messages.
pub fn url_of(port: &Port, path: &str) -> String {
    format!("http://{port}{path}")
}

/// GETs a small answer (JSON, an index) from `port` of the target.
pub fn get_bytes(t: &dyn Transport, port: &Port, path: &str) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    t.http_get(port, path)?
        .take(16 << 20)
        .read_to_end(&mut body)
        .map_err(|e| Error::Http {
            url: url_of(port, path),
            message: e.to_string(),
        })?;
    Ok(body)
}

/// GETs `path` from `port` straight into a new 0600 file at `dest`, without
/// holding the body in memory.
pub fn get_to_file(t: &dyn Transport, port: &Port, path: &str, dest: &Path) -> Result<u64, Error> {
    let mut body = t.http_get(port, path)?;
    let mut out = PrivateFile::create(dest)?;
    let n = out.copy_from(&mut body)?;
    out.finish()?;
    Ok(n)
}

/// A process on this machine, or (without a pid) a URL reached from here.
#[derive(Debug, Clone)]
pub struct Local {
    pid: Option<u32>,
}

impl Local {
    /// The process `pid` on this machine.
    pub fn process(pid: u32) -> Self {
        Local { pid: Some(pid) }
    }

    /// No process known: only HTTP and byte streams work (a `url:` target).
    /// Files an endpoint names are read from this machine's file system.
    pub fn network() -> Self {
        Local { pid: None }
    }

    fn need_pid(&self, what: &str) -> Result<u32, Error> {
        self.pid.ok_or_else(|| {
            Error::Unsupported(format!(
                "{what} needs a process (pid:PID), and a url: target gives none"
            ))
        })
    }

    fn agent() -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(TIMEOUT)
            .build()
    }

    /// A path of the target's file system as reachable from here: through
    /// `/proc/PID/root`, so a process in another mount namespace works too.
    fn outside(&self, path: &Path) -> PathBuf {
        match self.pid {
            Some(pid) => procfs::in_root(pid, path),
            None => path.to_path_buf(),
        }
    }
}

impl Transport for Local {
    fn describe(&self) -> String {
        match self.pid {
            Some(p) => format!("process {p}"),
            None => "the URL's server".into(),
        }
    }

    fn http_get(&self, port: &Port, path: &str) -> Result<Box<dyn Read + Send>, Error> {
        let url = url_of(port, path);
        match Self::agent().get(&url).call() {
            Ok(r) => Ok(Box::new(r.into_reader())),
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                let body: String = body.chars().take(200).collect();
                Err(Error::BadAnswer {
                    url,
                    message: format!("HTTP {code}: {}", body.trim()),
                })
            }
            Err(e) => Err(Error::Http {
                url,
                message: e.to_string(),
            }),
        }
    }

    fn connect(&self, port: &Port) -> Result<Box<dyn Stream>, Error> {
        let addr = port.to_string();
        let fail = |e: io::Error| Error::Http {
            url: addr.clone(),
            message: e.to_string(),
        };
        let s = TcpStream::connect(&addr).map_err(fail)?;
        s.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
        Ok(Box::new(s))
    }

    fn exec(&self, argv: &[String]) -> Result<ExecOutput, Error> {
        let (prog, args) = argv
            .split_first()
            .ok_or_else(|| Error::Tool("nothing to run".into()))?;
        let out = Command::new(prog)
            .args(args)
            .output()
            .map_err(|e| Error::ToolMissing {
                tool: prog.clone(),
                message: e.to_string(),
            })?;
        Ok(ExecOutput {
            success: out.status.success(),
            output: String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        })
    }

    fn copy_out(&self, path: &Path, dest: &mut PrivateFile) -> Result<u64, Error> {
        let src = self.outside(path);
        let mut r = std::fs::File::open(&src).map_err(|e| Error::io(&src, e))?;
        dest.copy_from(&mut r)
    }

    fn remove_file(&self, path: &Path) -> Result<(), Error> {
        let p = self.outside(path);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(&p, e)),
            _ => Ok(()),
        }
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<String>, Error> {
        let d = self.outside(dir);
        let entries = std::fs::read_dir(&d).map_err(|e| match self.pid {
            Some(pid) if procfs::check_alive(pid).is_err() => Error::NoProcess(pid),
            _ => Error::io(&d, e),
        })?;
        entries
            .map(|e| {
                e.map(|e| e.file_name().to_string_lossy().into_owned())
                    .map_err(|err| Error::io(&d, err))
            })
            .collect()
    }

    fn signal(&self, sig: Signal) -> Result<(), Error> {
        let pid = self.need_pid("sending a signal")?;
        let sig = match sig {
            Signal::Usr1 => rustix::process::Signal::USR1,
        };
        let p = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or(Error::NoProcess(pid))?;
        match rustix::process::kill_process(p, sig) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::SRCH) => Err(Error::NoProcess(pid)),
            Err(e) => Err(Error::Tool(format!("cannot signal pid {pid}: {e}"))),
        }
    }

    fn read_file(&self, file: TargetFile<'_>) -> Result<Box<dyn Read + Send>, Error> {
        let path = match file {
            TargetFile::Proc(name) => procfs::proc_file(self.need_pid("reading /proc")?, name),
            TargetFile::Cgroup(name) => {
                let pid = self.need_pid("reading its cgroup")?;
                let cg = lh_cgroup::MemoryCgroup::of_pid(pid)
                    .map_err(|e| Error::Unsupported(format!("the cgroup of pid {pid}: {e}")))?;
                cg.path().join(name)
            }
            TargetFile::Root(p) => self.outside(p),
        };
        let f = std::fs::File::open(&path).map_err(|e| match self.pid {
            Some(pid) if procfs::check_alive(pid).is_err() => Error::NoProcess(pid),
            _ => Error::io(&path, e),
        })?;
        Ok(Box::new(f))
    }

    fn listening_ports(&self) -> Result<Vec<Port>, Error> {
        procfs::listening_ports(self.need_pid("listing its ports")?)
    }

    fn check_alive(&self) -> Result<(), Error> {
        match self.pid {
            Some(pid) => procfs::check_alive(pid),
            None => Ok(()),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.pid
    }
}
