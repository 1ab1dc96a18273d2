//! Follows every group across N snapshots: the generic part of a diff.

use crate::Error;
use lh_model::{Group, GroupStat, InputFormat, Report, SnapshotInfo, Summary};
use std::collections::HashMap;

/// Merges summaries (in time order) into a report with no suspects yet.
///
/// A group missing from a snapshot counts as zero there, as in `go tool pprof
/// -diff_base`. `delta` is last minus first; `monotonic` needs three or more
/// snapshots and growth at every step. Groups are sorted by `delta_bytes`,
/// descending, then by key so that output is stable.
pub fn merge(summaries: &[Summary]) -> Result<Report, Error> {
    let first = &summaries[0];
    for s in &summaries[1..] {
        if s.unit != first.unit || s.sample_type != first.sample_type {
            return Err(Error::Mismatch(format!(
                "cannot diff snapshots of different sample types: {} has {}, {} has {}",
                first.info.path,
                describe(first),
                s.info.path,
                describe(s)
            )));
        }
    }
    let n = summaries.len();
    let mut rows: HashMap<&str, Vec<GroupStat>> = HashMap::new();
    for (i, s) in summaries.iter().enumerate() {
        for (k, v) in &s.groups {
            rows.entry(k.as_str())
                .or_insert_with(|| vec![GroupStat::default(); n])[i] = *v;
        }
    }
    Ok(report(
        first.format,
        &first.unit,
        summaries.iter().map(|s| s.info.clone()).collect(),
        rows.into_iter().map(|(k, v)| (k.to_string(), v)),
    ))
}

/// A report from groups already followed across snapshots: each row is a key
/// and its stats in every snapshot, in time order. For formats that match
/// groups across snapshots themselves, cheaper than by key string (tracemalloc).
pub fn report(
    format: InputFormat,
    unit: &str,
    snapshots: Vec<SnapshotInfo>,
    rows: impl IntoIterator<Item = (String, Vec<GroupStat>)>,
) -> Report {
    let n = snapshots.len();
    let groups: Vec<Group> = rows
        .into_iter()
        .map(|(key, stats)| {
            let bytes: Vec<i64> = stats.iter().map(|s| s.bytes).collect();
            let count: Vec<i64> = stats.iter().map(|s| s.count).collect();
            Group {
                key,
                delta_bytes: bytes[n - 1] - bytes[0],
                delta_count: count[n - 1] - count[0],
                monotonic: n >= 3 && bytes.windows(2).all(|w| w[1] > w[0]),
                bytes,
                count,
                retained_bytes: None,
                retainer_path: None,
            }
        })
        .collect();
    // By growth (by size for one snapshot), then key. Sorted as small
    // (value, key, index) entries and moved into place once: a Group is over
    // 100 bytes, and a sort of tens of thousands moves each many times.
    let value = |g: &Group| if n == 1 { g.bytes[0] } else { g.delta_bytes };
    let mut order: Vec<(i64, &str, usize)> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| (value(g), g.key.as_str(), i))
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let order: Vec<usize> = order.into_iter().map(|(_, _, i)| i).collect();
    let mut slots: Vec<Option<Group>> = groups.into_iter().map(Some).collect();
    let groups = order.into_iter().filter_map(|i| slots[i].take()).collect();
    Report {
        format,
        unit: unit.to_string(),
        snapshots,
        groups,
        suspects: Vec::new(),
        details: Default::default(),
    }
}

fn describe(s: &Summary) -> String {
    match &s.sample_type {
        Some(t) => format!("{t} ({})", s.unit),
        None => s.unit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(path: &str, rows: &[(&str, i64)]) -> Summary {
        Summary {
            format: InputFormat::Pprof,
            unit: "bytes".into(),
            sample_type: Some("inuse_space".into()),
            info: SnapshotInfo {
                path: path.into(),
                ..Default::default()
            },
            groups: rows
                .iter()
                .map(|(k, b)| {
                    (
                        k.to_string(),
                        GroupStat {
                            bytes: *b,
                            count: 1,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn deltas_monotonic_and_order() {
        let r = merge(&[
            summary("a", &[("leak", 10), ("flat", 5), ("gone", 7)]),
            summary("b", &[("leak", 20), ("flat", 9)]),
            summary("c", &[("leak", 30), ("flat", 5), ("new", 3)]),
        ])
        .unwrap();
        let keys: Vec<_> = r.groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["leak", "new", "flat", "gone"]);
        assert_eq!(r.groups[0].delta_bytes, 20);
        assert!(r.groups[0].monotonic);
        assert!(!r.groups[2].monotonic, "flat grew then shrank");
        assert_eq!(r.groups[3].bytes, [7, 0, 0]);
    }

    #[test]
    fn two_snapshots_are_never_monotonic() {
        let r = merge(&[summary("a", &[("x", 1)]), summary("b", &[("x", 2)])]).unwrap();
        assert!(!r.groups[0].monotonic);
    }

    #[test]
    fn sample_types_must_match() {
        let mut b = summary("b", &[("x", 2)]);
        b.sample_type = Some("goroutine".into());
        b.unit = "goroutines".into();
        let e = merge(&[summary("a", &[("x", 1)]), b]).unwrap_err();
        assert!(e.to_string().contains("different sample types"), "{e}");
    }
}
