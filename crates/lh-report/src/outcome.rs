//! The `soak`/`diagnose` outcome for people: a headline, the reasons, and
//! the diff's table. (Its JSON is the [`Outcome`] itself, serialized.)

use crate::{table, TableStyle};
use lh_model::outcome::{EndReason, Outcome};
use std::fmt::Write;
use std::path::Path;

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

/// The outcome as text, ending with where its artifacts are (`dir`).
pub fn outcome_table(o: &Outcome, dir: &Path, top: usize, style: TableStyle) -> String {
    let mut s = String::new();
    let headline = match &o.ended {
        Some(e) if e.reason == EndReason::OomKilled => format!(
            "LEAK: OOMKilled, exit code {} after {:.1} s",
            e.exit_code, e.after_seconds
        ),
        _ if o.is_leak() => "LEAK: memory grows steadily".to_string(),
        _ => "no leak found".to_string(),
    };
    let _ = writeln!(s, "{headline}");
    let _ = writeln!(
        s,
        "{} program, limit {}, peak {}{}",
        o.runtime,
        mib(o.limit_bytes),
        mib(o.peak_bytes),
        o.requests
            .map(|r| format!(", {r} requests"))
            .unwrap_or_default()
    );
    for r in &o.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    if let Some(sus) = o.report.as_ref().and_then(|r| r.suspects.first()) {
        let _ = writeln!(s, "suspect: {}", sus.key);
    }
    if let Some(r) = &o.report {
        s.push('\n');
        s.push_str(&table(r, top, style));
    }
    let _ = writeln!(s, "artifacts (0600): {}", dir.display());
    s
}
