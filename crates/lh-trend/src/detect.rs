//! The detector: one memory series in, one [`Verdict`] out.
//!
//! Memory of a healthy process is not flat: garbage collectors saw up and down,
//! caches warm up, load follows the day, deploys step the level, restarts
//! reset it. A leak is the one thing that makes the *floor* rise without end.
//! So the detector works on the lower envelope of the last incarnation, keeps
//! only its last regime (after the last change point), and asks three
//! questions of it: is there a trend once autocorrelation is accounted for
//! (Mann–Kendall, Hamed–Rao), is it material (Theil–Sen slope with a
//! block-bootstrap interval), and is it not a warm-up levelling off (a
//! saturating fit against a line, by BIC). Time to limit comes from the upper
//! envelope, since the peaks are what the OOM killer sees. Given a load
//! series, load's part is first taken out of the floor, and a rise that would
//! still be a leak is last checked against the load ([`crate::load`]).

use crate::load::{self, LoadCheck};
use crate::stats::{self, Rng};
use lh_model::{human_bytes, human_duration, Series, Verdict, VerdictKind};

/// Knobs of the detector. The defaults are what the evaluation measures.
#[derive(Debug, Clone)]
pub struct Options {
    /// Less history than this (seconds) is `insufficient-data`.
    pub min_span_s: f64,
    /// Fewer samples than this is `insufficient-data`.
    pub min_points: usize,
    /// One-sided level for a trend: of Mann–Kendall, and of the t-tests that
    /// weigh a given load against time.
    pub alpha: f64,
    /// Bootstrap replicates for the slope interval.
    pub bootstrap_reps: usize,
    /// Floor growth below this fraction of the level per day is not material.
    pub min_daily_growth: f64,
    /// History under which a rise may still be one half of a daily cycle (seconds).
    pub daily_span_s: f64,
    /// Under a limit, growth that reaches it later than this (seconds) is not alarmed on.
    pub horizon_s: f64,
    /// A rise shorter than this (seconds) is a burst, not yet a trend.
    pub min_rise_s: f64,
    /// A rise shorter than this (seconds) may still be a warm-up or a cache
    /// filling, and is a leak only when the limit is nearer than the rise
    /// seen. Never longer than `daily_span_s`: a caller that rules the
    /// daily cycle out (a soak, on a fresh process under flat load) rules
    /// this out too.
    pub settle_s: f64,
    /// A sample this far below the trailing floor starts a new incarnation.
    pub restart_ratio: f64,
    /// Leave a `leak` verdict's confidence as the detector's raw score
    /// instead of calibrating it: what `lh-eval calibrate` fits the table on.
    pub raw_confidence: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_span_s: 2.0 * 3600.0,
            min_points: 12,
            alpha: 0.001,
            bootstrap_reps: 64,
            min_daily_growth: 0.01,
            daily_span_s: 27.0 * 3600.0,
            min_rise_s: 3.0 * 3600.0,
            settle_s: 6.0 * 3600.0,
            horizon_s: 14.0 * 86400.0,
            restart_ratio: 0.6,
            raw_confidence: false,
        }
    }
}

/// What the detector saw, for charts: the envelopes and the fitted trend.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The cleaned samples, `(unix seconds, bytes)`.
    pub points: Vec<(f64, f64)>,
    /// Lower and upper envelope of the judged incarnation.
    pub lower: Vec<(f64, f64)>,
    /// See `lower`.
    pub upper: Vec<(f64, f64)>,
    /// The fitted trend of the judged regime: two ends of a line.
    pub trend: Option<[(f64, f64); 2]>,
    /// Where the judged incarnation and regime begin (unix seconds).
    pub incarnation_start: Option<f64>,
    /// See `incarnation_start`.
    pub regime_start: Option<f64>,
}

/// Verdict only; see [`analyze`] for the fitted pieces as well.
pub fn detect(series: &Series, opts: &Options) -> Verdict {
    analyze(series, opts).0
}

/// Judges `series` with its siblings (the other pods of the same workload,
/// as [`Series`] on the same clock) as evidence. Only a leak seen for less
/// than a day, which a daily cycle could still explain, is open to them:
/// when most siblings seen for a day or more do not leak, yet rose over the
/// same hours (by a tenth or more), the rise is the workload's day, not
/// this pod's leak. A sibling's age says what its own rise means, which a
/// young pod's cannot yet: that is what `scan` can pass in.
pub fn detect_with_siblings(series: &Series, siblings: &[Series], opts: &Options) -> Verdict {
    let (mut v, an) = analyze(series, opts);
    let hedged = v.verdict == VerdictKind::Leak && v.reasons.iter().any(|r| r.starts_with(HEDGE));
    let (Some(from), Some(to)) = (an.regime_start, an.points.last().map(|p| p.0)) else {
        return v;
    };
    if !hedged {
        return v;
    }
    let day_old: Vec<&Series> = siblings
        .iter()
        .filter(|s| match (s.points.first(), s.points.last()) {
            (Some(a), Some(b)) => b.0 - a.0 >= 86400.0 && b.0 >= to - 3600.0,
            _ => false,
        })
        .collect();
    let healthy_rose = day_old
        .iter()
        .filter(|s| {
            detect(s, opts).verdict != VerdictKind::Leak
                && load_rise(&s.points, from, to).is_some_and(|r| r >= 0.1)
        })
        .count();
    if !day_old.is_empty() && 2 * healthy_rose > day_old.len() {
        v.verdict = VerdictKind::NoLeak;
        v.confidence = 0.5;
        v.time_to_limit_seconds = None;
        v.reasons.push(format!(
            "{healthy_rose} of {} sibling(s) seen for a day or more rose over the same hours and do not leak: the workload's daily cycle, not a leak",
            day_old.len()
        ));
    }
    v
}

/// Runs the detector and returns the verdict with what it fitted. A leak's
/// confidence is calibrated: among leak verdicts of confidence about c,
/// about a fraction c were right on the corpus the table was fitted on.
pub fn analyze(series: &Series, opts: &Options) -> (Verdict, Analysis) {
    let (mut v, an) = analyze_raw(series, opts);
    if v.verdict == VerdictKind::Leak && !opts.raw_confidence {
        v.confidence = crate::calibration::apply(v.confidence);
    }
    (v, an)
}

