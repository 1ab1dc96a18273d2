//! The statistics the detector rests on, written here so that every step is
//! visible and cheap: the detector runs on 10,000 series in about a second, so
//! nothing here allocates more than a few vectors per call.

/// A small, seeded, reproducible generator (SplitMix64). The bootstrap and the
/// corpus must give the same numbers on every machine and every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator for `seed`: equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal (Box–Muller; one value per call keeps the state simple).
    pub fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-300);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// The q-quantile (0..=1) of `v`, by partial sort; `v` is reordered.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// Ordinary least squares `y = a + b x`: (a, b). Also what Prometheus'
/// `predict_linear` and `deriv` compute, so the baselines share it.
pub fn ols(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (xi, yi) in x.iter().zip(y) {
        sxy += (xi - mx) * (yi - my);
        sxx += (xi - mx) * (xi - mx);
    }
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - b * mx, b)
}

/// Residual sum of squares of `y = a + b x`.
pub fn rss_line(x: &[f64], y: &[f64], a: f64, b: f64) -> f64 {
    x.iter()
        .zip(y)
        .map(|(xi, yi)| (yi - a - b * xi).powi(2))
        .sum()
}

/// Theil–Sen slope: the median of all pairwise slopes. Robust to the odd
/// spike or dip that a lower envelope still lets through (breakdown ≈ 29 %).
pub fn theil_sen(x: &[f64], y: &[f64], scratch: &mut Vec<f64>) -> f64 {
    scratch.clear();
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let dx = x[j] - x[i];
            if dx > 0.0 {
                scratch.push((y[j] - y[i]) / dx);
            }
        }
    }
    if scratch.is_empty() {
        return 0.0;
    }
    quantile(scratch, 0.5)
}

/// Intercept that goes with a Theil–Sen slope: the median of `y - b x`.
pub fn theil_sen_intercept(x: &[f64], y: &[f64], b: f64) -> f64 {
    let mut r: Vec<f64> = x.iter().zip(y).map(|(xi, yi)| yi - b * xi).collect();
    quantile(&mut r, 0.5)
}

/// A moving-block bootstrap interval for the Theil–Sen slope. Memory series
/// are autocorrelated (a GC cycle spans several samples), so resampling single
/// points would give intervals far too narrow; blocks of about n^(1/3) keep the
/// short-range dependence. Returns the (lo, hi) quantiles of `reps` slopes.
///
/// A resample holds original points, some of them repeated, and its pairs
/// are taken in time order so each pairwise slope keeps its sign: its
/// slopes are the original pairs' slopes, pair (i, j) counted
/// copies(i) × copies(j) times. So the pairwise slopes are computed and
/// sorted once, and each replicate's Theil–Sen slope (the same value
/// [`theil_sen`] gives on the resample) is found by walking them with its counts.
pub fn block_bootstrap_slope(
    x: &[f64],
    y: &[f64],
    reps: usize,
    level: f64,
    rng: &mut Rng,
) -> (f64, f64) {
    let n = x.len();
    if n < 4 {
        return (f64::NEG_INFINITY, f64::INFINITY);
    }
    let block = ((n as f64).cbrt().ceil() as usize).clamp(2, n / 2);
    let mut pairs = Vec::with_capacity(n * (n - 1) / 2);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[j] - x[i];
            if dx > 0.0 {
                pairs.push(((y[j] - y[i]) / dx, i, j));
            }
        }
    }
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut copies = vec![0u64; n];
    let mut slopes = Vec::with_capacity(reps);
    for _ in 0..reps {
        copies.fill(0);
        let mut taken = 0;
        while taken < n {
            let start = rng.below(n - block + 1);
            let len = block.min(n - taken);
            for c in &mut copies[start..start + len] {
                *c += 1;
            }
            taken += len;
        }
        let weight = |&(_, i, j): &(f64, usize, usize)| copies[i] * copies[j];
        let total: u64 = pairs.iter().map(weight).sum();
        let slope = if total == 0 {
            0.0
        } else {
            // The rank `quantile(…, 0.5)` picks among `total` slopes.
            let k = ((total - 1) as f64 * 0.5).round() as u64;
            let mut seen = 0;
            pairs
                .iter()
                .find(|p| {
                    seen += weight(p);
                    seen > k
                })
                .map_or(0.0, |p| p.0)
        };
        slopes.push(slope);
    }
    let a = (1.0 - level) / 2.0;
    let lo = quantile(&mut slopes, a);
    let hi = quantile(&mut slopes, 1.0 - a);
    (lo, hi)
}

