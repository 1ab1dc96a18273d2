//! Scores the detector and the baselines on one labelled corpus, as an
//! on-call engineer would live with them: every method is evaluated once an
//! hour on the history so far, and an alarm is a leak verdict (or a firing
//! alert) at one of those evaluations.
//!
//! - A leaking series is found when an alarm fires at or after its onset;
//!   precision, recall and F1 count series.
//! - A false alarm is the start of an alarm episode on a healthy series, or
//!   before the onset of a leaking one; they are counted per 1,000
//!   container-days of healthy history.
//! - Detection delay runs from onset to the first alarm.
//! - Time-to-OOM error compares, at the first alarm, the predicted time to
//!   the limit with the true one, relative to the true one.

use crate::baselines::Baseline;
use crate::corpus::Label;
use crate::{detect, Options};
use lh_model::{Series, VerdictKind};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The methods compared, leakhound first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Leakhound,
    Baseline(Baseline),
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Leakhound,
        Method::Baseline(Baseline::PredictLinear),
        Method::Baseline(Baseline::Increase),
        Method::Baseline(Baseline::Slope),
    ];

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
}

/// Evaluates one method on one series at every `step` seconds.
pub fn run(method: Method, s: &Series, label: &Label, step: f64, opts: &Options) -> Outcome {
    let pts = &s.points;
    let mut o = Outcome::default();
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        return o;
    };
    let onset = label.onset.unwrap_or(f64::INFINITY);
    o.healthy_days = (onset.min(last.0) - first.0) / 86400.0;
    let limit = s.limit_bytes.map(|l| l as f64);
    let mut firing = false;
    let mut t = first.0 + step;
    let mut prefix = s.clone();
    while t <= last.0 {
        let (alarm, ttl) = match method {
            Method::Leakhound => {
                history(s, t, &mut prefix);
                let v = detect(&prefix, opts);
                (v.verdict == VerdictKind::Leak, v.time_to_limit_seconds)
            }
            Method::Baseline(b) => b.alarm(pts, t, limit),
        };
        if alarm && t >= onset {
            o.found = Some((t, ttl));
            return o;
        }
        if alarm && !firing {
            o.false_alarms += 1;
        }
        firing = alarm;
        t += step;
    }
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
    pub tp: usize,
    pub fn_: usize,
    /// Healthy series with at least one alarm.
    pub fp: usize,
    pub false_alarms: usize,
    pub healthy_days: f64,
    pub delays_h: Vec<f64>,
    pub ttl_errors: Vec<f64>,
}

impl Score {
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
        } else if o.false_alarms > 0 {
            self.fp += 1;
        }
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r > 0.0 {
            2.0 * p * r / (p + r)
        } else {
            0.0
        }
    }
    pub fn fa_per_kday(&self) -> f64 {
        if self.healthy_days > 0.0 {
            self.false_alarms as f64 / self.healthy_days * 1000.0
        } else {
            0.0
        }
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

/// Overall scores per method, in [`Method::ALL`] order.
pub fn overall(corpus: &[(Series, Label)], outcomes: &[[Outcome; 4]]) -> Vec<Score> {
    (0..4)
        .map(|m| {
            let mut s = Score::default();
            for ((_, l), o) in corpus.iter().zip(outcomes) {
                s.add(&o[m], l);
            }
            s
        })
        .collect()
}

/// The evaluation table: per pattern, then `extra_rows` (see [`set_row`]), then overall.
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
        "Per pattern: healthy patterns show series with any false alarm and false alarms per 1,000 container-days;\nleaking patterns show recall and the median detection delay.\n"
    );
    let _ = write!(out, "{:<16} {:>4}", "pattern", "n");
    for n in &names {
        let _ = write!(out, " | {n:>28}");
    }
    out.push('\n');
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
    let all = overall(corpus, outcomes);
    let days: f64 = all[0].healthy_days;
    let _ = writeln!(
        out,
        "\nOverall ({} series, {:.0} healthy container-days, evaluated hourly):\n",
        corpus.len(),
        days
    );
    let _ = writeln!(
        out,
        "{:<28} {:>9} {:>7} {:>6} {:>10} {:>11} {:>9} {:>14}",
        "method", "precision", "recall", "F1", "FA/1000d", "delay p50", "p90", "TTL err p50"
    );
    for (m, s) in Method::ALL.iter().zip(&all) {
        let _ = writeln!(
            out,
            "{:<28} {:>9.3} {:>7.3} {:>6.3} {:>10.2} {:>11} {:>9} {:>14}",
            m.name(),
            s.precision(),
            s.recall(),
            s.f1(),
            s.fa_per_kday(),
            opt(pct(&s.delays_h, 0.5), " h"),
            opt(pct(&s.delays_h, 0.9), " h"),
            opt(pct(&s.ttl_errors, 0.5).map(|e| e * 100.0), " %"),
        );
    }
    out
}
