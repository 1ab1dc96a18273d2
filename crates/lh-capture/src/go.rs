//! Go: pprof heap and goroutine profiles from `net/http/pprof`.

use crate::{procfs, transport, Error};
use std::path::Path;

/// The profiles a Go program serves that leakhound uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Live heap (inuse_space), for heap leaks.
    Heap,
    /// Every goroutine's stack, for goroutine leaks.
    Goroutine,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Heap => "heap",
            Profile::Goroutine => "goroutine",
        }
    }
}

/// What to tell a user whose Go program serves no profiles.
pub const PPROF_HINT: &str = "add `import _ \"net/http/pprof\"` to the program and serve HTTP \
     (e.g. `go http.ListenAndServe(\"127.0.0.1:6060\", nil)`)";

/// True when `base` (`http://host:port`) serves the pprof index.
pub fn serves_pprof(base: &str) -> bool {
    transport::get_bytes(&format!("{base}/debug/pprof/")).is_ok()
}

/// Finds the `http://host:port` where `pid` serves `/debug/pprof/`, by
/// probing every port it listens on.
pub fn find_pprof(pid: u32) -> Result<String, Error> {
    let addrs = procfs::listening_addrs(pid)?;
    for a in &addrs {
        let base = format!("http://{a}");
        if serves_pprof(&base) {
            return Ok(base);
        }
    }
    Err(Error::Unsupported(if addrs.is_empty() {
        format!("Go process {pid} listens on no TCP port, so it serves no profiles: {PPROF_HINT}")
    } else {
        format!(
            "Go process {pid} serves no /debug/pprof/ on the ports it listens on ({}): {PPROF_HINT}",
            addrs.join(", ")
        )
    }))
}

/// Captures one profile from `base` into `dest` (0600), checking that what
/// came back is a gzipped profile and not an error page.
pub fn capture(base: &str, profile: Profile, dest: &Path) -> Result<u64, Error> {
    // A heap profile describes the heap as of the last completed GC; `gc=1`
    // runs one first, so that two captures seconds apart never repeat the
    // same data and every snapshot is current (what `go tool pprof` users ask for).
    let query = match profile {
        Profile::Heap => "?gc=1",
        Profile::Goroutine => "",
    };
    let url = format!("{base}/debug/pprof/{}{query}", profile.name());
    let n = transport::get_to_file(&url, dest)?;
    let mut head = [0u8; 2];
    let ok = std::fs::File::open(dest)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && head == [0x1f, 0x8b];
    if !ok {
        let _ = std::fs::remove_file(dest);
        return Err(Error::BadAnswer {
            url,
            message: "the answer is not a gzipped pprof profile".into(),
        });
    }
    Ok(n)
}