fn analyze_raw(series: &Series, opts: &Options) -> (Verdict, Analysis) {
    let mut reasons = Vec::new();
    let limit = match series.limit_bytes {
        Some(0) => {
            reasons.push("limit 0 means no limit (as cAdvisor reports it); ignored".into());
            None
        }
        l => l,
    };
    let pts = clean(&series.points, &mut reasons);
    let load = clean_load(series.load.as_deref(), &mut reasons);
    let load = load.as_deref();
    let mut out = Verdict {
        id: series.id.clone(),
        verdict: VerdictKind::InsufficientData,
        slope_bytes_per_hour: 0.0,
        confidence: 0.0,
        time_to_limit_seconds: None,
        limit_bytes: limit,
        reasons,
    };
    // `points` is filled on the way out, with the samples rather than a copy.
    let mut an = Analysis::default();
    let incs = incarnations(&pts, opts.restart_ratio);
    let last = *incs.last().unwrap_or(&(0, 0));
    let judged = judge(&pts[last.0..last.1], limit, load, opts, &mut an);
    // A "run" of one or two samples is the dying or starting process seen
    // mid-restart: the restart that follows it is the same one.
    let restarts = incs[..incs.len().saturating_sub(1)]
        .iter()
        .filter(|r| r.1 - r.0 > 2)
        .count();
    if restarts > 0 {
        out.reasons.push(format!(
            "{restarts} restart(s) seen (drops below {:.0}% of the trailing floor); judging the last run",
            opts.restart_ratio * 100.0
        ));
    }
    // A run that is young, or whose floor rises but not yet provably, after
    // a run that grew to the limit and restarted, is how a leak looks under
    // a memory limit (a crash loop): judge the previous complete run instead.
    let young = match &judged {
        Judged::Short(why) => Some(format!("this run is young: {why}")),
        Judged::Done(v) if v.kind != VerdictKind::Leak && v.slope_h > 0.0 => {
            Some(format!("this run alone: {}", v.reasons.join("; ")))
        }
        Judged::Done(_) => None,
    };
    if let Some((v, peak, run_s)) = young
        .as_ref()
        .and_then(|_| previous_run_leak(&pts, &incs, limit, load, opts))
    {
        let since = pts[pts.len() - 1].0 - pts[last.0].0;
        out.verdict = VerdictKind::Leak;
        out.slope_bytes_per_hour = v.slope_h;
        out.confidence = v.confidence * 0.95;
        // The new run starts low; from its level the limit is one previous
        // run's length away.
        out.time_to_limit_seconds = Some((run_s - since).max(0.0));
        // The table shows the last reason: the restart at the limit says most.
        out.reasons.extend(young);
        out.reasons.extend(v.reasons);
        out.reasons.push(format!(
            "the previous run grew to {:.0}% of the limit and restarted (likely OOM-killed)",
            peak * 100.0
        ));
        an.points = pts;
        return (out, an);
    }
    match judged {
        Judged::Short(why) => out.reasons.push(why),
        Judged::Done(mut v) => {
            // A leak whose run is short of a day, after a run that grew to
            // the limit and restarted: the crash loop rules the daily cycle out.
            let crash = (v.kind == VerdictKind::Leak && restarts > 0)
                .then(|| previous_run_leak(&pts, &incs, limit, load, opts))
                .flatten();
            if let Some((p, peak, _)) = crash {
                v.reasons.retain(|r| !r.starts_with(HEDGE));
                v.confidence = v.confidence.max(p.confidence * 0.95);
                v.reasons.push(format!(
                    "the previous run grew to {:.0}% of the limit and restarted (likely OOM-killed)",
                    peak * 100.0
                ));
            }
            out.verdict = v.kind;
            out.slope_bytes_per_hour = v.slope_h;
            out.confidence = v.confidence;
            out.time_to_limit_seconds = v.ttl_s;
            out.reasons.extend(v.reasons);
        }
    }
    an.points = pts;
    (out, an)
}

/// How the reason that hedges a leak of less than a day begins.
const HEDGE: &str = "the rise keeps its pace, as a leak does";

/// The previous complete run's leak verdict, its peak as a share of the limit
/// and its length in seconds, when it grew to at least 90% of the limit before
/// a restart. A "run" too short to judge is a blip seen mid-restart and is
/// passed over for the run before it.
fn previous_run_leak(
    pts: &[(f64, f64)],
    incs: &[(usize, usize)],
    limit: Option<u64>,
    load: Option<&[(f64, f64)]>,
    opts: &Options,
) -> Option<(Judgement, f64, f64)> {
    let l = limit? as f64;
    let prev = *incs[..incs.len().saturating_sub(1)]
        .iter()
        .rev()
        .find(|r| r.1 - r.0 >= opts.min_points)?;
    let seg = &pts[prev.0..prev.1];
    let peak = seg.iter().map(|p| p.1).fold(0.0, f64::max) / l;
    if peak < 0.9 {
        return None;
    }
    match judge(seg, limit, load, opts, &mut Analysis::default()) {
        Judged::Done(v) if v.kind == VerdictKind::Leak => {
            Some((v, peak, seg[seg.len() - 1].0 - seg[0].0))
        }
        _ => None,
    }
}

/// Drops what cannot be a sample, sorts, and keeps the last of duplicate
/// timestamps, saying so: a scrape pipeline that emits such points is worth knowing about.
fn clean(raw: &[(f64, f64)], reasons: &mut Vec<String>) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = raw
        .iter()
        .copied()
        .filter(|(t, v)| t.is_finite() && v.is_finite() && *v >= 0.0)
        .collect();
    let bad = raw.len() - pts.len();
    if bad > 0 {
        reasons.push(format!("{bad} sample(s) not finite or negative, dropped"));
    }
    if pts.windows(2).any(|w| w[1].0 < w[0].0) {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        reasons.push("timestamps out of order; sorted".into());
    }
    let n = pts.len();
    pts.dedup_by(|b, a| {
        if a.0 == b.0 {
            *a = *b;
            true
        } else {
            false
        }
    });
    if pts.len() < n {
        reasons.push(format!(
            "{} duplicate timestamp(s); kept the last value of each",
            n - pts.len()
        ));
    }
    pts
}

/// The load series cleaned as the samples are (its reasons prefixed `load:`);
/// `None`, said, when nothing of it is usable, and when there is none.
fn clean_load(raw: Option<&[(f64, f64)]>, reasons: &mut Vec<String>) -> Option<Vec<(f64, f64)>> {
    let raw = raw?;
    let mut said = Vec::new();
    let load = clean(raw, &mut said);
    reasons.extend(said.into_iter().map(|r| format!("load: {r}")));
    if load.is_empty() {
        reasons.push("load: no usable samples; judged without load".into());
        return None;
    }
    Some(load)
}

/// Splits at restarts: `[start, end)` index ranges. A restart falls well
/// below the lowest value of the trailing three hours, which a GC never does
/// (a collection falls *to* the floor, not below it).
fn incarnations(pts: &[(f64, f64)], ratio: f64) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut dq: std::collections::VecDeque<usize> = Default::default();
    for (i, &(t, v)) in pts.iter().enumerate() {
        while dq.front().is_some_and(|&j| pts[j].0 < t - 3.0 * 3600.0) {
            dq.pop_front();
        }
        if let Some(&j) = dq.front() {
            if v < ratio * pts[j].1 {
                out.push((start, i));
                start = i;
                dq.clear();
            }
        }
        while dq.back().is_some_and(|&j| pts[j].1 >= v) {
            dq.pop_back();
        }
        dq.push_back(i);
    }
    out.push((start, pts.len()));
    out
}

