//! `leakhound diagnose`: flags, then lh-run.

use crate::live::{print_outcome, LiveOutput, ReportFlags};
use crate::output::Redaction;
use anyhow::Result;
use clap::Args;
use lh_run::{DiagnoseConfig, Terminal};
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
    /// Exit 1 when a leak is found.
    #[arg(long)]
    pub fail_on_leak: bool,
    #[command(flatten)]
    pub out: LiveOutput,
    #[command(flatten)]
    pub report: ReportFlags,
    #[command(flatten)]
    pub redaction: Redaction,
}

pub fn diagnose(a: DiagnoseArgs) -> Result<u8> {
    let cfg = DiagnoseConfig {
        target: a.target.parse().map_err(lh_run::Error::Target)?,
        count: a.count,
        interval: a.interval,
        force: a.out.force,
        redact_strings: a.redaction.redact_strings,
    };
    let out = a.out.claim()?;
    let progress = Terminal::stderr("diagnose");
    let o = lh_run::diagnose(&cfg, &out, &progress)?;
    drop(progress);
    print_outcome(&o, &out, a.out.format, &a.report, "diagnose")?;
    Ok(if o.is_leak() && a.fail_on_leak { 1 } else { 0 })
}
