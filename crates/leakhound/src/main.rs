//! The leakhound binary: parses flags, calls the libraries, picks a renderer,
//! and maps failures to the exit codes of ARCHITECTURE.md.

mod cli;
mod cmd_run;
mod cmd_trend;
mod output;

use anyhow::Result;
use clap::CommandFactory;
use cli::{Cli, Command};
use lh_analysis::{ErrorKind, Options};
use std::process::ExitCode;

/// Exit codes, as scripts and CI rely on them (1, a leak found, comes with `soak` and `--fail-on-leak`).
const EXIT_INPUT: u8 = 2;
const EXIT_ENV: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::command();
    // As `kubectl-leak`, kubectl runs us for `kubectl leak`; help should say so.
    let invoked = std::env::args_os().next().and_then(|a| {
        std::path::Path::new(&a)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
    });
    let cli = if invoked.as_deref() == Some("kubectl-leak") {
        cli.bin_name("kubectl leak")
    } else {
        cli
    };
    let matches = match cli.try_get_matches() {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_INPUT } else { 0 });
        }
    };
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(EXIT_INPUT);
        }
    };
    init_logs(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if output::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("leakhound: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn init_logs(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never)
        .init();
}

/// Input errors are 2, the environment's are 3.
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(code) = cmd_run::exit_code(e) {
        return code;
    }
    if let Some(code) = cmd_trend::exit_code(e) {
        return code;
    }
    match e
        .downcast_ref::<lh_analysis::Error>()
        .map(lh_analysis::Error::kind)
    {
        Some(ErrorKind::Environment) => EXIT_ENV,
        Some(ErrorKind::Input) => EXIT_INPUT,
        None => match e.downcast_ref::<output::OutputError>() {
            Some(o) => o.exit_code(),
            None => EXIT_ENV,
        },
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Diff { files, out, opts } => {
            let options = options(&opts);
            output::refuse_input_as_output(&out, &files)?;
            tracing::info!(files = files.len(), "diffing snapshots");
            let report = output::with_progress(&options, |o| lh_analysis::diff_files(&files, o))?;
            output::emit(&report, &files, &out, &options)?;
            exiting(report);
            Ok(0)
        }
        Command::Analyze { file, out, opts } => {
            let options = options(&opts);
            let files = [file];
            output::refuse_input_as_output(&out, &files)?;
            tracing::info!(file = %files[0].display(), "analysing snapshot");
            let report =
                output::with_progress(&options, |o| lh_analysis::analyze_file(&files[0], o))?;
            output::emit(&report, &files, &out, &options)?;
            exiting(report);
            Ok(0)
        }
        Command::Trend(a) => cmd_trend::trend(a),
        Command::Detect(a) => cmd_trend::detect(a),
        Command::Capture(a) => cmd_run::capture(a),
        Command::Soak(a) => cmd_run::soak(a),
        Command::Diagnose(a) => cmd_run::diagnose(a),
        Command::Demo(a) => cmd_run::demo(a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "leakhound", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// The process ends right after a report is written: freeing its groups one
/// by one (tens of thousands of keys for a traceback diff) is wasted time.
fn exiting(report: lh_model::Report) {
    std::mem::forget(report);
}

fn options(o: &cli::SnapshotOpts) -> Options {
    Options {
        by: o.by.clone(),
        sample_index: o.sample_index.clone(),
        histogram_only: o.histogram_only,
        cumulative: o.cumulative,
        symbols: o
            .symbols
            .clone()
            .map_or(lh_analysis::Symbols::Local, lh_analysis::Symbols::Dir),
        ..Default::default()
    }
}
