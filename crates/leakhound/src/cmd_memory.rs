//! `leakhound memory`: flags, then lh-memory, then lh-report's renderer.

use crate::output::{text_formats, OutputFormat};
use anyhow::Result;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct MemoryArgs {
    /// pid:PID or cgroup:PATH.
    pub target: String,
    /// How long to sample; without it, one breakdown.
    #[arg(long, value_parser = lh_model::duration::parse)]
    pub duration: Option<Duration>,
    /// Time between samples.
    #[arg(long, default_value = "2s", value_parser = lh_model::duration::parse)]
    pub interval: Duration,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
}

pub fn memory(a: MemoryArgs) -> Result<u8> {
    let target: lh_capture::Target = a.target.parse().map_err(lh_memory::Error::Transport)?;
    let t = lh_memory::transport_for(&target)?;
    let samples = lh_memory::sample(&t, a.duration.unwrap_or_default(), a.interval)?;
    let report = lh_memory::summarize(&a.target, samples);
    let mut so = anstream::AutoStream::auto(std::io::stdout().lock());
    if a.format == OutputFormat::Json {
        writeln!(so, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(0);
    }
    let tty = std::io::stdout().is_terminal();
    let style = lh_report::TableStyle {
        width: if tty {
            terminal_size::terminal_size().map_or(100, |(w, _)| w.0)
        } else {
            140
        },
        color: tty,
    };
    so.write_all(lh_report::memory::memory_table(&report, style).as_bytes())?;
    Ok(0)
}
