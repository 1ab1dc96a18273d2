//! Turns snapshot files of any supported format into a [`Report`].
//!
//! Each format has a module that reads its files and enriches the generic diff
//! with what the format knows (stacks, retainer paths, patterns). What every
//! format shares lives here: content-based format detection ([`sniff_format`]), the
//! N-snapshot merge ([`merge`]) and suspect ranking ([`suspects`]).

pub mod flame;
pub mod hprof;
pub mod merge;
pub mod native;
pub mod pprof;
pub mod redact;
pub mod sniff;
pub mod suspects;
pub mod tracemalloc;
pub mod v8;

use lh_model::{Classify, ErrorClass, InputFormat, Progress, Report};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use lh_native::Symbols;
pub use sniff::sniff_format;

/// An analysis error, always naming the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not what it must be: empty, truncated, corrupt, another format.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with the byte offset where the reader knows it.
        message: String,
    },
    /// The files cannot be analysed together (different formats or sample types).
    #[error("{0}")]
    Mismatch(String),
    /// The options do not fit the files (an unknown `--by` or sample type).
    #[error("{0}")]
    Usage(String),
    /// The file could not be read at all. The cause is in the message, not in
    /// `source()`: printing the chain would say it twice.
    #[error("{path}: {}", lh_model::error::describe_io(error))]
    Io {
        /// The file.
        path: PathBuf,
        /// The failed read.
        error: std::io::Error,
    },
    /// The machine cannot do the work (a heap graph larger than the memory
    /// this process may use), though the file is fine.
    #[error("{path}: {message}")]
    Environment {
        /// The file.
        path: PathBuf,
        /// What the machine lacks.
        message: String,
    },
}

impl Error {
    /// Builds an input error from any displayable cause.
    pub fn input(path: &Path, message: impl std::fmt::Display) -> Self {
        Error::Input {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    /// Wraps an I/O error; [`Classify`] tells whose it is.
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// Wraps a format reader's error, keeping the reader's classification.
    pub fn reader(path: &Path, e: impl Classify + std::fmt::Display) -> Self {
        match e.class() {
            ErrorClass::Usage => Error::input(path, e),
            _ => Error::Environment {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        }
    }
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Io { error, .. } => error.class(),
            Error::Environment { .. } => ErrorClass::Environment,
            Error::Input { .. } | Error::Mismatch(_) | Error::Usage(_) => ErrorClass::Usage,
        }
    }
}

/// Options shared by `diff` and `analyze`. Each format reads the ones it knows
/// and rejects values it cannot honour.
#[derive(Clone, Default)]
pub struct Options {
    /// Grouping granularity: `function|line|file` for pprof, `lineno|filename|traceback` for tracemalloc.
    pub by: Option<String>,
    /// pprof sample type, by name or position.
    pub sample_index: Option<String>,
    /// tracemalloc: count a trace's size in every frame of its traceback.
    pub cumulative: bool,
    /// HPROF: the class histogram only, without the object graph.
    pub histogram_only: bool,
    /// Drop string contents from the result ([`redact`]): for reports that
    /// leave the team.
    pub redact_strings: bool,
    /// Native heap profiles: where the mapped binaries are read from.
    pub symbols: Symbols,
    /// Called as large files are read.
    pub progress: Option<Arc<Progress>>,
}

impl Options {
    /// Reports progress if a callback was given.
    pub fn progress(&self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p(done, total)
        }
    }
}

/// Detects the one format all `paths` share, or says which file differs.
fn common_format(paths: &[PathBuf]) -> Result<InputFormat, Error> {
    let first = sniff_format(&paths[0])?;
    for p in &paths[1..] {
        let f = sniff_format(p)?;
        if f != first {
            return Err(Error::Mismatch(format!(
                "cannot diff a {first} snapshot ({}) with a {f} snapshot ({})",
                paths[0].display(),
                p.display()
            )));
        }
    }
    Ok(first)
}

/// A report with what its inputs held beyond it, for renderers that need
/// more than the JSON: the pprof profiles as read (the first and the last of
/// a diff, or the one analysed), so that `--format pprof` never reads the
/// files a second time. Empty for other formats.
pub struct Analysis {
    /// The result, as the JSON contract has it.
    pub report: Report,
    /// The pprof profiles read (see above); empty for other formats.
    pub profiles: Vec<lh_pprof::Profile>,
}

impl From<Report> for Analysis {
    fn from(report: Report) -> Self {
        Analysis {
            report,
            profiles: Vec::new(),
        }
    }
}

/// Redacts `a` when the options ask: here, on the result of both entry
/// points, so that every renderer only ever sees what is left.
fn finish(mut a: Analysis, opts: &Options) -> Analysis {
    if opts.redact_strings {
        redact::redact_strings(&mut a);
    }
    a
}

/// Diffs two or more snapshots of one process, given in time order.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Analysis, Error> {
    if paths.len() < 2 {
        return Err(Error::Usage(
            "diff needs at least two snapshots, in time order".into(),
        ));
    }
    let a = match common_format(paths)? {
        InputFormat::Pprof => pprof::diff(paths, opts),
        InputFormat::V8 => v8::diff(paths, opts).map(Analysis::from),
        InputFormat::Hprof => hprof::diff(paths, opts).map(Analysis::from),
        InputFormat::Tracemalloc => tracemalloc::diff(paths, opts).map(Analysis::from),
        InputFormat::Jemalloc | InputFormat::Tcmalloc => {
            native::diff(paths, opts).map(Analysis::from)
        }
    }?;
    Ok(finish(a, opts))
}

/// Analyses one snapshot: the largest groups and, where the format allows, suspects.
pub fn analyze(path: &Path, opts: &Options) -> Result<Analysis, Error> {
    let a = match sniff_format(path)? {
        InputFormat::Pprof => pprof::analyze(path, opts),
        InputFormat::V8 => v8::analyze(path, opts).map(Analysis::from),
        InputFormat::Hprof => hprof::analyze(path, opts).map(Analysis::from),
        InputFormat::Tracemalloc => tracemalloc::analyze(path, opts).map(Analysis::from),
        InputFormat::Jemalloc | InputFormat::Tcmalloc => {
            native::analyze(path, opts).map(Analysis::from)
        }
    }?;
    Ok(finish(a, opts))
}

/// [`diff`], the report only.
pub fn diff_files(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    diff(paths, opts).map(|a| a.report)
}

/// [`analyze`], the report only.
pub fn analyze_file(path: &Path, opts: &Options) -> Result<Report, Error> {
    analyze(path, opts).map(|a| a.report)
}
