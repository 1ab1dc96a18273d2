//! What a `leak` verdict's confidence means: the detector's raw score mapped
//! to the share of right verdicts at that score. Written by `lh-eval
//! calibrate` (isotonic regression over every hourly `leak` verdict of the
//! project's own corpus); do not edit by hand.

/// (raw score, share of right `leak` verdicts), the raw score rising.
pub const KNOTS: &[(f64, f64)] = &[
    (0.5666, 0.9221),
    (0.6167, 0.9805),
    (0.8199, 0.9932),
    (0.9938, 0.9987),
];

/// The calibrated confidence of a raw score: linear between knots, the end
/// knots' shares beyond them.
pub fn apply(raw: f64) -> f64 {
    let k = KNOTS;
    let i = k.partition_point(|p| p.0 < raw);
    if i == 0 {
        return k[0].1;
    }
    if i == k.len() {
        return k[k.len() - 1].1;
    }
    let (a, b) = (k[i - 1], k[i]);
    a.1 + (b.1 - a.1) * (raw - a.0) / (b.0 - a.0).max(f64::MIN_POSITIVE)
}
