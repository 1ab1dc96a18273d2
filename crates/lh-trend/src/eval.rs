//! Scores the detector and the baselines on one labelled corpus, as an
//! on-call engineer would live with them: every method is evaluated once an
//! hour on the history so far, and an alarm is a leak verdict (of any
//! confidence) or a firing alert at one of those evaluations.
//!
//! - A leaking series is found when an alarm fires at or after its onset;
//!   precision, recall and F1 count series.
//! - A false alarm is the start of an alarm episode on a healthy series, or
//!   before the onset of a leaking one; they are counted per 1,000
//!   container-days of healthy history.
//! - Detection delay runs from onset to the first alarm.
//! - Time-to-OOM error compares, at the first alarm, the predicted time to
//!   the limit with the true one, relative to the true one.
//! - The whole-series verdict (what `detect` says of the series as given) is
//!   scored too, as a second F1.
//! - Reliability: every hourly `leak` verdict of leakhound, up to the end of
//!   the series, is right when the series leaks and its onset has passed;
//!   per confidence bin, the share of right ones should match the bin.
//!
//! A corpus from elsewhere (a held-out generator) is scored the same way:
//! its labels read into [`Label`], and its series' lengths come from the
//! label's `history_hours` when given.

use crate::baselines::Baseline;
use crate::corpus::Label;
use crate::{detect, Options};
use lh_model::{Series, VerdictKind};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The methods compared, leakhound first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The detector of this crate.
    Leakhound,
    /// One of the alert rules it is measured against.
    Baseline(Baseline),
}

impl Method {
    /// Every method, in the order the tables list them.
    pub const ALL: [Method; 4] = [
        Method::Leakhound,
        Method::Baseline(Baseline::PredictLinear),
        Method::Baseline(Baseline::Increase),
        Method::Baseline(Baseline::Slope),
    ];

    /// The column name of the tables.
    pub fn name(self) -> &'static str {
        match self {
            Method::Leakhound => "leakhound",
            Method::Baseline(b) => b.name(),
        }
    }
}

/// How one method did on one series.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// First alarm at or after onset: (time, predicted time to limit).
    pub found: Option<(f64, Option<f64>)>,
    /// Alarm episodes on healthy history.
    pub false_alarms: usize,
    /// Healthy history, days.
    pub healthy_days: f64,
    /// The alarm on the whole series.
    pub final_alarm: bool,
    /// leakhound only: every hourly `leak` verdict, as (confidence, right).
    pub leak_verdicts: Vec<(f64, bool)>,
}

/// Evaluates one method on one series at every `step` seconds, and once on the whole series.
pub fn run(method: Method, s: &Series, label: &Label, step: f64, opts: &Options) -> Outcome {
    let pts = &s.points;
    let mut o = Outcome::default();
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        return o;
    };
    let onset = label.onset.unwrap_or(f64::INFINITY);
    o.healthy_days = label
        .healthy_days
        .unwrap_or((onset.min(last.0) - first.0) / 86400.0);
    let limit = s.limit_bytes.map(|l| l as f64);
    let mut firing = false;
    let mut t = first.0 + step;
    let mut prefix = s.clone();
    let mut eval = |t: f64| match method {
        Method::Leakhound => {
            history(s, t, &mut prefix);
            let v = detect(&prefix, opts);
            let leak = v.verdict == VerdictKind::Leak;
            (leak, v.time_to_limit_seconds, leak.then_some(v.confidence))
        }
        Method::Baseline(b) => {
            let (a, ttl) = b.alarm(pts, t, limit);
            (a, ttl, None)
        }
    };
    while t <= last.0 {
        let (alarm, ttl, conf) = eval(t);
        if let Some(c) = conf {
            o.leak_verdicts.push((c, label.leak && t >= onset));
        }
        if alarm && t >= onset && o.found.is_none() {
            o.found = Some((t, ttl));
            // Baselines have nothing more to give; leakhound's later verdicts
            // still count for the reliability table.
            if method != Method::Leakhound {
                break;
            }
        }
        if alarm && !firing && t < onset {
            o.false_alarms += 1;
        }
        firing = alarm;
        t += step;
    }
    o.final_alarm = eval(last.0).0;
    o
}

