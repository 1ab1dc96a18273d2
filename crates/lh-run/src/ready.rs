//! Readiness: waiting until a program we started serves what the capture
//! needs, and finding the port it serves its own traffic on.

use crate::launch::Launched;
use crate::{interrupt, Error};
use lh_capture::transport::Port;
use lh_capture::{identify_runtime, node, Capturer, Endpoint, Local, Runtime, Transport};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What readiness found.
#[derive(Debug)]
pub struct Ready {
    /// How to take snapshots of it.
    pub capturer: Capturer,
    /// The port of its own traffic (not the inspector's or the helper's).
    pub app_port: Option<Port>,
}

/// Waits until `program` can be captured from (and, with `need_app`, until it
/// also listens on a port of its own), at most until `deadline`.
pub fn wait_ready(
    program: &mut Launched,
    deadline: Instant,
    log: &Path,
    need_app: bool,
) -> Result<Ready, Error> {
    let pid = program.pid();
    let t: Arc<dyn Transport> = Arc::new(Local::process(pid));
    let mut last = None;
    let mut side_only: Option<Port> = None;
    loop {
        interrupt::check()?;
        if let Some(st) = program.child.try_wait().map_err(|e| Error::io(log, e))? {
            return Err(Error::Input(format!(
                "the program exited before it was ready ({st}); its output is in {}",
                log.display()
            )));
        }
        let found = match (identify_runtime(&*t), &program.native_dumps) {
            (Ok(Runtime::Node), _) => node::find_inspector(&*t)?
                .map(|(port, _)| (Capturer::node_inspector(t.clone()), Some(port))),
            (Ok(Runtime::Python), _) if program.helper_addr_file.is_some() => program
                .helper_addr_file
                .as_deref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .and_then(|a| Port::parse(a.trim()))
                .map(|p| {
                    let c = Capturer::python_helper(t.clone(), Endpoint::root(p.clone()));
                    (c, Some(p))
                }),
            // The allocator's profiler was turned on at launch: ready at its
            // first dump. A native program without one (glibc's malloc, not
            // preloaded) falls to attaching below, whose error says what to
            // set; it is not final at once, since a wrapper (`env`, `sh -c`)
            // is native too until it execs the program.
            (Ok(Runtime::Native), Some(dumps)) => match dumps.list(&*t) {
                Ok(l) if !l.is_empty() => {
                    Some((Capturer::native(t.clone(), dumps.clone(), true), None))
                }
                Ok(_) => None,
                Err(e) => {
                    last = Some(e);
                    None
                }
            },
            (Ok(_), _) => match Capturer::attach(t.clone()) {
                Ok(c) => Some((c, None)),
                Err(e) => {
                    last = Some(e);
                    None
                }
            },
            (Err(e), _) => {
                last = Some(e);
                None
            }
        };
        if let Some((capturer, side)) = found {
            let app_port = t
                .listening_ports()?
                .into_iter()
                .find(|p| Some(p) != side.as_ref());
            if app_port.is_some() || !need_app {
                return Ok(Ready { capturer, app_port });
            }
            side_only = side;
        }
        if Instant::now() >= deadline {
            let why = match (side_only, last) {
                (Some(side), _) => format!(
                    "it listens on no port of its own for a --http-load path (only on {side}, which leakhound opened to capture); \
                     give --http-load a full URL, or use --load CMD"
                ),
                (None, Some(e)) => e.to_string(),
                (None, None) => "it serves nothing to capture from".into(),
            };
            return Err(Error::Input(format!(
                "the program was not ready to be profiled in time: {why}; its output is in {}",
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
