//! What the live-process commands (capture, soak, diagnose, demo) share in
//! the binary: writing their outcome.

use crate::output::OutputFormat;
use anyhow::Result;
use lh_run::{Outcome, OutputDir};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Writes report.json and report.html (0600) beside the snapshots, the page
/// also to `page` when given, and prints the outcome as asked.
pub fn print_outcome(
    o: &Outcome,
    out: &OutputDir,
    format: OutputFormat,
    top: usize,
    (kind, page): (&str, Option<&Path>),
) -> Result<()> {
    let full = lh_run::write_report(o, out)?;
    let html = out.path().join("report.html");
    let pages: Vec<PathBuf> = std::iter::once(html.clone())
        .chain(page.map(Path::to_path_buf))
        .collect();
    crate::output::write_run_html(o, kind, out.path(), &pages, top)?;
    let mut so = anstream::AutoStream::auto(std::io::stdout().lock());
    if format == OutputFormat::Json {
        writeln!(so, "{full}")?;
        return Ok(());
    }
    let tty = std::io::stdout().is_terminal();
    let style = lh_report::TableStyle {
        width: if tty {
            terminal_size::terminal_size().map_or(100, |(w, _)| w.0)
        } else {
            120
        },
        color: tty,
    };
    so.write_all(lh_report::outcome::outcome_table(o, out.path(), top, style).as_bytes())?;
    writeln!(so, "report: {}", html.display())?;
    Ok(())
}
