//! Drawing one series' parameters (spec §6 and §7): the corpus-wide ranges
//! (history, step, limit, start date, noise) and each shape's own.

use crate::rng::Rng;
use crate::shape::{
    Batch, BoundedCache, Jvm, Leak, Model, Pace, PageCache, Sawtooth, Shape, DAY, HOUR,
};
use crate::traffic::Traffic;

const MIB: f64 = 1024.0 * 1024.0;
/// Leaks grow by at least this fraction of the limit within the series (spec §6).
const MIN_GROWTH: f64 = 0.05;
/// Leak rates, fractions of the limit per hour.
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 0.15;
/// Healthy anonymous memory stays below this fraction of the limit before noise.
const HEALTHY_PEAK: f64 = 0.75;

/// The noise of spec §4.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    /// Stationary σ of the AR(1) part, as a fraction of the level.
    pub sigma: f64,
    /// Correlation time, seconds.
    pub tau: f64,
    /// Degrees of freedom of the innovations.
    pub nu: f64,
    pub white: f64,
    /// Spikes per hour and their mean size (fraction of the level).
    pub spikes_per_hour: f64,
    pub spike_mean: f64,
}

/// Everything about one series before it is simulated.
#[derive(Debug, Clone)]
pub struct Plan {
    pub shape: Shape,
    pub limit: f64,
    /// First nominal sample, unix seconds.
    pub t0: f64,
    pub step: f64,
    pub hours: f64,
    /// Age of the container at `t0`, seconds.
    pub age: f64,
    pub model: Model,
    pub traffic: Traffic,
    /// Absolute times of deploys.
    pub deploys: Vec<f64>,
    /// The anonymous level, as a fraction of the limit, at which the kernel kills.
    pub kill: f64,
    pub noise: Noise,
    pub with_load: bool,
    /// Samples on the step grid (query_range) or raw scrapes with jitter.
    pub aligned: bool,
    pub drop_prob: f64,
    /// Scrape outages: (start, length), absolute seconds.
    pub gaps: Vec<(f64, f64)>,
    pub leak: bool,
}

impl Plan {
    pub fn end(&self) -> f64 {
        self.t0 + self.hours * HOUR
    }
}

fn draw_hours(rng: &mut Rng, shape: Shape) -> f64 {
    if shape == Shape::SlowLeak {
        return rng.weighted(&[
            (48.0, 3.0),
            (72.0, 3.0),
            (96.0, 1.0),
            (120.0, 1.0),
            (168.0, 1.0),
        ]);
    }
    rng.weighted(&[
        (6.0, 4.0),
        (8.0, 1.0),
        (12.0, 4.0),
        (18.0, 1.0),
        (24.0, 4.0),
        (36.0, 1.0),
        (48.0, 3.0),
        (72.0, 2.0),
        (96.0, 1.0),
        (120.0, 0.5),
        (168.0, 1.0),
    ])
}

fn draw_limit(rng: &mut Rng) -> f64 {
    let mib: f64 = rng.weighted(&[
        (128.0, 2.0),
        (256.0, 3.0),
        (384.0, 1.0),
        (512.0, 3.0),
        (768.0, 1.0),
        (1024.0, 3.0),
        (1536.0, 1.0),
        (2048.0, 2.0),
        (3072.0, 1.0),
        (4096.0, 1.5),
        (6144.0, 0.5),
        (8192.0, 1.0),
        // Decimal quantities: 300M, 500M, 1G, 2G.
        (300e6 / MIB, 0.5),
        (500e6 / MIB, 0.5),
        (1e9 / MIB, 0.5),
        (2e9 / MIB, 0.5),
    ]);
    (mib * MIB).round()
}

/// Start at a random second in 2025–2026; the local start hour may be pinned.
fn draw_start(rng: &mut Rng, traffic: &Traffic, local_hours: Option<(f64, f64)>) -> f64 {
    let day0 = 1_735_689_600.0; // 2025-01-01T00:00:00Z
    let day = day0 + rng.below(700) as f64 * DAY;
    match local_hours {
        None => day + rng.range(0.0, DAY),
        Some((lo, hi)) => day - traffic.tz + rng.range(lo, hi) * HOUR,
    }
}

/// A leak rate (fraction of the limit per hour) drawn log-uniformly from the
/// spec's range, raised where needed so that `hours` of it grow by MIN_GROWTH.
fn leak_rate(rng: &mut Rng, lo: f64, hi: f64, hours: f64) -> f64 {
    let floor = (MIN_GROWTH / hours).max(lo).min(hi);
    rng.log_range(floor, hi.max(floor * 1.0001))
}

