//! A seeded, reproducible corpus of labelled memory series (docs/corpus.md).
//!
//! Each series is a container's working set, sampled every 15, 30 or 60 s
//! with a random phase, for two to four days. Underneath is a "live" level
//! that the pattern shapes; on top of it a garbage collector saws (Go-like or
//! JVM-like), load may follow the day, and samples carry noise. When the peaks
//! of a leaking series reach the limit, the process is OOM-killed and starts
//! again from its base, as under Kubernetes. The patterns whose memory
//! follows load carry that load (requests/s) beside the samples.

use crate::stats::Rng;
use lh_model::Series;
use serde::{Deserialize, Serialize};

/// Negative (healthy) and positive (leaking) patterns.
pub const NEGATIVES: [&str; 14] = [
    "go-sawtooth",
    "jvm-sawtooth",
    "warmup-plateau",
    "bounded-cache",
    "daily-cycle",
    "steps",
    "restarts",
    "page-cache",
    "load-ramp",
    "flat-short",
    "warmup-short",
    "steps-short",
    "morning-ramp",
    "morning-ramp-blind",
];
/// The leaking patterns; see [`NEGATIVES`].
pub const POSITIVES: [&str; 14] = [
    "linear",
    "staircase",
    "sublinear",
    "superlinear",
    "late-onset",
    "oom-restart",
    "leak-under-load",
    "linear-short",
    "staircase-short",
    "late-onset-short",
    "daytime-leak",
    "sawtooth-leak",
    "oom-fast",
    "leak-deploys",
];

/// Every pattern in the order the corpus generates them. A pattern's seed is
/// its place here, so a new pattern goes at the end and every older one keeps
/// its series byte for byte: scores before and after stay comparable.
pub const ORDER: [&str; 28] = [
    "go-sawtooth",
    "jvm-sawtooth",
    "warmup-plateau",
    "bounded-cache",
    "daily-cycle",
    "steps",
    "restarts",
    "page-cache",
    "linear",
    "staircase",
    "sublinear",
    "superlinear",
    "late-onset",
    "oom-restart",
    "load-ramp",
    "leak-under-load",
    // Short histories and the shapes a first independent test missed (issue #11).
    "flat-short",
    "warmup-short",
    "steps-short",
    "morning-ramp",
    "morning-ramp-blind",
    "linear-short",
    "staircase-short",
    "late-onset-short",
    "daytime-leak",
    "sawtooth-leak",
    "oom-fast",
    "leak-deploys",
];

/// The patterns whose memory follows load, and which carry it.
const WITH_LOAD: [&str; 4] = [
    "daily-cycle",
    "load-ramp",
    "leak-under-load",
    "morning-ramp",
];

/// The older pattern whose mechanics a newer one uses (over another window,
/// or with one thing added), and the range of its history in days.
fn mechanics(pattern: &str) -> (&str, (f64, f64)) {
    match pattern {
        "flat-short" => ("flat", (0.25, 1.0)),
        "warmup-short" => ("warmup-plateau", (0.25, 1.0)),
        "steps-short" => ("steps", (0.25, 2.0)),
        "morning-ramp" | "morning-ramp-blind" => ("daily-cycle", (0.25, 0.45)),
        "linear-short" => ("linear", (0.25, 1.0)),
        "staircase-short" => ("staircase", (0.25, 1.0)),
        "late-onset-short" => ("late-onset", (0.5, 2.0)),
        "daytime-leak" => ("linear", (2.0, 3.0)),
        "sawtooth-leak" => ("linear", (0.5, 1.5)),
        "oom-fast" => ("oom-restart", (0.5, 3.0)),
        "leak-deploys" => ("linear", (2.0, 4.0)),
        p => (p, (2.0, 4.0)),
    }
}

/// The truth about one generated series. Labels of other sets read as
/// well: a held-out generator's `shape`, `limit_reached_at`, `history_hours`
/// and `healthy_days` are this corpus's fields under other names, or extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The series' id, which its [`Series`] carries too.
    pub id: String,
    /// One of [`NEGATIVES`] or [`POSITIVES`] (another set's shape name, for
    /// a held-out corpus).
    #[serde(alias = "shape")]
    pub pattern: String,
    /// The truth the verdicts are scored against.
    pub leak: bool,
    /// When the leak starts (unix seconds); `None` for healthy series.
    pub onset: Option<f64>,
    /// True growth of the live level at onset, bytes per hour.
    #[serde(default)]
    pub slope_bytes_per_hour: f64,
    /// When the peaks first reach the limit (unix seconds), extrapolated past the end if need be.
    #[serde(alias = "limit_reached_at")]
    pub oom_at: Option<f64>,
    /// The series' length, when the set states it (else it is measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_hours: Option<f64>,
    /// Healthy container-days in the series, when the set states them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_days: Option<f64>,
}

