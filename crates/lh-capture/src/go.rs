//! Go: pprof heap and goroutine profiles from `net/http/pprof`.

use crate::target::Endpoint;
use crate::transport::{get_bytes, get_to_file, url_of, Transport};
use crate::Error;
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
    /// The profile's name in `/debug/pprof/NAME`.
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

/// True when `base` (a port and a path prefix) serves the pprof index.
pub fn serves_pprof(t: &dyn Transport, base: &Endpoint) -> bool {
    get_bytes(t, &base.port, &format!("{}/debug/pprof/", base.path)).is_ok()
}

/// Finds where the target serves `/debug/pprof/`, by probing every port it
/// listens on.
pub fn find_pprof(t: &dyn Transport) -> Result<Endpoint, Error> {
    let ports = t.listening_ports()?;
    for p in &ports {
        let base = Endpoint::root(p.clone());
        if serves_pprof(t, &base) {
            return Ok(base);
        }
    }
    let who = t.describe();
    Err(Error::Unsupported(if ports.is_empty() {
        format!("Go {who} listens on no TCP port, so it serves no profiles: {PPROF_HINT}")
    } else {
        let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
        format!(
            "Go {who} serves no /debug/pprof/ on the ports it listens on ({}): {PPROF_HINT}",
            list.join(", ")
        )
    }))
}

/// Captures one profile from `base` into `dest` (0600), checking that what
/// came back is a gzipped profile and not an error page.
pub fn capture(
    t: &dyn Transport,
    base: &Endpoint,
    profile: Profile,
    dest: &Path,
) -> Result<u64, Error> {
    // A heap profile describes the heap as of the last completed GC; `gc=1`
    // runs one first, so that two captures seconds apart never repeat the
    // same data and every snapshot is current (what `go tool pprof` users ask for).
    let query = match profile {
        Profile::Heap => "?gc=1",
        Profile::Goroutine => "",
    };
    let path = format!("{}/debug/pprof/{}{query}", base.path, profile.name());
    let n = get_to_file(t, &base.port, &path, dest)?;
    if crate::first_bytes(dest, 2) != [0x1f, 0x8b] {
        let _ = std::fs::remove_file(dest);
        return Err(Error::BadAnswer {
            url: url_of(&base.port, &path),
            message: "the answer is not a gzipped pprof profile".into(),
        });
    }
    Ok(n)
}