pub fn draw(shape: Shape, rng: &mut Rng) -> Plan {
    let traffic = Traffic::draw(rng);
    let limit = draw_limit(rng);
    let hours = draw_hours(rng, shape);
    let step = rng.weighted(&[
        (10.0, 1.0),
        (15.0, 2.0),
        (20.0, 1.0),
        (30.0, 3.0),
        (45.0, 0.5),
        (60.0, 2.0),
    ]);
    let h = hours * HOUR;
    let leak = shape.is_leak();
    let base_frac = rng.range(0.15, 0.55);
    let mut model = Model::plain(base_frac * limit, rng);
    let mut age = if rng.chance(0.3) {
        0.0
    } else {
        rng.range(0.0, 3.0 * DAY)
    };
    let mut start_hours = None;
    let mut deploys = Vec::new();
    let mut with_load = rng.chance(0.4);
    // The peak of the healthy anonymous level over the base, for HEALTHY_PEAK.
    let mut peak = 1.0 + model.daily;
    let t_rate = |f: f64| f * limit / HOUR;

    match shape {
        Shape::Steady => {}
        Shape::GcSawtooth => {
            let amp = rng.range(0.3, 1.5);
            model.sawtooth = Some(Sawtooth {
                amp,
                period: rng.log_range(60.0, 3.0 * HOUR),
            });
            peak *= 1.0 + amp;
        }
        Shape::Warmup => {
            let rise = rng.range(0.3, 0.7);
            let hyperbolic = rng.chance(0.4);
            let tau = if hyperbolic {
                h / rng.range(3.0, 8.0)
            } else {
                h / rng.range(1.5, 4.0)
            };
            model.warmup = Some((rise, tau, hyperbolic));
            peak += rise;
            age = 0.0;
        }
        Shape::DailyCycle => {
            model.daily = rng.range(0.2, 1.0);
            peak = 1.0 + model.daily * 1.1;
            with_load = rng.chance(0.6);
            if hours <= 12.0 && rng.chance(0.6) {
                start_hours = Some((0.0, 6.0));
            }
        }
        Shape::Deploys => {
            let n = 1 + rng.below(3);
            deploys = spaced_times(rng, n, h, HOUR);
            peak *= 1.2f64.powi(n as i32);
        }
        Shape::PageCache => {
            let anon = rng.range(0.1, 0.4);
            model.base = anon * limit;
            let cap = rng.range(0.85, 0.98) * limit;
            let need = (cap - model.base * 1.2) / (0.6 * h);
            let rate = t_rate(rng.log_range(0.005, 0.2)).max(need);
            model.page_cache = Some(PageCache { rate, cap });
            if rng.chance(0.6) {
                age = 0.0;
            }
            peak = 1.0 + model.daily;
        }
        Shape::BoundedCache => {
            let cap = rng.range(0.1, 0.4) * limit;
            let by_traffic = rng
                .chance(0.5)
                .then(|| traffic.weekly_mean(0.0, |d| 0.3 + 0.7 * d));
            model.cache = Some(BoundedCache {
                cap,
                fill: cap / (h * rng.range(0.1, 0.5)),
                by_traffic,
            });
            if rng.chance(0.7) {
                age = 0.0;
            }
            peak += cap / model.base;
        }
        Shape::Batch => {
            let period =
                rng.weighted(&[(1.0, 2.0), (2.0, 1.0), (4.0, 1.0), (6.0, 1.0), (24.0, 1.0)]) * HOUR;
            let amp = rng.range(0.1, 0.4) * limit;
            model.batch = Some(Batch {
                period,
                duration: rng.range(5.0, 60.0).min(period / HOUR * 30.0) * 60.0,
                phase: rng.range(0.0, period),
                amp,
            });
            peak += amp / model.base;
        }
        Shape::JvmHeap => {
            // The base is the non-heap part: metaspace, code cache, threads, buffers.
            model.base = rng.range(0.05, 0.15) * limit;
            let max = rng.range(0.4, 0.6) * limit;
            model.jvm = Some(Jvm {
                initial: max * rng.range(0.15, 0.35),
                max,
                steps: 2 + rng.below(5),
                expand_by: h * rng.range(0.1, 0.5),
            });
            if rng.chance(0.7) {
                age = 0.0;
            }
            model.sawtooth = Some(Sawtooth {
                amp: rng.range(0.01, 0.05),
                period: rng.log_range(60.0, 900.0),
            });
            peak = 1.0;
        }
        Shape::HighWater => {
            let k = rng.range(0.1, 0.4);
            model.high_water = Some(k);
            peak += k * 1.1;
            with_load = rng.chance(0.6);
            if rng.chance(0.5) {
                age = 0.0;
                if hours < 24.0 {
                    start_hours = Some((4.0, 8.0));
                }
            }
        }
        Shape::LinearLeak | Shape::RisingTroughs => {
            let rate = leak_rate(rng, MIN_RATE, MAX_RATE, hours);
            // The level at the start stays below 60 % of the limit (its peaks, for a sawtooth).
            let mut top = 1.0;
            if shape == Shape::RisingTroughs {
                top = 1.0 + rng.range(0.3, 1.0);
                model.sawtooth = Some(Sawtooth {
                    amp: top - 1.0,
                    period: rng.log_range(120.0, 3.0 * HOUR),
                });
                model.base = model.base.min(0.45 * limit / top);
            }
            let room = (0.6 / top - model.base / limit).max(0.0) / rate * HOUR;
            age = if rng.chance(0.5) {
                0.0
            } else {
                rng.range(0.0, room.min(3.0 * DAY))
            };
            model.leak = Some(linear(t_rate(rate), f64::NEG_INFINITY));
        }
        Shape::LateLeak => {
            let hi = (1.0 - (2.0 * HOUR / h).max(0.2)).min(0.8);
            let onset_at = rng.range(0.2, hi) * h;
            let rate = leak_rate(rng, MIN_RATE, MAX_RATE, (h - onset_at) / HOUR);
            model.leak = Some(Leak {
                rate: t_rate(rate),
                onset: onset_at, // relative for now, made absolute below
                pace: Pace::Linear,
            });
        }
        Shape::DaytimeLeak => {
            with_load = rng.chance(0.6);
            if hours < 24.0 {
                start_hours = Some((3.0, 11.0));
            }
            model.leak = Some(Leak {
                rate: 0.0, // set once the start is known
                onset: f64::NEG_INFINITY,
                pace: Pace::Traffic {
                    floor: 0.0,
                    mean: traffic.weekly_mean(0.0, |d| d),
                },
            });
            age = if rng.chance(0.5) {
                0.0
            } else {
                rng.range(0.0, DAY)
            };
        }
        Shape::Staircase => {
            let rate = leak_rate(rng, MIN_RATE, MAX_RATE, hours);
            let steps = rng.range(12.0, 80.0);
            model.leak = Some(Leak {
                rate: t_rate(rate),
                onset: f64::NEG_INFINITY,
                pace: Pace::Stairs {
                    interval: h / steps,
                },
            });
            age = 0.0;
        }
        Shape::CrashLoop => {
            let base = rng.range(0.25, 0.55);
            model.base = base * limit;
            let kill_room = 0.97 - base;
            let t_min = kill_room / MAX_RATE; // hours
            let t_max = 20.0f64.min(0.7 * hours).max(t_min * 1.0001);
            let t_oom = rng.log_range(t_min.max(1.0), t_max.max(t_min.max(1.0) * 1.0001));
            model.leak = Some(linear(t_rate(kill_room / t_oom), f64::NEG_INFINITY));
            // Mid-run at the start if the history is shorter than a run.
            let t_oom = t_oom * HOUR;
            age = rng.range((t_oom - 0.7 * h).max(0.0), 0.9 * t_oom);
            model.daily = model.daily.min(0.03);
        }
        Shape::TmpfsGrowth => {
            let floor = rng.range(0.2, 0.5);
            let headroom = (0.85 - base_frac * (1.0 + model.daily)).max(0.06);
            let rate = leak_rate(rng, MIN_RATE, (headroom / hours).min(MAX_RATE), hours);
            model.leak = Some(Leak {
                rate: t_rate(rate),
                onset: f64::NEG_INFINITY,
                pace: Pace::Traffic {
                    floor,
                    mean: traffic.weekly_mean(0.0, |d| floor + (1.0 - floor) * d),
                },
            });
            age = 0.0;
        }
        Shape::SlowLeak => {
            model.daily = rng.range(0.1, 0.4);
            let rate = leak_rate(rng, MIN_RATE, 0.01, hours);
            age = if rng.chance(0.5) {
                0.0
            } else {
                rng.range(0.0, DAY)
            };
            model.leak = Some(linear(t_rate(rate), f64::NEG_INFINITY));
            with_load = rng.chance(0.5);
        }
        Shape::LeakDeploys => {
            let (times, run) = if rng.chance(0.6) {
                let every = rng.range(12.0, 30.0) * HOUR;
                let first = rng.range(0.2, 1.0) * every.min(h);
                let mut times: Vec<f64> = (0..)
                    .map(|i| first + i as f64 * every + rng.range(-3.0, 3.0) * HOUR)
                    .take_while(|&t| t < h - HOUR)
                    .filter(|&t| t > HOUR)
                    .collect();
                if times.is_empty() {
                    times.push(rng.range(0.3, 0.7) * h);
                }
                (times, every.min(h))
            } else {
                let n = 1 + rng.below(3);
                (spaced_times(rng, n, h, HOUR), h / (n as f64 + 1.0))
            };
            deploys = times;
            // The longest run in the series is at least half of `run`.
            let rate = leak_rate(rng, MIN_RATE, MAX_RATE, run / HOUR * 0.5);
            model.leak = Some(linear(t_rate(rate), f64::NEG_INFINITY));
            age = 0.0;
        }
    }

    if !leak {
        model.base = model.base.min(HEALTHY_PEAK * limit / peak);
        // Some healthy pods are also redeployed once (spec §2).
        if deploys.is_empty() && shape != Shape::Warmup && rng.chance(0.15) {
            deploys = vec![rng.range(0.2, 0.8) * h];
            model.base /= 1.2;
        }
    }
    let t0 = draw_start(rng, &traffic, start_hours);
    let t0 = t0 - t0.rem_euclid(step);
    // Make relative times absolute.
    for d in &mut deploys {
        *d += t0;
    }
    if let Some(l) = &mut model.leak {
        if shape == Shape::LateLeak {
            l.onset += t0;
        }
        if shape == Shape::DaytimeLeak {
            // The average rate that grows MIN_GROWTH over the daytime in the series.
            let Pace::Traffic { mean, .. } = l.pace else {
                unreachable!()
            };
            let n = (h / 300.0) as usize;
            let effective = (0..n)
                .map(|i| traffic.day(t0 + i as f64 * 300.0))
                .sum::<f64>()
                * 300.0
                / mean
                / HOUR;
            let rate = leak_rate(rng, MIN_RATE, MAX_RATE, effective.max(0.5));
            l.rate = t_rate(rate);
        }
    }
    if shape == Shape::HighWater {
        // The first peak after the run starts must leave 30 % of the series after it.
        let run_start = t0 - age;
        let mut t = run_start.max(t0);
        while traffic.day(t) < 0.95 && t < t0 + 3.0 * DAY {
            t += 300.0;
        }
        if t - t0 > 0.7 * h {
            age += DAY; // the run started a day earlier: its first peak is before the series
        }
    }

    let noise = Noise {
        sigma: rng.log_range(0.002, 0.025),
        tau: rng.log_range(60.0, 1800.0),
        nu: rng.range(2.5, 6.0),
        white: rng.range(0.0, 0.003),
        spikes_per_hour: rng.range(0.0, 4.0),
        spike_mean: rng.range(0.03, 0.1),
    };
    let n_gaps = rng.weighted(&[(0usize, 4.0), (1, 3.0), (2, 2.0), (3, 1.0)]);
    let gaps = (0..n_gaps)
        .map(|_| (t0 + rng.range(0.0, h), rng.range(2.0, 90.0) * 60.0))
        .collect();
    Plan {
        shape,
        limit,
        t0,
        step,
        hours,
        age,
        model,
        traffic,
        deploys,
        kill: rng.range(0.97, 1.0),
        noise,
        with_load,
        aligned: rng.chance(0.7),
        drop_prob: rng.range(0.0, 0.02),
        gaps,
        leak,
    }
}

fn linear(rate: f64, onset: f64) -> Leak {
    Leak {
        rate,
        onset,
        pace: Pace::Linear,
    }
}

/// `n` times in (0, h), at least `min_gap` apart and from the ends, sorted.
fn spaced_times(rng: &mut Rng, n: usize, h: f64, min_gap: f64) -> Vec<f64> {
    let free = (h - (n as f64 + 1.0) * min_gap).max(0.0);
    let mut cuts: Vec<f64> = (0..n).map(|_| rng.range(0.0, free)).collect();
    cuts.sort_by(f64::total_cmp);
    cuts.iter()
        .enumerate()
        .map(|(i, c)| c + (i as f64 + 1.0) * min_gap)
        .collect()
}
