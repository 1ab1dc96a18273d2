//! `trend` and `detect`: leak verdicts for memory series (lh-trend), from a
//! JSONL file, Prometheus or a live cgroup (lh-sources).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use lh_model::{human_bytes, Verdict, VerdictKind};
use lh_trend::{jsonl, Analysis, Options};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

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
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
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
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit 1 when any series leaks.
    #[arg(long)]
    pub fail_on_leak: bool,
}

/// Failures of these commands, by exit code.
#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Jsonl(#[from] jsonl::Error),
    #[error(transparent)]
    Source(#[from] lh_sources::Error),
}

/// The exit code for errors of this module, `None` for others'.
pub fn exit_code(e: &anyhow::Error) -> Option<u8> {
    let t = e.downcast_ref::<TrendError>()?;
    Some(match t {
        TrendError::Input(_) | TrendError::Jsonl(jsonl::Error::Line { .. }) => 2,
        TrendError::Jsonl(jsonl::Error::Io(io)) if io.kind() == std::io::ErrorKind::NotFound => 2,
        TrendError::Jsonl(jsonl::Error::Io(_)) => 3,
        TrendError::Source(s) => match s.kind() {
            lh_sources::ErrorKind::Input => 2,
            lh_sources::ErrorKind::Environment => 3,
        },
    })
}

/// `30s`, `5m`, `6h`, `2d` or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (30s, 5m, 6h, 1d)"))?;
    let mul = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use s, m, h or d)")),
    };
    if !(n * mul).is_finite() || n * mul <= 0.0 {
        return Err(format!("{s:?} must be above 0"));
    }
    Ok(Duration::from_secs_f64(n * mul))
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
    // judged while it is read, and each verdict written once those before it
    // are, so memory stays a few input blocks' worth.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut leaks, mut header) = (false, false);
    let format = a.format;
    let file = std::fs::File::open(&a.file)
        .map_err(jsonl::Error::from)
        .map_err(TrendError::from)
        .with_context(|| a.file.display().to_string())?;
    let n = jsonl::detect_each(file, &Options::default(), |v| {
        leaks |= v.verdict == VerdictKind::Leak;
        match format {
            Format::Json => jsonl::write_verdict(&mut out, &v),
            Format::Table => {
                if !header {
                    header = true;
                    writeln!(
                        out,
                        "{:<32} {:<17} {:>12} {:>6} {:>14}  reason",
                        "id", "verdict", "slope/h", "conf", "to limit"
                    )?;
                }
                writeln!(
                    out,
                    "{:<32} {:<17} {:>12} {:>6.2} {:>14}  {}",
                    v.id,
                    kind(v.verdict),
                    human_bytes(v.slope_bytes_per_hour as i64),
                    v.confidence,
                    v.time_to_limit_seconds
                        .map_or("-".into(), lh_trend::detect::human_duration),
                    v.reasons.last().map_or("", String::as_str)
                )
            }
        }
    })
    .map_err(TrendError::from)
    .with_context(|| a.file.display().to_string())?;
    if n == 0 {
        return Err(
            TrendError::Input(format!("{}: no series in the file", a.file.display())).into(),
        );
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
        lh_sources::prometheus::fetch(&q).map_err(TrendError::from)?
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
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &verdict)?;
            writeln!(out)?;
        }
        Format::Table => {
            let width = terminal_size::terminal_size().map_or(80, |(w, _)| w.0 as usize);
            write!(out, "{}", chart(&analysis, &verdict, width.clamp(40, 160)))?;
            write!(out, "{}", summary(&verdict, series.points.len()))?;
        }
    }
    out.flush()?;
    Ok(u8::from(
        a.fail_on_leak && verdict.verdict == VerdictKind::Leak,
    ))
}

fn kind(k: VerdictKind) -> &'static str {
    match k {
        VerdictKind::Leak => "leak",
        VerdictKind::NoLeak => "no-leak",
        VerdictKind::Warming => "warming",
        VerdictKind::InsufficientData => "insufficient-data",
    }
}

fn summary(v: &Verdict, n: usize) -> String {
    let mut s = format!(
        "\n{}: {} (confidence {:.2}), floor slope {}/h, {n} samples\n",
        v.id,
        kind(v.verdict),
        v.confidence,
        human_bytes(v.slope_bytes_per_hour as i64)
    );
    if let Some(t) = v.time_to_limit_seconds {
        s += &format!("time to limit: {}\n", lh_trend::detect::human_duration(t));
    }
    for r in &v.reasons {
        s += &format!("  - {r}\n");
    }
    s
}

/// A text chart: samples as `·` (min to max per column), the fitted trend
/// as `*`, the limit as `=`. Plain characters, so it survives any terminal and a CI log.
fn chart(a: &Analysis, v: &Verdict, width: usize) -> String {
    let pts = &a.points;
    if pts.len() < 2 {
        return String::new();
    }
    let cols = width.saturating_sub(12).max(20);
    let rows: usize = 14;
    let (t0, t1) = (pts[0].0, pts[pts.len() - 1].0);
    let mut hi = pts.iter().map(|p| p.1).fold(0.0, f64::max);
    if let Some(l) = v.limit_bytes {
        hi = hi.max(l as f64);
    }
    let lo = 0.0;
    let span = (t1 - t0).max(1.0);
    let col = |t: f64| (((t - t0) / span) * (cols - 1) as f64).round() as usize;
    let row = |y: f64| {
        let r = ((y - lo) / (hi - lo).max(1.0) * (rows - 1) as f64).round();
        (rows - 1).saturating_sub(r.clamp(0.0, (rows - 1) as f64) as usize)
    };
    let mut grid = vec![vec![' '; cols]; rows];
    let mut range = vec![(usize::MAX, 0usize); cols];
    for p in pts {
        let c = col(p.0).min(cols - 1);
        let r = row(p.1);
        range[c] = (range[c].0.min(r), range[c].1.max(r));
    }
    for (c, &(a, b)) in range.iter().enumerate() {
        if a <= b {
            for g in grid.iter_mut().take(b + 1).skip(a) {
                g[c] = '·';
            }
        }
    }
    if let Some([(ta, ya), (tb, yb)]) = a.trend {
        let (ca, cb) = (col(ta), col(tb).min(cols - 1));
        let marks: Vec<(usize, usize)> = (ca..=cb)
            .map(|c| {
                let t = t0 + span * c as f64 / (cols - 1) as f64;
                (row(ya + (yb - ya) * (t - ta) / (tb - ta).max(1.0)), c)
            })
            .collect();
        for (r, c) in marks {
            grid[r][c] = '*';
        }
    }
    if let Some(l) = v.limit_bytes {
        let r = row(l as f64);
        for cell in grid[r].iter_mut() {
            *cell = '=';
        }
    }
    let mut s = String::new();
    for (i, line) in grid.iter().enumerate() {
        let label = if i == 0 {
            human_bytes(hi as i64)
        } else if i == rows - 1 {
            human_bytes(lo as i64)
        } else {
            String::new()
        };
        s += &format!("{label:>10} |{}\n", line.iter().collect::<String>());
    }
    s += &format!(
        "{:>10} +{}\n{:>12}{} of history; · samples, * fitted trend of the floor, = limit\n",
        "",
        "-".repeat(cols),
        "",
        lh_trend::detect::human_duration(span)
    );
    s
}
