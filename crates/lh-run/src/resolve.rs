//! From a parsed [`Target`] to something to capture from: its transport, its
//! runtime and (when it has one) its memory cgroup.

use crate::Error;
use lh_capture::{Capturer, Local, Target, Transport};
use lh_cgroup::MemoryCgroup;
use std::sync::Arc;

/// A target attached to.
#[derive(Debug)]
pub struct Attached {
    /// How to take its snapshots.
    pub capturer: Capturer,
    /// Its pid on this machine, when it is a local process.
    pub pid: Option<u32>,
    /// Its memory cgroup, when one is known (read only).
    pub cgroup: Option<MemoryCgroup>,
}

/// Attaches to `target`. Kubernetes targets are refused (exit 2) until this
/// build has a Kubernetes transport.
pub fn attach(target: &Target) -> Result<Attached, Error> {
    let local = |pid: u32| -> Arc<dyn Transport> { Arc::new(Local::process(pid)) };
    match target {
        Target::Pid(pid) => Ok(Attached {
            capturer: Capturer::attach(local(*pid))?,
            pid: Some(*pid),
            cgroup: MemoryCgroup::of_pid(*pid).ok(),
        }),
        Target::Url(at) => Ok(Attached {
            capturer: Capturer::at_url(Arc::new(Local::network()), at.clone())?,
            pid: None,
            cgroup: None,
        }),
        Target::Cgroup(path) => {
            let cg = MemoryCgroup::open(path)
                .map_err(|e| Error::Input(format!("{target}: {e}")))?;
            let mut last = None;
            for pid in cg.pids()? {
                match Capturer::attach(local(pid)) {
                    Ok(capturer) => {
                        return Ok(Attached {
                            capturer,
                            pid: Some(pid),
                            cgroup: Some(cg),
                        })
                    }
                    Err(e) => last = Some(e),
                }
            }
            Err(Error::Input(format!(
                "{target}: no process in it that leakhound can capture from{}",
                last.map(|e| format!(" ({e})")).unwrap_or_default()
            )))
        }
        Target::Pod { .. } | Target::Deployment { .. } => Err(Error::Input(format!(
            "{target}: Kubernetes targets are not supported by this build yet; use pid:PID, url:URL or cgroup:PATH"
        ))),
    }
}

/// A capture that failed because the process is gone says so, and where the
/// snapshots taken before are, rather than showing a refused connection.
pub fn exited_or(
    e: lh_capture::Error,
    capturer: &Capturer,
    done: usize,
    dir: &std::path::Path,
    what: String,
) -> Error {
    match capturer.transport().check_alive() {
        Err(gone) => Error::Capture {
            what: format!(
                "{what}: the process exited mid-capture, after {done} snapshot(s) in {}",
                dir.display()
            ),
            source: gone,
        },
        Ok(()) => Error::Capture { what, source: e },
    }
}
