//! Python: a tracemalloc snapshot from an endpoint that answers
//! `{"snapshot": "/path/to/file.pickle"}` — the leakhound helper that `soak`
//! loads through `sitecustomize`, or an app's own endpoint of that shape.

use crate::{from_snapshot_endpoint, Error};
use std::path::Path;

/// The path the leakhound Python helper serves snapshots on.
pub const HELPER_PATH: &str = "/debug/memory/snapshot";

/// Asks `url` for a tracemalloc snapshot and copies it into `dest` (0600).
pub fn capture(url: &str, pid: Option<u32>, dest: &Path) -> Result<u64, Error> {
    from_snapshot_endpoint(url, pid, dest)
}
