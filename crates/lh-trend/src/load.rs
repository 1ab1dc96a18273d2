//! Growth that follows load is not a leak.
//!
//! A service whose traffic doubles over a week holds twice the sessions,
//! buffers and caches: its memory floor rises for days, and from memory alone
//! that is a leak. Given a load series (requests/s, queue length,
//! connections), the floor is regressed on load *and* time together, twice:
//!
//! - [`remove`], before the detector's tests: when load significantly drives
//!   the floor, its part is taken out, so that traffic's swings and ramps
//!   neither pass for growth nor hide a leak under them;
//! - [`check`], on a rise that would still be a leak: if the load term
//!   carries it and the time term, load held fixed, is neither significant
//!   nor material, the growth is load's (`no-leak`); if memory still grows
//!   with time beyond what load explains, it stays a leak, and the reason
//!   gives the load-adjusted slope.
//!
//! The floor buckets are autocorrelated (a regime lasts many buckets), which
//! would make an ordinary t-test claim far too much; the standard errors are
//! widened by the AR(1) factor of the residuals and the degrees of freedom cut
//! to the effective sample size.

use crate::stats;
use lh_model::human_bytes;

/// What the load says about a rise the detector would call a leak.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadCheck {
    /// Load explains the growth: the verdict is `no-leak`.
    Explained {
        /// How sure the `no-leak` verdict is.
        confidence: f64,
        /// What the load did, for the user.
        reason: String,
    },
    /// The verdict stands; the reason says why (growth beyond load, load
    /// unrelated, or load unusable over the judged span).
    Stands(String),
}

/// The quantile of its samples the detector's envelope takes as a bucket's floor.
const FLOOR_QUANTILE: f64 = 0.05;

/// Less of the judged floor than this covered by load samples, and the load is not used.
const MIN_COVERAGE: f64 = 0.8;

/// Memory regressed on load and time, with the one-sided p-values of both terms.
struct Fit {
    /// The load under each floor bucket (see [`align`]).
    aligned: Vec<Option<f64>>,
    /// Mean and spread of the aligned load, and the floor's change per spread of load.
    load_mean: f64,
    load_sd: f64,
    per_sd: f64,
    p_load: f64,
    p_time: f64,
    /// The load-adjusted slope and two standard errors of it, bytes per hour.
    slope: f64,
    band: f64,
    /// Mean of the floor, and the share of its variance the fit explains.
    level: f64,
    r2: f64,
}

impl Fit {
    /// The load-adjusted slope as the reasons give it.
    fn after(&self) -> String {
        format!(
            "after load, the floor's slope is {}/h ± {}/h (2 s.e., autocorrelation-corrected; p = {:.2e})",
            human_bytes(self.slope as i64),
            human_bytes(self.band as i64),
            self.p_time
        )
    }
}