/// The part of `s` (samples and load) known at `t`, written into `into`
/// (whose buffers are reused): what a check run at `t` sees.
pub fn history(s: &Series, t: f64, into: &mut Series) {
    into.points.clear();
    into.points.extend(s.points.iter().filter(|p| p.0 <= t));
    if let (Some(all), Some(l)) = (&s.load, &mut into.load) {
        l.clear();
        l.extend(all.iter().filter(|p| p.0 <= t));
    }
}

/// Every method on every series, on every core.
pub fn run_all(corpus: &[(Series, Label)], step: f64, opts: &Options) -> Vec<[Outcome; 4]> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Interleave series over threads: patterns come in runs of one cost.
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                sc.spawn(move || {
                    corpus
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % threads == k)
                        .map(|(i, (s, l))| (i, Method::ALL.map(|m| run(m, s, l, step, opts))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = hs
            .into_iter()
            .flat_map(|h| h.join().expect("eval thread"))
            .collect();
        all.sort_by_key(|x| x.0);
        all.into_iter().map(|x| x.1).collect()
    })
}

/// Scores of one method over a set of series.
#[derive(Debug, Clone, Default)]
pub struct Score {
    /// Leaking series alarmed at or after onset.
    pub tp: usize,
    /// Leaking series never alarmed after onset.
    pub fn_: usize,
    /// Healthy series with at least one alarm.
    pub fp: usize,
    /// Alarm episodes on healthy history, all series together.
    pub false_alarms: usize,
    /// Healthy history in all, days: what `false_alarms` is a rate over.
    pub healthy_days: f64,
    /// Per leak found, hours from onset to the first alarm.
    pub delays_h: Vec<f64>,
    /// Per leak found with a predicted time to limit, its error relative to
    /// the true time to the OOM kill.
    pub ttl_errors: Vec<f64>,
    /// The whole-series verdicts: leaks alarmed, leaks not, healthy alarmed.
    pub final_tp: usize,
    /// See `final_tp`.
    pub final_fn: usize,
    /// See `final_tp`.
    pub final_fp: usize,
}

impl Score {
    /// Counts one series' outcome against its label.
    pub fn add(&mut self, o: &Outcome, l: &Label) {
        self.false_alarms += o.false_alarms;
        self.healthy_days += o.healthy_days;
        if l.leak {
            match o.found {
                Some((t, ttl)) => {
                    self.tp += 1;
                    self.delays_h.push((t - l.onset.unwrap_or(t)) / 3600.0);
                    if let (Some(p), Some(oom)) = (ttl, l.oom_at) {
                        let truth = oom - t;
                        if truth > 0.0 {
                            self.ttl_errors.push((p - truth).abs() / truth);
                        }
                    }
                }
                None => self.fn_ += 1,
            }
            if o.final_alarm {
                self.final_tp += 1;
            } else {
                self.final_fn += 1;
            }
        } else {
            if o.false_alarms > 0 {
                self.fp += 1;
            }
            if o.final_alarm {
                self.final_fp += 1;
            }
        }
    }

    /// Alarmed leaks over alarmed series (healthy ones with a false alarm counted once).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    /// Leaks alarmed after onset over leaks.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// The harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }
    /// F1 of the whole-series verdicts.
    pub fn final_f1(&self) -> f64 {
        f1(
            ratio(self.final_tp, self.final_tp + self.final_fp),
            ratio(self.final_tp, self.final_tp + self.final_fn),
        )
    }
    /// False alarms per 1,000 days of healthy history: comparable across
    /// corpora of different lengths, unlike `fp`.
    pub fn fa_per_kday(&self) -> f64 {
        if self.healthy_days > 0.0 {
            self.false_alarms as f64 / self.healthy_days * 1000.0
        } else {
            0.0
        }
    }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn pct(v: &[f64], q: f64) -> Option<f64> {
    let mut v = v.to_vec();
    (!v.is_empty()).then(|| crate::stats::quantile(&mut v, q))
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}{unit}"))
}

