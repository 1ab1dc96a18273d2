//! The leak policy of a run: what counts as a leak in a soak or a diagnosis,
//! from the program's end, the heap diff and the live memory trend.

use crate::mib;
use lh_model::outcome::Ended;
use lh_model::{Report, Series, Verdict, VerdictKind};

/// The trend detector tuned for a soak: minutes of samples, not days. The
/// production defaults wait hours to rule out warm-ups and daily cycles; a
/// soak knows its program is fresh and its load flat, so a few seconds of a
/// rising floor are enough to take snapshots at once.
fn soak_trend_options() -> lh_trend::detect::Options {
    lh_trend::detect::Options {
        min_span_s: 3.0,
        min_points: 8,
        min_rise_s: 3.0,
        daily_span_s: 0.0,
        min_daily_growth: 0.01,
        ..Default::default()
    }
}

/// The trend detector's verdict over the (seconds, bytes) samples so far.
pub fn live_trend(samples: &[(f64, u64)], limit: u64) -> Verdict {
    let series = Series {
        id: "soak".into(),
        limit_bytes: Some(limit),
        points: samples.iter().map(|(t, b)| (*t, *b as f64)).collect(),
        load: None,
    };
    lh_trend::detect::detect(&series, &soak_trend_options())
}

/// The leak call from a diff: a suspect grew steadily over three or more
/// snapshots (two cannot tell a leak from a warm-up).
fn steady_suspect(r: &Report, snapshots: usize) -> Option<String> {
    let s = r.suspects.first()?;
    (snapshots >= 3 && s.confidence >= 0.6).then(|| {
        format!(
            "{} grew by {}{} across {} snapshots (confidence {:.2})",
            s.key,
            mib(s.delta_bytes.max(0) as u64),
            s.retained_bytes
                .map(|r| format!(", retaining {}", mib(r)))
                .unwrap_or_default(),
            snapshots,
            s.confidence
        )
    })
}

/// What a run saw, for the verdict.
#[derive(Debug, Default)]
pub struct Evidence<'a> {
    /// OOM kills the cgroup had seen before the run looked (diagnose).
    pub oom_kills_before: Option<u64>,
    /// The program's end, if it came before the run's.
    pub ended: Option<&'a Ended>,
    /// A pid that exited while it was being diagnosed.
    pub exited: Option<u32>,
    /// The diff of the snapshots.
    pub report: Option<&'a Report>,
    /// How many snapshots were diffed.
    pub snapshots: usize,
    /// The trend over the whole run, when the run sampled a cgroup throughout (soak).
    pub trend: Option<&'a Verdict>,
}

/// The verdict and its reasons, most telling first.
pub fn judge(e: &Evidence) -> (VerdictKind, Vec<String>) {
    let mut reasons = Vec::new();
    if let Some(k) = e.oom_kills_before.filter(|k| *k > 0) {
        reasons.push(format!("its cgroup has seen {k} OOM kill(s) before"));
    }
    if let Some(p) = e.exited {
        reasons.push(format!("process {p} exited during the diagnosis"));
    }
    if let Some(end) = e.ended {
        reasons.push(format!(
            "the program ended after {:.1} s: {}, exit code {}",
            end.after_seconds, end.reason, end.exit_code
        ));
    }
    let oom = e
        .ended
        .is_some_and(|x| x.reason == lh_model::outcome::EndReason::OomKilled);
    let suspect = e.report.and_then(|r| steady_suspect(r, e.snapshots));
    let suspect_leak = suspect.is_some();
    reasons.extend(suspect);
    // The early "leak" of a soak only triggered a snapshot; a program warming
    // up can look like that for its first seconds. The verdict is the whole run's.
    // In a run of seconds or minutes a rising floor is also what a warm-up
    // (JIT, caches filling to their bound) looks like. Where three or more
    // heap snapshots were diffed, they are the better witness: the trend
    // alone then only adds a note, so native-memory growth is still reported.
    let heap_judged = e.report.is_some() && e.snapshots >= 3;
    let trend_rose = e.trend.is_some_and(|t| t.verdict == VerdictKind::Leak);
    let trend_leak = trend_rose && !heap_judged;
    if let Some(t) = e.trend.filter(|_| trend_rose) {
        if trend_leak {
            reasons.push(format!("memory trend: {}", t.reasons.join("; ")));
        } else if !suspect_leak {
            reasons.push(format!(
                "memory rose ({}), but no heap group grew steadily: a warm-up, or memory outside the heap",
                t.reasons.first().map_or("", String::as_str)
            ));
        }
    }
    let leak = oom || suspect_leak || trend_leak;
    if !leak && !trend_rose {
        reasons.push(if e.trend.is_some() {
            "no group grew steadily across the snapshots, and memory did not trend up".into()
        } else {
            "no group grew steadily across the snapshots".into()
        });
    }
    let verdict = if leak {
        VerdictKind::Leak
    } else {
        VerdictKind::NoLeak
    };
    (verdict, reasons)
}