/// Fits a floor, `(unix seconds, bytes)` per envelope bucket, on the load
/// `(unix seconds, value)`, cleaned and sorted, and time; `Err` says why the
/// load cannot be used.
fn fit(floor: &[(f64, f64)], load: &[(f64, f64)]) -> Result<Fit, String> {
    let aligned = align(floor, load);
    let (t, (y, l)): (Vec<f64>, (Vec<f64>, Vec<f64>)) = floor
        .iter()
        .zip(&aligned)
        .filter_map(|(&(t, y), a)| a.map(|l| (t, (y, l))))
        .unzip();
    let n = t.len();
    if n < 8 || (n as f64) < MIN_COVERAGE * floor.len() as f64 {
        return Err(format!(
            "load samples cover {n} of the {} floor buckets of the judged span (at least {:.0}% and 8 are needed); judged without load",
            floor.len(),
            MIN_COVERAGE * 100.0
        ));
    }
    // Centred and scaled regressors keep the normal equations well
    // conditioned whatever the units of the load (1 request/s or 1e9 bytes).
    let standardize = |v: &[f64]| -> Option<(Vec<f64>, f64)> {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
        (sd > 1e-9 * m.abs().max(1e-300)).then(|| (v.iter().map(|x| (x - m) / sd).collect(), sd))
    };
    let Some((lz, load_sd)) = standardize(&l) else {
        return Err(
            "load is constant over the judged span, so it cannot explain growth; judged without load".into(),
        );
    };
    let hours: Vec<f64> = t.iter().map(|s| (s - t[0]) / 3600.0).collect();
    let Some((tz, t_sd)) = standardize(&hours) else {
        return Err("the judged span has no length; judged without load".into());
    };
    let Some(fit) = stats::regress(&[vec![1.0; n], lz.clone(), tz.clone()], &y) else {
        return Err(
            "load moves in lockstep with time over the judged span, so the two cannot be told apart; judged without load".into(),
        );
    };
    // AR(1) of the residuals: n_eff = n (1 − ρ)/(1 + ρ) independent points.
    let resid: Vec<f64> = (0..n)
        .map(|i| y[i] - fit.beta[0] - fit.beta[1] * lz[i] - fit.beta[2] * tz[i])
        .collect();
    let ss: f64 = resid.iter().map(|e| e * e).sum();
    let rho = if ss > 0.0 {
        (resid.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / ss).clamp(0.0, 0.9)
    } else {
        0.0
    };
    let inflate = ((1.0 + rho) / (1.0 - rho)).sqrt();
    let df = (n as f64 * (1.0 - rho) / (1.0 + rho) - 3.0).max(1.0);
    let p = |j: usize| {
        let se = fit.se[j] * inflate;
        if se > 0.0 {
            stats::t_sf(fit.beta[j] / se, df)
        } else {
            // A perfect fit: the sign alone decides.
            if fit.beta[j] > 0.0 {
                0.0
            } else {
                1.0
            }
        }
    };
    Ok(Fit {
        load_mean: l.iter().sum::<f64>() / n as f64,
        load_sd,
        per_sd: fit.beta[1],
        p_load: p(1),
        p_time: p(2),
        // Back to bytes per hour.
        slope: fit.beta[2] / t_sd,
        band: 2.0 * fit.se[2] * inflate / t_sd,
        level: y.iter().sum::<f64>() / n as f64,
        r2: fit.r2,
        aligned,
    })
}

/// Takes load's part out of the floor `lo` (bucket times and values as
/// measured in `floor`) when load significantly drives it: what is left is
/// judged as memory alone would be, with traffic's swings and ramps gone.
/// The peaks keep load's part, since the OOM killer sees them at whatever
/// load there is. Returns what it did, for the reasons; `None` (and nothing
/// changed) otherwise.
pub fn remove(
    floor: &[(f64, f64)],
    load: &[(f64, f64)],
    alpha: f64,
    lo: &mut [f64],
) -> Option<String> {
    let f = fit(floor, load).ok()?;
    if f.per_sd <= 0.0 || f.p_load >= alpha {
        return None;
    }
    // Buckets without a load sample take their nearest neighbour's.
    let mut last = f.aligned.iter().flatten().next().copied()?;
    for (a, lo) in f.aligned.iter().zip(lo.iter_mut()) {
        last = a.unwrap_or(last);
        *lo -= f.per_sd * (last - f.load_mean) / f.load_sd;
    }
    // Said as the brief verdict would be: whether time still adds growth.
    let head = if f.p_time < alpha {
        "the floor follows load and grows beyond it"
    } else {
        "growth follows load"
    };
    Some(format!(
        "{head} (r² = {:.2}, {} per unit of load); {}; judged with load's part removed",
        f.r2,
        human_bytes((f.per_sd / f.load_sd) as i64),
        f.after()
    ))
}

