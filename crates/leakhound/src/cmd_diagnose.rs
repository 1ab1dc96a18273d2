//! `leakhound diagnose`: flags, then lh-run.

use crate::output::{text_formats, OutputFormat, Redaction};
use crate::run_output::print_outcome;
use anyhow::Result;
use clap::Args;
use lh_run::{DiagnoseConfig, OutputDir, Terminal};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// pid:PID, url:http://HOST:PORT[/snapshot-endpoint] or cgroup:PATH.
    pub target: String,
    /// Snapshots to take.
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Time between snapshots.
    #[arg(long, default_value = "10s", value_parser = lh_model::duration::parse)]
    pub interval: Duration,
    /// Directory for snapshots and report.json (created 0700; files 0600). Must be empty or new.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "leakhound-diagnose"
    )]
    pub dir: PathBuf,
    /// Write into -o DIR even though it holds files (same names are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Exit 1 when a leak is found.
    #[arg(long)]
    pub fail_on_leak: bool,
    /// Node: take snapshots even when the headroom guard says the cgroup is too small.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Also write the HTML report (always in DIR/report.html) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    #[command(flatten)]
    pub redaction: Redaction,
}

pub fn diagnose(a: DiagnoseArgs) -> Result<u8> {
    let cfg = DiagnoseConfig {
        target: a.target.parse().map_err(lh_run::Error::Target)?,
        count: a.count,
        interval: a.interval,
        force: a.force,
        redact_strings: a.redaction.redact_strings,
    };
    let out = OutputDir::claim(&a.dir, a.overwrite)?;
    let progress = Terminal::stderr("diagnose");
    let o = lh_run::diagnose(&cfg, &out, &progress)?;
    drop(progress);
    print_outcome(&o, &out, a.format, a.top, ("diagnose", a.report.as_deref()))?;
    Ok(if o.is_leak() && a.fail_on_leak { 1 } else { 0 })
}
