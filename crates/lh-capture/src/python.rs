//! Python: tracemalloc snapshots from the leakhound helper
//! (`helpers/python/leakhound_helper.py`, which `soak` loads through a
//! `sitecustomize` so the program needs no change), or from an endpoint that
//! answers `{"snapshot": "/path/to/file.pickle"}` as the seed apps do.

use crate::target::Endpoint;
use crate::transport::{get_bytes, get_to_file, url_of, Transport};
use crate::Error;
use std::path::{Path, PathBuf};

/// The helper's path that answers with the snapshot's bytes (a pickle).
pub const HELPER_PATH: &str = "/debug/memory/snapshot";
/// The helper's path that writes a pickle and answers `{"snapshot": path}`.
pub const HELPER_FILE_PATH: &str = "/debug/memory/snapshot-file";

/// What capture asks the helper for: our JSON format, which loads without a
/// pickle interpreter, with the cycles table, so that a leak through reference
/// cycles can be named (it costs the app one full collection per capture).
const HELPER_QUERY: &str = "?format=json&cycles=1";

/// Streams a snapshot from the helper at `base` into `dest` (0600), checking
/// that a snapshot came back and not an error page. Our helper answers JSON,
/// kept under `dest` with the extension `.json`; an app's own endpoint at the
/// helper's path may ignore the query and answer a pickle, kept at `dest` as
/// it is. Returns the path written.
pub fn capture_helper(t: &dyn Transport, base: &Endpoint, dest: &Path) -> Result<PathBuf, Error> {
    let path = format!("{}{HELPER_PATH}{HELPER_QUERY}", base.path);
    get_to_file(t, &base.port, &path, dest)?;
    match crate::first_bytes(dest, 1).first() {
        // The PROTO opcode every pickle of protocol 2+ starts with.
        Some(0x80) => Ok(dest.to_path_buf()),
        Some(b'{') => {
            let json = dest.with_extension("json");
            std::fs::rename(dest, &json).map_err(|e| Error::io(&json, e))?;
            Ok(json)
        }
        _ => {
            let _ = std::fs::remove_file(dest);
            Err(Error::BadAnswer {
                url: url_of(&base.port, &path),
                message: "the answer is not a tracemalloc snapshot (pickle or JSON)".into(),
            })
        }
    }
}

/// The helper's cheap summary path, used to find it without taking a snapshot.
const SUMMARY_PATH: &str = "/debug/memory";

/// Finds the helper among the ports the target listens on: the one whose
/// summary endpoint answers with tracemalloc's numbers.
pub fn find_helper(t: &dyn Transport) -> Result<Option<Endpoint>, Error> {
    for p in t.listening_ports()? {
        let Ok(body) = get_bytes(t, &p, SUMMARY_PATH) else {
            continue;
        };
        let is_helper = serde_json::from_slice::<serde_json::Value>(&body)
            .is_ok_and(|v| v.get("traced_bytes").is_some());
        if is_helper {
            return Ok(Some(Endpoint::root(p)));
        }
    }
    Ok(None)
}

/// What to tell a user whose Python process serves no helper.
pub fn no_helper(t: &dyn Transport) -> Error {
    Error::Unsupported(format!(
        "Python {} serves no leakhound helper on its ports; start it with the helper \
         (PYTHONPATH=helpers/python python -m leakhound_helper app.py), give an endpoint as \
         url:http://HOST:PORT{HELPER_PATH}, or run it under `leakhound soak` or `capture -- CMD`, which turn tracemalloc on",
        t.describe()
    ))
}
