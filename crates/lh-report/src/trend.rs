//! Renderers of `trend` and `detect`: the text chart of one series, the
//! summary under it, and the table of many verdicts.

use crate::{bold_header, borderless, TableStyle};
use comfy_table::{Cell, CellAlignment};
use lh_model::{human_bytes, human_duration, Verdict};
use std::fmt::Write;

/// What the chart draws besides the verdict: the cleaned samples and the
/// fitted trend of the floor (both from the detector's analysis).
pub struct ChartInput<'a> {
    /// `(unix seconds, bytes)`, in time order.
    pub points: &'a [(f64, f64)],
    /// Two ends of the fitted line, when the detector fitted one.
    pub trend: Option<[(f64, f64); 2]>,
}

/// A text chart: samples as `·` (min to max per column), the fitted trend as
/// `*`, the limit as `=`. Plain characters, so it survives any terminal and a
/// CI log. Empty for fewer than two samples: there is no line to draw.
pub fn chart(input: &ChartInput<'_>, v: &Verdict, width: usize) -> String {
    let pts = input.points;
    if pts.len() < 2 {
        return String::new();
    }
    let cols = width.saturating_sub(12).max(20);
    let rows: usize = 14;
    let (t0, t1) = (pts[0].0, pts[pts.len() - 1].0);
    let mut hi = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    if let Some(l) = v.limit_bytes {
        hi = hi.max(l as f64);
    }
    let lo = 0.0;
    let span = (t1 - t0).max(1.0);
    let col = |t: f64| (((t - t0) / span) * (cols - 1) as f64).round() as usize;
    let row = |y: f64| {
        let r = ((y - lo) / (hi - lo).max(1.0) * (rows - 1) as f64).round();
        (rows - 1).saturating_sub(r.clamp(0.0, (rows - 1) as f64) as usize)
    };
    let mut grid = vec![vec![' '; cols]; rows];
    let mut range = vec![(usize::MAX, 0usize); cols];
    for p in pts {
        let c = col(p.0).min(cols - 1);
        let r = row(p.1);
        range[c] = (range[c].0.min(r), range[c].1.max(r));
    }
    for (c, &(a, b)) in range.iter().enumerate() {
        if a <= b {
            for g in grid.iter_mut().take(b + 1).skip(a) {
                g[c] = '·';
            }
        }
    }
    if let Some([(ta, ya), (tb, yb)]) = input.trend {
        let (ca, cb) = (col(ta), col(tb).min(cols - 1));
        let marks: Vec<(usize, usize)> = (ca..=cb)
            .map(|c| {
                let t = t0 + span * c as f64 / (cols - 1) as f64;
                (row(ya + (yb - ya) * (t - ta) / (tb - ta).max(1.0)), c)
            })
            .collect();
        for (r, c) in marks {
            grid[r][c] = '*';
        }
    }
    if let Some(l) = v.limit_bytes {
        let r = row(l as f64);
        for cell in grid[r].iter_mut() {
            *cell = '=';
        }
    }
    let mut s = String::new();
    for (i, line) in grid.iter().enumerate() {
        let label = if i == 0 {
            human_bytes(hi as i64)
        } else if i == rows - 1 {
            human_bytes(lo as i64)
        } else {
            String::new()
        };
        let _ = writeln!(s, "{label:>10} |{}", line.iter().collect::<String>());
    }
    let _ = write!(
        s,
        "{:>10} +{}\n{:>12}{} of history; · samples, * fitted trend of the floor, = limit\n",
        "",
        "-".repeat(cols),
        "",
        human_duration(span)
    );
    s
}

/// The lines under the chart: the verdict, the time to the limit, and every
/// reason, so that a user can check the detector's argument.
pub fn summary(v: &Verdict, samples: usize) -> String {
    let mut s = format!(
        "\n{}: {} (confidence {:.2}), floor slope {}/h, {samples} samples\n",
        v.id,
        v.verdict,
        v.confidence,
        human_bytes(v.slope_bytes_per_hour as i64)
    );
    if let Some(t) = v.time_to_limit_seconds {
        let _ = writeln!(s, "time to limit: {}", human_duration(t));
    }
    for r in &v.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    s
}

/// The `detect` table, one row per series, filled as verdicts come (the
/// detector streams them) and drawn once: a table needs every row to size its
/// columns.
pub struct DetectTable {
    table: comfy_table::Table,
}

impl DetectTable {
    /// An empty table with its header.
    pub fn new(style: TableStyle) -> Self {
        let mut table = borderless(style);
        table.set_header(
            ["id", "verdict", "slope/h", "conf", "to limit", "reason"]
                .map(|h| bold_header(h, style)),
        );
        DetectTable { table }
    }

    /// Adds one verdict's row; the last reason is the one that decided.
    pub fn push(&mut self, v: &Verdict) {
        self.table.add_row(vec![
            Cell::new(&v.id),
            Cell::new(v.verdict),
            Cell::new(human_bytes(v.slope_bytes_per_hour as i64)),
            Cell::new(format!("{:.2}", v.confidence)),
            Cell::new(v.time_to_limit_seconds.map_or("-".into(), human_duration)),
            Cell::new(v.reasons.last().map_or("", String::as_str)),
        ]);
    }

    /// The table as text, numbers right-aligned.
    pub fn render(mut self) -> String {
        for i in 2..5 {
            if let Some(c) = self.table.column_mut(i) {
                c.set_cell_alignment(CellAlignment::Right);
            }
        }
        format!("{}\n", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::VerdictKind;

    fn verdict(limit: Option<u64>) -> Verdict {
        Verdict {
            id: "ns/pod/c".into(),
            verdict: VerdictKind::Leak,
            slope_bytes_per_hour: 10.0 * 1048576.0,
            confidence: 0.93,
            time_to_limit_seconds: Some(7200.0),
            limit_bytes: limit,
            reasons: vec!["first".into(), "the floor rises".into()],
        }
    }

    #[test]
    fn chart_draws_samples_trend_and_limit() {
        let points: Vec<(f64, f64)> = (0..100)
            .map(|i| (i as f64 * 60.0, 1e6 + i as f64 * 1e4))
            .collect();
        let input = ChartInput {
            points: &points,
            trend: Some([points[0], points[99]]),
        };
        let c = chart(&input, &verdict(Some(4_000_000)), 80);
        assert_eq!(c.lines().count(), 16, "{c}");
        assert!(
            c.contains('·') && c.contains('*') && c.contains("=="),
            "{c}"
        );
        assert!(c.lines().all(|l| l.chars().count() <= 80), "{c}");
        let one = ChartInput {
            points: &points[..1],
            trend: None,
        };
        assert_eq!(chart(&one, &verdict(None), 80), "");
    }

    #[test]
    fn detect_table_has_a_row_per_verdict_and_fits() {
        let mut t = DetectTable::new(TableStyle {
            width: 100,
            color: false,
        });
        t.push(&verdict(None));
        t.push(&Verdict {
            id: "b".into(),
            verdict: VerdictKind::NoLeak,
            time_to_limit_seconds: None,
            ..verdict(None)
        });
        let s = t.render();
        assert!(
            s.contains("ns/pod/c") && s.contains("leak") && s.contains("2.0 h"),
            "{s}"
        );
        assert!(s.contains("no-leak") && s.contains(" - "), "{s}");
        assert!(s.lines().all(|l| l.chars().count() <= 100), "{s}");
    }
}
