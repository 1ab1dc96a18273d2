//! The shapes of spec §6 and the noise-free memory of one process run.

use crate::rng::Rng;
use crate::traffic::Traffic;

pub const HOUR: f64 = 3600.0;
pub const DAY: f64 = 86400.0;

/// The shapes of spec §6, healthy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// Shape 1, healthy: a warmed-up service whose live set does not depend on
    /// time; flat at its base (15–55 % of the limit) with autocorrelated,
    /// heavy-tailed noise and a small (0–8 %) daily component.
    Steady,
    /// Shape 2, healthy: GC cycles (Go with a high GOGC, V8 mark-compacts, G1
    /// mixed collections with uncommit) seen as a sawtooth from the live heap to
    /// live × (1 + g) and back, every 1 min–3 h; the troughs (heap after GC) stay
    /// flat because the live set does not grow.
    GcSawtooth,
    /// Shape 3, healthy: caches, the JIT code cache, connection pools and class
    /// loading filling to their working size; rises from the container's start
    /// (the series starts with it), decelerating exponentially or hyperbolically,
    /// and may still be rising at the end. Healthy because the rate falls steadily
    /// towards a bound.
    Warmup,
    /// Shape 4, healthy: per-request and in-flight memory proportional to
    /// traffic, up in the morning and down in the evening (20–100 % of the base).
    /// Bounded by the peak load; short histories that start at night show only
    /// the morning ramp, a hard case.
    DailyCycle,
    /// Shape 5, healthy: flat runs separated by 1–3 deploys (rollouts, config
    /// changes, node drains) far from the limit, each new version shifting the
    /// level by −10 … +20 %: a few level shifts are versions, not growth.
    Deploys,
    /// Shape 6, healthy: flat anonymous memory (10–40 % of the limit) plus the
    /// active page cache of repeatedly read files, which working set counts; it
    /// grows until the working set sits at 85–98 % of the limit, then stays there
    /// with reclaim dips. The kernel reclaims it under pressure, so it never
    /// causes an OOM kill.
    PageCache,
    /// Shape 7, healthy: an LRU or TTL cache with a size bound (10–40 % of the
    /// limit); a linear fill, faster by day, then a knee and a flat top. The knee
    /// is in the series, but before it the fill looks like a linear leak.
    BoundedCache,
    /// Shape 8, healthy: cron jobs, reports, compactions; a flat base with humps
    /// of 10–40 % of the limit during each job (every 1, 2, 4, 6 or 24 h, 5–60 min
    /// long), released at the job's end.
    Batch,
    /// Shape 9, healthy: HotSpot expanding its committed heap on demand and
    /// rarely giving it back; 2–6 steps up early, rarer as time passes, then a
    /// plateau. Bounded by the max heap (40–60 % of the limit), and the steps stop
    /// before half the history.
    JvmHeap,
    /// Shape 10, healthy: glibc or pymalloc arenas keeping freed memory; rises
    /// during the first morning ramp to the high-water mark of the daily peak,
    /// then stays flat (rising again only on a higher peak). Bounded by the peak
    /// load, which the series shows.
    HighWater,
    /// Shape 11, leak: objects appended to a global collection per unit of time
    /// (timers, listeners, metric labels); a steady linear rise from the first
    /// point at 0.1–15 %/h of the limit, ended only by OOM kills.
    LinearLeak,
    /// Shape 12, leak: a leak triggered by an event (a feature flag, retries
    /// piling up against a failing downstream, a new tenant); flat, then a linear
    /// rise from an onset at 20–80 % of the history. The flat part counts as
    /// healthy history in the label.
    LateLeak,
    /// Shape 13, leak: a per-request leak, growth proportional to traffic; rises
    /// by day and is flat at night, a staircase of days, since nothing is
    /// returned at night.
    DaytimeLeak,
    /// Shape 14, leak: per-connection or per-tenant structures never freed,
    /// goroutines stuck on a lock; 12–80 small jumps at Poisson times, flat
    /// between them and never coming down.
    Staircase,
    /// Shape 15, leak: a leak under a GC'd heap; the sawtooth of
    /// [`Shape::GcSawtooth`] whose troughs (heap after GC, the live set) rise
    /// linearly.
    RisingTroughs,
    /// Shape 16, leak: a fast leak (up to 15 %/h of the limit from a base of
    /// 25–55 %) that reaches ≈ the limit, is OOM-killed and starts afresh every
    /// 3–20 h, with at least one kill in the series.
    CrashLoop,
    /// Shape 17, leak: logs or spool files written without rotation to an
    /// `emptyDir` of medium Memory, which is charged to the container and cannot
    /// be reclaimed; a rise modulated by the daily cycle but never flat. The files
    /// survive a container restart, so after a kill the next run starts on top of
    /// them and is killed sooner.
    TmpfsGrowth,
    /// Shape 18, leak: a slow leak (0.1–1 %/h of the limit) in a busy service; a
    /// daily cycle on top of a slow rise, whose daily swing may exceed a day's
    /// growth: the level at the same time of day rises day after day.
    SlowLeak,
    /// Shape 19, leak: a leak in a service deployed often enough that it rarely
    /// OOMs; each run rises at the same pace from its own start and ends in a
    /// deploy, because each new version still has the bug.
    LeakDeploys,
}

