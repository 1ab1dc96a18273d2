//! Sampling a plan into a series (spec §1, §2, §4): runs, OOM kills and deploys,
//! noise, scrape losses, the optional load, and the label.

use crate::plan::Plan;
use crate::rng::Rng;
use crate::shape::{Mem, Run, HOUR};
use serde::{Deserialize, Serialize};

/// One line of the series file: the `trend`/`detect` input of ARCHITECTURE.md,
/// with integer seconds and bytes as in its example (`lh_model::Series` holds
/// floats and would write `1764300000.0`).
#[derive(Debug, Clone, Serialize)]
pub struct SeriesLine {
    /// Opaque `heldout/<16 hex digits>` drawn from the series' own seed, so that
    /// it reveals neither the shape nor the position; the key into the labels.
    pub id: String,
    /// The container's memory limit (`memory.max`, the pod's memory limit),
    /// bytes, 128 MiB to 8 GiB: anonymous memory that reaches it is OOM-killed,
    /// and no point exceeds it.
    pub limit_bytes: u64,
    /// `(unix seconds, bytes)` of `container_memory_working_set_bytes`: anonymous
    /// memory plus active page cache, whole 4096-byte pages, at most the limit.
    /// On the step grid (10–60 s) or raw scrape times with a second of jitter;
    /// lost scrapes and outages are missing samples.
    pub points: Vec<(i64, u64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `(unix seconds, requests per second)` on the load's own 15–60 s clock,
    /// following the users' daily profile; present in about 40 % of the series
    /// (60 % for shapes 4, 10 and 13) and left out of the line otherwise, as the
    /// contract makes it optional.
    pub load: Option<Vec<(i64, f64)>>,
}

/// One line of the labels file (the evaluation harness reads this schema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The id of the series this label belongs to.
    pub id: String,
    /// The ground truth: whether the container's memory grows without bound
    /// until an OOM kill ([`Shape::is_leak`](crate::Shape::is_leak) of the shape).
    pub leak: bool,
    /// The spec §6 name of the shape ([`Shape::name`](crate::Shape::name)), for
    /// per-shape results; never in the series file.
    pub shape: String,
    /// The designed duration of the series, hours (6–168): last nominal sample
    /// minus the first, whatever scrapes were lost.
    pub history_hours: f64,
    /// When the leak starts, unix seconds: the first point for a leak that
    /// predates the series, a later time for a late leak; `None` when healthy.
    pub onset: Option<i64>,
    /// Unix seconds of the first OOM kill in the series or, for a leak that has
    /// not reached the limit, the end plus (limit − noise-free top of the level at
    /// the end) / the true rate, which may lie after the end: what a time-to-OOM
    /// forecast is scored against. `None` when healthy.
    pub limit_reached_at: Option<i64>,
    /// Days of healthy history: all of a healthy series, the part before the
    /// onset of a leak (0 for a leak from the first point); the denominator of
    /// false alarms per healthy day.
    pub healthy_days: f64,
}

/// Why a container restarted (spec §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartKind {
    /// The kernel's OOM killer, when anonymous memory reached 97–100 % of the
    /// limit; the kubelet restarts the container after seconds, or after a
    /// CrashLoopBackOff of up to 5 min when runs are shorter than 10 min.
    Oom,
    /// A new version replaced the container far from the limit (at most 85 % of
    /// it), with a level shift of −10 … +20 % and a gap of 10–180 s.
    Deploy,
}

/// A container restart, kept for the tests (not written out).
#[derive(Debug, Clone, Copy)]
pub struct Restart {
    /// A kill at the limit or a deploy.
    pub kind: RestartKind,
    /// Time of the kill or of the deploy, unix seconds.
    pub t: f64,
    /// Anonymous memory, noise included, at the last sample before it.
    pub anon: f64,
    /// The timestamp of the sample written at an OOM kill inside the series.
    pub sample: Option<i64>,
    /// Seconds until the new container runs (back-off and start).
    pub gap: f64,
}

