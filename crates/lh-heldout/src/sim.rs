//! Sampling a plan into a series (spec §1, §2, §4): runs, OOM kills and deploys,
//! noise, scrape losses, the optional load, and the label.

use crate::plan::Plan;
use crate::rng::Rng;
use crate::shape::{Mem, Run, HOUR};
use serde::{Deserialize, Serialize};

/// One line of the series file: the `trend`/`detect` input of ARCHITECTURE.md.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesLine {
    pub id: String,
    pub limit_bytes: u64,
    pub points: Vec<(i64, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<Vec<(i64, f64)>>,
}

/// One line of the labels file (the evaluation harness reads this schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: String,
    pub leak: bool,
    pub shape: String,
    pub history_hours: f64,
    pub onset: Option<i64>,
    pub limit_reached_at: Option<i64>,
    pub healthy_days: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartKind {
    Oom,
    Deploy,
}

/// A container restart, kept for the tests (not written out).
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    pub kind: RestartKind,
    /// Time of the kill or of the deploy, unix seconds.
    pub t: f64,
    /// Anonymous memory, noise included, at the last sample before it.
    pub anon: f64,
    /// The timestamp of the sample written at an OOM kill inside the series.
    pub sample: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Generated {
    pub series: SeriesLine,
    pub label: Label,
    pub restarts: Vec<Restart>,
    /// The leak's true average rate, as a fraction of the limit per hour.
    pub leak_rate: Option<f64>,
    /// Indices into `series.points` that thinning must keep (the samples at an OOM kill).
    pub(crate) keep: Vec<usize>,
}

const PAGE: f64 = 4096.0;

/// Working-set bytes as cAdvisor reports them: whole pages, never above the limit.
fn bytes(v: f64, limit: f64) -> u64 {
    let pages = (v.max(0.0) / PAGE).round();
    let b = (pages * PAGE).min((limit / PAGE).floor() * PAGE);
    b as u64
}

pub fn simulate(plan: &Plan, id: String, rng: &mut Rng) -> Generated {
    let m = &plan.model;
    let limit = plan.limit;
    let end = plan.end();
    let step = plan.step;
    let n = &plan.noise;
    let phi = (-step / n.tau).exp();
    let innov = n.sigma * (1.0 - phi * phi).sqrt();
    let offset = if plan.aligned {
        0.0
    } else {
        rng.range(0.0, step).floor()
    };
    let in_outage = |t: f64| plan.gaps.iter().any(|&(s, l)| t >= s && t < s + l);

    let run_start = plan.t0 - plan.age;
    let grid0 = plan.t0 - (plan.age / step).floor() * step;
    let mut base = m.base;
    let mut run = Run::new(m, run_start, base, rng);
    let mut deploys = plan.deploys.clone();
    let mut next_deploy = 0;
    let mut gap_until = f64::NEG_INFINITY;
    let mut ar = 0.0;
    let (mut spike_left, mut spike) = (0u32, 0.0);
    let mut last_anon = 0.0;
    let mut last_mem = Mem::default();
    let mut points = Vec::new();
    let mut keep = Vec::new();
    let mut restarts = Vec::new();
    let stamp = |t: f64, rng: &mut Rng| -> i64 {
        if plan.aligned {
            t as i64
        } else {
            (t + offset) as i64 + rng.below(3) as i64 - 1
        }
    };

    let mut k = 0u64;
    loop {
        let t = grid0 + k as f64 * step;
        k += 1;
        if t > end + 0.5 {
            break;
        }
        if t < gap_until {
            continue;
        }
        if next_deploy < deploys.len() && deploys[next_deploy] <= t {
            if last_anon <= 0.85 * limit {
                restarts.push(Restart {
                    kind: RestartKind::Deploy,
                    t,
                    anon: last_anon,
                    sample: None,
                });
                next_deploy += 1;
                // A new version: a little more or less memory (spec §2).
                base *= rng.range(0.9, 1.2);
                let gap = rng.range(10.0, 180.0);
                run = Run::new(m, t + gap, base, rng);
                gap_until = t + gap;
                continue;
            }
            // Never deployed near the limit: it would be killed first. Try later.
            deploys[next_deploy] += HOUR;
        }
        let mem = run.eval(m, &plan.traffic, limit, t, rng);
        last_mem = mem;
        let z = rng.student_t(n.nu).clamp(-8.0, 8.0);
        ar = (phi * ar + innov * z).clamp(-5.0 * n.sigma, 5.0 * n.sigma);
        if spike_left == 0 && rng.chance(n.spikes_per_hour * step / HOUR) {
            spike_left = 1 + rng.below(3) as u32;
            spike = rng.exp(n.spike_mean).min(0.3);
        }
        let mut anon = mem.anon * (1.0 + ar + n.white * rng.normal());
        if spike_left > 0 {
            spike_left -= 1;
            anon += mem.anon * spike;
        }
        if !plan.leak {
            // Healthy processes never come near the limit (spec §6).
            anon = anon.min(0.9 * limit);
        }
        let recording = t >= plan.t0 - 0.5;
        if anon >= plan.kill * limit {
            // The kernel kills at the limit; the last scrape saw ≈ the limit.
            let sample = recording.then(|| {
                keep.push(points.len());
                let at = stamp(t, rng);
                points.push((at, bytes(anon.min(limit), limit)));
                at
            });
            restarts.push(Restart {
                kind: RestartKind::Oom,
                t,
                anon,
                sample,
            });
            // Back-off is short: every run lasted more than 10 min (spec §2).
            let gap = rng.range(5.0, 40.0);
            run = Run::new(m, t + gap, base, rng);
            gap_until = t + gap;
            last_anon = 0.0;
            continue;
        }
        last_anon = anon;
        if recording && !in_outage(t) && !rng.chance(plan.drop_prob) {
            let ws = anon + mem.file * (1.0 + n.white * rng.normal());
            points.push((stamp(t, rng), bytes(ws, limit)));
        }
    }

    let load = plan.with_load.then(|| load_series(plan, rng, &in_outage));
    let label = label(plan, &id, &points, &restarts, &last_mem);
    Generated {
        series: SeriesLine {
            id,
            limit_bytes: limit as u64,
            points,
            load,
        },
        label,
        restarts,
        leak_rate: m.leak.filter(|_| plan.leak).map(|l| l.rate * HOUR / limit),
        keep,
    }
}