impl Shape {
    /// Every shape of spec §6, in its order (healthy first, then the leaks): the
    /// default set of a corpus, assigned to its series in equal numbers.
    pub const ALL: [Shape; 19] = [
        Shape::Steady,
        Shape::GcSawtooth,
        Shape::Warmup,
        Shape::DailyCycle,
        Shape::Deploys,
        Shape::PageCache,
        Shape::BoundedCache,
        Shape::Batch,
        Shape::JvmHeap,
        Shape::HighWater,
        Shape::LinearLeak,
        Shape::LateLeak,
        Shape::DaytimeLeak,
        Shape::Staircase,
        Shape::RisingTroughs,
        Shape::CrashLoop,
        Shape::TmpfsGrowth,
        Shape::SlowLeak,
        Shape::LeakDeploys,
    ];

    /// The spec's name of the shape (`"gc-sawtooth"`): the label's `shape` field
    /// and what `--shapes` accepts, so that results can be broken down by shape
    /// without the series revealing it.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Steady => "steady",
            Shape::GcSawtooth => "gc-sawtooth",
            Shape::Warmup => "warmup",
            Shape::DailyCycle => "daily-cycle",
            Shape::Deploys => "deploys",
            Shape::PageCache => "page-cache",
            Shape::BoundedCache => "bounded-cache",
            Shape::Batch => "batch",
            Shape::JvmHeap => "jvm-heap",
            Shape::HighWater => "high-water",
            Shape::LinearLeak => "linear-leak",
            Shape::LateLeak => "late-leak",
            Shape::DaytimeLeak => "daytime-leak",
            Shape::Staircase => "staircase",
            Shape::RisingTroughs => "rising-troughs",
            Shape::CrashLoop => "crash-loop",
            Shape::TmpfsGrowth => "tmpfs-growth",
            Shape::SlowLeak => "slow-leak",
            Shape::LeakDeploys => "leak-deploys",
        }
    }

    /// The shape of a spec name, as written by [`Shape::name`]; `None` for an
    /// unknown name. Parses `--shapes` and the `shape` field of a labels file.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The ground truth of the label: true for shapes 11–19, whose anonymous
    /// memory grows without bound until an OOM kill (or would, beyond the series);
    /// false for the healthy shapes 1–10, which are bounded by something visible
    /// inside the series.
    pub fn is_leak(self) -> bool {
        matches!(
            self,
            Shape::LinearLeak
                | Shape::LateLeak
                | Shape::DaytimeLeak
                | Shape::Staircase
                | Shape::RisingTroughs
                | Shape::CrashLoop
                | Shape::TmpfsGrowth
                | Shape::SlowLeak
                | Shape::LeakDeploys
        )
    }
}