enum Judged {
    /// Not enough to judge, and why.
    Short(String),
    Done(Judgement),
}

struct Judgement {
    kind: VerdictKind,
    slope_h: f64,
    confidence: f64,
    ttl_s: Option<f64>,
    reasons: Vec<String>,
}

/// Bucketed envelopes: (times in hours from `t0`, lower, upper).
struct Envelope {
    t0: f64,
    x: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Typical spacing of GC-like drops (seconds; 0 when none are seen).
    period_s: f64,
}

/// Envelope width: three typical GC periods (spacing of drops of 3 % or
/// more), so that every bucket holds at least one trough; never narrower than
/// 5 minutes, never so wide that fewer than 12 buckets remain, and never so
/// narrow that more than 120 remain (the tests below are O(n²)).
fn envelope(pts: &[(f64, f64)]) -> Envelope {
    let t0 = pts[0].0;
    let span = pts[pts.len() - 1].0 - t0;
    let mut last_drop = None;
    let mut gaps = Vec::new();
    for w in pts.windows(2) {
        if w[1].1 < 0.97 * w[0].1 {
            if let Some(l) = last_drop {
                gaps.push(w[1].0 - l);
            }
            last_drop = Some(w[1].0);
        }
    }
    let period = if gaps.len() >= 2 {
        stats::quantile(&mut gaps, 0.5)
    } else {
        0.0
    };
    let width = (3.0 * period)
        .max(300.0)
        .max(span / 120.0)
        .min(span / 12.0)
        .max(1.0);
    let nb = (span / width).floor() as usize + 1;
    let mut x = Vec::with_capacity(nb);
    let mut lo = Vec::with_capacity(nb);
    let mut hi = Vec::with_capacity(nb);
    let mut bucket = Vec::new();
    let mut i = 0;
    for b in 0..nb {
        let end = t0 + (b + 1) as f64 * width;
        bucket.clear();
        let mut ts = 0.0;
        while i < pts.len() && (pts[i].0 < end || b == nb - 1) {
            bucket.push(pts[i].1);
            ts += pts[i].0;
            i += 1;
        }
        if bucket.is_empty() {
            continue;
        }
        let tm = ts / bucket.len() as f64;
        let max = bucket.iter().copied().fold(f64::MIN, f64::max);
        x.push((tm - t0) / 3600.0);
        lo.push(stats::quantile(&mut bucket, 0.05));
        hi.push(max);
    }
    slow_cycles(&x, &mut lo);
    Envelope {
        t0,
        x,
        lo,
        hi,
        period_s: period,
    }
}

/// A JVM's old generation may be collected once an hour or less often: the
/// buckets, sized for the young collections, then miss its troughs, and the
/// floor itself saws. When it drops sharply three times or more, at a
/// spacing wider than the buckets, it is replaced by its trailing minimum
/// over one such spacing (the last trough: the floor a collection reaches).
fn slow_cycles(x: &[f64], lo: &mut Vec<f64>) {
    if x.len() < 16 {
        return;
    }
    let mut steps: Vec<f64> = lo.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let usual = stats::quantile(&mut steps, 0.5);
    let drops: Vec<f64> = (1..lo.len())
        .filter(|&i| {
            let d = lo[i - 1] - lo[i];
            d > 0.03 * lo[i - 1] && d > 3.0 * usual
        })
        .map(|i| x[i])
        .collect();
    if drops.len() < 3 {
        return;
    }
    let mut gaps: Vec<f64> = drops.windows(2).map(|w| w[1] - w[0]).collect();
    let period = stats::quantile(&mut gaps, 0.5) * 1.1;
    let width = (x[x.len() - 1] - x[0]) / (x.len() - 1) as f64;
    // Wider than the buckets, and seen four times at least: a spacing near
    // the span is a few steps of a rising floor, not a cycle.
    if period < 1.5 * width || 4.0 * period > x[x.len() - 1] - x[0] {
        return;
    }
    let mut q: std::collections::VecDeque<usize> = Default::default();
    let mut floor = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        while q.front().is_some_and(|&j| x[j] < x[i] - period) {
            q.pop_front();
        }
        while q.back().is_some_and(|&j| lo[j] >= lo[i]) {
            q.pop_back();
        }
        q.push_back(i);
        floor.push(lo[q[0]]);
    }
    *lo = floor;
}

/// Where the last regime of the floor begins: binary segmentation into
/// linear pieces, splitting again to the right while a split pays for itself
/// under a doubled BIC penalty (envelope residuals are autocorrelated, so the
/// plain penalty over-splits).
fn last_regime(x: &[f64], y: &[f64]) -> usize {
    let n = x.len();
    let min_len = 6;
    let mut start = 0;
    let cost = |a: usize, b: usize| {
        let (i, s) = stats::ols(&x[a..b], &y[a..b]);
        stats::rss_line(&x[a..b], &y[a..b], i, s)
    };
    loop {
        let len = n - start;
        if len < 2 * min_len {
            return start;
        }
        let whole = stats::bic(cost(start, n), len, 2);
        let mut best = (f64::INFINITY, 0);
        for k in start + min_len..=n - min_len {
            let c = cost(start, k) + cost(k, n);
            if c < best.0 {
                best = (c, k);
            }
        }
        let split = stats::bic(best.0, len, 5) + 3.0 * (len as f64).ln();
        if split < whole {
            start = best.1;
        } else {
            return start;
        }
    }
}

