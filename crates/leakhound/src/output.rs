//! Writing reports: the output flags and formats every command shares (here, not in
//! `cli.rs`, so the `cmd_*` modules need not import `cli`), stdout or `-o FILE`,
//! table, JSON or pprof, progress on a TTY.

use anyhow::{Context, Result};
use clap::builder::TypedValueParser;
use clap::{Args, ValueEnum};
use lh_analysis::{Analysis, Options};
use lh_model::{Classify, ErrorClass};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where and how a report is written.
#[derive(Args, Debug)]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Groups to show.
    #[arg(long, default_value_t = 25)]
    pub top: usize,
    /// Write to FILE (mode 0600) instead of stdout. Never one of the input files.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What the reports of a command leave out: shared by every command that
/// writes a report (diff, analyze, soak, diagnose, demo), so the flag reads
/// the same everywhere.
#[derive(Args, Debug, Clone, Copy)]
pub struct Redaction {
    /// Drop string contents from every report written (table, JSON, HTML, pprof), for tickets
    /// that leave the team: pprof string labels and comments, V8/HPROF property keys that are
    /// data, tracemalloc paths outside the app. Function, class and field names and the app's
    /// own file:line stay; each dropped string reads `<redacted N bytes>`.
    #[arg(long)]
    pub redact_strings: bool,
}

/// Every output format of every command. Commands whose result is not a
/// profile accept only `table` and `json` ([`text_formats`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people: fits the terminal, human sizes.
    Table,
    /// The JSON contract (docs/schema/).
    Json,
    /// A gzipped pprof profile: the diff (last minus first) or the one snapshot.
    Pprof,
    /// A self-contained HTML page: suspects, flame graph, table (diff and analyze).
    Html,
}

/// `--format table|json`, for commands that have no profile to write: clap
/// then refuses `pprof` as it refuses any unknown value (exit 2), and help
/// lists only what works.
pub fn text_formats() -> impl TypedValueParser<Value = OutputFormat> {
    clap::builder::PossibleValuesParser::new(["table", "json"])
        .map(|s| OutputFormat::from_str(&s, false).expect("both names are OutputFormat's"))
}

/// Failures to write a report.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("refusing to write the report over the input file {0}")]
    OverInput(PathBuf),
    #[error("refusing to write {} to a terminal; use -o FILE or a pipe", match .0 {
        OutputFormat::Html => "an HTML page",
        _ => "a binary pprof profile",
    })]
    ToTerminal(OutputFormat),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Classify for OutputError {
    /// Asking for the impossible is the user's doing; a write that fails
    /// (a full disk, a read-only directory) is the machine's.
    fn class(&self) -> ErrorClass {
        match self {
            OutputError::OverInput(_) | OutputError::ToTerminal(_) => ErrorClass::Usage,
            OutputError::Write { .. } => ErrorClass::Environment,
        }
    }
}

/// True when the error is stdout closing under us (`leakhound … | head`): not a failure.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    // serde_json keeps the I/O error inside its own, out of the chain.
    let kind = |c: &(dyn std::error::Error + 'static)| {
        c.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| c.downcast_ref::<serde_json::Error>()?.io_error_kind())
    };
    e.chain()
        .any(|c| kind(c) == Some(std::io::ErrorKind::BrokenPipe))
}

/// A snapshot holds the user's data; a report must never replace one.
pub fn refuse_input_as_output(out: &Output, inputs: &[PathBuf]) -> Result<()> {
    let Some(o) = &out.output else { return Ok(()) };
    let same = |i: &PathBuf| match (o.canonicalize(), i.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => o == i,
    };
    if let Some(i) = inputs.iter().find(|i| same(i)) {
        return Err(OutputError::OverInput(i.clone()).into());
    }
    Ok(())
}

/// A bar of `total` bytes (a spinner when `None`) on stderr, or `None` when
/// stderr is not a terminal: logs and CI output get no progress lines.
pub fn progress(total: Option<u64>, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (bar, template) = match total {
        Some(t) => (
            indicatif::ProgressBar::new(t),
            "{spinner} {msg} {bytes}/{total_bytes} {wide_bar} {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {msg} {elapsed}",
        ),
    };
    let style = indicatif::ProgressStyle::with_template(template).expect("a fixed template parses");
    let bar = bar.with_style(style).with_message(what.to_string());
    // Drawn now, however short the work turns out (`tick` does nothing once
    // the steady tick runs).
    bar.tick();
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    Some(bar)
}

