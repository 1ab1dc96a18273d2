//! JVM: `jcmd PID GC.heap_dump FILE`. The JVM writes the file itself, in its
//! own file system, so it is dumped to the JVM's /tmp and copied out through
//! the transport.

use crate::transport::Transport;
use crate::{Error, PrivateFile};
use std::path::{Path, PathBuf};

/// Dumps the live heap of the target into `dest` (0600) as HPROF.
pub fn capture(t: &dyn Transport, dest: &Path) -> Result<u64, Error> {
    t.check_alive()?;
    let pid = t.pid().ok_or_else(|| {
        Error::Unsupported("a JVM is reached with jcmd, which needs its pid (pid:PID)".into())
    })?;
    let inside = PathBuf::from(format!("/tmp/leakhound-{}-{pid}.hprof", std::process::id()));
    t.remove_file(&inside)?;
    let argv: Vec<String> = vec![
        "jcmd".into(),
        pid.to_string(),
        "GC.heap_dump".into(),
        inside.to_string_lossy().into_owned(),
    ];
    let out = t.exec(&argv).map_err(|e| match e {
        Error::ToolMissing { message, .. } => Error::Tool(format!(
            "cannot run jcmd ({message}): install a JDK (e.g. apt-get install openjdk-17-jdk-headless) and put jcmd on PATH"
        )),
        e => e,
    })?;
    if !out.success {
        let _ = t.remove_file(&inside);
        t.check_alive()?;
        return Err(Error::Tool(format!(
            "jcmd {pid} GC.heap_dump failed: {}",
            out.output.trim()
        )));
    }
    let copied = PrivateFile::create(dest).and_then(|mut file| {
        let n = t.copy_out(&inside, &mut file)?;
        file.finish()?;
        Ok(n)
    });
    let _ = t.remove_file(&inside);
    copied
}
