//! `leakhound capture`: flags, then lh-run.

use crate::live::{LiveOutput, PreloadFlag};
use crate::output::OutputFormat;
use anyhow::Result;
use clap::Args;
use lh_run::{CaptureConfig, CaptureFrom, Terminal};
use serde_json::json;
use std::io::Write;
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
    /// Go: also take goroutine profiles.
    #[arg(long)]
    pub goroutines: bool,
    #[command(flatten)]
    pub out: LiveOutput,
    #[command(flatten)]
    pub preload: PreloadFlag,
    /// Start this program (tracing turned on as `soak` does), capture, then stop it.
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub fn capture(a: CaptureArgs) -> Result<u8> {
    let from =
        match &a.target {
            Some(_) if a.preload.get().is_some() => return Err(lh_run::Error::Input(
                "--preload is for a program capture starts (`capture --preload jemalloc -- CMD`): \
                 a running process's allocator is already chosen"
                    .into(),
            )
            .into()),
            Some(t) => CaptureFrom::Target(t.parse().map_err(lh_run::Error::Target)?),
            None => CaptureFrom::Command {
                argv: a.cmd.clone(),
                preload: a.preload.get(),
            },
        };
    let cfg = CaptureConfig {
        from,
        count: a.count,
        interval: a.interval,
        goroutines: a.goroutines,
        force: a.out.force,
    };
    let progress = Terminal::stderr("capture");
    let (got, _) = lh_run::capture(&cfg, || a.out.claim(), &progress)?;
    drop(progress);
    let mut so = std::io::stdout().lock();
    match a.out.format {
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
