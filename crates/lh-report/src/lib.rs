//! Every renderer of leakhound, in one crate so that the binary and the run
//! engine only choose one: the [`Report`] as a table that fits the terminal or
//! as the JSON contract (here), the pprof export ([`pprof`]), the
//! self-contained HTML page ([`html`]), the soak/diagnose outcome
//! ([`outcome`]), the memory reconciliation ([`memory`]), and the `trend`
//! chart and the `detect` table ([`trend`]). Rendering never changes what the
//! report says: `--top` trims the table and the JSON alike, and only there.

pub mod html;
pub mod memory;
pub mod outcome;
pub mod pprof;

use comfy_table::{
    presets, Attribute, Cell, CellAlignment, ColumnConstraint, ContentArrangement, Table,
    TableComponent, Width,
};
use lh_model::{human_bytes, Report};
use std::fmt::Write;

pub mod trend;

/// How to draw a table.
#[derive(Debug, Clone, Copy)]
pub struct TableStyle {
    /// Terminal width in columns; long keys are wrapped to fit.
    pub width: u16,
    /// Bold headers and colours (only on a TTY without `NO_COLOR`).
    pub color: bool,
}

/// The report as text: suspects first (what to fix), then the top groups.
pub fn table(report: &Report, top: usize, style: TableStyle) -> String {
    let mut out = String::new();
    let n = report.snapshots.len();
    let sized = report.unit == "bytes";
    let fmt_v = |v: i64| if sized { human_bytes(v) } else { v.to_string() };
    let totals: Vec<String> = report
        .snapshots
        .iter()
        .map(|s| fmt_v(s.total_bytes))
        .collect();
    let _ = writeln!(
        out,
        "{} {} snapshot{} ({}), total {}",
        report.format,
        n,
        if n == 1 { "" } else { "s" },
        report.unit,
        totals.join(" → ")
    );
    if n > 1 {
        if report.suspects.is_empty() {
            let _ = writeln!(
                out,
                "\nNo leak suspect: nothing grew steadily enough to name."
            );
        } else {
            let _ = writeln!(out, "\nSuspects, most likely first:");
            for (i, s) in report.suspects.iter().enumerate() {
                let pattern = s.pattern.map(|p| format!(" [{p}]")).unwrap_or_default();
                let retained = s
                    .retained_bytes
                    .map(|r| format!(", retaining {}", human_bytes(r as i64)))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{:>3}. {} +{}{}{} (confidence {:.2})",
                    i + 1,
                    s.key,
                    fmt_v(s.delta_bytes),
                    retained,
                    pattern,
                    s.confidence
                );
                if let Some(path) = &s.retainer_path {
                    let _ = writeln!(out, "     held by: {}", path.join(" → "));
                }
                if !s.hint.is_empty() {
                    let _ = writeln!(out, "     {}", s.hint);
                }
            }
        }
    } else if !report.suspects.is_empty() {
        let _ = writeln!(out, "\nSuspects:");
        for s in &report.suspects {
            let pattern = s.pattern.map(|p| format!(" [{p}]")).unwrap_or_default();
            let _ = writeln!(out, "  {}{}: {}", s.key, pattern, s.hint);
        }
    }

    let mut t = borderless(style);
    let head = |s: &str| bold_header(s, style);
    let mut header = vec![head("key")];
    let has_retained = report.groups.iter().any(|g| g.retained_bytes.is_some());
    if n == 1 {
        header.push(head(if sized { "size" } else { report.unit.as_str() }));
        header.push(head("count"));
    } else {
        header.push(head("first"));
        header.push(head("last"));
        header.push(head("delta"));
        header.push(head("Δcount"));
        header.push(head("monotonic"));
    }
    if has_retained {
        header.push(head("retained"));
    }
    t.set_header(header);
    for g in report.groups.iter().take(top) {
        let mut row = vec![Cell::new(&g.key)];
        if n == 1 {
            row.push(Cell::new(fmt_v(g.bytes[0])));
            row.push(Cell::new(g.count[0]));
        } else {
            row.push(Cell::new(fmt_v(g.bytes[0])));
            row.push(Cell::new(fmt_v(g.bytes[n - 1])));
            let sign = if g.delta_bytes > 0 { "+" } else { "" };
            row.push(Cell::new(format!("{sign}{}", fmt_v(g.delta_bytes))));
            row.push(Cell::new(format!("{sign}{}", g.delta_count)));
            row.push(Cell::new(if g.monotonic { "yes" } else { "" }));
        }
        if has_retained {
            row.push(Cell::new(
                g.retained_bytes
                    .map(|r| human_bytes(r as i64))
                    .unwrap_or_default(),
            ));
        }
        t.add_row(row);
    }
    // Numbers stay whole; only the key column wraps.
    for (i, col) in t.column_iter_mut().enumerate() {
        if i > 0 {
            col.set_cell_alignment(CellAlignment::Right);
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(6)));
        }
    }
    let _ = writeln!(out, "\n{t}");
    if report.groups.len() > top {
        let _ = writeln!(
            out,
            "({} more groups; --top N shows more)",
            report.groups.len() - top
        );
    }
    details(&mut out, report);
    out
}