/// A row of [`table`] for a set scored apart from the corpus, leaking and
/// healthy series together (the recorded real series, which are too few for
/// rows of their own): recall on its leaks, and how many of its healthy
/// series saw a false alarm.
pub fn set_row(name: &str, set: &[(Series, Label)], outcomes: &[[Outcome; 4]]) -> String {
    let healthy = set.iter().filter(|(_, l)| !l.leak).count();
    let mut out = format!("{:<16} {:>4}", name, set.len());
    for s in overall(set, outcomes) {
        let cell = format!("recall {:.2} alarmed {}/{healthy}", s.recall(), s.fp);
        let _ = write!(out, " | {cell:>28}");
    }
    out.push('\n');
    out
}

/// Scores per method, in [`Method::ALL`] order, over the series `keep` selects.
fn scores(
    corpus: &[(Series, Label)],
    outcomes: &[[Outcome; 4]],
    keep: impl Fn(&Series, &Label) -> bool,
) -> Vec<Score> {
    (0..4)
        .map(|m| {
            let mut s = Score::default();
            for ((series, l), o) in corpus.iter().zip(outcomes) {
                if keep(series, l) {
                    s.add(&o[m], l);
                }
            }
            s
        })
        .collect()
}

/// Overall scores per method, in [`Method::ALL`] order.
pub fn overall(corpus: &[(Series, Label)], outcomes: &[[Outcome; 4]]) -> Vec<Score> {
    scores(corpus, outcomes, |_, _| true)
}

/// The history-length classes of the tables: upper bounds in hours, and names.
pub const HISTORY_BINS: [(f64, &str); 6] = [
    (6.5, "<= 6 h"),
    (12.5, "6-12 h"),
    (24.5, "12-24 h"),
    (48.5, "24-48 h"),
    (72.5, "48-72 h"),
    (f64::INFINITY, "72+ h"),
];

/// A series' length in hours: as its label states it, else as measured.
pub fn history_hours(s: &Series, l: &Label) -> f64 {
    l.history_hours
        .unwrap_or_else(|| match (s.points.first(), s.points.last()) {
            (Some(a), Some(b)) => (b.0 - a.0) / 3600.0,
            _ => 0.0,
        })
}

fn history_bin(h: f64) -> usize {
    HISTORY_BINS.iter().position(|b| h <= b.0).unwrap_or(0)
}

/// Per history length: scores per method (in [`Method::ALL`] order) of the
/// classes that have series, with their names and sizes.
pub fn by_history(
    corpus: &[(Series, Label)],
    outcomes: &[[Outcome; 4]],
) -> Vec<(&'static str, usize, Vec<Score>)> {
    (0..HISTORY_BINS.len())
        .filter_map(|b| {
            let keep = |s: &Series, l: &Label| history_bin(history_hours(s, l)) == b;
            let n = corpus.iter().filter(|(s, l)| keep(s, l)).count();
            (n > 0).then(|| (HISTORY_BINS[b].1, n, scores(corpus, outcomes, keep)))
        })
        .collect()
}

/// One bin of the reliability table: confidences in `[lo, hi)`.
#[derive(Debug, Clone)]
pub struct Reliability {
    /// The bin's lowest confidence.
    pub lo: f64,
    /// Its bound above, excluded.
    pub hi: f64,
    /// Verdicts in the bin.
    pub n: usize,
    /// Their mean confidence, to set beside `precision`: equal when calibrated.
    pub mean_confidence: f64,
    /// The share of right verdicts.
    pub precision: f64,
}

/// leakhound's hourly `leak` verdicts by confidence: below 0.5, then in bins of 0.1.
pub fn reliability(outcomes: &[[Outcome; 4]]) -> Vec<Reliability> {
    let edges = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01];
    edges
        .windows(2)
        .filter_map(|e| {
            let vs: Vec<&(f64, bool)> = outcomes
                .iter()
                .flat_map(|o| &o[0].leak_verdicts)
                .filter(|v| v.0 >= e[0] && v.0 < e[1])
                .collect();
            (!vs.is_empty()).then(|| Reliability {
                lo: e[0],
                hi: e[1].min(1.0),
                n: vs.len(),
                mean_confidence: vs.iter().map(|v| v.0).sum::<f64>() / vs.len() as f64,
                precision: vs.iter().filter(|v| v.1).count() as f64 / vs.len() as f64,
            })
        })
        .collect()
}

