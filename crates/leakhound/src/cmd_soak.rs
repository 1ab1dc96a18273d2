//! `leakhound soak` and `leakhound demo`: flags, then lh-run.

use crate::live::{print_outcome, LiveOutput, PreloadFlag, ReportFlags};
use crate::output::{text_formats, OutputFormat, Redaction};
use anyhow::{bail, Result};
use clap::Args;
use lh_run::{LoadSpec, OutputDir, SoakConfig, Terminal};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Memory limit of the cgroup the program runs in (Kubernetes notation: 256Mi, 1Gi).
    #[arg(long, default_value = "256Mi")]
    pub memory_limit: String,
    /// How long to run the program (unless it is OOM-killed first).
    #[arg(long, default_value = "60s", value_parser = lh_model::duration::parse)]
    pub duration: Duration,
    /// A load command, run with `sh -c`; $LEAKHOUND_APP_URL holds the program's address.
    #[arg(long, conflicts_with = "http_load")]
    pub load: Option<String>,
    /// GET this URL as load; a path such as /work?n=5 goes to the program's own port.
    #[arg(long)]
    pub http_load: Option<String>,
    /// Requests per second for --http-load.
    #[arg(long, default_value_t = 20)]
    pub rps: u32,
    /// How often to sample the cgroup's memory.
    #[arg(long, default_value = "500ms", value_parser = lh_model::duration::parse)]
    pub sample_interval: Duration,
    /// Snapshots taken along the way, besides the first and the last.
    #[arg(long, default_value_t = 3)]
    pub captures: usize,
    /// How long the program gets to start and serve its profiles.
    #[arg(long, default_value = "60s", value_parser = lh_model::duration::parse)]
    pub ready_timeout: Duration,
    #[command(flatten)]
    pub preload: PreloadFlag,
    #[command(flatten)]
    pub out: LiveOutput,
    #[command(flatten)]
    pub report: ReportFlags,
    #[command(flatten)]
    pub redaction: Redaction,
    /// The program to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

pub fn soak(a: SoakArgs) -> Result<u8> {
    let load = match (&a.http_load, &a.load) {
        (Some(url), _) => LoadSpec::Http {
            url: url.clone(),
            rps: a.rps,
        },
        (None, Some(cmd)) => LoadSpec::Command(cmd.clone()),
        (None, None) => LoadSpec::None,
    };
    let cfg = SoakConfig {
        memory_limit: lh_cgroup::parse_size(&a.memory_limit).map_err(lh_run::Error::Cgroup)?,
        duration: a.duration,
        load,
        sample_interval: a.sample_interval,
        captures: a.captures,
        ready_timeout: a.ready_timeout,
        force: a.out.force,
        preload: a.preload.get(),
        redact_strings: a.redaction.redact_strings,
        cmd: a.cmd,
    };
    let out = a.out.claim()?;
    let progress = Terminal::stderr("soak");
    let o = lh_run::soak(&cfg, &out, &progress)?;
    drop(progress);
    print_outcome(&o, &out, a.out.format, &a.report, "soak")?;
    Ok(if o.is_leak() { 1 } else { 0 })
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory for the demo's snapshots and report (default: a new one under the temp dir).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How long to soak the demo app.
    #[arg(long, default_value = "25s", value_parser = lh_model::duration::parse)]
    pub duration: Duration,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
    #[command(flatten)]
    pub redaction: Redaction,
}

/// Runs the bundled app under `soak` and prints the whole diagnosis. Exits 0
/// when the leak was found and named: that is the demo working.
pub fn demo(a: DemoArgs) -> Result<u8> {
    let out = match &a.dir {
        Some(d) => OutputDir::claim(d, false)?,
        None => OutputDir::fresh_temp("leakhound-demo")?,
    };
    let progress = Terminal::stderr("demo");
    let o = lh_run::demo(a.duration, a.redaction.redact_strings, &out, &progress)?;
    drop(progress);
    let report = ReportFlags {
        top: 10,
        report: None,
    };
    print_outcome(&o, &out, a.format, &report, "demo")?;
    if !o.is_leak() {
        bail!(
            "the demo's leak was not found; the snapshots and report.json are in {}",
            out.path().display()
        );
    }
    Ok(0)
}