/// Judges a floor, `(unix seconds, bytes)` per envelope bucket, against the
/// load `(unix seconds, value)`, cleaned and sorted.
/// `alpha` is the one-sided level of both t-tests; growth below
/// `min_daily_growth` of the level a day is not material.
pub fn check(
    floor: &[(f64, f64)],
    load: &[(f64, f64)],
    alpha: f64,
    min_daily_growth: f64,
) -> LoadCheck {
    let f = match fit(floor, load) {
        Ok(f) => f,
        Err(why) => return LoadCheck::Stands(why),
    };
    let (p_load, p_time) = (f.p_load, f.p_time);
    let daily = f.slope * 24.0 / f.level.max(1.0);
    let after = f.after();
    if f.per_sd <= 0.0 || p_load >= alpha {
        return LoadCheck::Stands(format!(
            "load does not explain the floor (load term p = {p_load:.2e}, r² = {:.2}); judged on time alone",
            f.r2
        ));
    }
    if p_time < alpha && daily >= min_daily_growth {
        return LoadCheck::Stands(format!(
            "memory grows beyond load (r² = {:.2}): {after}, {:.1}% of its level a day",
            f.r2,
            daily * 100.0
        ));
    }
    LoadCheck::Explained {
        // Sure that load carries the rise, and that time does not.
        confidence: (1.0 - p_load).min(0.5 + p_time).clamp(0.5, 0.95),
        reason: format!(
            "growth follows load (r² = {:.2}); {after}: {}",
            f.r2,
            if p_time < alpha {
                format!(
                    "{:.2}% of the level a day, too little to matter",
                    daily * 100.0
                )
            } else {
                "not significant".into()
            }
        ),
    }
}