fn judge(
    pts: &[(f64, f64)],
    limit: Option<u64>,
    load: Option<&[(f64, f64)]>,
    opts: &Options,
    an: &mut Analysis,
) -> Judged {
    if pts.len() < opts.min_points {
        return Judged::Short(format!(
            "{} sample(s); at least {} are needed",
            pts.len(),
            opts.min_points
        ));
    }
    let span = pts[pts.len() - 1].0 - pts[0].0;
    let env = envelope(pts);
    // A verdict needs several GC cycles in view, or the floor is just one cycle's trough.
    let need = opts.min_span_s.max(6.0 * env.period_s);
    if span < need || env.x.len() < 8 {
        return Judged::Short(format!(
            "{:.1} h of history; at least {:.1} h are needed",
            span / 3600.0,
            need / 3600.0
        ));
    }
    an.incarnation_start = Some(env.t0);
    let to_abs = |x: &[f64], y: &[f64]| -> Vec<(f64, f64)> {
        x.iter()
            .zip(y)
            .map(|(a, b)| (env.t0 + a * 3600.0, *b))
            .collect()
    };
    an.lower = to_abs(&env.x, &env.lo);
    an.upper = to_abs(&env.x, &env.hi);

    let mut env = env;
    let mut reasons = Vec::new();
    if let Some(why) = load.and_then(|l| load::remove(&an.lower, l, opts.alpha, &mut env.lo)) {
        reasons.push(why);
    }
    if let Some(amp) = deseasonalize(&mut env) {
        reasons.push(format!(
            "the floor follows a daily cycle of ±{}; judged with the cycle removed",
            human_bytes(amp as i64)
        ));
    }
    let k = last_regime(&env.x, &env.lo);
    // Runtimes grow their heaps in steps (Go maps arenas, the JVM grows its
    // generations), so a leak's working set can be a staircase whose last
    // regime is one short step, too short to call. If the last regime is
    // too short to judge alone, rises, and is no leak on its own, the whole run
    // gets a second opinion; its own step, warm-up and daily-cycle tests
    // still stand. The reasons so far are kept for it only then.
    // Too short to judge alone: shorter than a burst, or than a rise needs
    // to settle.
    let alone_s = opts.min_rise_s.max(opts.settle_s.min(opts.daily_span_s));
    let short = k > 0 && (env.x[env.x.len() - 1] - env.x[k]) * 3600.0 < alone_s;
    let kept = short.then(|| reasons.clone());
    let judged = judge_regime(&env, k, reasons, limit, load, opts, an);
    if let (Some(reasons), Judged::Done(v)) = (kept, &judged) {
        let last_s = (env.x[env.x.len() - 1] - env.x[k]) * 3600.0;
        if v.kind != VerdictKind::Leak && (v.slope_h > 0.0 || last_s < opts.min_rise_s) {
            let mut whole = an.clone();
            if let Judged::Done(mut w) =
                judge_regime(&env, 0, reasons, limit, load, opts, &mut whole)
            {
                // A few deploys in a row are a staircase too, of few steps,
                // and their last regime is flat: the last regime must keep
                // at least half the whole run's pace.
                let rise = w.slope_h * (env.x[env.x.len() - 1] - env.x[0]);
                if w.kind == VerdictKind::Leak
                    && (v.slope_h >= 0.5 * w.slope_h || last_s < opts.min_rise_s)
                    && Jumps::of(&env.lo).top(3) < 0.75 * rise
                {
                    w.reasons.push(format!(
                        "judged over the whole run: its last regime alone says {}",
                        v.reasons.last().map_or("nothing", String::as_str)
                    ));
                    *an = whole;
                    return Judged::Done(w);
                }
            }
        }
    }
    judged
}

/// The changes between neighbouring buckets of a floor, largest first, and
/// the usual bucket-to-bucket wobble (their median absolute size): how much
/// of a rise a few jumps make.
struct Jumps {
    desc: Vec<f64>,
    wobble: f64,
}

impl Jumps {
    fn of(y: &[f64]) -> Self {
        let mut desc: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
        let mut a: Vec<f64> = desc.iter().map(|j| j.abs()).collect();
        let wobble = stats::quantile(&mut a, 0.5);
        desc.sort_by(|a, b| b.total_cmp(a));
        Jumps { desc, wobble }
    }

    /// The largest change, as it is.
    fn max(&self) -> f64 {
        self.desc.first().copied().unwrap_or(0.0)
    }

    /// The sum of the `n` largest rises, each less the wobble.
    fn top(&self, n: usize) -> f64 {
        self.desc
            .iter()
            .take(n)
            .map(|j| (j - self.wobble).max(0.0))
            .sum()
    }
}

