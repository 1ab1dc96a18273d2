//! Heap profiles from live processes.
//!
//! Two questions are kept apart so that a Kubernetes transport can be added
//! without touching the runtimes:
//! - *how bytes reach the target*: the [`Transport`] trait (HTTP to a port, a
//!   byte stream to a port, exec, copy a file out, list a directory, a signal,
//!   a file of the target, its listening ports), implemented for this machine
//!   by [`transport::Local`];
//! - *what to ask it*: one module per runtime ([`go`], [`node`], [`python`],
//!   [`jvm`], [`native`]), each written once against the trait, and
//!   [`runtime`], which tells them apart from the target's files.
//!
//! [`Capturer`] puts the two together; [`Target`] is the one parser of the
//! CLI's TARGET grammar. Heap dumps hold secrets (tokens, passwords, user
//! data): every file is created 0600, in a directory the caller chose, and
//! nothing is ever uploaded.

pub mod capturer;
pub mod go;
pub mod jvm;
pub mod native;
pub mod node;
pub mod procfs;
pub mod python;
pub mod runtime;
pub mod target;
pub mod transport;

use lh_model::{Classify, ErrorClass};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub use capturer::{CaptureOptions, Capturer};
pub use runtime::{identify_runtime, Runtime};
pub use target::{Endpoint, Target};
pub use transport::{Local, Port, Transport};

/// A capture failure; [`Classify`] says whose it is.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pid does not exist (or exited while we worked on it).
    #[error("process {0} does not exist (or has exited)")]
    NoProcess(u32),
    /// The process is not something leakhound can capture from, and why.
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be written or read: names the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The endpoint could not be reached.
    #[error("{url}: {message}")]
    Http {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// The endpoint answered, but not with what it should have.
    #[error("{url}: {message}")]
    BadAnswer {
        /// Where.
        url: String,
        /// What was wrong with the answer.
        message: String,
    },
    /// The Node inspector could not be opened or spoke unexpectedly.
    #[error("inspector: {0}")]
    Inspector(String),
    /// A tool we run (jcmd) failed.
    #[error("{0}")]
    Tool(String),
    /// A tool we run could not be started at all.
    #[error("cannot run {tool}: {message}")]
    ToolMissing {
        /// The program.
        tool: String,
        /// Why it could not start.
        message: String,
    },
    /// A TARGET that does not parse, or one this build cannot reach.
    #[error("{0}")]
    BadTarget(String),
    /// A V8 snapshot would not fit in the room the cgroup has left.
    #[error("{0}")]
    Headroom(String),
}

impl Classify for Error {
    /// A wrong target (gone, unsupported, answering garbage) is the user's;
    /// a tool missing, a port taken, a disk full is the machine's.
    fn class(&self) -> ErrorClass {
        match self {
            Error::NoProcess(_)
            | Error::Unsupported(_)
            | Error::BadAnswer { .. }
            | Error::BadTarget(_) => ErrorClass::Usage,
            _ => ErrorClass::Environment,
        }
    }
}

impl Error {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Creates `dir` (0700) if needed: artifacts of a capture live there.
pub fn private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// A new file, mode 0600, removed again unless [`PrivateFile::finish`] is
/// called: a failed or interrupted capture (disk full, Ctrl-C, a dead
/// endpoint) never leaves a truncated dump that looks like a good one.
pub struct PrivateFile {
    path: PathBuf,
    file: Option<File>,
}

impl PrivateFile {
    /// Creates (or truncates) `path`, mode 0600.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(PrivateFile {
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    /// Appends `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let f = self.file.as_mut().expect("open until finish");
        f.write_all(bytes).map_err(|e| Error::io(&self.path, e))
    }

    /// Copies a reader in, returning the bytes copied.
    pub fn copy_from(&mut self, r: &mut dyn io::Read) -> Result<u64, Error> {
        let f = self.file.as_mut().expect("open until finish");
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = match r.read(&mut buf) {
                Ok(0) => return Ok(n),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(&self.path, e)),
            };
            f.write_all(&buf[..k])
                .map_err(|e| Error::io(&self.path, e))?;
            n += k as u64;
        }
    }

    /// Flushes to disk (a full disk shows up here at the latest) and keeps the file.
    pub fn finish(mut self) -> Result<PathBuf, Error> {
        let f = self.file.take().expect("open until finish");
        if let Err(e) = f.sync_all() {
            let _ = std::fs::remove_file(&self.path);
            return Err(Error::io(&self.path, e));
        }
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The first `n` bytes of a file just written (fewer if it is shorter), to
/// check that an answer is the format asked for and not an error page.
pub(crate) fn first_bytes(path: &Path, n: usize) -> Vec<u8> {
    let mut head = Vec::with_capacity(n);
    let _ = File::open(path).and_then(|f| f.take(n as u64).read_to_end(&mut head));
    head
}

/// Asks an endpoint that answers `{"snapshot": "/abs/path"}` (the seed apps'
/// `/debug/heapsnapshot`, the Python helper's file path) for a snapshot, and
/// copies the file it names, as the target sees it, into `dest` (0600).
pub fn from_snapshot_endpoint(t: &dyn Transport, at: &Endpoint, dest: &Path) -> Result<u64, Error> {
    let url = at.to_string();
    let body = transport::get_bytes(t, &at.port, &at.path)?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| Error::BadAnswer {
        url: url.clone(),
        message: format!("expected JSON {{\"snapshot\": path}}: {e}"),
    })?;
    let src = match v.get("snapshot").and_then(|s| s.as_str()) {
        Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
        _ => {
            return Err(Error::BadAnswer {
                url,
                message: format!("expected {{\"snapshot\": \"/absolute/path\"}}, got {v}"),
            })
        }
    };
    let mut out = PrivateFile::create(dest)?;
    let n = t.copy_out(&src, &mut out)?;
    out.finish()?;
    Ok(n)
}