/// Requests per second on the load's own clock (spec §3).
fn load_series(plan: &Plan, rng: &mut Rng, in_outage: &dyn Fn(f64) -> bool) -> Vec<(i64, f64)> {
    let step = rng.weighted(&[(15.0, 1.0), (30.0, 2.0), (60.0, 2.0)]);
    let mut t = plan.t0 + rng.range(0.0, step).floor();
    let sigma = rng.range(0.03, 0.08);
    let phi: f64 = 0.9;
    let mut ar = 0.0;
    let mut out = Vec::new();
    while t <= plan.end() {
        ar = phi * ar + sigma * (1.0 - phi * phi).sqrt() * rng.normal();
        if !in_outage(t) && !rng.chance(plan.drop_prob) {
            let rps = plan.traffic.peak_rps * plan.traffic.norm(t) * (1.0 + ar);
            out.push((t as i64, (rps.max(0.0) * 100.0).round() / 100.0));
        }
        t += step;
    }
    out
}

fn label(plan: &Plan, id: &str, points: &[(i64, u64)], restarts: &[Restart], last: &Mem) -> Label {
    let first = points.first().map_or(plan.t0 as i64, |p| p.0);
    let leak = plan.model.leak.filter(|_| plan.leak);
    let onset = leak.map(|l| {
        if l.onset.is_finite() && l.onset > first as f64 {
            l.onset as i64
        } else {
            first
        }
    });
    let limit_reached_at = leak.map(|l| {
        match restarts
            .iter()
            .find(|r| r.kind == RestartKind::Oom && r.t >= plan.t0)
        {
            Some(r) => r.t as i64,
            None => {
                // Extrapolated from the true rate, for the top of the level
                // (a sawtooth's peaks reach the limit first and grow faster).
                let amp = plan.model.sawtooth.map_or(0.0, |s| s.amp);
                let left = (plan.limit - last.envelope).max(0.0);
                (plan.end() + left / (l.rate * (1.0 + amp))) as i64
            }
        }
    });
    let healthy_days = match onset {
        Some(o) => (o - first).max(0) as f64 / 86400.0,
        None => plan.hours / 24.0,
    };
    Label {
        id: id.to_string(),
        leak: plan.leak,
        shape: plan.shape.name().to_string(),
        history_hours: plan.hours,
        onset,
        limit_reached_at,
        healthy_days,
    }
}
