//! A [`Capturer`]: one runtime reached over one transport, found once and
//! then asked for snapshots as often as needed.

use crate::runtime::{identify_runtime, Runtime};
use crate::target::Endpoint;
use crate::transport::Transport;
use crate::{go, jvm, native, node, python, Error};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How snapshots are asked for: the runtime's way, with where it answers.
#[derive(Debug)]
enum Method {
    /// `net/http/pprof` at this base.
    Go(Endpoint),
    /// The Node inspector (one session across snapshots).
    NodeInspector(Box<node::Inspector>),
    /// An endpoint answering `{"snapshot": path}` with a V8 heap snapshot.
    NodeEndpoint(Endpoint),
    /// An endpoint answering `{"snapshot": path}` with a tracemalloc pickle.
    PythonEndpoint(Endpoint),
    /// The leakhound Python helper: snapshots come in the answer.
    PythonHelper(Endpoint),
    /// jcmd.
    Jvm,
    /// The heap dumps a native program's allocator writes.
    Native(native::Collector),
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

/// Takes heap snapshots of one target. Dropping it undoes what capturing
/// changed in the target (an inspector leakhound opened is closed again).
#[derive(Debug)]
pub struct Capturer {
    transport: Arc<dyn Transport>,
    method: Method,
}

impl Capturer {
    /// Attaches to the process behind `transport`: tells its runtime and
    /// finds how to ask it for snapshots.
    pub fn attach(transport: Arc<dyn Transport>) -> Result<Self, Error> {
        let t = &*transport;
        let method = match identify_runtime(t)? {
            Runtime::Go => Method::Go(go::find_pprof(t)?),
            Runtime::Node => Method::NodeInspector(Box::default()),
            Runtime::Jvm => Method::Jvm,
            // Dumps of a process we did not start are the user's: never removed.
            Runtime::Native => {
                Method::Native(native::Collector::new(native::find_dumps(t)?, false))
            }
            Runtime::Python => match python::find_helper(t)? {
                Some(at) => Method::PythonHelper(at),
                None => return Err(python::no_helper(t)),
            },
        };
        Ok(Capturer { transport, method })
    }

    /// An endpoint given as a URL: a Go program (`/debug/pprof/` answers at
    /// its root), or a `{"snapshot": path}` endpoint given in full
    /// (`…/debug/heapsnapshot` for Node, the Python helper's path for
    /// tracemalloc).
    pub fn at_url(transport: Arc<dyn Transport>, at: Endpoint) -> Result<Self, Error> {
        let with = |method| {
            Ok(Capturer {
                transport: transport.clone(),
                method,
            })
        };
        let path = at.path.as_str();
        if path.ends_with("/debug/heapsnapshot") {
            return with(Method::NodeEndpoint(at));
        }
        if let Some(base) = path.strip_suffix(python::HELPER_PATH) {
            let base = Endpoint {
                port: at.port.clone(),
                path: base.into(),
            };
            return with(Method::PythonHelper(base));
        }
        if path.ends_with(python::HELPER_FILE_PATH) || path.ends_with("/debug/snapshot") {
            return with(Method::PythonEndpoint(at));
        }
        let base = Endpoint {
            port: at.port.clone(),
            path: path.trim_end_matches("/debug/pprof").into(),
        };
        if go::serves_pprof(&*transport, &base) {
            return with(Method::Go(base));
        }
        Err(Error::Unsupported(format!(
            "{at} serves no /debug/pprof/ (Go); for Node or Python give the snapshot endpoint in full, \
             e.g. url:http://HOST:PORT/debug/heapsnapshot or url:http://HOST:PORT{}",
            python::HELPER_PATH
        )))
    }

    /// A Node process whose inspector is (or will be) open.
    pub fn node_inspector(transport: Arc<dyn Transport>) -> Self {
        Capturer {
            transport,
            method: Method::NodeInspector(Box::default()),
        }
    }

    /// A Python process serving the leakhound helper at `at`.
    pub fn python_helper(transport: Arc<dyn Transport>, at: Endpoint) -> Self {
        Capturer {
            transport,
            method: Method::PythonHelper(at),
        }
    }

    /// A native program whose allocator writes `dumps`; with `owned` (a
    /// program leakhound started, dumping into the run's directory) each dump
    /// is removed from the target once collected or passed over.
    pub fn native(transport: Arc<dyn Transport>, dumps: native::Dumps, owned: bool) -> Self {
        Capturer {
            transport,
            method: Method::Native(native::Collector::new(dumps, owned)),
        }
    }

    /// The runtime the snapshots come from.
    pub fn runtime(&self) -> Runtime {
        match &self.method {
            Method::Go(_) => Runtime::Go,
            Method::NodeInspector(_) | Method::NodeEndpoint(_) => Runtime::Node,
            Method::PythonEndpoint(_) | Method::PythonHelper(_) => Runtime::Python,
            Method::Jvm => Runtime::Jvm,
            Method::Native(_) => Runtime::Native,
        }
    }

    /// How the target is reached.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// Takes snapshot number `seq` into `dir` (files 0600): the heap snapshot
    /// first, then (Go, if asked) the goroutine profile.
    pub fn capture(
        &self,
        dir: &Path,
        seq: usize,
        o: &CaptureOptions,
    ) -> Result<Vec<PathBuf>, Error> {
        let t = &*self.transport;
        let heap = dir.join(format!("{seq:03}{}", self.runtime().snapshot_suffix()));
        let progress = |n| {
            if let Some(p) = o.progress {
                p(n)
            }
        };
        match &self.method {
            Method::Go(base) => {
                go::capture(t, base, go::Profile::Heap, &heap)?;
                let mut out = vec![heap];
                if o.goroutines {
                    let g = dir.join(format!("{seq:03}-goroutine.pb.gz"));
                    go::capture(t, base, go::Profile::Goroutine, &g)?;
                    out.push(g);
                }
                return Ok(out);
            }
            Method::NodeInspector(i) => {
                i.capture(t, &heap, o.room, o.force, &progress)?;
            }
            Method::NodeEndpoint(at) => {
                node::capture_endpoint(t, at, &heap)?;
            }
            Method::PythonEndpoint(at) => {
                crate::from_snapshot_endpoint(t, at, &heap)?;
            }
            Method::PythonHelper(at) => {
                return Ok(vec![python::capture_helper(t, at, &heap)?]);
            }
            Method::Jvm => {
                jvm::capture(t, &heap)?;
            }
            Method::Native(c) => {
                c.capture(t, &heap)?;
            }
        }
        Ok(vec![heap])
    }

    /// Undoes what capturing changed in the target (closes an inspector
    /// leakhound opened), saying if that failed. Dropping does the same
    /// silently.
    pub fn finish(self) -> Result<(), Error> {
        self.restore()
    }

    fn restore(&self) -> Result<(), Error> {
        match &self.method {
            Method::NodeInspector(i) => i.close(&*self.transport),
            _ => Ok(()),
        }
    }
}

impl Drop for Capturer {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