/// Delay and time-to-limit error of the leaks that reach the limit within
/// `within_h` hours of onset: (leaks, found, delays in hours, TTL errors).
pub fn fast_leaks(
    corpus: &[(Series, Label)],
    outcomes: &[[Outcome; 4]],
    method: usize,
    within_h: f64,
) -> Score {
    scores(corpus, outcomes, |_, l| {
        l.leak
            && match (l.onset, l.oom_at) {
                (Some(a), Some(b)) => b - a <= within_h * 3600.0,
                _ => false,
            }
    })
    .swap_remove(method)
}

/// The evaluation tables: per shape, then `extra_rows` (see [`set_row`]),
/// per history length, overall, delays for fast leaks, and reliability.
pub fn table(corpus: &[(Series, Label)], outcomes: &[[Outcome; 4]], extra_rows: &str) -> String {
    let mut by_pattern: BTreeMap<(bool, String), Vec<Score>> = BTreeMap::new();
    for ((_, l), o) in corpus.iter().zip(outcomes) {
        let e = by_pattern
            .entry((l.leak, l.pattern.clone()))
            .or_insert_with(|| vec![Score::default(); 4]);
        for m in 0..4 {
            e[m].add(&o[m], l);
        }
    }
    let mut out = String::new();
    let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
    let _ = writeln!(
        out,
        "Per shape: healthy shapes show series with any false alarm and false alarms per 1,000 container-days;\nleaking shapes show recall and the median detection delay.\n"
    );
    let header = |out: &mut String, first: &str| {
        let _ = write!(out, "{first:<16} {:>4}", "n");
        for n in &names {
            let _ = write!(out, " | {n:>28}");
        }
        out.push('\n');
    };
    header(&mut out, "shape");
    for ((leak, p), scores) in &by_pattern {
        let n = corpus.iter().filter(|(_, l)| &l.pattern == p).count();
        let _ = write!(out, "{:<16} {:>4}", p, n);
        for s in scores {
            let cell = if *leak {
                format!(
                    "recall {:.2} delay {}",
                    s.recall(),
                    opt(pct(&s.delays_h, 0.5), "h")
                )
            } else {
                format!("alarmed {:>3} FA/kd {:>6.1}", s.fp, s.fa_per_kday())
            };
            let _ = write!(out, " | {cell:>28}");
        }
        out.push('\n');
    }
    out += extra_rows;

    let _ = writeln!(out, "\nPer history length (F1, precision/recall):\n");
    header(&mut out, "history");
    for (name, n, scores) in by_history(corpus, outcomes) {
        let _ = write!(out, "{name:<16} {n:>4}");
        for s in &scores {
            let cell = format!("F1 {:.2} ({:.2}/{:.2})", s.f1(), s.precision(), s.recall());
            let _ = write!(out, " | {cell:>28}");
        }
        out.push('\n');
    }

    let all = overall(corpus, outcomes);
    let days: f64 = all[0].healthy_days;
    let _ = writeln!(
        out,
        "\nOverall ({} series, {:.0} healthy container-days, evaluated hourly; F1 whole: the verdict on each whole series):\n",
        corpus.len(),
        days
    );
    let _ = writeln!(
        out,
        "{:<28} {:>9} {:>7} {:>6} {:>8} {:>10} {:>11} {:>9} {:>14}",
        "method",
        "precision",
        "recall",
        "F1",
        "F1 whole",
        "FA/1000d",
        "delay p50",
        "p90",
        "TTL err p50"
    );
    for (m, s) in Method::ALL.iter().zip(&all) {
        let _ = writeln!(
            out,
            "{:<28} {:>9.3} {:>7.3} {:>6.3} {:>8.3} {:>10.2} {:>11} {:>9} {:>14}",
            m.name(),
            s.precision(),
            s.recall(),
            s.f1(),
            s.final_f1(),
            s.fa_per_kday(),
            opt(pct(&s.delays_h, 0.5), " h"),
            opt(pct(&s.delays_h, 0.9), " h"),
            opt(pct(&s.ttl_errors, 0.5).map(|e| e * 100.0), " %"),
        );
    }

    let _ = writeln!(
        out,
        "\nDetection delay (onset to first alarm) and time-to-limit error at that alarm, for leaks reaching the limit soon after onset:\n"
    );
    let _ = writeln!(
        out,
        "{:<28} {:>10} {:>7} {:>10} {:>8} {:>12}",
        "method", "limit in", "found", "delay p50", "p90", "TTL err p50"
    );
    for (mi, m) in Method::ALL.iter().enumerate() {
        for h in [24.0, 72.0] {
            let s = fast_leaks(corpus, outcomes, mi, h);
            let _ = writeln!(
                out,
                "{:<28} {:>8} h {:>3}/{:<3} {:>10} {:>8} {:>12}",
                m.name(),
                h,
                s.tp,
                s.tp + s.fn_,
                opt(pct(&s.delays_h, 0.5), " h"),
                opt(pct(&s.delays_h, 0.9), " h"),
                opt(pct(&s.ttl_errors, 0.5).map(|e| e * 100.0), " %"),
            );
        }
    }

    let _ = writeln!(
        out,
        "\nReliability of leakhound's confidence (every hourly `leak` verdict; right when the series leaks and onset has passed):\n"
    );
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>10} {:>10} {:>6}",
        "confidence", "verdicts", "mean conf", "precision", "gap"
    );
    for r in reliability(outcomes) {
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>10.3} {:>10.3} {:>6.3}",
            format!("{:.1}-{:.1}", r.lo, r.hi),
            r.n,
            r.mean_confidence,
            r.precision,
            (r.precision - r.mean_confidence).abs()
        );
    }
    out
}

