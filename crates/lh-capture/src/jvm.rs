//! JVM: `jcmd PID GC.heap_dump FILE`. The JVM writes the file itself, in its
//! own mount namespace, so it is dumped to the JVM's /tmp and moved out
//! through `/proc/PID/root`.

use crate::{copy_private, procfs, Error};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Dumps the live heap of `pid` into `dest` (0600) as HPROF.
pub fn capture(pid: u32, dest: &Path) -> Result<u64, Error> {
    procfs::check_alive(pid)?;
    let inside = PathBuf::from(format!(
        "/tmp/leakhound-{}-{}.hprof",
        std::process::id(),
        pid
    ));
    let outside = procfs::in_root(pid, &inside);
    let _ = std::fs::remove_file(&outside);
    let out = Command::new("jcmd")
        .arg(pid.to_string())
        .arg("GC.heap_dump")
        .arg(&inside)
        .output()
        .map_err(|e| {
            Error::Tool(format!(
                "cannot run jcmd ({e}): install a JDK (e.g. apt-get install openjdk-17-jdk-headless) and put jcmd on PATH"
            ))
        })?;
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !outside.exists() {
        let _ = std::fs::remove_file(&outside);
        procfs::check_alive(pid)?;
        return Err(Error::Tool(format!(
            "jcmd {pid} GC.heap_dump failed: {}",
            said.trim()
        )));
    }
    let r = copy_private(&outside, dest);
    let _ = std::fs::remove_file(&outside);
    r
}
