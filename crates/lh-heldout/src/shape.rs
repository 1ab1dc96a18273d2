//! The shapes of spec §6 and the noise-free memory of one process run.

use crate::rng::Rng;
use crate::traffic::Traffic;

pub const HOUR: f64 = 3600.0;
pub const DAY: f64 = 86400.0;

/// The shapes of spec §6, healthy first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Steady,
    GcSawtooth,
    Warmup,
    DailyCycle,
    Deploys,
    PageCache,
    BoundedCache,
    Batch,
    JvmHeap,
    HighWater,
    LinearLeak,
    LateLeak,
    DaytimeLeak,
    Staircase,
    RisingTroughs,
    CrashLoop,
    TmpfsGrowth,
    SlowLeak,
    LeakDeploys,
}

impl Shape {
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

    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }

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
}

impl Model {
    pub fn plain(base: f64, rng: &mut Rng) -> Model {
        Model {
            base,
            start_frac: rng.range(0.2, 0.6),
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