/// Isotonic regression (pool adjacent violators) of rightness on score:
/// `(score, right)` pairs in, knots `(mean score, share right)` out, the
/// share never falling as the score rises. At most `max_knots` knots, at
/// equal counts of verdicts, so that a sparse tail does not make a step of
/// its own.
pub fn isotonic(pairs: &[(f64, bool)], max_knots: usize) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = pairs
        .iter()
        .map(|p| (p.0, f64::from(u8::from(p.1))))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Blocks of (sum of scores, sum of rightness, count).
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for (s, r) in v {
        blocks.push((s, r, 1.0));
        while blocks.len() > 1 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.1 / a.2 < b.1 / b.2 {
                break;
            }
            blocks.pop();
            *blocks.last_mut().expect("two blocks") = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        }
    }
    // Merge neighbours to at most `max_knots` groups of about equal weight.
    let total: f64 = blocks.iter().map(|b| b.2).sum();
    let per = total / max_knots.max(1) as f64;
    let mut knots = Vec::new();
    let mut acc = (0.0, 0.0, 0.0);
    for b in blocks {
        acc = (acc.0 + b.0, acc.1 + b.1, acc.2 + b.2);
        if acc.2 >= per {
            knots.push((acc.0 / acc.2, acc.1 / acc.2));
            acc = (0.0, 0.0, 0.0);
        }
    }
    if acc.2 > 0.0 {
        knots.push((acc.0 / acc.2, acc.1 / acc.2));
    }
    knots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isotonic_pools_violators_and_never_falls() {
        // Scores 1..=6; rightness 0 1 0 1 1 1: the middle pair pools to 0.5.
        let pairs: Vec<(f64, bool)> = [false, true, false, true, true, true]
            .iter()
            .enumerate()
            .map(|(i, &r)| (i as f64 + 1.0, r))
            .collect();
        let k = isotonic(&pairs, 10);
        assert_eq!(k, vec![(1.0, 0.0), (2.5, 0.5), (5.0, 1.0)]);
        let k = isotonic(&pairs, 2);
        assert!(k.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        assert_eq!(k.len(), 2);
    }
}