/// How a leak's growth is paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Constant bytes per second.
    Linear,
    /// Proportional to `floor + (1 - floor) · day(t)`, normalised to the weekly
    /// mean so that the rate is the average one: `floor` 0 grows only by day.
    Traffic { floor: f64, mean: f64 },
    /// Jumps at Poisson times (mean interval seconds), log-normal sizes whose
    /// mean makes the average rate.
    Stairs { interval: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Leak {
    /// Average growth, bytes per second.
    pub rate: f64,
    /// Absolute time the leak starts; a run that starts later leaks from its start.
    pub onset: f64,
    pub pace: Pace,
}

#[derive(Debug, Clone, Copy)]
pub struct Sawtooth {
    /// Peak over trough, minus one.
    pub amp: f64,
    /// Mean period, seconds.
    pub period: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct BoundedCache {
    pub cap: f64,
    /// Fill rate at mean traffic, bytes per second.
    pub fill: f64,
    /// Whether the fill follows traffic; with the weekly mean of `0.3 + 0.7 day`.
    pub by_traffic: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub struct PageCache {
    pub rate: f64,
    /// The working set the kernel lets the cache fill to, bytes.
    pub cap: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub period: f64,
    pub duration: f64,
    pub phase: f64,
    pub amp: f64,
}

#[derive(Debug, Clone, Copy)]
pub struct Jvm {
    /// Committed heap at start and at the end of its expansions, bytes.
    pub initial: f64,
    pub max: f64,
    pub steps: usize,
    /// Run age by which the last expansion has happened, seconds.
    pub expand_by: f64,
}

/// The noise-free model of a process: what every run of it does.
#[derive(Debug, Clone)]
pub struct Model {
    /// Steady level of the first version, bytes.
    pub base: f64,
    /// Start-up: fraction of the level at start, time constant (s).
    pub start_frac: f64,
    pub start_tau: f64,
    /// Daily component as a fraction of the base, and its lag behind traffic (s).
    pub daily: f64,
    pub lag: f64,
    /// Slow warm-up: rise as a fraction of the base, time constant, hyperbolic or exponential.
    pub warmup: Option<(f64, f64, bool)>,
    pub sawtooth: Option<Sawtooth>,
    pub leak: Option<Leak>,
    pub cache: Option<BoundedCache>,
    pub page_cache: Option<PageCache>,
    pub batch: Option<Batch>,
    pub jvm: Option<Jvm>,
    /// High-water mark of the daytime load, as a fraction of the base.
    pub high_water: Option<f64>,
    /// What leaked survives a container restart: files in an `emptyDir` of
    /// medium Memory belong to the pod, not to the container.
    pub leak_survives_restart: bool,
}

impl Model {
    pub fn plain(base: f64, rng: &mut Rng) -> Model {
        Model {
            base,
            start_frac: rng.log_range(0.05, 0.6),
            start_tau: rng.range(3.0, 20.0) * 60.0,
            daily: rng.range(0.0, 0.08),
            lag: rng.range(0.0, 20.0) * 60.0,
            warmup: None,
            sawtooth: None,
            leak: None,
            cache: None,
            page_cache: None,
            batch: None,
            jvm: None,
            high_water: None,
            leak_survives_restart: false,
        }
    }
}

/// Noise-free memory at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Mem {
    /// Unreclaimable: heaps, arenas, tmpfs. Its reaching the limit is an OOM kill.
    pub anon: f64,
    /// Active page cache, counted by working set but reclaimable.
    pub file: f64,
    /// The top of the anonymous level: the sawtooth's peak where there is one.
    pub envelope: f64,
}

/// The state of one run (one container start) of a model.
#[derive(Debug, Clone)]
pub struct Run {
    pub start: f64,
    pub base: f64,
    last: f64,
    phase: f64,
    cycle: f64,
    leaked: f64,
    next_step: f64,
    cache: f64,
    file: f64,
    high_water: f64,
    jvm_steps: Vec<(f64, f64)>,
}

impl Run {
    pub fn new(model: &Model, start: f64, base: f64, rng: &mut Rng) -> Run {
        let jvm_steps = model.jvm.map_or_else(Vec::new, |j| {
            // Expansions become rarer as the heap settles: ages ∝ (i/n)², jittered.
            let mut ages: Vec<f64> = (1..=j.steps)
                .map(|i| j.expand_by * (i as f64 / j.steps as f64).powi(2) * rng.range(0.6, 1.0))
                .collect();
            ages.sort_by(f64::total_cmp);
            let mut sizes: Vec<f64> = (0..j.steps).map(|_| rng.range(0.5, 1.5)).collect();
            let total: f64 = sizes.iter().sum();
            let mut level = j.initial;
            ages.into_iter()
                .zip(sizes.iter_mut())
                .map(|(age, s)| {
                    level += (j.max - j.initial) * *s / total;
                    (age, level)
                })
                .collect()
        });
        let cycle = model
            .sawtooth
            .map_or(1.0, |s| s.period * rng.range(0.7, 1.3));
        Run {
            start,
            base,
            last: start,
            phase: rng.unit(),
            cycle,
            leaked: 0.0,
            next_step: f64::NAN,
            cache: 0.0,
            file: 0.0,
            high_water: 0.0,
            jvm_steps,
        }
    }

    /// What the leak has added in this run (and carried into it).
    pub fn leaked(&self) -> f64 {
        self.leaked
    }

    /// Starts this run with what an earlier run leaked and left behind.
    pub fn carry(mut self, leaked: f64) -> Run {
        self.leaked = leaked;
        self
    }

    /// The memory at `t` (called with increasing `t`, at least once per step).
    pub fn eval(&mut self, m: &Model, tr: &Traffic, limit: f64, t: f64, rng: &mut Rng) -> Mem {
        let age = (t - self.start).max(0.0);
        let dt = (t - self.last).max(0.0);
        let prev = self.last;
        self.last = t;
        let day = tr.day(t - m.lag);
        let warm = 1.0 - (1.0 - m.start_frac) * (-age / m.start_tau).exp();
        let mut anon = self.base * warm * (1.0 + m.daily * day);
        if let Some((rise, tau, hyperbolic)) = m.warmup {
            let f = if hyperbolic {
                age / (age + tau)
            } else {
                1.0 - (-age / tau).exp()
            };
            anon += self.base * rise * f;
        }
        if let Some(j) = m.jvm {
            let committed = self
                .jvm_steps
                .iter()
                .take_while(|(a, _)| *a <= age)
                .last()
                .map_or(j.initial, |&(_, l)| l);
            anon += committed * warm;
        }
        if let Some(hw) = m.high_water {
            self.high_water = self.high_water.max(day);
            anon += self.base * hw * self.high_water;
        }
        if let Some(leak) = m.leak {
            let from = leak.onset.max(self.start);
            let active = (t - prev.max(from)).max(0.0);
            if t >= from {
                match leak.pace {
                    Pace::Linear => self.leaked += leak.rate * active,
                    Pace::Traffic { floor, mean } => {
                        self.leaked += leak.rate * (floor + (1.0 - floor) * day) / mean * active
                    }
                    Pace::Stairs { interval } => {
                        if self.next_step.is_nan() {
                            self.next_step = from + rng.exp(interval);
                        }
                        while self.next_step <= t {
                            // Log-normal with σ 0.6 and mean 1.
                            let size = (0.6 * rng.normal() - 0.18).exp();
                            self.leaked += leak.rate * interval * size;
                            self.next_step += rng.exp(interval);
                        }
                    }
                }
            }
            anon += self.leaked;
        }
        if let Some(c) = m.cache {
            let pace = c.by_traffic.map_or(1.0, |mean| (0.3 + 0.7 * day) / mean);
            self.cache = (self.cache + c.fill * pace * dt).min(c.cap);
            anon += self.cache * warm.min(1.0);
        }
        if let Some(b) = m.batch {
            let u = (t - b.phase).rem_euclid(b.period) / b.duration;
            if u < 1.0 {
                // Ramps up over most of the job, released at its end.
                anon += b.amp * (u / 0.7).min(1.0);
            }
        }
        let mut envelope = anon;
        if let Some(s) = m.sawtooth {
            envelope *= 1.0 + s.amp;
            self.phase += dt / self.cycle;
            while self.phase >= 1.0 {
                self.phase -= 1.0;
                self.cycle = s.period * rng.range(0.7, 1.3);
            }
            anon *= 1.0 + s.amp * self.phase;
        }
        let mut file = 0.0;
        if let Some(p) = m.page_cache {
            self.file += p.rate * dt;
            if anon + self.file > p.cap {
                // A reclaim pass takes back a slice of the cache.
                self.file = (p.cap - anon - rng.range(0.01, 0.06) * limit).max(0.0);
            }
            file = self.file;
        }
        Mem {
            anon,
            file,
            envelope,
        }
    }
}