/// Runs `work` with a progress bar on stderr when stderr is a terminal.
pub fn with_progress<T>(opts: &Options, work: impl FnOnce(&Options) -> T) -> T {
    let Some(bar) = progress(Some(0), "reading") else {
        return work(opts);
    };
    let b = bar.clone();
    let opts = Options {
        progress: Some(Arc::new(move |done, total| {
            b.set_length(total);
            b.set_position(done);
        })),
        ..opts.clone()
    };
    let r = work(&opts);
    bar.finish_and_clear();
    r
}

/// A reader that moves a progress bar as it is read (`detect` on a file of
/// a whole fleet's series). Clears the bar when dropped.
pub struct ProgressReader<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R> ProgressReader<R> {
    /// Wraps `inner`, of `total` bytes, with a bar named `what`.
    pub fn new(inner: R, total: u64, what: &str) -> Self {
        ProgressReader {
            inner,
            bar: progress(Some(total), what),
        }
    }
}

impl<R: std::io::Read> std::io::Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

impl<R> Drop for ProgressReader<R> {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Renders and writes the report as asked.
pub fn emit(a: &Analysis, inputs: &[PathBuf], out: &Output) -> Result<()> {
    let report = &a.report;
    let bytes = match out.format {
        OutputFormat::Json => lh_report::json(report, out.top).into_bytes(),
        OutputFormat::Pprof => lh_report::pprof::export(report, &a.profiles)
            .map_err(|e| lh_analysis::Error::Mismatch(e.to_string()))?,
        OutputFormat::Html => {
            let files: Vec<_> = inputs
                .iter()
                .map(|p| lh_report::html::FileInfo::of(p))
                .collect();
            lh_report::html::report(report, &files, out.top).into_bytes()
        }
        OutputFormat::Table => {
            let to_tty = out.output.is_none() && std::io::stdout().is_terminal();
            let width = if to_tty {
                terminal_size::terminal_size().map_or(100, |(w, _)| w.0)
            } else {
                120
            };
            let color = to_tty
                && anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never;
            lh_report::table(report, out.top, lh_report::TableStyle { width, color }).into_bytes()
        }
    };
    match &out.output {
        Some(path) => write_private(path, &bytes),
        None => {
            if matches!(out.format, OutputFormat::Pprof | OutputFormat::Html)
                && std::io::stdout().is_terminal()
            {
                return Err(OutputError::ToTerminal(out.format).into());
            }
            let mut so = anstream::AutoStream::auto(std::io::stdout().lock());
            so.write_all(&bytes)
                .and_then(|_| so.flush())
                .context("writing to stdout")
        }
    }
}

/// Writes a file readable by its owner only, through a temporary file and a
/// rename, so a failed write never leaves half a report where a file was.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| err(std::io::ErrorKind::InvalidInput.into()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e).into());
    }
    Ok(())
}

/// When each snapshot of a run was taken, in the run's seconds: from the
/// files' modification times against the birth of the program's log
/// (`soak` creates it right before the program starts); where there is no
/// log (`diagnose`), each snapshot follows one sample, taken just before it.
pub fn snapshot_times(dir: &Path, snapshots: &[PathBuf], samples: &[(f64, u64)]) -> Vec<f64> {
    let born = std::fs::metadata(dir.join("app.log")).and_then(|m| m.created());
    match born {
        Ok(start) => snapshots
            .iter()
            .filter_map(|s| std::fs::metadata(s).and_then(|m| m.modified()).ok())
            .filter_map(|t| t.duration_since(start).ok())
            .map(|d| d.as_secs_f64())
            .collect(),
        Err(_) if samples.len() == snapshots.len() => samples.iter().map(|s| s.0).collect(),
        Err(_) => Vec::new(),
    }
}

/// Writes the HTML page of a soak or diagnose (`kind`) to each of `paths` (0600).
pub fn write_run_html(
    o: &lh_run::Outcome,
    kind: &str,
    dir: &Path,
    paths: &[PathBuf],
    top: usize,
) -> Result<()> {
    let files: Vec<_> = o
        .snapshots
        .iter()
        .map(|p| lh_report::html::FileInfo::of(p))
        .collect();
    let at = snapshot_times(dir, &o.snapshots, &o.samples);
    let page = lh_report::html::outcome(o, kind, &at, &files, top);
    for p in paths {
        write_private(p, page.as_bytes())?;
    }
    Ok(())
}
