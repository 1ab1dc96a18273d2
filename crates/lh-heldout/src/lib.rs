//! The held-out corpus generator of issue 11: labelled container memory series
//! drawn from a written spec of real container memory behaviour
//! (`docs/heldout-spec.md`), by someone who has not read the detector.
//!
//! It exists to measure generalization, so it must never be used to tune the
//! detector: generate with a fresh seed, measure, report the figure as held-out.
//!
//! Deterministic per seed: [`generate`] with the same seed, count and shapes
//! yields the same series and labels on every machine (our own PRNG, no floats
//! from the platform's libm beyond `exp`/`ln`/`cos`, which Rust's std takes from
//! the platform; the tests pin what matters: equality across runs).

mod plan;
pub mod rng;
mod shape;
mod sim;
mod traffic;

pub use shape::Shape;
pub use sim::{Generated, Label, Restart, RestartKind, SeriesLine};

use rng::{splitmix64, Rng};

/// The seed of series `index` of a corpus: independent streams per series.
fn series_seed(seed: u64, index: usize) -> u64 {
    let mut s = seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    splitmix64(&mut s)
}

/// `count` series, the `shapes` assigned in equal numbers (round robin) and
/// shuffled, so that neither the order nor the opaque ids reveal a shape.
pub fn generate(seed: u64, count: usize, shapes: &[Shape]) -> impl Iterator<Item = Generated> {
    let mut order: Vec<Shape> = (0..count).map(|i| shapes[i % shapes.len()]).collect();
    let mut rng = Rng::new(seed ^ 0x05EE_D0F5_A9E5);
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order
        .into_iter()
        .enumerate()
        .map(move |(i, shape)| one(series_seed(seed, i), shape))
}

/// One series of `shape` from its own seed.
pub fn one(seed: u64, shape: Shape) -> Generated {
    let mut rng = Rng::new(seed);
    let id = format!("heldout/{:016x}", rng.next_u64());
    let plan = plan::draw(shape, &mut rng);
    sim::simulate(&plan, id, &mut rng)
}

impl Generated {
    /// Keeps at most about `max` memory points by keeping every k-th one (and
    /// every sample at an OOM kill, so that a thinned crash loop still shows
    /// that it reached the limit); the load is thinned the same way.
    pub fn thin(&mut self, max: usize) {
        let max = max.max(2);
        let n = self.series.points.len();
        if n > max {
            let k = n.div_ceil(max);
            let mut keep = self.keep.iter().copied().peekable();
            let mut i = 0;
            self.series.points.retain(|_| {
                let forced = keep.next_if_eq(&i).is_some();
                i += 1;
                forced || (i - 1) % k == 0
            });
            self.keep.clear();
        }
        if let Some(load) = &mut self.series.load {
            if load.len() > max {
                let k = load.len().div_ceil(max);
                let mut i = 0;
                load.retain(|_| {
                    i += 1;
                    (i - 1) % k == 0
                });
            }
        }
    }
}
