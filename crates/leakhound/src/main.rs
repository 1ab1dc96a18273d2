//! The leakhound binary: parses flags, calls the libraries, picks a renderer,
//! and maps failures to the exit codes of ARCHITECTURE.md.

mod cli;
mod cmd_capture;
mod cmd_diagnose;
mod cmd_memory;
mod cmd_soak;
mod cmd_trend;
mod live;
mod output;

use anyhow::Result;
use clap::CommandFactory;
use cli::{Cli, Command};
use lh_analysis::Options;
use lh_model::{Classify, ErrorClass};
use std::process::ExitCode;

/// Exit codes, as scripts and CI rely on them (1, a leak found, comes with `soak` and `--fail-on-leak`).
const EXIT_INPUT: u8 = 2;

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
            eprintln!("leakhound: error: {}", message(&e));
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

/// The one map from a failure to its exit code (ARCHITECTURE.md, "Errors").
fn exit_code(e: &anyhow::Error) -> u8 {
    match class_of(e) {
        ErrorClass::Usage => EXIT_INPUT,
        ErrorClass::Environment => 3,
        ErrorClass::Interrupted => 130,
    }
}

/// The class of the outermost error in the chain that knows its own. An
/// error nobody classified is the environment's: the user did nothing wrong
/// that we could name.
fn class_of(e: &anyhow::Error) -> ErrorClass {
    e.chain().find_map(class).unwrap_or(ErrorClass::Environment)
}

/// The class of one error of the chain, when its type is a library's.
/// `anyhow` cannot downcast to a trait, so every classified type is listed.
fn class(e: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    macro_rules! first_of {
        ($($t:ty),* $(,)?) => {
            $(if let Some(x) = e.downcast_ref::<$t>() {
                return Some(x.class());
            })*
        };
    }
    first_of!(
        lh_analysis::Error,
        lh_sources::Error,
        lh_trend::jsonl::Error,
        cmd_trend::TrendError,
        output::OutputError,
        lh_run::Error,
        lh_memory::Error,
        std::io::Error,
    );
    None
}

/// The error and its causes on one line, each said once: a library that puts
/// its cause in its own message and also returns it as `source()` would
/// otherwise print it twice.
fn message(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out += ": ";
            out += &c;
        }
    }
    out
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Diff { files, out, opts } => {
            let options = options(&opts);
            output::refuse_input_as_output(&out, &files)?;
            tracing::info!(files = files.len(), "diffing snapshots");
            let a = output::with_progress(&options, |o| lh_analysis::diff(&files, o))?;
            output::emit(&a, &files, &out)?;
            exiting(a);
            Ok(0)
        }
        Command::Analyze { file, out, opts } => {
            let options = options(&opts);
            let files = [file];
            output::refuse_input_as_output(&out, &files)?;
            tracing::info!(file = %files[0].display(), "analysing snapshot");
            let a = output::with_progress(&options, |o| lh_analysis::analyze(&files[0], o))?;
            output::emit(&a, &files, &out)?;
            exiting(a);
            Ok(0)
        }
        Command::Trend(a) => cmd_trend::trend(a),
        Command::Detect(a) => cmd_trend::detect(a),
        Command::Capture(a) => cmd_capture::capture(a),
        Command::Soak(a) => cmd_soak::soak(a),
        Command::Diagnose(a) => cmd_diagnose::diagnose(a),
        Command::Demo(a) => cmd_soak::demo(a),
        Command::Memory(a) => cmd_memory::memory(a),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "leakhound", &mut std::io::stdout());
            Ok(0)
        }
    }
}

/// The process ends right after a report is written: freeing its groups one
/// by one (tens of thousands of keys for a traceback diff) is wasted time.
fn exiting(a: lh_analysis::Analysis) {
    std::mem::forget(a);
}

fn options(o: &cli::SnapshotOpts) -> Options {
    Options {
        by: o.by.clone(),
        sample_index: o.sample_index.clone(),
        histogram_only: o.histogram_only,
        cumulative: o.cumulative,
        redact_strings: o.redaction.redact_strings,
        symbols: o
            .symbols
            .clone()
            .map_or(lh_analysis::Symbols::Local, lh_analysis::Symbols::Dir),
        ..Default::default()
    }
}
