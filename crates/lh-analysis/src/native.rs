//! Native heap profiles (jemalloc, tcmalloc): read as pprof's legacy text,
//! symbolized from the mapped binaries, the allocator's frames pruned, then
//! diffed as pprof heap profiles are.

use crate::merge::merge;
use crate::suspects::{rank, Thresholds};
use crate::{Error, Options};
use lh_model::{human_bytes, Format, Report, Summary};
use lh_pprof::legacy::heap::{self, Writer};
use lh_pprof::Granularity;
use std::path::{Path, PathBuf};

/// Both allocators sample one allocation per 512 KiB by default, as Go does;
/// gperftools' heap profiler is exact, and then the thresholds only skip the small.
const HEAP: Thresholds = Thresholds {
    min_delta: 1 << 20,
    min_share: 0.05,
};

/// One profile, symbolized and summarized, with what the reader must know.
fn read(path: &Path, opts: &Options) -> Result<(Summary, Vec<String>), Error> {
    let by: Granularity = match &opts.by {
        Some(b) => b.parse().map_err(Error::Usage)?,
        None => Granularity::Function,
    };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let raw = lh_pprof::gunzip(&bytes).map_err(|e| Error::input(path, e))?;
    let parsed = heap::parse(&raw[..]).map_err(|e| Error::input(path, e))?;
    let format = match parsed.writer {
        Writer::Jemalloc => Format::Jemalloc,
        Writer::Tcmalloc => Format::Tcmalloc,
        Writer::Go => Format::Pprof,
    };
    let mut profile = parsed.profile;
    let outcome = lh_native::symbolize(&mut profile, &opts.symbols);
    lh_native::prune_allocator(&mut profile);
    let mut notes = Vec::new();
    for (file, why) in &outcome.missing {
        notes.push(format!(
            "{file} could not be read for symbols ({why}); its frames are addresses. \
             Copy the binaries out of the target and pass --symbols DIR."
        ));
    }
    let mut summary = lh_pprof::summarize(
        &profile,
        &path.display().to_string(),
        by,
        opts.sample_index.as_deref(),
    )
    .map_err(|e| match e {
        lh_pprof::Error::UnknownSampleType { .. } => {
            Error::Usage(format!("{}: {e}", path.display()))
        }
        other => Error::input(path, other),
    })?;
    summary.format = format;
    // A profile without allocated totals names its in-use values `space`;
    // one taken after frees names them `inuse_space`. They are the same measure.
    if summary.sample_type.as_deref() == Some("space") {
        summary.sample_type = Some("inuse_space".into());
    }
    Ok((summary, notes))
}

fn read_all(paths: &[PathBuf], opts: &Options) -> Result<(Vec<Summary>, Vec<String>), Error> {
    let mut summaries = Vec::with_capacity(paths.len());
    let mut notes: Vec<String> = Vec::new();
    for p in paths {
        let (s, n) = read(p, opts)?;
        summaries.push(s);
        for note in n {
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
    }
    Ok((summaries, notes))
}

/// Diffs N native heap profiles in time order.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let (summaries, notes) = read_all(paths, opts)?;
    let mut report = merge(&summaries)?;
    report.details.notes = notes;
    if summaries[0]
        .sample_type
        .as_deref()
        .is_some_and(|t| t.starts_with("alloc_"))
    {
        return Ok(report);
    }
    let n = paths.len();
    let tool = match report.format {
        Format::Jemalloc => "jeprof",
        _ => "pprof",
    };
    let mut suspects = rank(&report, HEAP);
    for s in &mut suspects {
        let function = s.key.split(' ').next().unwrap_or(&s.key);
        s.hint = format!(
            "memory allocated in {} and never freed grew by {} over {} snapshots. Look for a global \
             list, map or cache it adds to and never removes from, or a missing free/delete/drop \
             on one path: {tool} --list '{}' BINARY {}",
            s.key,
            human_bytes(s.delta_bytes),
            n,
            function,
            paths[n - 1].display()
        );
    }
    report.suspects = suspects;
    Ok(report)
}

/// One native heap profile: the largest allocation sites.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report, Error> {
    let (summaries, notes) = read_all(std::slice::from_ref(&path.to_path_buf()), opts)?;
    let mut report = merge(&summaries)?;
    report.details.notes = notes;
    Ok(report)
}
