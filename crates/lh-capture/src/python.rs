//! Python: tracemalloc snapshots from the leakhound helper
//! (`helpers/python/leakhound_helper.py`, which `soak` loads through a
//! `sitecustomize` so the program needs no change), or from an endpoint that
//! answers `{"snapshot": "/path/to/file.pickle"}` as the seed apps do.

use crate::{from_snapshot_endpoint, transport, Error};
use std::path::{Path, PathBuf};

/// The helper's path that answers with the snapshot's bytes (a pickle).
pub const HELPER_PATH: &str = "/debug/memory/snapshot";
/// The helper's path that writes a pickle and answers `{"snapshot": path}`.
pub const HELPER_FILE_PATH: &str = "/debug/memory/snapshot-file";

/// Asks `url` for a tracemalloc snapshot file and copies it into `dest` (0600).
pub fn capture(url: &str, pid: Option<u32>, dest: &Path) -> Result<u64, Error> {
    from_snapshot_endpoint(url, pid, dest)
}

/// What capture asks the helper for: our JSON format, which loads without a
/// pickle interpreter, with the cycles table, so that a leak through reference
/// cycles can be named (it costs the app one full collection per capture).
const HELPER_QUERY: &str = "?format=json&cycles=1";

/// Streams a snapshot from the helper at `base` (`http://host:port`) into
/// `dest` (0600), checking that a snapshot came back and not an error page.
/// Our helper answers JSON, kept under `dest` with the extension `.json`; an
/// app's own endpoint at the helper's path may ignore the query and answer a
/// pickle, kept at `dest` as it is. Returns the path written.
pub fn capture_helper(base: &str, dest: &Path) -> Result<PathBuf, Error> {
    let url = format!("{base}{HELPER_PATH}{HELPER_QUERY}");
    transport::get_to_file(&url, dest)?;
    let mut head = [0u8; 1];
    let first = std::fs::File::open(dest)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|()| head[0]);
    match first {
        // The PROTO opcode every pickle of protocol 2+ starts with.
        Ok(0x80) => Ok(dest.to_path_buf()),
        Ok(b'{') => {
            let json = dest.with_extension("json");
            std::fs::rename(dest, &json).map_err(|e| Error::Io {
                path: json.clone(),
                source: e,
            })?;
            Ok(json)
        }
        _ => {
            let _ = std::fs::remove_file(dest);
            Err(Error::BadAnswer {
                url,
                message: "the answer is not a tracemalloc snapshot (pickle or JSON)".into(),
            })
        }
    }
}

/// The helper's cheap summary path, used to find it without taking a snapshot.
const SUMMARY_PATH: &str = "/debug/memory";

/// Finds the helper among the ports `pid` listens on: the one whose summary
/// endpoint answers with tracemalloc's numbers.
pub fn find_helper(pid: u32) -> Result<Option<String>, Error> {
    for a in crate::procfs::listening_addrs(pid)? {
        let base = format!("http://{a}");
        let Ok(body) = transport::get_bytes(&format!("{base}{SUMMARY_PATH}")) else {
            continue;
        };
        let is_helper = serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|v| v.get("traced_bytes").is_some());
        if is_helper {
            return Ok(Some(base));
        }
    }
    Ok(None)
}
