//! `trend` and `detect`: leak verdicts for memory series (lh-trend), from a
//! JSONL file, Prometheus or a live cgroup (lh-sources).

use crate::output::{text_formats, OutputFormat};
use anyhow::{Context, Result};
use clap::Args;
use lh_model::{human_bytes, Classify, ErrorClass, VerdictKind};
use lh_trend::{jsonl, Options};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `leakhound trend`: one series, from exactly one source.
#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["file", "prometheus", "cgroup"]))]
pub struct TrendArgs {
    /// A JSONL file holding one series (the `detect` input contract, its optional `load` included).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Prometheus base URL; needs --namespace and --pod.
    #[arg(long, value_name = "URL", requires_all = ["namespace", "pod"])]
    pub prometheus: Option<String>,
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    #[arg(long, value_name = "POD")]
    pub pod: Option<String>,
    /// Needed when the pod has more than one container.
    #[arg(long, value_name = "C")]
    pub container: Option<String>,
    /// Prometheus: PromQL giving one series of the pod's load (requests/s,
    /// queue length, connections); memory growth that follows it is not a leak.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub load_query: Option<String>,
    /// Prometheus: how much history to judge, e.g. 6h, 1d.
    #[arg(long, default_value = "1d", value_parser = parse_duration)]
    pub range: Duration,
    /// Prometheus: end of the range, in unix seconds (default now).
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub end: Option<f64>,
    /// Prometheus: resolution of the query; cgroup: sampling interval.
    #[arg(long, value_parser = parse_duration)]
    pub step: Option<Duration>,
    /// A memory cgroup directory (v1 or v2) to sample live.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// cgroup: how long to sample.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
    /// Exit 1 when the verdict is a leak.
    #[arg(long)]
    pub fail_on_leak: bool,
}

/// `leakhound detect`: batch verdicts, one per series.
#[derive(Args, Debug)]
pub struct DetectArgs {
    /// JSONL, one series per line: {"id", "limit_bytes", "points": [[unix_seconds, bytes], …]},
    /// optionally with "load": [[unix_seconds, value], …] (growth that follows load is not a leak).
    #[arg(long, value_name = "SERIES.jsonl")]
    pub file: PathBuf,
    #[arg(long, default_value = "table", value_parser = text_formats())]
    pub format: OutputFormat,
    /// Exit 1 when any series leaks.
    #[arg(long)]
    pub fail_on_leak: bool,
}

/// Failures of these commands, classified for the exit-code map.
#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Jsonl(#[from] jsonl::Error),
    #[error(transparent)]
    Source(#[from] lh_sources::Error),
}

impl Classify for TrendError {
    fn class(&self) -> ErrorClass {
        match self {
            TrendError::Input(_) => ErrorClass::Usage,
            TrendError::Jsonl(e) => e.class(),
            TrendError::Source(e) => e.class(),
        }
    }
}

/// The one duration grammar of the CLI (`500ms`, `30s`, `10m`, `6h`, `2d`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    lh_model::duration::parse(s)
}

/// Opens a JSONL file and applies `read` (a `jsonl` reader) to it; errors name the file.
fn read_file<T>(
    path: &Path,
    read: impl FnOnce(std::fs::File) -> Result<Vec<T>, jsonl::Error>,
) -> Result<Vec<T>> {
    let all = std::fs::File::open(path)
        .map_err(jsonl::Error::from)
        .and_then(read)
        .map_err(TrendError::from)
        .with_context(|| path.display().to_string())?;
    if all.is_empty() {
        return Err(TrendError::Input(format!("{}: no series in the file", path.display())).into());
    }
    Ok(all)
}