/// The tests on the floor from bucket `k` on (the last regime), after the
/// envelope was taken and cleaned of load and the daily cycle.
fn judge_regime(
    env: &Envelope,
    k: usize,
    mut reasons: Vec<String>,
    limit: Option<u64>,
    load: Option<&[(f64, f64)]>,
    opts: &Options,
    an: &mut Analysis,
) -> Judged {
    let (x, y) = (&env.x[k..], &env.lo[k..]);
    let mut scratch = Vec::new();
    let slope = stats::theil_sen(x, y, &mut scratch);
    let icpt = stats::theil_sen_intercept(x, y, slope);
    let (_, z, p) = stats::mann_kendall_detrended(x, y, slope);
    let level = y.iter().copied().sum::<f64>() / y.len() as f64;
    let x_end = env.x[env.x.len() - 1];
    an.regime_start = Some(env.t0 + x[0] * 3600.0);
    an.trend = Some([
        (env.t0 + x[0] * 3600.0, icpt + slope * x[0]),
        (env.t0 + x_end * 3600.0, icpt + slope * x_end),
    ]);
    if k > 0 {
        reasons.push(format!(
            "floor changed regime {:.1} h ago; judging the {:.1} h since",
            (x_end - x[0]),
            (x_end - x[0])
        ));
    }
    // Upper envelope now: the highest of the last three bucket peaks. GC
    // peaks vary cycle to cycle, and the first one to reach the limit is
    // the one the OOM killer acts on, not the typical one.
    let upper_now = env.hi[env.hi.len().saturating_sub(3)..]
        .iter()
        .copied()
        .fold(f64::MIN, f64::max);
    // Time for the peaks to reach the limit at a pace of `s` bytes/h. The
    // tests below weigh the floor's own pace (how urgent a rise of the
    // floor is); the time to limit a leak reports is `peaks_ttl`'s.
    let ttl = |s: f64| -> Option<f64> {
        let l = limit? as f64;
        (s > 0.0).then(|| (l - upper_now).max(0.0) / s * 3600.0)
    };
    // Heaps are sized by what they hold (Go's GOGC, a JVM's generations), so
    // a leak raises the peaks faster than the floor: by the ratio the peaks'
    // own trend shows (never below the floor's pace, at most three times
    // it). The limit is the peaks' to reach.
    let peak_gain = if slope > 0.0 {
        (stats::theil_sen(x, &env.hi[k..], &mut scratch) / slope).clamp(1.0, 3.0)
    } else {
        1.0
    };
    let peaks_ttl = |s: f64| ttl(s * peak_gain);
    let daily = slope * 24.0 / level.max(1.0);
    // Material: a visible share of the level a day, and, under a limit, an
    // OOM within the horizon anyone would act on.
    let material = daily >= opts.min_daily_growth
        && slope >= 65536.0
        && ttl(slope).is_none_or(|t| t <= opts.horizon_s);
    let trend = p < opts.alpha;
    // A leak accumulates; a deploy steps. If one or two jumps between
    // neighbouring buckets (less the usual bucket-to-bucket wobble) make
    // most of the rise, it is a level shift, not a trend.
    let rise = slope * (x[x.len() - 1] - x[0]);
    let jumps = Jumps::of(y);
    let stepped = rise > 0.0 && (jumps.top(1) > 0.4 * rise || jumps.top(2) > 0.6 * rise);
    let max_jump = jumps.max();
    let base = |kind, confidence, reasons| {
        Judged::Done(Judgement {
            kind,
            slope_h: slope,
            confidence,
            ttl_s: if kind == VerdictKind::Leak {
                peaks_ttl(slope)
            } else {
                None
            },
            reasons,
        })
    };
    if !(trend && material) || stepped {
        if trend && stepped {
            reasons.push(format!(
                "the floor stepped up by {} at once: a level shift (deploy, config), not a trend",
                human_bytes(max_jump as i64)
            ));
        } else if trend {
            reasons.push(format!(
                "the floor rises {}/h ({:.2}% of its level a day), too little to matter",
                human_bytes(slope as i64),
                daily * 100.0
            ));
        } else {
            reasons.push(format!(
                "no significant trend in the floor (Mann–Kendall p = {p:.3}, autocorrelation-corrected; slope {}/h)",
                human_bytes(slope as i64)
            ));
        }
        if let Some(w) = warming(env, limit) {
            reasons.push(w.1);
            return base(w.0, 0.6, reasons);
        }
        let conf = (1.0 - p).clamp(0.5, 0.99);
        return base(VerdictKind::NoLeak, conf, reasons);
    }
    // A warm-up that levels off below the limit is not a leak, however steep.
    if let Some((kind, why)) = warming(env, limit) {
        reasons.push(why);
        return base(kind, 0.6, reasons);
    }
    let mut rng = Rng::new(seed(y));
    let (bx, by) = coarsen(x, y, 48);
    let (lo, hi) = stats::block_bootstrap_slope(&bx, &by, opts.bootstrap_reps, 0.9, &mut rng);
    if lo <= 0.0 {
        // Not evidence against a leak either: the rise is there, only not
        // yet told from none. `no-leak` is kept for what speaks against one.
        reasons.push(format!(
            "the floor rises {}/h but its 90% bootstrap interval includes 0: not yet told from no rise",
            human_bytes(slope as i64)
        ));
        return base(VerdictKind::InsufficientData, 0.0, reasons);
    }
    let span_x = x_end - x[0];
    let ttl_now = ttl(slope);
    // A rise seen for less than a day may be half a daily cycle: only an
    // imminent limit (closer than half the rise seen) justifies a verdict.
    let rise_s = span_x * 3600.0;
    // Too short a rise is no evidence either way: not yet a verdict.
    let imminent = ttl_now.is_some_and(|t| t < rise_s);
    let settle = opts.settle_s.min(opts.daily_span_s);
    if rise_s < opts.min_rise_s || (rise_s < settle && !imminent) {
        reasons.push(format!(
            "the floor rises {}/h, but for {:.1} h only: a warm-up or a cache filling looks the same until it lasts {:.0} h",
            human_bytes(slope as i64),
            span_x,
            opts.min_rise_s.max(settle) / 3600.0
        ));
        return base(VerdictKind::InsufficientData, 0.0, reasons);
    }
    // Unless a whole day before the rise was seen, and its floor wobbled far
    // less than the rise: then the day has no cycle that could explain it.
    let calm_day_before = k > 0 && env.x[k] - env.x[0] >= 24.0 && {
        let (px, py) = (&env.x[..k], &env.lo[..k]);
        let (a, b) = stats::ols(px, py);
        let mut r: Vec<f64> = px.iter().zip(py).map(|(x, y)| y - a - b * x).collect();
        let wobble = stats::quantile(&mut r, 0.95) - stats::quantile(&mut r, 0.05);
        slope * span_x > 3.0 * wobble
    };
    // Less than a day of it: a daily cycle's rising half bends (from the
    // night's low it speeds up, towards the day's high it slows down) where
    // a leak keeps its pace. A rise that a 24-hour wave fits clearly better
    // than a line is that wave; one that keeps its pace is a leak, and the
    // verdict says what would change it.
    let mut hedge = None;
    if rise_s < opts.daily_span_s && !calm_day_before && !ttl_now.is_some_and(|t| t < rise_s / 2.0)
    {
        if let Some(gain) = daily_bend(env, k) {
            reasons.push(format!(
                "the floor rises {}/h for {:.1} h but bends as a daily cycle does (a 24 h wave fits it {gain:.0} BIC better than a line): no leak until it keeps its pace past 24 h of history",
                human_bytes(slope as i64),
                span_x
            ));
            return base(VerdictKind::NoLeak, 0.5, reasons);
        }
        // Half a mild daily cycle makes a slow rise too: less than a day of
        // it calls for haste only when the limit is days away at most.
        let urgent = match ttl_now {
            Some(t) => t <= 3.0 * 86400.0,
            None => daily >= 0.5,
        };
        if !urgent {
            reasons.push(format!(
                "the floor rises {}/h for {:.1} h, slowly ({:.0}% of its level a day{}): a daily cycle cannot be ruled out until 24 h of history",
                human_bytes(slope as i64),
                span_x,
                daily * 100.0,
                ttl_now.map_or(String::new(), |t| format!(", the limit {} away", human_duration(t)))
            ));
            return base(VerdictKind::InsufficientData, 0.0, reasons);
        }
        // A leak keeps its pace; a warm-up slows, a morning speeds up.
        let half = x.len() / 2;
        let pace = stats::theil_sen(&x[half..], &y[half..], &mut scratch)
            / stats::theil_sen(&x[..half], &y[..half], &mut scratch).max(f64::MIN_POSITIVE);
        if !(0.6..=1.7).contains(&pace) {
            reasons.push(format!(
                "the floor rises {}/h for {:.1} h, but its second half at {:.0}% of the first's pace ({}): not a leak's steady pace until 24 h of history",
                human_bytes(slope as i64),
                span_x,
                pace * 100.0,
                if pace < 1.0 { "slowing, as a warm-up does" } else { "speeding up, as a morning does" }
            ));
            return base(VerdictKind::InsufficientData, 0.0, reasons);
        }
        // Traffic that rose with it over the same hours explains a rise as
        // well as a leak would: load and time cannot be parted in so little.
        if let Some(rise) =
            load.and_then(|l| load_rise(l, env.t0 + x[0] * 3600.0, env.t0 + x_end * 3600.0))
        {
            if rise >= 0.2 {
                reasons.push(format!(
                    "the floor rises {}/h for {:.1} h, and the load rose {:.0}% over the same hours: a leak beneath it cannot be told apart until 24 h of history",
                    human_bytes(slope as i64),
                    span_x,
                    rise * 100.0
                ));
                return base(VerdictKind::NoLeak, 0.5, reasons);
            }
        }
        hedge = Some(format!(
            "{HEDGE}; a daily cycle cannot be ruled out until 24 h of history ({span_x:.1} h seen)"
        ));
    }
    // Last, since it is the one step that needs more than memory: is the rise
    // load's? Weighed over the whole incarnation's floor as measured
    // (`an.lower`): telling load from time takes every swing of the load (a
    // regime of a few hours is mostly one rise), and the daily cycle that
    // `deseasonalize` took out is load's to explain.
    // Under less than a day, load and time rise together and are hard to
    // part: a load that follows the rise at all (5%) is let explain it.
    let load_alpha = if hedge.is_some() { 0.05 } else { opts.alpha };
    let load_note = match load.map(|l| load::check(&an.lower, l, load_alpha, opts.min_daily_growth))
    {
        Some(LoadCheck::Explained { confidence, reason }) => {
            reasons.push(reason);
            return base(VerdictKind::NoLeak, confidence, reasons);
        }
        Some(LoadCheck::Stands(reason)) => Some(reason),
        None => None,
    };
    reasons.push(format!(
        "the floor (lower envelope) rises {}/h over {:.1} h (90% interval {}–{}/h), {:.1}% of its level a day",
        human_bytes(slope as i64),
        span_x,
        human_bytes(lo as i64),
        human_bytes(hi as i64),
        daily * 100.0
    ));
    reasons.push(format!(
        "Mann–Kendall trend Z = {z:.1}, p = {p:.1e} after the autocorrelation correction"
    ));
    reasons.extend(load_note);
    let hedged = hedge.is_some();
    reasons.extend(hedge);
    if let (Some(t), Some(l)) = (peaks_ttl(slope), limit) {
        let (t_fast, t_slow) = (peaks_ttl(hi).unwrap_or(t), peaks_ttl(lo).unwrap_or(t));
        reasons.push(format!(
            "peaks at {} rise {:.1}× the floor's pace and reach the limit {} in {} (90%: {}–{})",
            human_bytes(upper_now as i64),
            peak_gain,
            human_bytes(l as i64),
            human_duration(t),
            human_duration(t_fast),
            human_duration(t_slow)
        ));
    }
    // The raw score: sure of the trend and of its size (a lower bound far
    // from 0 counts), and seen long enough. It only ranks; what a score
    // means is calibrated ([`calibrated`]).
    let seen = (span_x / 24.0).min(1.0);
    let raw = (1.0 - p)
        * (0.8 + 0.2 * (lo / slope).clamp(0.0, 1.0))
        * (0.5 + 0.5 * seen)
        * if hedged { 0.9 } else { 1.0 };
    base(VerdictKind::Leak, raw, reasons)
}