/// Mann–Kendall trend test with the Hamed–Rao (1998) correction for
/// autocorrelation. Without the correction a sawtooth or a daily cycle, whose
/// neighbouring points are far from independent, reads as a trend with
/// absurd significance. Returns (S, corrected Z, one-sided p for an upward trend).
pub fn mann_kendall(x: &[f64], y: &[f64]) -> (f64, f64, f64) {
    mann_kendall_detrended(x, y, theil_sen(x, y, &mut Vec::new()))
}

/// [`mann_kendall`] with the Theil–Sen slope `b` the caller already has
/// (the detrending of the Hamed–Rao correction uses it).
pub fn mann_kendall_detrended(x: &[f64], y: &[f64], b: f64) -> (f64, f64, f64) {
    let n = y.len();
    if n < 4 {
        return (0.0, 0.0, 1.0);
    }
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += (y[j] - y[i]).signum() * f64::from(y[j] != y[i]);
        }
    }
    let nf = n as f64;
    let mut var = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    // Ties (flat stretches of a quantised series) reduce the variance.
    let mut sorted = y.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            var -= t * (t - 1.0) * (2.0 * t + 5.0) / 18.0;
        }
        i = j + 1;
    }
    // Hamed–Rao: autocorrelation of the ranks of the detrended series, only
    // the lags that are significant, inflate the variance by n/n*.
    let resid: Vec<f64> = x.iter().zip(y).map(|(xi, yi)| yi - b * xi).collect();
    let ranks = ranks(&resid);
    let mean = (nf + 1.0) / 2.0;
    let denom: f64 = ranks.iter().map(|r| (r - mean).powi(2)).sum();
    let mut factor = 1.0;
    if denom > 0.0 {
        let bound = 1.96 / nf.sqrt();
        let mut acc = 0.0;
        for k in 1..n - 2 {
            let rho: f64 = (0..n - k)
                .map(|i| (ranks[i] - mean) * (ranks[i + k] - mean))
                .sum::<f64>()
                / denom;
            if rho.abs() > bound {
                let kf = k as f64;
                acc += (nf - kf) * (nf - kf - 1.0) * (nf - kf - 2.0) * rho;
            }
        }
        factor = (1.0 + 2.0 * acc / (nf * (nf - 1.0) * (nf - 2.0))).max(1.0);
    }
    var *= factor;
    let z = if var <= 0.0 {
        0.0
    } else if s > 0.0 {
        (s - 1.0) / var.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var.sqrt()
    } else {
        0.0
    };
    (s, z, normal_sf(z))
}

/// Ranks 1..=n, ties averaged.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Upper tail of the standard normal, P(Z > z), from erfc (Numerical Recipes'
/// Chebyshev fit, relative error < 1.2e-7: ample for a p-value).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Least squares over any regressors (columns), by the normal equations and
/// Gaussian elimination with partial pivoting: (coefficients, rss). `None`
/// when the columns are collinear. Sized for a handful of columns.
pub fn lstsq(cols: &[Vec<f64>], y: &[f64]) -> Option<(Vec<f64>, f64)> {
    let k = cols.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for i in 0..k {
        for j in 0..k {
            a[i][j] = cols[i].iter().zip(&cols[j]).map(|(p, q)| p * q).sum();
        }
        a[i][k] = cols[i].iter().zip(y).map(|(p, q)| p * q).sum();
    }
    for c in 0..k {
        let piv = (c..k).max_by(|&p, &q| a[p][c].abs().total_cmp(&a[q][c].abs()))?;
        if a[piv][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, piv);
        let pivot = a[c].clone();
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (v, p) in row.iter_mut().zip(&pivot).skip(c) {
                    *v -= f * p;
                }
            }
        }
    }
    let beta: Vec<f64> = (0..k).map(|i| a[i][k] / a[i][i]).collect();
    let rss = (0..y.len())
        .map(|n| {
            let fit: f64 = (0..k).map(|i| beta[i] * cols[i][n]).sum();
            (y[n] - fit).powi(2)
        })
        .sum();
    Some((beta, rss))
}

