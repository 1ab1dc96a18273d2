//! The alerts people run today, computed exactly as Prometheus 2.x computes
//! them at one evaluation time `t` over a range `[t - range, t]` of raw
//! samples, so that the evaluation compares against the real thing.

/// The samples of `[t - range, t]` (Prometheus 2.x selects both ends inclusive).
fn window(pts: &[(f64, f64)], t: f64, range: f64) -> &[(f64, f64)] {
    let a = pts.partition_point(|p| p.0 < t - range);
    let b = pts.partition_point(|p| p.0 <= t);
    &pts[a..b]
}

/// Prometheus' `linearRegression`: OLS with x measured from `intercept_t`;
/// returns (slope per second, value at `intercept_t`).
fn linear_regression(w: &[(f64, f64)], intercept_t: f64) -> (f64, f64) {
    let n = w.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    let const_y = w.iter().all(|p| p.1 == w[0].1);
    if const_y {
        return (0.0, w[0].1);
    }
    for &(t, v) in w {
        let x = t - intercept_t;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `predict_linear(v[range], ahead)` at `t`.
pub fn predict_linear(pts: &[(f64, f64)], t: f64, range: f64, ahead: f64) -> Option<f64> {
    let w = window(pts, t, range);
    if w.len() < 2 {
        return None;
    }
    let (slope, icpt) = linear_regression(w, t);
    Some(icpt + slope * ahead)
}

/// `deriv(v[range])` at `t`: the OLS slope per second.
pub fn deriv(pts: &[(f64, f64)], t: f64, range: f64) -> Option<f64> {
    let w = window(pts, t, range);
    if w.len() < 2 {
        return None;
    }
    Some(linear_regression(w, w[0].0).0)
}

/// `increase(v[range])` at `t`, with counter semantics: every drop is taken
/// for a counter reset (the value before it is added back), and the result
/// is extrapolated towards the range ends as `extrapolatedRate` does. On a
/// gauge, which a working set is, every GC drop inflates the result.
pub fn increase(pts: &[(f64, f64)], t: f64, range: f64) -> Option<f64> {
    let w = window(pts, t, range);
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.1 - first.1;
    let mut prev = 0.0;
    for p in w {
        if p.1 < prev {
            result += prev;
        }
        prev = p.1;
    }
    let mut to_start = first.0 - (t - range);
    let to_end = t - last.0;
    let sampled = last.0 - first.0;
    let avg = sampled / (w.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    Some(result * (interval / sampled))
}

/// The three baselines of the evaluation, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// `predict_linear(v[6h], 4*3600) > limit`.
    PredictLinear,
    /// The seed's `increase(v[6h]) > 500000000`.
    Increase,
    /// A least-squares slope over 6 h above 10 MB/h.
    Slope,
}

/// The window every baseline looks back over, in seconds: what the alert
/// rules they stand for use.
pub const SIX_HOURS: f64 = 6.0 * 3600.0;

impl Baseline {
    /// Every baseline, in the order the evaluation's tables list them.
    pub const ALL: [Baseline; 3] = [Baseline::PredictLinear, Baseline::Increase, Baseline::Slope];

    /// The column name of the evaluation's tables: the rule, in short.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::PredictLinear => "predict_linear(6h,4h)>limit",
            Baseline::Increase => "increase(6h)>500MB",
            Baseline::Slope => "lsq slope>10MB/h",
        }
    }

    /// Whether the alert fires at `t`, and the time to limit it implies.
    pub fn alarm(self, pts: &[(f64, f64)], t: f64, limit: Option<f64>) -> (bool, Option<f64>) {
        let last = window(pts, t, SIX_HOURS).last().map_or(0.0, |p| p.1);
        let ttl = |per_s: f64| -> Option<f64> {
            let l = limit?;
            (per_s > 0.0).then(|| (l - last).max(0.0) / per_s)
        };
        match self {
            Baseline::PredictLinear => {
                let fire = match (predict_linear(pts, t, SIX_HOURS, 4.0 * 3600.0), limit) {
                    (Some(v), Some(l)) => v > l,
                    _ => false,
                };
                (fire, deriv(pts, t, SIX_HOURS).and_then(ttl))
            }
            Baseline::Increase => {
                let inc = increase(pts, t, SIX_HOURS);
                (
                    inc.is_some_and(|v| v > 500_000_000.0),
                    inc.and_then(|v| ttl(v / SIX_HOURS)),
                )
            }
            Baseline::Slope => {
                let d = deriv(pts, t, SIX_HOURS);
                (
                    d.is_some_and(|s| s * 3600.0 > 10_000_000.0),
                    d.and_then(ttl),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_treats_drops_as_resets() {
        // 0,10,20 then a drop to 5, then 15: increase = 20 + 15 = 35 over the
        // samples, extrapolated to the range ends as Prometheus does.
        let pts = [
            (0.0, 0.0),
            (10.0, 10.0),
            (20.0, 20.0),
            (30.0, 5.0),
            (40.0, 15.0),
        ];
        let v = increase(&pts, 40.0, 40.0).unwrap();
        assert!((v - 35.0).abs() < 1e-9, "{v}");
        // Extrapolation: range 50 s, first sample 10 s in (< 1.1 × 10 s),
        // but zero is reached sooner (counter semantics): 0 s.
        let v = increase(&pts[1..], 40.0, 40.0).unwrap();
        assert!((v - 25.0 * 40.0 / 30.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn predict_linear_extrapolates_from_the_evaluation_time() {
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|i| (i as f64 * 10.0, 100.0 + i as f64))
            .collect();
        let v = predict_linear(&pts, 90.0, 100.0, 50.0).unwrap();
        assert!((v - 114.0).abs() < 1e-9, "{v}");
        assert!((deriv(&pts, 90.0, 100.0).unwrap() - 0.1).abs() < 1e-12);
    }
}