/// How much the load rose from the first fifth of `[a, b]` to the last
/// (a share of the first); `None` when either holds no load sample.
fn load_rise(load: &[(f64, f64)], a: f64, b: f64) -> Option<f64> {
    let mean = |from: f64, to: f64| {
        let w: Vec<f64> = load
            .iter()
            .filter(|p| p.0 >= from && p.0 <= to)
            .map(|p| p.1)
            .collect();
        (!w.is_empty()).then(|| w.iter().sum::<f64>() / w.len() as f64)
    };
    let fifth = (b - a) / 5.0;
    let (first, last) = (mean(a, a + fifth)?, mean(b - fifth, b)?);
    (first > 0.0).then(|| last / first - 1.0)
}

/// Whether a 24-hour wave (level, sine and cosine at the hour of day) fits
/// the floor of the last day (at most) clearly better than a line, and than
/// two lines meeting where the last regime begins (bucket `k`): a leak that
/// starts late is a knee, a morning a smooth bend. Clearly: by 10 BIC and
/// with at most 70% of the residual, which a steady rise with noise never
/// gives. The gain in BIC over the better of the two when it does.
fn daily_bend(env: &Envelope, k: usize) -> Option<f64> {
    let n = env.x.len();
    let from = env.x.partition_point(|t| *t < env.x[n - 1] - 24.0);
    let (x, y) = (&env.x[from..], &env.lo[from..]);
    let k = k.saturating_sub(from);
    if x.len() < 8 {
        return None;
    }
    let h0 = env.t0 / 3600.0;
    let w = std::f64::consts::TAU / 24.0;
    let ones = vec![1.0; x.len()];
    let (_, wave) = stats::lstsq(
        &[
            ones.clone(),
            x.iter().map(|t| ((h0 + t) * w).sin()).collect(),
            x.iter().map(|t| ((h0 + t) * w).cos()).collect(),
        ],
        y,
    )?;
    let m = x.len();
    let line_rss = |a: usize, b: usize| {
        let (i, s) = stats::ols(&x[a..b], &y[a..b]);
        stats::rss_line(&x[a..b], &y[a..b], i, s)
    };
    let line = line_rss(0, m);
    let mut best = (stats::bic(line, m, 2), line);
    if k >= 3 && m - k >= 3 {
        let knee = line_rss(0, k) + line_rss(k, m);
        let b = stats::bic(knee, m, 5);
        if b < best.0 {
            best = (b, knee);
        }
    }
    let gain = best.0 - stats::bic(wave, m, 3);
    (gain > 10.0 && wave < 0.7 * best.1).then_some(gain)
}

/// Load that follows the day makes the floor rise for twelve hours and fall
/// for twelve; with a day or more in view, a 24-hour harmonic next to a line
/// tells that apart from growth. When the harmonic pays for itself under BIC,
/// it is removed from the floor (and the peaks) and its amplitude returned.
fn deseasonalize(env: &mut Envelope) -> Option<f64> {
    let (x, y) = (&env.x, &env.lo);
    let span = x[x.len() - 1] - x[0];
    if span < 48.0 {
        return None;
    }
    // A harmonic fits many shapes a little (a knee, a step); a daily cycle
    // is the one that shows in the first day and in the (separate) last day alike.
    let h0 = env.t0 / 3600.0;
    let first = x.partition_point(|t| *t < x[0] + 24.0);
    let last = x.partition_point(|t| *t < x[x.len() - 1] - 24.0);
    let (a, _) = harmonic(&x[..first], &y[..first], h0)?;
    let (b, _) = harmonic(&x[last..], &y[last..], h0)?;
    let (amp_a, amp_b) = (a[2].hypot(a[3]), b[2].hypot(b[3]));
    let cos_angle = (a[2] * b[2] + a[3] * b[3]) / (amp_a * amp_b).max(f64::MIN_POSITIVE);
    if amp_a.min(amp_b) < 0.5 * amp_a.max(amp_b) || cos_angle < 0.7 {
        return None;
    }
    let (beta, both) = harmonic(x, y, h0)?;
    let ones = vec![1.0; x.len()];
    let (_, line) = stats::lstsq(&[ones, x.clone()], y)?;
    if stats::bic(both, x.len(), 4) > stats::bic(line, x.len(), 2) - 10.0 {
        return None;
    }
    let w = std::f64::consts::TAU / 24.0;
    let cycle: Vec<f64> = x
        .iter()
        .map(|t| beta[2] * ((h0 + t) * w).sin() + beta[3] * ((h0 + t) * w).cos())
        .collect();
    for ((lo, hi), s) in env.lo.iter_mut().zip(env.hi.iter_mut()).zip(cycle) {
        *lo -= s;
        *hi -= s;
    }
    Some(beta[2].hypot(beta[3]))
}

