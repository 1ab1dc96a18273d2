//! What the live-process commands (capture, soak, diagnose, demo) share in
//! the binary: their output formats, and writing their outcome.

use anyhow::Result;
use clap::ValueEnum;
use lh_run::{OutputDir, Outcome};
use std::io::{IsTerminal, Write};

/// The formats of these commands. pprof is not among them: a soak's outcome
/// is no profile, and clap refuses it (exit 2) rather than print a table.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Table,
    Json,
}

/// Writes report.json (0600) beside the snapshots and prints the outcome as asked.
pub fn print_outcome(o: &Outcome, out: &OutputDir, format: RunFormat, top: usize) -> Result<()> {
    let full = lh_run::write_report(o, out)?;
    let mut so = anstream::AutoStream::auto(std::io::stdout().lock());
    if format == RunFormat::Json {
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
    Ok(())
}

/// The exit code of an engine error, by whose fault it is.
pub fn exit_code(e: &anyhow::Error) -> Option<u8> {
    let r = e.downcast_ref::<lh_run::Error>()?;
    Some(match r.class() {
        lh_run::error::Class::Input => 2,
        lh_run::error::Class::Environment => 3,
        lh_run::error::Class::Interrupted => 130,
    })
}
