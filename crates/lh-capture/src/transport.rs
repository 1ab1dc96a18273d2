//! How bytes reach a local process: HTTP to loopback, and signals.
//! (jcmd, the JVM's own transport, lives with the JVM runtime.)

use crate::{Error, PrivateFile};
use std::path::Path;
use std::time::Duration;

/// Heap profiles of large heaps take a while to produce; be generous.
const TIMEOUT: Duration = Duration::from_secs(300);

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout(TIMEOUT)
        .build()
}

fn get(url: &str) -> Result<ureq::Response, Error> {
    match agent().get(url).call() {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            let body: String = body.chars().take(200).collect();
            Err(Error::BadAnswer {
                url: url.into(),
                message: format!("HTTP {code}: {}", body.trim()),
            })
        }
        Err(e) => Err(Error::Http {
            url: url.into(),
            message: e.to_string(),
        }),
    }
}

/// GETs `url` and returns the body (small answers only: JSON, indexes).
pub fn get_bytes(url: &str) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    get(url)?
        .into_reader()
        .take(16 << 20)
        .read_to_end(&mut body)
        .map_err(|e| Error::Http {
            url: url.into(),
            message: e.to_string(),
        })?;
    Ok(body)
}

use std::io::Read;

/// GETs `url` straight into a new 0600 file at `dest`, without holding the body in memory.
pub fn get_to_file(url: &str, dest: &Path) -> Result<u64, Error> {
    let resp = get(url)?;
    let mut out = PrivateFile::create(dest)?;
    let n = out.copy_from(&mut resp.into_reader())?;
    out.finish()?;
    Ok(n)
}

/// Sends `sig` to `pid`, saying plainly when the pid is gone.
pub fn signal(pid: u32, sig: i32) -> Result<(), Error> {
    // SAFETY: kill(2) shares no memory with the process.
    if unsafe { libc::kill(pid as i32, sig) } == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ESRCH) {
        Err(Error::NoProcess(pid))
    } else {
        Err(Error::Tool(format!("cannot signal pid {pid}: {e}")))
    }
}
