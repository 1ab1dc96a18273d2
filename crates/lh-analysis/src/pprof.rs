//! pprof heap and goroutine profiles: diffs with `go tool pprof -diff_base`
//! semantics, and the `goroutine-leak` pattern.

use crate::merge::merge;
use crate::suspects::{rank, Thresholds};
use crate::{Error, Options};
use lh_model::{human_bytes, Pattern, Report, Summary};
use lh_pprof::{Granularity, Profile, Program};
use std::path::{Path, PathBuf};

/// Heap profiles are sampled (one sample per 512 KiB allocated, by default), so
/// growth below a megabyte or 5 % of the heap is sampling noise.
const HEAP: Thresholds = Thresholds {
    min_delta: 1 << 20,
    min_share: 0.05,
};
/// Goroutine counts are exact; a handful more is normal churn.
const GOROUTINES: Thresholds = Thresholds {
    min_delta: 10,
    min_share: 0.05,
};

fn read(path: &Path, opts: &Options) -> Result<(Profile, Summary), Error> {
    let by: Granularity = match &opts.by {
        Some(b) => b.parse().map_err(Error::Usage)?,
        None => Granularity::Function,
    };
    let profile = lh_pprof::open(path).map_err(|e| match e {
        lh_pprof::Error::Io(io) => Error::io(path, io),
        other => Error::reader(path, other),
    })?;
    let summary = lh_pprof::summarize(
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
    Ok((profile, summary))
}

/// Diffs N profiles in time order.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let mut programs = Vec::with_capacity(paths.len());
    let summaries = paths
        .iter()
        .map(|p| {
            read(p, opts).map(|(profile, s)| {
                programs.push(Program::of(&profile));
                s
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut report = merge(&summaries)?;
    let sample_type = summaries[0].sample_type.as_deref().unwrap_or_default();
    // alloc_* values only ever grow: they count allocations since start, not memory held.
    if sample_type.starts_with("alloc_") {
        return Ok(report);
    }
    // Growth from one program's profile to another's is no leak of either.
    if let Some(other) = programs[1..].iter().find(|p| p.differs_from(&programs[0])) {
        report.details.notes.push(format!(
            "the profiles come from different programs, {} and {}: growth between them is not a leak, \
             so no suspects are named. Take all profiles from one running program.",
            programs[0].name(),
            other.name()
        ));
        return Ok(report);
    }
    let goroutines = report.unit == "goroutines";
    let mut suspects = rank(&report, if goroutines { GOROUTINES } else { HEAP });
    let n = paths.len();
    for s in &mut suspects {
        if goroutines {
            s.pattern = Some(Pattern::GoroutineLeak);
            s.hint = format!(
                "{} more goroutines are parked in {} than {} snapshot(s) earlier. Each goroutine started \
                 there needs a way to finish: cancel its context, close the channel it waits on, or add a timeout.",
                s.delta_bytes,
                s.key,
                n - 1
            );
        } else {
            s.hint = format!(
                "memory allocated in {} and still in use grew by {} over {} snapshots. Look for a \
                 long-lived map, slice or cache it is added to and never removed from: \
                 go tool pprof -list '{}' {}",
                s.key,
                human_bytes(s.delta_bytes),
                n,
                regex_quote(s.key.split(' ').next().unwrap_or(&s.key)),
                paths[n - 1].display()
            );
        }
    }
    report.suspects = suspects;
    Ok(report)
}

/// One profile: the largest groups. A goroutine profile with most goroutines
/// parked at one place is a suspect even without a second snapshot.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report, Error> {
    let (_, summary) = read(path, opts)?;
    let mut report = merge(std::slice::from_ref(&summary))?;
    if report.unit == "goroutines" {
        let total = summary.info.total_bytes.max(1);
        if let Some(g) = report
            .groups
            .first()
            .filter(|g| g.bytes[0] >= 100 && g.bytes[0] * 2 >= total)
        {
            report.suspects.push(lh_model::Suspect {
                key: g.key.clone(),
                delta_bytes: 0,
                retained_bytes: None,
                retainer_path: None,
                pattern: Some(Pattern::GoroutineLeak),
                hint: format!(
                    "{} of {} goroutines are parked in {}. Diff two goroutine profiles taken minutes apart to see whether they pile up.",
                    g.bytes[0], total, g.key
                ),
                confidence: 0.5,
            });
        }
    }
    Ok(report)
}

/// The pprof export of a diff: the merged `-diff_base` profile of first and
/// last snapshot, which keeps every stack.
pub fn export(paths: &[PathBuf], opts: &Options) -> Result<Profile, Error> {
    let (first, _) = read(&paths[0], opts)?;
    if paths.len() == 1 {
        return Ok(first);
    }
    let (last, _) = read(&paths[paths.len() - 1], opts)?;
    lh_pprof::diff_profile(&first, &last).map_err(|e| Error::Mismatch(e.to_string()))
}

/// Escapes a Go symbol for pprof's regular-expression flags.
fn regex_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_go_symbols() {
        assert_eq!(
            regex_quote("main.(*registry).track"),
            "main\\.\\(\\*registry\\)\\.track"
        );
    }
}