/// `n` series of every pattern, in a fixed order, from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<(Series, Label)> {
    let mut out = Vec::new();
    for (pi, p) in ORDER.iter().enumerate() {
        for i in 0..n {
            let mut rng = Rng::new(seed.wrapping_mul(1_000_003) ^ ((pi as u64) << 32 | i as u64));
            out.push(one(p, &format!("{p}/{i}"), &mut rng, None));
        }
    }
    out
}

/// One series of `pattern`; `days` fixes the length (the throughput benchmark uses 1).
pub fn one(pattern: &str, id: &str, rng: &mut Rng, days: Option<f64>) -> (Series, Label) {
    // Load draws from its own stream, so that the memory of a pattern that
    // gained a load series is what it was before.
    let mut load_rng = Rng::new(rng.clone().next_u64() ^ 0x4c4f_4144);
    let with_load = WITH_LOAD.contains(&pattern);
    let (mech, history) = mechanics(pattern);
    // Requests/s at the start, their noise, the day's swing of traffic (memory
    // swings by `sens` of it: part of memory does not scale with load), and
    // in `load-ramp` the traffic's growth over the window.
    let load0 = load_rng.range(20f64.ln(), 2000f64.ln()).exp();
    let load_noise = load_rng.range(0.01, 0.05);
    let sens = load_rng.range(0.3, 0.9);
    let ramp = if mech == "load-ramp" {
        load_rng.range(0.3, 1.5)
    } else {
        0.0
    };
    let interval = [15.0, 30.0, 60.0][rng.below(3)];
    let days = days.unwrap_or_else(|| rng.range(history.0, history.1));
    let mut start = 1_764_300_000.0 + rng.range(0.0, 86400.0).floor() + rng.range(0.0, interval);
    let n = (days * 86400.0 / interval) as usize;
    let base = (rng.range(50e6f64.ln(), 1.5e9f64.ln())).exp();
    // GC: Go-like (one fast sawtooth) or JVM-like (young plus old generation).
    let prominent = matches!(pattern, "go-sawtooth" | "jvm-sawtooth" | "sawtooth-leak");
    let jvm =
        matches!(pattern, "jvm-sawtooth" | "sawtooth-leak") || (!prominent && rng.f64() < 0.4);
    let amp = if prominent {
        rng.range(0.2, 0.6)
    } else {
        rng.range(0.03, 0.2)
    };
    let gc_p = rng.range(15.0, 300.0);
    let old_p = rng.range(1200.0, 3.0 * 3600.0);
    // A sawtooth whose troughs rise: the old generation collects seldom.
    let old_p = if pattern == "sawtooth-leak" {
        old_p.max(3600.0)
    } else {
        old_p
    };
    let old_amp = if jvm { rng.range(0.05, 0.25) } else { 0.0 };
    let phase = rng.f64();
    // Load following the day: strong in daily-cycle, mild elsewhere.
    let day_amp = match mech {
        "daily-cycle" | "load-ramp" | "leak-under-load" => rng.range(0.1, 0.4),
        _ if rng.f64() < 0.5 => rng.range(0.0, 0.06),
        _ => 0.0,
    };
    let day_phase = rng.range(0.0, std::f64::consts::TAU);
    if mech == "daily-cycle" && pattern != "daily-cycle" {
        // A morning: the window opens near the day's low (night), from two
        // hours before it to one after, and sees the morning's rise.
        let day = 86400.0;
        let low = ((0.75 - day_phase / std::f64::consts::TAU).rem_euclid(1.0)) * day;
        let from = start - 1_764_300_000.0;
        let next_low = low + ((from - low) / day).ceil() * day;
        start = 1_764_300_000.0 + next_low + rng.range(-2.0, 1.0) * 3600.0;
    }
    let noise = rng.range(0.001, 0.01);
    let peak_factor = (1.0 + amp) * (1.0 + old_amp) * (1.0 + day_amp) * 1.03;
    let dur = days * 86400.0;
    // Pattern parameters; the live level is `base * shape(t)` plus `leak(t)`.
    let mut label = Label {
        id: id.into(),
        pattern: pattern.into(),
        leak: POSITIVES.contains(&pattern),
        onset: None,
        slope_bytes_per_hour: 0.0,
        oom_at: None,
        history_hours: None,
        healthy_days: None,
    };
    let mut limit = base * peak_factor * rng.range(1.4, 2.5);
    let warm_w = rng.range(0.3, 1.0);
    let warm_tau = rng.range(1200.0, 6.0 * 3600.0);
    let cache_cap = rng.range(0.1, 0.5);
    let cache_fill = rng.range(3600.0, 12.0 * 3600.0);
    let mut steps: Vec<(f64, f64)> = Vec::new();
    let mut restarts: Vec<f64> = Vec::new();
    let (restart_drop, restart_tau) = (rng.range(0.4, 0.7), rng.range(300.0, 1800.0));
    let pc_at = rng.range(0.1, 0.8) * dur;
    let pc_fill = rng.range(600.0, 3600.0);
    let pc_level = rng.range(0.92, 0.97);
    match mech {
        "warmup-plateau" => limit = limit.max(base * (1.0 + warm_w) * peak_factor * 1.3),
        "bounded-cache" => limit = limit.max(base * (1.0 + cache_cap) * peak_factor * 1.3),
        "steps" => {
            let mut f = 1.0;
            for _ in 0..1 + rng.below(3) {
                f *= rng.range(0.7, 1.4);
                steps.push((rng.range(0.05, 0.95) * dur, f));
            }
            steps.sort_by(|a, b| a.0.total_cmp(&b.0));
            let top = steps.iter().map(|s| s.1).fold(1.0, f64::max);
            limit = limit.max(base * top * peak_factor * 1.3);
        }
        "load-ramp" => limit = limit.max(base * (1.0 + sens * ramp) * peak_factor * 1.3),
        "restarts" => {
            for _ in 0..1 + rng.below(3) {
                restarts.push(rng.range(0.05, 0.95) * dur);
            }
            restarts.sort_by(f64::total_cmp);
        }
        _ => {}
    }
    // Leak: time from onset to the limit, and the shape's exponent.
    let onset = match pattern {
        "late-onset" => rng.range(0.3, 0.7) * dur,
        // Flat, then linear for the last 5 to 18 hours.
        "late-onset-short" => (dur - rng.range(5.0, 18.0) * 3600.0).max(0.1 * dur),
        _ => 0.0,
    };
    // The leak's clock runs in the day's busy half only.
    let daytime = pattern == "daytime-leak";
    let to_oom = match pattern {
        "oom-restart" => rng.range(3.0, 18.0) * 3600.0,
        "oom-fast" => rng.range(7.0, 20.0) * 3600.0,
        "late-onset" | "late-onset-short" => rng.range(0.3, 2.5) * (dur - onset),
        "daytime-leak" => rng.range(0.3, 2.5) * dur / 2.0,
        // Short windows: slower leaks as well, up to four windows to the limit.
        "linear-short" | "staircase-short" | "sawtooth-leak" => rng.range(0.3, 4.0) * dur,
        // A leak must show within the window to be labelled one: it reaches
        // the limit within 0.3 to 2.5 windows (about 0.6 to 10 days).
        _ => rng.range(0.3, 2.5) * dur,
    };
    // Deploys restart a leaking process every 20 to 28 hours, before any OOM.
    let deploy_every = if pattern == "leak-deploys" {
        rng.range(20.0, 28.0) * 3600.0
    } else {
        f64::INFINITY
    };
    let expo = match pattern {
        "sublinear" => rng.range(0.5, 0.8),
        "superlinear" => rng.range(1.3, 2.0),
        _ => 1.0,
    };
    // The leak must bring the peaks from their level to the limit in `to_oom`.
    let headroom = limit - base * peak_factor;
    let leak_at = |s: f64| -> f64 {
        if s <= 0.0 {
            0.0
        } else {
            headroom / peak_factor * (s / to_oom).powf(expo)
        }
    };
    let stair_gap = rng.range(120.0, 2400.0);
    if label.leak {
        label.onset = Some(start + onset);
        // Slope at onset for lines; the mean slope to the limit otherwise.
        label.slope_bytes_per_hour = headroom / peak_factor / to_oom * 3600.0;
        label.oom_at = if to_oom > deploy_every {
            // Deployed before it gets there: it never does.
            None
        } else if daytime {
            // Busy half the day: twice as long by the clock, about.
            Some(start + onset + 2.0 * to_oom)
        } else {
            Some(start + onset + to_oom)
        };
    }
    let limit = (limit / 1_048_576.0).ceil() * 1_048_576.0;
    let mut pts = Vec::with_capacity(n);
    let mut load = Vec::with_capacity(if with_load { n } else { 0 });
    // Process start (seconds since series start) of the current run, for leaks
    // that restart on OOM; a run's leak clock starts at max(onset, run start).
    let mut run_start: f64 = 0.0;
    let mut stair_next = 0.0;
    let mut stair_level = 0.0;
    // Leak time of the run so far, for a leak that grows in the day only.
    let (mut busy, mut last_s) = (0.0, 0.0);
    for i in 0..n {
        let s = i as f64 * interval + rng.range(-0.2, 0.2);
        let t = start + s;
        let mut live = base;
        let cycle = (std::f64::consts::TAU * t / 86400.0 + day_phase).sin();
        if s - run_start >= deploy_every {
            run_start = s;
            stair_next = 0.0;
            stair_level = 0.0;
        }
        match mech {
            "warmup-plateau" => live *= 1.0 + warm_w * (1.0 - (-s / warm_tau).exp()),
            "bounded-cache" => live *= 1.0 + cache_cap * (s / cache_fill).min(1.0),
            "steps" => {
                for &(at, f) in &steps {
                    if s >= at {
                        live = base * f;
                    }
                }
            }
            "restarts" => {
                if let Some(&r) = restarts.iter().rev().find(|&&r| s >= r) {
                    let k = restart_drop
                        + (1.0 - restart_drop) * (1.0 - (-(s - r) / restart_tau).exp());
                    live *= k;
                }
            }
            _ => {}
        }
        if label.leak {
            let mut clock = s - run_start.max(onset);
            if daytime {
                if cycle > 0.0 {
                    busy += s - last_s;
                }
                clock = busy;
            }
            last_s = s;
            let add = if mech == "staircase" {
                // Requests leak in chunks at random moments.
                while stair_next <= clock {
                    stair_level = leak_at(stair_next);
                    stair_next += stair_gap * rng.range(0.3, 1.7);
                }
                stair_level
            } else {
                leak_at(clock)
            };
            live += add;
        }
        // Traffic relative to its start; memory's day factor is `sens` of it
        // (for a flat traffic, exactly the daily cycle of the other patterns).
        let traffic = (1.0 + ramp * s / dur) * (1.0 + day_amp / sens * cycle);
        let day = if ramp > 0.0 {
            1.0 + sens * (traffic - 1.0)
        } else {
            1.0 + day_amp * cycle
        };
        let gc = 1.0 + amp * ((s / gc_p + phase).fract());
        let old = 1.0 + old_amp * ((s / old_p + phase).fract());
        let mut v = live * day * gc * old * (1.0 + noise * rng.normal());
        if pattern == "page-cache" && s >= pc_at {
            // Reading files fills the page cache up to the limit, where the
            // kernel reclaims it: the working set settles just below the limit.
            let target = pc_level * limit;
            let k = ((s - pc_at) / pc_fill).min(1.0);
            v = v.max(v + (target - v) * k);
        }
        if label.leak && v >= limit {
            // OOM kill: the next run starts from the base again.
            run_start = s;
            stair_next = 0.0;
            stair_level = 0.0;
            busy = 0.0;
            v = base * gc * (1.0 + noise * rng.normal());
        }
        pts.push((t.round(), v.round().max(0.0)));
        if with_load {
            let l = load0 * traffic * (1.0 + load_noise * load_rng.normal());
            load.push((t.round(), (l * 100.0).round() / 100.0));
        }
    }
    (
        Series {
            id: id.into(),
            limit_bytes: Some(limit as u64),
            points: pts,
            load: with_load.then_some(load),
        },
        label,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_reproducible_and_labelled() {
        let a = generate(42, 2);
        let b = generate(42, 2);
        assert_eq!(a, b);
        assert_eq!(a.len(), 2 * (NEGATIVES.len() + POSITIVES.len()));
        assert_ne!(generate(43, 2)[0].0, a[0].0);
        for (s, l) in &a {
            assert_eq!(s.id, l.id);
            assert_eq!(l.leak, l.onset.is_some());
            assert!(s.points.len() > 300);
            assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
            let limit = s.limit_bytes.unwrap() as f64;
            assert!(
                s.points.iter().all(|p| p.1 > 0.0 && p.1 < limit),
                "{}",
                s.id
            );
        }
    }

    #[test]
    fn every_pattern_is_generated_once_and_load_goes_with_its_patterns() {
        let mut all: Vec<&str> = NEGATIVES.iter().chain(&POSITIVES).copied().collect();
        let mut order = ORDER.to_vec();
        all.sort_unstable();
        order.sort_unstable();
        assert_eq!(all, order);
        for p in ORDER {
            let (s, _) = one(p, "x", &mut Rng::new(5), Some(2.0));
            match &s.load {
                Some(l) => {
                    assert!(WITH_LOAD.contains(&p), "{p}");
                    assert_eq!(l.len(), s.points.len());
                    assert!(l.iter().all(|x| x.1.is_finite() && x.1 > 0.0), "{p}");
                }
                None => assert!(!WITH_LOAD.contains(&p), "{p}"),
            }
        }
    }

    #[test]
    fn oom_restart_series_do_restart() {
        let (s, _) = one("oom-restart", "x", &mut Rng::new(1), Some(3.0));
        let drops = s
            .points
            .windows(2)
            .filter(|w| w[1].1 < 0.8 * w[0].1)
            .count();
        let top = s.points.iter().map(|p| p.1).fold(0.0, f64::max);
        assert!(drops >= 2, "{drops} {top} {:?}", s.limit_bytes);
    }
}
