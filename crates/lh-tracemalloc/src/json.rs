//! The JSON snapshot format of docs/tracemalloc-json.md, for apps that serve
//! snapshots without pickle. Tables are deserialized straight into typed
//! vectors (no JSON DOM); frames and tracebacks are indices into earlier tables,
//! which keeps documents small and mirrors how tracemalloc shares them.

use crate::{Builder, Error, Snapshot, Stat};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Doc {
    tracemalloc: u32,
    #[serde(default)]
    traceback_limit: Option<i64>,
    filenames: Vec<String>,
    /// `[filename index, lineno]`
    frames: Vec<(u32, i64)>,
    /// frame indices, most recent call first
    tracebacks: Vec<Vec<u32>>,
    /// `[domain, size, traceback index]`
    traces: Vec<(u64, u64, u32)>,
    /// `[traceback index, objects, bytes]` of cyclic garbage; optional.
    #[serde(default)]
    cycles: Option<Vec<(u32, u64, u64)>>,
}

pub(crate) fn parse(data: &[u8]) -> Result<Snapshot, Error> {
    let doc: Doc = serde_json::from_slice(data).map_err(|e| Error::Json(e.to_string()))?;
    if doc.tracemalloc != 1 {
        return Err(Error::Json(format!(
            "format version {} is not supported (this build reads version 1)",
            doc.tracemalloc
        )));
    }
    let mut b = Builder::new();
    b.snap.traceback_limit = doc.traceback_limit;
    let files: Vec<u32> = doc.filenames.iter().map(|f| b.file(f)).collect();
    let frames = doc
        .frames
        .iter()
        .enumerate()
        .map(|(i, (f, line))| {
            let file = files.get(*f as usize).ok_or_else(|| {
                Error::Json(format!(
                    "frame {i} names filename {f}, which is not in filenames"
                ))
            })?;
            Ok(b.frame(*file, *line))
        })
        .collect::<Result<Vec<u32>, Error>>()?;
    let mut tbs = Vec::with_capacity(doc.tracebacks.len());
    let mut buf = Vec::new();
    for (i, tb) in doc.tracebacks.iter().enumerate() {
        buf.clear();
        for f in tb {
            buf.push(*frames.get(*f as usize).ok_or_else(|| {
                Error::Json(format!(
                    "traceback {i} names frame {f}, which is not in frames"
                ))
            })?);
        }
        tbs.push(b.traceback(&buf));
    }
    for (i, (_, size, tb)) in doc.traces.iter().enumerate() {
        let tb = tbs.get(*tb as usize).ok_or_else(|| {
            Error::Json(format!(
                "trace {i} names traceback {tb}, which is not in tracebacks"
            ))
        })?;
        b.trace(*size, *tb)?;
    }
    if let Some(cycles) = &doc.cycles {
        b.snap.cycles = Some(vec![Stat::default(); b.snap.per_tb.len()]);
        for (i, (tb, count, size)) in cycles.iter().enumerate() {
            let tb = tbs.get(*tb as usize).ok_or_else(|| {
                Error::Json(format!(
                    "cycles entry {i} names traceback {tb}, which is not in tracebacks"
                ))
            })?;
            b.cycles(*tb, *count, *size)?;
        }
    }
    Ok(b.finish())
}