/// One generated series: the two lines written out and the ground truth the
/// files do not carry, which the tests check the physics against.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The line of the series file: what the detector sees.
    pub series: SeriesLine,
    /// The line of the labels file: what the detector is scored against.
    pub label: Label,
    /// Every restart of the simulated container in time order, including those
    /// before the first sample (its life before the series starts is simulated).
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
    let mut backoff = 0.0f64;
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
                let gap = rng.range(10.0, 180.0);
                restarts.push(Restart {
                    kind: RestartKind::Deploy,
                    t,
                    anon: last_anon,
                    sample: None,
                    gap,
                });
                next_deploy += 1;
                // A new version: a little more or less memory (spec §2).
                base *= rng.range(0.9, 1.2);
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
        if let Some(c) = n.chunk {
            anon = (anon / c).ceil() * c;
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
            // CrashLoopBackOff (spec §2): 10 s doubling to 5 min after runs
            // shorter than 10 min, reset by a longer one; plus the start itself.
            backoff = if t - run.start < 600.0 {
                (backoff * 2.0).clamp(10.0, 300.0)
            } else {
                0.0
            };
            let gap = backoff + rng.range(5.0, 40.0);
            restarts.push(Restart {
                kind: RestartKind::Oom,
                t,
                anon,
                sample,
                gap,
            });
            let carried = if m.leak_survives_restart {
                run.leaked()
            } else {
                0.0
            };
            run = Run::new(m, t + gap, base, rng).carry(carried);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::draw;
    use crate::shape::Shape;

    /// A tmpfs that keeps growing past the limit: what it wrote survives each
    /// kill, runs get shorter, and the kubelet's back-off doubles to 5 min.
    #[test]
    fn tmpfs_crash_loop_backs_off() {
        let mut checked = 0;
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let mut plan = draw(Shape::TmpfsGrowth, &mut rng);
            let leak = plan.model.leak.as_mut().unwrap();
            leak.rate = 0.5 * plan.limit / HOUR;
            plan.hours = plan.hours.max(12.0);
            let g = simulate(&plan, "t".into(), &mut rng);
            let ooms: Vec<&Restart> = g
                .restarts
                .iter()
                .filter(|r| r.kind == RestartKind::Oom)
                .collect();
            assert!(ooms.len() >= 4, "seed {seed}: {} kills", ooms.len());
            for w in ooms.windows(2) {
                let run = w[1].t - (w[0].t + w[0].gap);
                assert!(run >= 0.0);
                if run < 600.0 {
                    // Back-off after a short run: at least 10 s, doubling, capped.
                    assert!(w[1].gap >= 10.0 + 5.0 && w[1].gap <= 340.0, "{}", w[1].gap);
                    assert!(
                        w[1].gap >= (w[0].gap - 40.0).min(300.0) * 2.0 - 1e-9 || w[1].gap >= 305.0
                    );
                }
            }
            assert!(
                ooms.iter().any(|r| r.gap >= 300.0),
                "seed {seed}: the back-off reaches its cap"
            );
            checked += 1;
        }
        assert_eq!(checked, 20);
    }

    /// Without tmpfs, a killed container starts afresh and runs long again:
    /// back-off never grows.
    #[test]
    fn fresh_restarts_have_short_gaps() {
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let plan = draw(Shape::CrashLoop, &mut rng);
            let g = simulate(&plan, "c".into(), &mut rng);
            for r in g.restarts.iter().filter(|r| r.kind == RestartKind::Oom) {
                assert!(r.gap < 45.0, "{}", r.gap);
            }
        }
    }

    /// Runs `plan` two days longer than drawn and returns the series and the
    /// daily floors (5th percentiles, fractions of the limit) of the two extra
    /// days: the floor is the same at night on weekdays and weekends.
    fn extended(mut plan: crate::plan::Plan, rng: &mut Rng) -> (Generated, f64, f64) {
        let end = plan.end();
        plan.hours += 48.0;
        let g = simulate(&plan, "x".into(), rng);
        let floor = |from: f64| {
            let mut v: Vec<u64> = g
                .series
                .points
                .iter()
                .filter(|p| (p.0 as f64) >= from && (p.0 as f64) < from + 86400.0)
                .map(|p| p.1)
                .collect();
            v.sort();
            v[v.len() / 20] as f64 / plan.limit
        };
        let (a, b) = (floor(end), floor(end + 86400.0));
        (g, a, b)
    }

    /// The labels are sound: a leak run two days longer keeps growing, or is
    /// killed in those days.
    #[test]
    fn leaks_keep_growing_beyond_their_history() {
        for shape in Shape::ALL.into_iter().filter(|s| s.is_leak()) {
            for seed in 0..12 {
                let mut rng = Rng::new(seed);
                let plan = draw(shape, &mut rng);
                let end = plan.end();
                let (g, a, b) = extended(plan, &mut rng);
                let killed = g
                    .restarts
                    .iter()
                    .any(|r| r.kind == RestartKind::Oom && r.t >= end);
                // Staircase steps may skip a day; every other leak grows daily.
                let min = if shape == Shape::Staircase {
                    0.0
                } else {
                    0.005
                };
                assert!(
                    killed || b - a >= min,
                    "{} seed {seed}: floor {a:.3} then {b:.3}",
                    shape.name()
                );
            }
        }
    }

    /// The labels are sound: a healthy shape run two days longer does not grow.
    #[test]
    fn healthy_shapes_do_not_grow_beyond_their_history() {
        for shape in Shape::ALL.into_iter().filter(|s| !s.is_leak()) {
            for seed in 0..12 {
                let mut rng = Rng::new(seed);
                let plan = draw(shape, &mut rng);
                let (_, a, b) = extended(plan, &mut rng);
                assert!(
                    (b - a).abs() < 0.03,
                    "{} seed {seed}: floor {a:.3} then {b:.3}",
                    shape.name()
                );
            }
        }
    }
}