pub fn detect(a: DetectArgs) -> Result<u8> {
    // Streamed both ways: a fleet's file (100,000 series, gigabytes) is
    // judged while it is read, and each JSON verdict written once those
    // before it are, so memory stays a few input blocks' worth. The table
    // needs its widths, so it holds its rows.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut leaks = false;
    let mut table = (a.format == OutputFormat::Table)
        .then(|| lh_report::trend::DetectTable::new(table_style()));
    let file = std::fs::File::open(&a.file)
        .map_err(jsonl::Error::from)
        .map_err(TrendError::from)
        .with_context(|| a.file.display().to_string())?;
    let len = file.metadata().map_or(0, |m| m.len());
    let file = crate::output::ProgressReader::new(file, len, "judging series");
    let n = jsonl::detect_each(file, &Options::default(), |v| {
        leaks |= v.verdict == VerdictKind::Leak;
        match table.as_mut() {
            Some(t) => {
                t.push(&v);
                Ok(())
            }
            None => jsonl::write_verdict(&mut out, &v),
        }
    })
    .map_err(TrendError::from)
    .with_context(|| a.file.display().to_string())?;
    if n == 0 {
        return Err(
            TrendError::Input(format!("{}: no series in the file", a.file.display())).into(),
        );
    }
    if let Some(t) = table {
        out.write_all(t.render().as_bytes())?;
    }
    out.flush()?;
    Ok(u8::from(a.fail_on_leak && leaks))
}

pub fn trend(a: TrendArgs) -> Result<u8> {
    let series = if let Some(f) = &a.file {
        let mut all = read_file(f, jsonl::read)?;
        if all.len() != 1 {
            return Err(TrendError::Input(format!(
                "{}: {} series; `trend` judges one (use `detect --file` for many)",
                f.display(),
                all.len()
            ))
            .into());
        }
        all.remove(0)
    } else if let Some(url) = &a.prometheus {
        let end = a.end.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64())
        });
        let q = lh_sources::prometheus::Query {
            url: url.clone(),
            namespace: a.namespace.clone().unwrap_or_default(),
            pod: a.pod.clone().unwrap_or_default(),
            container: a.container.clone(),
            start: end - a.range.as_secs_f64(),
            end,
            step: a.step.map_or(30.0, |d| d.as_secs_f64()),
            load_query: a.load_query.clone(),
        };
        let spinner = crate::output::progress(None, &format!("querying Prometheus at {url}"));
        let series = lh_sources::prometheus::fetch(&q).map_err(TrendError::from);
        if let Some(s) = spinner {
            s.finish_and_clear();
        }
        series?
    } else if let Some(cg) = &a.cgroup {
        let interval = a.step.unwrap_or(Duration::from_secs(1));
        let tty = std::io::stderr().is_terminal();
        lh_sources::cgroup::sample(cg, interval, a.duration, |r| {
            if tty {
                eprint!(
                    "\rsampled working set {}   ",
                    human_bytes(r.working_set as i64)
                );
            }
        })
        .map_err(TrendError::from)?
    } else {
        unreachable!("clap requires one source")
    };
    let (verdict, analysis) = lh_trend::analyze(&series, &Options::default());
    let mut out = std::io::stdout().lock();
    match a.format {
        OutputFormat::Table => {
            let width = terminal_size::terminal_size().map_or(80, |(w, _)| w.0 as usize);
            let input = lh_report::trend::ChartInput {
                points: &analysis.points,
                trend: analysis.trend,
            };
            let chart = lh_report::trend::chart(&input, &verdict, width.clamp(40, 160));
            write!(out, "{chart}")?;
            let summary = lh_report::trend::summary(&verdict, series.points.len());
            write!(out, "{summary}")?;
        }
        _ => {
            serde_json::to_writer_pretty(&mut out, &lh_model::Versioned::new(&verdict))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(u8::from(
        a.fail_on_leak && verdict.verdict == VerdictKind::Leak,
    ))
}

/// The detect table fits the terminal when there is one, and a CI log's
/// 120 columns when not.
fn table_style() -> lh_report::TableStyle {
    let tty = std::io::stdout().is_terminal();
    let width = if tty {
        terminal_size::terminal_size().map_or(100, |(w, _)| w.0)
    } else {
        120
    };
    let color =
        tty && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
    lh_report::TableStyle { width, color }
}
