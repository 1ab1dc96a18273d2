//! pprof heap and goroutine profiles: diffs with `go tool pprof -diff_base`
//! semantics, and the `goroutine-leak` pattern.

use crate::flame::{FlameBuilder, Side};
use crate::merge::merge;
use crate::suspects::{rank, Thresholds};
use crate::{Analysis, Error, Options};
use lh_model::{human_bytes, Flame, FlameBy, Pattern, Summary};
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

fn granularity(opts: &Options) -> Result<Granularity, Error> {
    match &opts.by {
        Some(b) => b.parse().map_err(Error::Usage),
        None => Ok(Granularity::Function),
    }
}

fn read(path: &Path, opts: &Options) -> Result<(Profile, Summary), Error> {
    let profile = lh_pprof::open(path).map_err(|e| match e {
        lh_pprof::Error::Io(io) => Error::io(path, io),
        other => Error::reader(path, other),
    })?;
    let summary = summarize(&profile, path, opts)?;
    Ok((profile, summary))
}

/// Groups a profile as the options ask (`--by`, `--sample-index`); shared with
/// the native formats, which are pprof profiles once symbolized.
pub(crate) fn summarize(profile: &Profile, path: &Path, opts: &Options) -> Result<Summary, Error> {
    let by = granularity(opts)?;
    lh_pprof::summarize(
        profile,
        &path.display().to_string(),
        by,
        opts.sample_index.as_deref(),
    )
    .map_err(|e| match e {
        lh_pprof::Error::UnknownSampleType { .. } => {
            Error::Usage(format!("{}: {e}", path.display()))
        }
        other => Error::input(path, other),
    })
}

/// The stacks of the first and the last profile, by the same frame keys
/// as the groups.
fn flame(first: &Profile, last: &Profile, opts: &Options) -> Result<Flame, Error> {
    let by = granularity(opts)?;
    let mut b = FlameBuilder::new(FlameBy::Stack);
    for (p, side) in [(first, Side::First), (last, Side::Last)] {
        lh_pprof::for_each_stack(p, by, opts.sample_index.as_deref(), |stack, v| {
            let frames = stack.iter().map(|f| b.name(f)).collect();
            b.add(frames, side, v.max(0) as u64);
        })
        .map_err(|e| Error::Usage(e.to_string()))?;
    }
    Ok(b.build())
}

/// Diffs N profiles in time order. The first and the last profile are kept
/// in the result: the pprof export is made of them.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Analysis, Error> {
    let n = paths.len();
    let mut profiles = Vec::with_capacity(2);
    let mut programs = Vec::with_capacity(n);
    let mut summaries = Vec::with_capacity(n);
    for (i, p) in paths.iter().enumerate() {
        let (profile, summary) = read(p, opts)?;
        programs.push(Program::of(&profile));
        if i == 0 || i == n - 1 {
            profiles.push(profile);
        }
        summaries.push(summary);
    }
    let mut report = merge(&summaries)?;
    let sample_type = summaries[0].sample_type.as_deref().unwrap_or_default();
    report.details.flame = Some(flame(&profiles[0], &profiles[1], opts)?);
    let done = |report| Analysis { report, profiles };
    // alloc_* values only ever grow: they count allocations since start, not memory held.
    if sample_type.starts_with("alloc_") {
        return Ok(done(report));
    }
    // Growth from one program's profile to another's is no leak of either.
    if let Some(other) = programs[1..].iter().find(|p| p.differs_from(&programs[0])) {
        report.details.notes.push(format!(
            "the profiles come from different programs, {} and {}: growth between them is not a leak, \
             so no suspects are named. Take all profiles from one running program.",
            programs[0].name(),
            other.name()
        ));
        return Ok(done(report));
    }
    let goroutines = report.unit == "goroutines";
    let mut suspects = rank(&report, if goroutines { GOROUTINES } else { HEAP });
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
    Ok(done(report))
}

/// One profile: the largest groups. A goroutine profile with most goroutines
/// parked at one place is a suspect even without a second snapshot.
pub fn analyze(path: &Path, opts: &Options) -> Result<Analysis, Error> {
    let (profile, summary) = read(path, opts)?;
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
    Ok(Analysis {
        report,
        profiles: vec![profile],
    })
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