/// Line plus a 24-hour harmonic (hours of the day from `h0`): coefficients
/// `[a, b, sin, cos]` and the residual sum of squares.
fn harmonic(x: &[f64], y: &[f64], h0: f64) -> Option<(Vec<f64>, f64)> {
    if x.len() < 8 {
        return None;
    }
    let w = std::f64::consts::TAU / 24.0;
    let cols = vec![
        vec![1.0; x.len()],
        x.to_vec(),
        x.iter().map(|t| ((h0 + t) * w).sin()).collect(),
        x.iter().map(|t| ((h0 + t) * w).cos()).collect(),
    ];
    stats::lstsq(&cols, y)
}

/// Warm-up: a saturating curve beats a line by a clear BIC margin and its
/// asymptote stays below the limit. Still rising steeply: `warming`; levelled
/// off: `no-leak`. `None` when the incarnation does not look like one.
fn warming(env: &Envelope, limit: Option<u64>) -> Option<(VerdictKind, String)> {
    let (x, y) = (&env.x, &env.lo);
    let (a, b) = stats::ols(x, y);
    let line = stats::bic(stats::rss_line(x, y, a, b), x.len(), 2);
    let (asym, drop, tau, rss) = stats::fit_saturating(x, y)?;
    let sat = stats::bic(rss, x.len(), 3);
    let span = x[x.len() - 1] - x[0];
    if sat > line - 10.0 || tau > span || drop <= 0.0 {
        return None;
    }
    if limit.is_some_and(|l| asym >= 0.95 * l as f64) {
        return None;
    }
    let left = drop * (-span / tau).exp();
    let why = format!(
        "the floor follows a warm-up curve (BIC {:.0} below a line) levelling off at {}{}",
        line - sat,
        human_bytes(asym as i64),
        limit.map_or(String::new(), |l| format!(
            ", {:.0}% of the limit",
            asym / l as f64 * 100.0
        ))
    );
    // Within 5 % of the rise left to go counts as levelled off.
    if left > 0.05 * drop {
        Some((VerdictKind::Warming, why))
    } else {
        Some((VerdictKind::NoLeak, why))
    }
}

/// Averages neighbours down to at most `m` points: the bootstrap is O(m²) per replicate.
fn coarsen(x: &[f64], y: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
    let g = x.len().div_ceil(m);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    (
        x.chunks(g).map(mean).collect(),
        y.chunks(g).map(mean).collect(),
    )
}

