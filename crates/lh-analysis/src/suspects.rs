//! Ranks growing groups into suspects: growth that persists, not one-off noise.

use lh_model::{Group, Report, Suspect};

/// When a growing group is worth naming. Formats pick values that fit their
/// noise: pprof heap profiles are sampled every 512 KiB, goroutines are exact.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// The least growth, in the report's unit, from first to last snapshot.
    pub min_delta: i64,
    /// The least share of the last snapshot's total that the growth must reach.
    pub min_share: f64,
}

/// The groups of a diff that grew enough, and steadily enough, to be suspects,
/// most likely first, each with a confidence in 0..=1. The caller fills in
/// pattern and hint.
///
/// With three or more snapshots a suspect must grow in at least three quarters
/// of the steps and never fall below where it started; a group that grew once
/// and stayed is a warm-up, not a leak. With two snapshots there is no way to
/// tell, so confidence is capped.
pub fn rank(report: &Report, t: Thresholds) -> Vec<Suspect> {
    let n = report.snapshots.len();
    if n < 2 {
        return Vec::new();
    }
    let last_total = report.snapshots[n - 1].total_bytes.max(1) as f64;
    let total_growth: i64 = report.groups.iter().map(|g| g.delta_bytes.max(0)).sum();
    let mut out: Vec<Suspect> = report
        .groups
        .iter()
        .filter(|g| {
            g.delta_bytes >= t.min_delta && g.delta_bytes as f64 >= t.min_share * last_total
        })
        .filter_map(|g| {
            let steady = steadiness(g);
            if n >= 3 && steady < 0.75 {
                return None;
            }
            let share = g.delta_bytes as f64 / total_growth.max(1) as f64;
            let confidence = if n >= 3 {
                (0.5 + 0.3 * steady + 0.2 * share).min(0.99)
            } else {
                (0.4 + 0.3 * share).min(0.7)
            };
            Some(Suspect {
                key: g.key.clone(),
                delta_bytes: g.delta_bytes,
                retained_bytes: g.retained_bytes,
                retainer_path: g.retainer_path.clone(),
                pattern: None,
                hint: String::new(),
                confidence: (confidence * 100.0).round() / 100.0,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.delta_bytes.cmp(&a.delta_bytes))
            .then_with(|| a.key.cmp(&b.key))
    });
    out
}

/// The share of steps in which the group grew, or 0 if it ever fell below its start.
fn steadiness(g: &Group) -> f64 {
    let steps = g.bytes.len().saturating_sub(1);
    if steps == 0 || g.bytes.iter().any(|b| *b < g.bytes[0]) {
        return 0.0;
    }
    g.bytes.windows(2).filter(|w| w[1] > w[0]).count() as f64 / steps as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::{InputFormat, SnapshotInfo};

    fn report(rows: &[(&str, &[i64])]) -> Report {
        let n = rows[0].1.len();
        let totals: Vec<i64> = (0..n).map(|i| rows.iter().map(|r| r.1[i]).sum()).collect();
        Report {
            format: InputFormat::Pprof,
            unit: "bytes".into(),
            snapshots: totals
                .iter()
                .map(|t| SnapshotInfo {
                    path: String::new(),
                    total_bytes: *t,
                    total_count: 0,
                })
                .collect(),
            groups: rows
                .iter()
                .map(|(k, b)| Group {
                    key: k.to_string(),
                    bytes: b.to_vec(),
                    count: vec![0; n],
                    delta_bytes: b[n - 1] - b[0],
                    delta_count: 0,
                    monotonic: false,
                    retained_bytes: None,
                    retainer_path: None,
                })
                .collect(),
            suspects: vec![],
            details: Default::default(),
        }
    }

    const T: Thresholds = Thresholds {
        min_delta: 100,
        min_share: 0.01,
    };

    #[test]
    fn steady_growth_beats_a_one_off_jump() {
        let r = report(&[
            ("leak", &[100, 400, 700, 1000]),
            ("warmup", &[100, 2000, 2000, 2000]),
            ("noise", &[500, 520, 490, 510]),
        ]);
        let s = rank(&r, T);
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].key, "leak");
        assert!(s[0].confidence > 0.8);
    }

    #[test]
    fn small_growth_is_not_a_suspect() {
        let r = report(&[("big", &[1_000_000, 1_000_050]), ("tiny", &[10, 60])]);
        assert!(rank(&r, T).is_empty());
    }

    #[test]
    fn two_snapshots_cap_confidence() {
        let r = report(&[("leak", &[0, 10_000])]);
        let s = rank(&r, T);
        assert_eq!(s[0].key, "leak");
        assert!(s[0].confidence <= 0.7);
    }
}