/// The load under each floor bucket: load is sampled on its own clock, so
/// its samples are gathered over the bucket's stretch of time (from halfway to
/// the previous bucket to halfway to the next), `None` where none falls. The
/// floor is a low quantile of memory in its bucket, and memory rises with
/// load, so the load it answers to is the same low quantile of load, not the
/// mean: on a rising day the mean runs ahead of the floor, more so the
/// steeper the day, and that lag would pass for growth over time.
fn align(floor: &[(f64, f64)], load: &[(f64, f64)]) -> Vec<Option<f64>> {
    let n = floor.len();
    let edge = |i: usize| -> f64 {
        match i {
            0 if n > 1 => floor[0].0 - (floor[1].0 - floor[0].0) / 2.0,
            0 => floor[0].0,
            _ if i == n => floor[n - 1].0 + (floor[n - 1].0 - floor[n.saturating_sub(2)].0) / 2.0,
            _ => (floor[i - 1].0 + floor[i].0) / 2.0,
        }
    };
    let mut bucket = Vec::new();
    (0..n)
        .map(|i| {
            let (a, b) = (edge(i), edge(i + 1));
            let from = load.partition_point(|p| p.0 < a);
            let to = load.partition_point(|p| p.0 < b);
            bucket.clear();
            bucket.extend(load[from..to.max(from)].iter().map(|p| p.1));
            (!bucket.is_empty()).then(|| stats::quantile(&mut bucket, FLOOR_QUANTILE))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    /// `(unix seconds, value)` pairs.
    type Timeline = Vec<(f64, f64)>;

    /// Hourly floor buckets over three days and a load sampled every 60 s on
    /// its own clock: a daily cycle on a ramp that doubles the traffic.
    fn scenario(leak_per_h: f64, seed: u64) -> (Timeline, Timeline) {
        let t0 = 1_764_300_000.0;
        let mut rng = Rng::new(seed);
        let traffic = |s: f64| {
            200.0
                * (1.0 + s / (3.0 * 86400.0))
                * (1.0 + 0.3 * (s / 86400.0 * std::f64::consts::TAU).sin())
        };
        let load: Vec<(f64, f64)> = (0..3 * 1440)
            .map(|i| {
                let s = i as f64 * 60.0 + 17.0;
                (t0 + s, traffic(s) * (1.0 + 0.03 * rng.normal()))
            })
            .collect();
        let floor: Vec<(f64, f64)> = (0..72)
            .map(|h| {
                let s = h as f64 * 3600.0 + 1800.0;
                let v = 300e6 + 400e3 * traffic(s) + leak_per_h * h as f64 + 1e6 * rng.normal();
                (t0 + s, v)
            })
            .collect();
        (floor, load)
    }

    #[test]
    fn growth_that_follows_load_is_explained() {
        let (floor, load) = scenario(0.0, 1);
        match check(&floor, &load, 0.001, 0.01) {
            LoadCheck::Explained { confidence, reason } => {
                assert!(confidence >= 0.5, "{reason}");
                assert!(reason.contains("growth follows load (r² = "), "{reason}");
                assert!(reason.contains("not significant"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_leak_under_load_stays_a_leak_with_its_own_slope() {
        // 2 MB/h on 300 MB is 16 % a day, beside a load that moves 80 MB.
        let (floor, load) = scenario(2e6, 2);
        match check(&floor, &load, 0.001, 0.01) {
            LoadCheck::Stands(reason) => {
                assert!(reason.contains("memory grows beyond load"), "{reason}");
                // The load-adjusted slope is the leak's, not the ramp's.
                assert!(reason.contains("slope is 1.9 MiB/h"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn removing_load_leaves_the_leak_and_nothing_else() {
        for (leak, grows) in [(0.0, false), (2e6, true)] {
            let (floor, load) = scenario(leak, 4);
            let mut lo: Vec<f64> = floor.iter().map(|p| p.1).collect();
            let why = remove(&floor, &load, 0.001, &mut lo).unwrap();
            assert_eq!(
                why.starts_with("the floor follows load and grows beyond it"),
                grows,
                "{why}"
            );
            // The traffic doubled, adding 80 MB; what is left rises by the leak alone.
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let rise = mean(&lo[66..]) - mean(&lo[..6]);
            assert!((rise - leak * 66.0).abs() < 5e6, "{rise} {why}");
        }
        // Load that does not drive memory is left alone.
        let (floor, load) = scenario(2e6, 5);
        let noise: Vec<(f64, f64)> = load.iter().map(|p| (p.0, 100.0 + (p.0 % 7.0))).collect();
        let mut lo: Vec<f64> = floor.iter().map(|p| p.1).collect();
        assert_eq!(remove(&floor, &noise, 0.001, &mut lo), None);
        assert!(lo.iter().zip(&floor).all(|(a, b)| *a == b.1));
    }

    #[test]
    fn bad_load_is_said_and_never_panics() {
        let (floor, load) = scenario(0.0, 3);
        let stands = |c: LoadCheck, says: &str| match c {
            LoadCheck::Stands(r) => assert!(r.contains(says), "{r}"),
            other => panic!("{other:?}"),
        };
        stands(check(&floor, &[], 0.001, 0.01), "cover 0 of the 72");
        // A load of another day: nothing lines up.
        let elsewhere: Vec<(f64, f64)> = load.iter().map(|p| (p.0 - 30.0 * 86400.0, p.1)).collect();
        stands(check(&floor, &elsewhere, 0.001, 0.01), "cover 0 of");
        // Half the span only.
        stands(
            check(&floor, &load[..load.len() / 2], 0.001, 0.01),
            "cover 36 of",
        );
        let flat: Vec<(f64, f64)> = load.iter().map(|p| (p.0, 42.0)).collect();
        stands(check(&floor, &flat, 0.001, 0.01), "constant");
        let zero: Vec<(f64, f64)> = load.iter().map(|p| (p.0, 0.0)).collect();
        stands(check(&floor, &zero, 0.001, 0.01), "constant");
        // Load unrelated to memory: noise around a level.
        let mut rng = Rng::new(9);
        let noise: Vec<(f64, f64)> = load.iter().map(|p| (p.0, 100.0 + rng.normal())).collect();
        stands(check(&floor, &noise, 0.001, 0.01), "load does not explain");
        // Degenerate floors.
        stands(check(&[], &load, 0.001, 0.01), "cover 0 of the 0");
        stands(check(&floor[..1], &load, 0.001, 0.01), "cover");
    }
}
