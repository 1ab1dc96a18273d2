//! A capture source: one runtime reached over one transport, resolved once
//! from a pid or a URL and then asked for snapshots as often as needed.

use crate::{go, jvm, node, procfs, python, Error, Runtime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where snapshots come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A Go program serving `net/http/pprof` at `base` (`http://host:port`).
    Go { base: String },
    /// A Node process reached through its inspector. One session is kept
    /// open across snapshots: V8 forgets its object ids when the heap
    /// profiler is disabled, and without shared ids snapshots of one process
    /// look like snapshots of different ones.
    NodeInspector {
        pid: u32,
        session: Arc<Mutex<Option<node::Session>>>,
    },
    /// An endpoint answering `{"snapshot": path}` with a V8 heap snapshot.
    NodeEndpoint { url: String, pid: Option<u32> },
    /// An endpoint answering `{"snapshot": path}` with a tracemalloc pickle.
    PythonEndpoint { url: String, pid: Option<u32> },
    /// The leakhound Python helper at `base`: snapshots come in the answer.
    PythonHelper { base: String },
    /// A JVM reached with jcmd.
    Jvm { pid: u32 },
}

/// Knobs of one capture.
#[derive(Clone, Copy, Default)]
pub struct CaptureOptions<'a> {
    /// Bytes the target's cgroup has left, for the V8 headroom guard.
    pub room: Option<u64>,
    /// Take a V8 snapshot even when the headroom guard says no.
    pub force: bool,
    /// Also take a goroutine profile (Go).
    pub goroutines: bool,
    /// Bytes written so far, for a progress bar.
    pub progress: Option<&'a dyn Fn(u64)>,
}

impl Source {
    /// Resolves a pid: detects its runtime and finds how to reach it.
    pub fn from_pid(pid: u32) -> Result<Self, Error> {
        Ok(match procfs::detect(pid)? {
            Runtime::Go => Source::Go {
                base: go::find_pprof(pid)?,
            },
            Runtime::Node => Source::node_inspector(pid),
            Runtime::Jvm => Source::Jvm { pid },
            Runtime::Python => match python::find_helper(pid)? {
                Some(base) => Source::PythonHelper { base },
                None => {
                    return Err(Error::Unsupported(format!(
                        "Python process {pid} serves no leakhound helper on its ports; start it with the helper \
                         (PYTHONPATH=helpers/python python -m leakhound_helper app.py), give an endpoint as \
                         url:http://HOST:PORT{}, or run it under `leakhound soak` or `capture -- CMD`, which turn tracemalloc on",
                        python::HELPER_PATH
                    )))
                }
            },
        })
    }

    /// Resolves a URL: a Go program (`/debug/pprof/` answers at its root), or
    /// a `{"snapshot": path}` endpoint given in full (`…/debug/heapsnapshot`
    /// for Node, the Python helper's path for tracemalloc).
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let url = url.trim_end_matches('/');
        if url.ends_with("/debug/heapsnapshot") {
            return Ok(Source::NodeEndpoint {
                url: url.into(),
                pid: None,
            });
        }
        if let Some(base) = url.strip_suffix(python::HELPER_PATH) {
            return Ok(Source::PythonHelper { base: base.into() });
        }
        if url.ends_with(python::HELPER_FILE_PATH) || url.ends_with("/debug/snapshot") {
            return Ok(Source::PythonEndpoint {
                url: url.into(),
                pid: None,
            });
        }
        let base = url.trim_end_matches("/debug/pprof");
        if go::serves_pprof(base) {
            return Ok(Source::Go { base: base.into() });
        }
        Err(Error::Unsupported(format!(
            "{url} serves no /debug/pprof/ (Go); for Node or Python give the snapshot endpoint in full, \
             e.g. url:http://HOST:PORT/debug/heapsnapshot or url:http://HOST:PORT{}",
            python::HELPER_PATH
        )))
    }

    /// A Node process through its inspector, not connected yet.
    pub fn node_inspector(pid: u32) -> Self {
        Source::NodeInspector {
            pid,
            session: Arc::default(),
        }
    }

    pub fn runtime(&self) -> Runtime {
        match self {
            Source::Go { .. } => Runtime::Go,
            Source::NodeInspector { .. } | Source::NodeEndpoint { .. } => Runtime::Node,
            Source::PythonEndpoint { .. } | Source::PythonHelper { .. } => Runtime::Python,
            Source::Jvm { .. } => Runtime::Jvm,
        }
    }

    /// The file suffix of this source's heap snapshots.
    fn suffix(&self) -> &'static str {
        match self.runtime() {
            Runtime::Go => "-heap.pb.gz",
            Runtime::Node => ".heapsnapshot",
            Runtime::Python => "-tracemalloc.pickle",
            Runtime::Jvm => ".hprof",
        }
    }

    /// Takes snapshot number `seq` into `dir` (files 0600): the heap snapshot
    /// first, then (Go, if asked) the goroutine profile.
    pub fn capture(
        &self,
        dir: &Path,
        seq: usize,
        o: &CaptureOptions,
    ) -> Result<Vec<PathBuf>, Error> {
        let heap = dir.join(format!("{seq:03}{}", self.suffix()));
        let progress = |n| {
            if let Some(p) = o.progress {
                p(n)
            }
        };
        match self {
            Source::Go { base } => {
                go::capture(base, go::Profile::Heap, &heap)?;
                let mut out = vec![heap];
                if o.goroutines {
                    let g = dir.join(format!("{seq:03}-goroutine.pb.gz"));
                    go::capture(base, go::Profile::Goroutine, &g)?;
                    out.push(g);
                }
                return Ok(out);
            }
            Source::NodeInspector { pid, session } => {
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                node::capture_inspector(*pid, &mut session, &heap, o.room, o.force, &progress)?;
            }
            Source::NodeEndpoint { url, pid } => {
                node::capture_endpoint(url, *pid, &heap)?;
            }
            Source::PythonEndpoint { url, pid } => {
                python::capture(url, *pid, &heap)?;
            }
            Source::PythonHelper { base } => {
                return Ok(vec![python::capture_helper(base, &heap)?]);
            }
            Source::Jvm { pid } => {
                jvm::capture(*pid, &heap)?;
            }
        }
        Ok(vec![heap])
    }
}