/// Bayesian information criterion of a Gaussian fit with `k` parameters.
pub fn bic(rss: f64, n: usize, k: usize) -> f64 {
    let nf = n as f64;
    nf * (rss.max(1e-12) / nf).ln() + k as f64 * nf.ln()
}

/// Best saturating curve `y = A - B exp(-x / tau)`: for each `tau` on a log
/// grid the model is linear in (A, B), so OLS on `exp(-x/tau)` solves it.
/// Returns (A, B, tau, rss).
pub fn fit_saturating(x: &[f64], y: &[f64]) -> Option<(f64, f64, f64, f64)> {
    let span = x.last()? - x.first()?;
    if span <= 0.0 {
        return None;
    }
    let x0 = x[0];
    let mut best: Option<(f64, f64, f64, f64)> = None;
    let mut e = Vec::with_capacity(x.len());
    for i in 0..40 {
        // tau from span/50 to 4 span.
        let tau = span / 50.0 * (200.0f64).powf(i as f64 / 39.0);
        e.clear();
        e.extend(x.iter().map(|xi| (-(xi - x0) / tau).exp()));
        let (a, b) = ols(&e, y);
        // y = a + b e: A = a, B = -b; a warm-up rises, so B > 0.
        if b >= 0.0 {
            continue;
        }
        let rss = rss_line(&e, y, a, b);
        if best.is_none_or(|bst| rss < bst.3) {
            best = Some((a, -b, tau, rss));
        }
    }
    best
}

/// A least-squares fit with what a t-test of each coefficient needs.
#[derive(Debug, Clone)]
pub struct Regression {
    /// The coefficients, in the order of the design matrix's columns.
    pub beta: Vec<f64>,
    /// Standard errors of `beta` under independent, equal-variance errors.
    pub se: Vec<f64>,
    /// The residual sum of squares.
    pub rss: f64,
    /// Share of the variance of `y` the fit explains.
    pub r2: f64,
}

/// [`lstsq`] with standard errors, for testing one coefficient with the
/// others held. A coefficient's variance is σ²/RSSⱼ, RSSⱼ the residual sum of
/// squares of its column regressed on the other columns (Frisch–Waugh–Lovell),
/// so [`lstsq`] is all it needs. `None` when the columns are collinear or
/// there are no more rows than columns.
pub fn regress(cols: &[Vec<f64>], y: &[f64]) -> Option<Regression> {
    let (n, k) = (y.len(), cols.len());
    if n <= k || cols.iter().any(|c| c.len() != n) {
        return None;
    }
    let (beta, rss) = lstsq(cols, y)?;
    let sigma2 = rss / (n - k) as f64;
    let mut se = Vec::with_capacity(k);
    for j in 0..k {
        let others: Vec<Vec<f64>> = (0..k)
            .filter(|&i| i != j)
            .map(|i| cols[i].clone())
            .collect();
        let (_, rss_j) = lstsq(&others, &cols[j])?;
        if rss_j <= 0.0 {
            return None;
        }
        se.push((sigma2 / rss_j).sqrt());
    }
    let my = y.iter().sum::<f64>() / n as f64;
    let tss: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    let r2 = if tss > 0.0 { 1.0 - rss / tss } else { 0.0 };
    Some(Regression { beta, se, rss, r2 })
}

