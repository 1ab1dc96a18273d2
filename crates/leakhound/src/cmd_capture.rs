//! `leakhound capture`: flags, then lh-run.

use crate::output::{text_formats, OutputFormat};
use anyhow::Result;
use clap::Args;
use lh_run::{CaptureConfig, CaptureFrom, OutputDir, Terminal};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// pid:PID or url:http://HOST:PORT[/snapshot-endpoint]; or give `-- CMD…` instead.
    #[arg(required_unless_present = "cmd", conflicts_with = "cmd")]
    pub target: Option<String>,
    /// Snapshots to take.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Time between snapshots.
    #[arg(long, default_value = "10s", value_parser = lh_model::duration::parse)]
    pub interval: Duration,
    /// Directory for the snapshots (created 0700; files 0600). Must be empty or new.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "leakhound-captures"
    )]
    pub dir: PathBuf,
    /// Write into -o DIR even though it holds files (same names are replaced).
    #[arg(long)]
    pub overwrite: bool,
    /// Go: also take goroutine profiles.
    #[arg(long)]
    pub goroutines: bool,
    /// Node: take a snapshot even when the process's cgroup looks too small for it.
    #[arg(long)]
    pub force: bool,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
    /// Start this program (tracing turned on as `soak` does), capture, then stop it.
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub fn capture(a: CaptureArgs) -> Result<u8> {
    let from = match &a.target {
        Some(t) => CaptureFrom::Target(t.parse().map_err(lh_run::Error::Target)?),
        None => CaptureFrom::Command(a.cmd.clone()),
    };
    let cfg = CaptureConfig {
        from,
        count: a.count,
        interval: a.interval,
        goroutines: a.goroutines,
        force: a.force,
    };
    let progress = Terminal::stderr("capture");
    let (got, _) = lh_run::capture(&cfg, || OutputDir::claim(&a.dir, a.overwrite), &progress)?;
    drop(progress);
    let mut so = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => writeln!(
            so,
            "{}",
            json!({"runtime": got.runtime.to_string(), "files": got.files})
        )?,
        _ => {
            for f in &got.files {
                writeln!(so, "{}", f.display())?;
            }
        }
    }
    Ok(0)
}
