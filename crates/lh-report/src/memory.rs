//! `leakhound memory` for people: the reconciliation table (every category,
//! first and last sample, its source), the processes, and the verdict. Its
//! JSON is the [`MemoryReport`] itself.

use crate::{bold_header, borderless, TableStyle};
use comfy_table::{Cell, CellAlignment};
use lh_model::breakdown::MemoryReport;
use lh_model::human_bytes;
use std::fmt::Write;

fn bytes(b: Option<i64>) -> String {
    b.map_or_else(|| "–".into(), human_bytes)
}

/// The breakdown as text: headline, table summing to the usage, processes, reasons.
pub fn memory_table(r: &MemoryReport, style: TableStyle) -> String {
    let (first, last) = (&r.first, &r.breakdown);
    let mut s = String::new();
    let headline = match (r.verdict.as_str(), &r.grown) {
        ("leak", Some(g)) => format!("GROWING: {} {}", g.category, delta(Some(g.delta_bytes))),
        (_, Some(g)) => format!(
            "no leak: {} grew {} (reclaimable page cache)",
            g.category,
            delta(Some(g.delta_bytes))
        ),
        ("insufficient-data", _) => "one sample: no trend".into(),
        _ => "no leak: no part grew".into(),
    };
    let _ = writeln!(s, "{headline}");
    let _ = writeln!(
        s,
        "{} (cgroup {}): usage {}, limit {}, working set {}, reclaimable {}, swap {}, OOM kills {}",
        r.target,
        last.cgroup_version,
        human_bytes(last.usage_bytes as i64),
        last.limit_bytes
            .map_or_else(|| "none".into(), |l| human_bytes(l as i64)),
        human_bytes(last.working_set_bytes as i64),
        human_bytes(last.reclaimable_bytes as i64),
        human_bytes(last.swap_bytes as i64),
        last.oom_kills
    );
    s.push('\n');
    let mut t = borderless(style);
    let sampled = r.samples.len() > 1;
    let mut header = vec![bold_header("category", style)];
    if sampled {
        header.push(bold_header("first", style));
    }
    header.extend(["last", "delta", "source"].map(|h| bold_header(h, style)));
    if !sampled {
        header.remove(2);
    }
    t.set_header(header);
    for tr in &r.trend {
        let source = last
            .categories
            .iter()
            .find(|c| c.name == tr.name)
            .map_or("", |c| c.source.as_str());
        let name = if tr.reclaimable {
            format!("{} (reclaimable)", tr.name)
        } else {
            tr.name.clone()
        };
        let mut row = vec![Cell::new(name)];
        if sampled {
            row.push(Cell::new(bytes(tr.first_bytes)).set_alignment(CellAlignment::Right));
        }
        row.push(Cell::new(bytes(tr.last_bytes)).set_alignment(CellAlignment::Right));
        if sampled {
            row.push(Cell::new(delta(tr.delta_bytes)).set_alignment(CellAlignment::Right));
        }
        row.push(Cell::new(source));
        t.add_row(row);
    }
    let mut total = vec![Cell::new("= cgroup usage")];
    if sampled {
        total.push(
            Cell::new(human_bytes(first.usage_bytes as i64)).set_alignment(CellAlignment::Right),
        );
    }
    total.push(Cell::new(human_bytes(last.usage_bytes as i64)).set_alignment(CellAlignment::Right));
    if sampled {
        total.push(
            Cell::new(delta(Some(
                last.usage_bytes as i64 - first.usage_bytes as i64,
            )))
            .set_alignment(CellAlignment::Right),
        );
    }
    t.add_row(total);
    let _ = writeln!(s, "{t}");
    if !last.processes.is_empty() {
        s.push('\n');
        let mut p = borderless(style);
        p.set_header(
            [
                "pid",
                "process",
                "rss",
                "anonymous",
                "file",
                "shared",
                "swap",
            ]
            .map(|h| bold_header(h, style)),
        );
        for q in &last.processes {
            p.add_row(vec![
                Cell::new(q.pid),
                Cell::new(&q.name),
                Cell::new(human_bytes(q.rss_bytes as i64)),
                Cell::new(human_bytes(q.anonymous_bytes as i64)),
                Cell::new(human_bytes(q.file_bytes as i64)),
                Cell::new(human_bytes(q.shared_bytes as i64)),
                Cell::new(human_bytes(q.swap_bytes as i64)),
            ]);
        }
        let _ = writeln!(s, "{p}");
    }
    s.push('\n');
    for reason in &r.reasons {
        let _ = writeln!(s, "  - {reason}");
    }
    s
}

fn delta(d: Option<i64>) -> String {
    match d {
        Some(d) if d > 0 => format!("+{}", human_bytes(d)),
        other => bytes(other),
    }
}