/// Upper tail of Student's t with `df` degrees of freedom, P(T > t): the
/// one-sided p-value of a coefficient from few, autocorrelated points, where
/// the normal tail would claim too much. Falls back to the normal tail when
/// `df` is not a valid count.
pub fn t_sf(t: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df).map_or_else(|_| normal_sf(t), |d| d.sf(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theil_sen_ignores_outliers() {
        let x: Vec<f64> = (0..50).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|v| 3.0 * v + 1.0).collect();
        y[10] = 1e9;
        y[40] = -1e9;
        assert!((theil_sen(&x, &y, &mut Vec::new()) - 3.0).abs() < 1e-9);
        let (a, b) = ols(&x, &x.iter().map(|v| 2.0 * v + 5.0).collect::<Vec<_>>());
        assert!((a - 5.0).abs() < 1e-9 && (b - 2.0).abs() < 1e-9);
    }

    #[test]
    fn mann_kendall_sees_trends_and_discounts_cycles() {
        let mut rng = Rng::new(7);
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let up: Vec<f64> = x.iter().map(|v| v * 0.1 + rng.normal()).collect();
        assert!(mann_kendall(&x, &up).2 < 1e-6);
        let flat: Vec<f64> = x.iter().map(|_| rng.normal()).collect();
        assert!(mann_kendall(&x, &flat).2 > 0.01);
        // 1.3 periods of a slow cycle: naive MK calls this a trend, the
        // corrected variance does not make it overwhelming.
        let cyc: Vec<f64> = x.iter().map(|v| (v / 12.0).sin()).collect();
        let (s, z, _) = mann_kendall(&x, &cyc);
        let naive = (s - 1.0) / (100.0f64 * 99.0 * 205.0 / 18.0).sqrt();
        assert!(z.abs() < naive.abs());
    }

    #[test]
    fn lstsq_recovers_a_line_and_a_cycle() {
        let x: Vec<f64> = (0..48).map(f64::from).collect();
        let s: Vec<f64> = x
            .iter()
            .map(|v| (v / 24.0 * std::f64::consts::TAU).sin())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .zip(&s)
            .map(|(v, s)| 3.0 + 0.5 * v + 2.0 * s)
            .collect();
        let (b, rss) = lstsq(&[vec![1.0; 48], x.clone(), s], &y).unwrap();
        assert!(
            (b[0] - 3.0).abs() < 1e-6 && (b[1] - 0.5).abs() < 1e-6 && (b[2] - 2.0).abs() < 1e-6
        );
        assert!(rss < 1e-9);
    }

    #[test]
    fn normal_tail() {
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.959964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn bootstrap_covers_the_true_slope() {
        // A 90% interval should cover the truth in most of 40 noisy series.
        let x: Vec<f64> = (0..80).map(f64::from).collect();
        let mut covered = 0;
        for seed in 0..40 {
            let mut rng = Rng::new(seed);
            let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 5.0 * rng.normal()).collect();
            let (lo, hi) = block_bootstrap_slope(&x, &y, 200, 0.9, &mut rng);
            assert!(lo > 1.5 && hi < 2.5, "{lo} {hi}");
            covered += usize::from(lo < 2.0 && 2.0 < hi);
        }
        assert!(covered >= 28, "{covered} of 40");
    }

    #[test]
    fn bootstrap_is_theil_sen_on_block_resamples() {
        // The definition, resample by resample, against the counted walk:
        // bit-identical intervals, also with ties in x and y.
        fn by_resampling(x: &[f64], y: &[f64], reps: usize, rng: &mut Rng) -> (f64, f64) {
            let n = x.len();
            let block = ((n as f64).cbrt().ceil() as usize).clamp(2, n / 2);
            let mut slopes = Vec::new();
            for _ in 0..reps {
                let mut idx = Vec::new();
                while idx.len() < n {
                    let start = rng.below(n - block + 1);
                    idx.extend((start..start + block).take(n - idx.len()));
                }
                idx.sort_unstable();
                let bx: Vec<f64> = idx.iter().map(|&i| x[i]).collect();
                let by: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
                slopes.push(theil_sen(&bx, &by, &mut Vec::new()));
            }
            let a = (1.0 - 0.9) / 2.0;
            (quantile(&mut slopes, a), quantile(&mut slopes, 1.0 - a))
        }
        for seed in 0..200 {
            let mut rng = Rng::new(seed);
            let n = 4 + rng.below(60);
            let mut x: Vec<f64> = (0..n).map(|i| i as f64 + rng.range(0.0, 0.9)).collect();
            let y: Vec<f64> = x
                .iter()
                .map(|v| (0.3 * v + rng.normal()).round() * if seed % 3 == 0 { 0.0 } else { 1.0 })
                .collect();
            if seed % 5 == 0 {
                x[n / 2] = x[n / 2 - 1];
            }
            let reps = 1 + rng.below(80);
            let (mut a, mut b) = (Rng::new(seed), Rng::new(seed));
            let ours = block_bootstrap_slope(&x, &y, reps, 0.9, &mut a);
            let theirs = by_resampling(&x, &y, reps, &mut b);
            assert_eq!(
                (ours.0.to_bits(), ours.1.to_bits()),
                (theirs.0.to_bits(), theirs.1.to_bits()),
                "seed {seed}: {ours:?} {theirs:?}"
            );
        }
    }

    #[test]
    fn saturating_fit_finds_the_asymptote() {
        let x: Vec<f64> = (0..100).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 100.0 - 60.0 * (-v / 15.0).exp()).collect();
        let (a, b, tau, _) = fit_saturating(&x, &y).unwrap();
        assert!(
            (a - 100.0).abs() < 2.0 && (b - 60.0).abs() < 5.0,
            "{a} {b} {tau}"
        );
    }

    #[test]
    fn regress_recovers_known_coefficients_and_their_uncertainty() {
        // y = 10 + 3 load + 0.5 t + noise, load a cycle that time does not explain.
        let mut rng = Rng::new(3);
        let t: Vec<f64> = (0..120).map(f64::from).collect();
        let load: Vec<f64> = t.iter().map(|v| 100.0 + 40.0 * (v / 9.0).sin()).collect();
        let y: Vec<f64> = t
            .iter()
            .zip(&load)
            .map(|(t, l)| 10.0 + 3.0 * l + 0.5 * t + rng.normal())
            .collect();
        let r = regress(&[vec![1.0; 120], load.clone(), t.clone()], &y).unwrap();
        assert!((r.beta[1] - 3.0).abs() < 3.0 * r.se[1], "{r:?}");
        assert!((r.beta[2] - 0.5).abs() < 3.0 * r.se[2], "{r:?}");
        // Unit noise over 120 points: the time slope is known to about 0.003.
        assert!(r.se[2] > 0.001 && r.se[2] < 0.01, "{r:?}");
        assert!(r.r2 > 0.99);
        // Exact data: exact coefficients, no residual.
        let exact: Vec<f64> = t.iter().zip(&load).map(|(t, l)| 2.0 * l - t).collect();
        let e = regress(&[vec![1.0; 120], load.clone(), t.clone()], &exact).unwrap();
        assert!((e.beta[1] - 2.0).abs() < 1e-6 && (e.beta[2] + 1.0).abs() < 1e-6);
        assert!(e.rss < 1e-6);
        // A constant regressor is collinear with the intercept; too few rows, no fit.
        assert!(regress(&[vec![1.0; 120], vec![5.0; 120], t.clone()], &y).is_none());
        assert!(regress(
            &[vec![1.0; 3], load[..3].to_vec(), t[..3].to_vec()],
            &y[..3]
        )
        .is_none());
    }

    #[test]
    fn student_t_tail() {
        assert!((t_sf(0.0, 5.0) - 0.5).abs() < 1e-9);
        // t(0.975; 10) = 2.228: heavier than the normal's 1.96.
        assert!((t_sf(2.228, 10.0) - 0.025).abs() < 1e-3);
        assert!((t_sf(1.959964, f64::NAN) - 0.025).abs() < 1e-6);
    }
}
