//! What the live-process commands (capture, soak, diagnose, demo) share in
//! the binary: their output flags, and writing their outcome.

use crate::output::{text_formats, OutputFormat};
use anyhow::Result;
use clap::Args;
use lh_run::{Outcome, OutputDir, Preload};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Where capture, diagnose and soak write, and how they print. One struct
/// flattened into each, so a flag means the same in all three. The directory's
/// default differs per command and is set where the command is declared
/// (`mut_arg("dir", …)` in cli.rs), so a soak and a diagnose in one working
/// directory never share one.
#[derive(Args, Debug)]
pub struct LiveOutput {
    /// Directory for the snapshots, and for soak and diagnose the program's log, report.json
    /// and report.html (created 0700; files 0600). Must be empty or new.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub dir: PathBuf,
    /// Write into -o DIR even though it holds files of an earlier run (same names are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Node: take snapshots even when the headroom guard says the cgroup is too small.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
}

impl LiveOutput {
    /// Claims -o DIR for this run: refused when it holds an earlier run's files,
    /// unless --overwrite.
    pub fn claim(&self) -> Result<OutputDir, lh_run::Error> {
        OutputDir::claim(&self.dir, self.overwrite)
    }
}

/// `--preload`, for the programs capture and soak start themselves: one flag
/// in both, so that `capture -- CMD` profiles a glibc program as `soak -- CMD`
/// does. An attached pid's allocator is already chosen; it is told what to set.
#[derive(Args, Debug)]
pub struct PreloadFlag {
    /// Native: run the program on this allocator (LD_PRELOAD) with its heap profiler;
    /// for programs on glibc's malloc, which has none. jemalloc and tcmalloc
    /// programs are profiled without it.
    #[arg(long, value_name = "ALLOCATOR", value_parser = ["jemalloc"])]
    preload: Option<String>,
}

impl PreloadFlag {
    /// The allocator asked for.
    pub fn get(&self) -> Option<Preload> {
        // The parser admits only "jemalloc".
        self.preload.as_ref().map(|_| Preload::Jemalloc)
    }
}

/// What diagnose and soak report besides their snapshots.
#[derive(Args, Debug)]
pub struct ReportFlags {
    /// Groups to show in the table.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Also write the HTML report (always in DIR/report.html) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Writes report.json and report.html (0600) beside the snapshots, the page
/// also to `page` when given, and prints the outcome as asked.
pub fn print_outcome(
    o: &Outcome,
    out: &OutputDir,
    format: OutputFormat,
    flags: &ReportFlags,
    kind: &str,
) -> Result<()> {
    let top = flags.top;
    let full = lh_run::write_report(o, out)?;
    let html = out.path().join("report.html");
    let pages: Vec<PathBuf> = std::iter::once(html.clone())
        .chain(flags.report.clone())
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