/// Every table of leakhound: borderless, with one rule under the header,
/// easy to read and to copy, fitted to the terminal's width.
fn borderless(style: TableStyle) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING)
        .set_style(TableComponent::HeaderLines, '─')
        .set_style(TableComponent::MiddleHeaderIntersections, '─')
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(style.width);
    t
}

/// A header cell, bold where colours are allowed.
fn bold_header(s: &str, style: TableStyle) -> Cell {
    let c = Cell::new(s);
    if style.color {
        c.add_attribute(Attribute::Bold)
    } else {
        c
    }
}

/// The extras some formats add: the objects that retain the most (with what
/// holds each), and notes the reader must not miss.
fn details(out: &mut String, report: &Report) {
    let d = &report.details;
    // One snapshot's groups are sorted by self size; what a group keeps
    // alive is the other half of the picture.
    if report.snapshots.len() == 1 && report.groups.iter().any(|g| g.retained_bytes.is_some()) {
        let mut by_retained: Vec<_> = report.groups.iter().collect();
        by_retained.sort_by_key(|g| std::cmp::Reverse(g.retained_bytes.unwrap_or(0)));
        let top: Vec<String> = by_retained
            .iter()
            .take(10)
            .map(|g| {
                format!(
                    "{} {}",
                    g.key,
                    human_bytes(g.retained_bytes.unwrap_or(0) as i64)
                )
            })
            .collect();
        let _ = writeln!(out, "\nTop groups by retained size: {}", top.join(", "));
    }
    if !d.largest.is_empty() {
        let _ = writeln!(out, "\nLargest objects by retained size:");
        for (i, o) in d.largest.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}. {} @{}: retains {} (self {})",
                i + 1,
                o.key,
                o.id,
                human_bytes(o.retained_bytes as i64),
                human_bytes(o.self_bytes as i64)
            );
            let _ = writeln!(out, "     held by: {}", o.retainer_path.join(" → "));
        }
    }
    for n in &d.notes {
        let _ = writeln!(out, "\nNote: {n}");
    }
}

/// The JSON contract (docs/schema/report.schema.json), pretty-printed, with
/// `groups` cut to `top`.
pub fn json(report: &Report, top: usize) -> String {
    let mut r = report.clone();
    r.groups.truncate(top);
    serde_json::to_string_pretty(&lh_model::Versioned::new(&r)).expect("a report always serializes")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::{Group, InputFormat, SnapshotInfo, Suspect};

    fn report() -> Report {
        Report {
            format: InputFormat::Pprof,
            unit: "bytes".into(),
            snapshots: vec![
                SnapshotInfo::default(),
                SnapshotInfo {
                    total_bytes: 3 << 20,
                    ..Default::default()
                },
            ],
            groups: vec![Group {
                key: "main.(*registry).track".into(),
                bytes: vec![0, 3 << 20],
                count: vec![0, 3],
                delta_bytes: 3 << 20,
                delta_count: 3,
                monotonic: false,
                retained_bytes: None,
                retainer_path: None,
            }],
            suspects: vec![Suspect {
                key: "main.(*registry).track".into(),
                delta_bytes: 3 << 20,
                retained_bytes: None,
                retainer_path: None,
                pattern: None,
                hint: "look here".into(),
                confidence: 0.7,
            }],
            details: Default::default(),
        }
    }

    #[test]
    fn table_fits_width_and_shows_suspect() {
        let t = table(
            &report(),
            10,
            TableStyle {
                width: 60,
                color: false,
            },
        );
        assert!(t.contains("1. main.(*registry).track +3.0 MiB"), "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 60), "{t}");
    }

    #[test]
    fn json_is_the_contract() {
        let v: serde_json::Value = serde_json::from_str(&json(&report(), 10)).unwrap();
        assert_eq!(v["format"], "pprof");
        assert_eq!(v["groups"][0]["delta_bytes"], 3 << 20);
        assert_eq!(v["suspects"][0]["pattern"], serde_json::Value::Null);
    }
}
