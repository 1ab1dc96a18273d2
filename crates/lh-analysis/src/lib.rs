//! Turns snapshot files of any supported format into a [`Report`].
//!
//! Each format has a module that reads its files and enriches the generic diff
//! with what the format knows (stacks, retainer paths, patterns). What every
//! format shares lives here: content-based format detection ([`sniff_format`]), the
//! N-snapshot merge ([`merge`]) and suspect ranking ([`suspects`]).

pub mod hprof;
pub mod merge;
pub mod pprof;
pub mod sniff;
pub mod suspects;
pub mod tracemalloc;
pub mod v8;

use lh_model::{Classify, ErrorClass, InputFormat, Progress, Report};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use sniff::sniff_format;

/// An analysis error, always naming the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file is not what it must be: empty, truncated, corrupt, another format.
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
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
        path: PathBuf,
        error: std::io::Error,
    },
    /// The machine cannot do the work (a heap graph larger than the memory
    /// this process may use), though the file is fine.
    #[error("{path}: {message}")]
    Environment { path: PathBuf, message: String },
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

/// Diffs two or more snapshots of one process, given in time order.
pub fn diff_files(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    if paths.len() < 2 {
        return Err(Error::Usage(
            "diff needs at least two snapshots, in time order".into(),
        ));
    }
    match common_format(paths)? {
        InputFormat::Pprof => pprof::diff(paths, opts),
        InputFormat::V8 => v8::diff(paths, opts),
        InputFormat::Hprof => hprof::diff(paths, opts),
        InputFormat::Tracemalloc => tracemalloc::diff(paths, opts),
    }
}

/// Analyses one snapshot: the largest groups and, where the format allows, suspects.
pub fn analyze_file(path: &Path, opts: &Options) -> Result<Report, Error> {
    match sniff_format(path)? {
        InputFormat::Pprof => pprof::analyze(path, opts),
        InputFormat::V8 => v8::analyze(path, opts),
        InputFormat::Hprof => hprof::analyze(path, opts),
        InputFormat::Tracemalloc => tracemalloc::analyze(path, opts),
    }
}

/// The `--format pprof` export: pprof inputs keep their stacks (the merged
/// profile of `-diff_base`); other formats give one frame per group.
pub fn export_pprof(paths: &[PathBuf], report: &Report, opts: &Options) -> Result<Vec<u8>, Error> {
    let profile = match report.format {
        InputFormat::Pprof => pprof::export(paths, opts)?,
        _ => {
            let rows: Vec<_> = report
                .groups
                .iter()
                .map(|g| {
                    let v = if paths.len() > 1 {
                        (g.delta_bytes, g.delta_count)
                    } else {
                        (g.bytes[0], g.count[0])
                    };
                    (g.key.clone(), v.0, v.1)
                })
                .collect();
            let name = if paths.len() > 1 {
                "delta_space"
            } else {
                "inuse_space"
            };
            lh_pprof::from_groups(name, &report.unit, &rows)
        }
    };
    Ok(lh_pprof::encode_gzip(&profile))
}