/// The bootstrap is seeded from the data, so one series always gets one verdict.
fn seed(y: &[f64]) -> u64 {
    y.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h ^ v.to_bits()).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus;

    /// Four days of a corpus pattern, load included where it has one.
    fn four_days(pattern: &str, seed: u64) -> Series {
        corpus::one(pattern, pattern, &mut Rng::new(seed), Some(4.0)).0
    }

    /// `hours` of a corpus pattern's series, load dropped.
    fn first_hours(pattern: &str, seed: u64, hours: f64) -> Series {
        let mut s = corpus::one(pattern, pattern, &mut Rng::new(seed), Some(hours / 24.0)).0;
        s.load = None;
        s
    }

    /// Eight hours from the night's low: a daily cycle bends, a leak keeps
    /// its pace. Neither has a day of history, and no load is given.
    #[test]
    fn a_morning_ramp_is_no_leak_and_a_short_leak_is_one() {
        for seed in 0..6 {
            let amp = 0.1 + 0.05 * seed as f64;
            let end = 1_764_300_000.0 + 8.0 * 3600.0;
            // `sibling` rises through its last 8 hours from the day's low.
            let mut ramp = sibling(end + 2.0 * 3600.0, amp, seed);
            ramp.points
                .retain(|p| p.0 >= end - 8.0 * 3600.0 && p.0 <= end);
            let v = detect(&ramp, &Options::default());
            assert_ne!(v.verdict, VerdictKind::Leak, "ramp {seed}: {:?}", v.reasons);
            let v = detect(&first_hours("linear-short", seed, 8.0), &Options::default());
            assert_eq!(v.verdict, VerdictKind::Leak, "leak {seed}: {:?}", v.reasons);
            // What would change its mind is said, unless the limit is near.
            assert!(
                v.reasons
                    .iter()
                    .any(|r| r.contains("a daily cycle cannot be ruled out until 24 h"))
                    || v.time_to_limit_seconds.is_some_and(|t| t < 4.0 * 3600.0),
                "{:?}",
                v.reasons
            );
        }
    }

    /// Two days of a healthy pod under a daily cycle of ±`amp`, ending at
    /// `end`, rising through the 8 hours before it (from the day's low 10 h
    /// before `end`, 2 h past the steepest hour).
    fn sibling(end: f64, amp: f64, seed: u64) -> Series {
        let mut rng = Rng::new(seed);
        let points = (0..2880)
            .map(|i| {
                let t = end - 2.0 * 86400.0 + i as f64 * 60.0;
                let day = (std::f64::consts::TAU * (t - (end - 4.0 * 3600.0)) / 86400.0).sin();
                let gc = 1.0 + 0.1 * rng.f64();
                (t, 200e6 * (1.0 + amp * day) * gc)
            })
            .collect();
        Series {
            id: format!("sibling-{seed}"),
            limit_bytes: Some(1 << 30),
            points,
            load: None,
        }
    }

    /// A pod 8 hours old rises at a steady pace: a hedged leak on its own.
    /// Siblings seen for two days, healthy, that rose over the same hours
    /// make it their daily cycle; flat ones leave it a leak.
    #[test]
    fn siblings_that_rose_with_it_explain_a_young_rise() {
        let s = first_hours("linear-short", 0, 8.0);
        let alone = detect(&s, &Options::default());
        assert_eq!(alone.verdict, VerdictKind::Leak, "{:?}", alone.reasons);
        let end = s.points[s.points.len() - 1].0;
        let rose: Vec<Series> = (0..3).map(|k| sibling(end, 0.3, k)).collect();
        for r in &rose {
            let v = detect(r, &Options::default());
            assert_ne!(v.verdict, VerdictKind::Leak, "{:?}", v.reasons);
        }
        let v = detect_with_siblings(&s, &rose, &Options::default());
        assert_eq!(v.verdict, VerdictKind::NoLeak, "{:?}", v.reasons);
        assert!(
            v.reasons.last().unwrap().starts_with("3 of 3 sibling(s)"),
            "{:?}",
            v.reasons
        );
        let flat: Vec<Series> = (0..3).map(|k| sibling(end, 0.0, k)).collect();
        let v = detect_with_siblings(&s, &flat, &Options::default());
        assert_eq!(v.verdict, VerdictKind::Leak, "{:?}", v.reasons);
    }

    #[test]
    fn growth_that_follows_a_given_load_is_no_leak_and_a_leak_without_it() {
        let s = four_days("load-ramp", 41);
        let v = detect(&s, &Options::default());
        assert_eq!(v.verdict, VerdictKind::NoLeak, "{:?}", v.reasons);
        let why = v
            .reasons
            .iter()
            .find(|r| r.starts_with("growth follows load (r² = "));
        assert!(
            why.is_some_and(|r| r.contains("after load, the floor's slope is")),
            "{:?}",
            v.reasons
        );
        let blind = detect(&Series { load: None, ..s }, &Options::default());
        assert_eq!(blind.verdict, VerdictKind::Leak, "{:?}", blind.reasons);
    }

    #[test]
    fn a_leak_under_a_load_cycle_stays_a_leak() {
        let v = detect(&four_days("leak-under-load", 17), &Options::default());
        assert_eq!(v.verdict, VerdictKind::Leak, "{:?}", v.reasons);
        for says in [
            "the floor follows load and grows beyond it",
            "memory grows beyond load",
        ] {
            assert!(
                v.reasons.iter().any(|r| r.starts_with(says)),
                "{says}: {:?}",
                v.reasons
            );
        }
    }

    #[test]
    fn bad_load_is_said_and_judged_without() {
        let s = four_days("load-ramp", 41);
        let load = s.load.clone().unwrap();
        // A few bad samples are dropped, and the rest still explains the growth.
        let mut some_bad = load.clone();
        some_bad[0].1 = f64::NAN;
        some_bad[1].1 = f64::INFINITY;
        some_bad[2].1 = -1.0;
        some_bad[3].0 = f64::NAN;
        let v = detect(
            &Series {
                load: Some(some_bad),
                ..s.clone()
            },
            &Options::default(),
        );
        assert_eq!(v.verdict, VerdictKind::NoLeak, "{:?}", v.reasons);
        assert!(v
            .reasons
            .contains(&"load: 4 sample(s) not finite or negative, dropped".to_string()));
        // Unusable loads: the verdict is memory's alone, and the reason says why.
        let elsewhere = load.iter().map(|p| (p.0 + 30.0 * 86400.0, p.1)).collect();
        let constant = load.iter().map(|p| (p.0, 12.0)).collect();
        for (bad, says) in [
            (vec![], "load: no usable samples"),
            (vec![(f64::NAN, 1.0); 10], "load: no usable samples"),
            (elsewhere, "load samples cover 0 of"),
            (constant, "load is constant"),
        ] {
            let v = detect(
                &Series {
                    load: Some(bad),
                    ..s.clone()
                },
                &Options::default(),
            );
            assert_eq!(v.verdict, VerdictKind::Leak, "{says}: {:?}", v.reasons);
            assert!(
                v.reasons.iter().any(|r| r.contains(says)),
                "{says}: {:?}",
                v.reasons
            );
        }
    }
    /// A Go heap peaks at about twice what it holds (GOGC=100): a leak of
    /// 20 MB/h in the live data raises the peaks by nearly 40 MB/h, and the
    /// time to limit is theirs. At the floor's pace it would be twice as long.
    #[test]
    fn time_to_limit_runs_at_the_peaks_pace() {
        let live = |h: f64| 100e6 + 20e6 * h;
        // A GC cycle of 5 minutes sampled every 30 s: the heap grows from the
        // live data to 1.9 times it, then is collected.
        let points: Vec<(f64, f64)> = (0..1440)
            .map(|i| {
                let t = 1_764_300_000.0 + i as f64 * 30.0;
                (t, live(i as f64 / 120.0) * (1.0 + 0.1 * (i % 10) as f64))
            })
            .collect();
        let limit = 1u64 << 30;
        let s = Series {
            id: "go-heap".into(),
            limit_bytes: Some(limit),
            points,
            load: None,
        };
        let v = detect(&s, &Options::default());
        assert_eq!(v.verdict, VerdictKind::Leak, "{:?}", v.reasons);
        // The sampled peaks, 1.9 times the live data, reach the limit then.
        let truth = (limit as f64 / 1.9 - 100e6) / 20e6 * 3600.0 - 12.0 * 3600.0;
        let ttl = v.time_to_limit_seconds.unwrap();
        assert!(
            (ttl / truth - 1.0).abs() < 0.15,
            "{ttl} s against {truth} s: {:?}",
            v.reasons
        );
    }

    /// A crash loop as a Go leak under a 128 MiB limit shows it (recorded in
    /// testdata/series): each run climbs a staircase to the limit, the last
    /// hour faster, and is killed; one sample catches the new process
    /// starting. The young run after it is judged by the run before.
    #[test]
    fn a_crash_loop_is_a_leak_and_a_restart_blip_is_no_restart() {
        let limit = 128.0 * 1048576.0;
        let mut rng = Rng::new(7);
        let mut points = Vec::new();
        let mut t = 1_764_300_000.0;
        let mut run = |hours: f64, points: &mut Vec<(f64, f64)>, t: &mut f64| {
            let n = (hours * 120.0) as usize;
            for i in 0..n {
                let h = i as f64 / 120.0;
                // 4 MiB steps every 20 minutes, twice as fast in the last hour.
                let steps = (h * 3.0).floor() + ((h - (hours - 1.0)).max(0.0) * 3.0).floor();
                let floor = 2.0 * 1048576.0 + steps * 3.5 * 1048576.0;
                let gc = rng.range(0.0, 1.0) * 0.1 * floor;
                points.push((*t, (floor + gc).min(limit)));
                *t += 30.0;
            }
        };
        run(11.5, &mut points, &mut t);
        run(11.5, &mut points, &mut t);
        points.push((t, 0.2 * limit));
        t += 30.0;
        run(6.5, &mut points, &mut t);
        let s = Series {
            id: "crash-loop".into(),
            limit_bytes: Some(limit as u64),
            points,
            load: None,
        };
        let v = detect(&s, &Options::default());
        assert_eq!(v.verdict, VerdictKind::Leak, "{:?}", v.reasons);
        assert!(
            v.reasons[0].starts_with("2 restart(s) seen"),
            "{:?}",
            v.reasons
        );
        assert!(
            v.reasons
                .last()
                .unwrap()
                .starts_with("the previous run grew to"),
            "{:?}",
            v.reasons
        );
    }
}
