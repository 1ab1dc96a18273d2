//! The engine's errors. Each says whose fault it is ([`Classify`]), so the
//! binary's one exit-code map can turn it into 2, 3 or 130.

use lh_model::{Classify, ErrorClass};
use std::path::PathBuf;

/// A failure of a run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Ctrl-C or SIGTERM; the guards have stopped the program and removed its cgroup.
    #[error("interrupted; the program under test was stopped and its cgroup removed")]
    Interrupted,
    /// The command or flags are wrong, with why.
    #[error("{0}")]
    Input(String),
    /// The output directory holds another run's files.
    #[error("{0} is not empty: it holds files of another run; give a new -o DIR, or pass --overwrite to write into it")]
    OutputNotEmpty(PathBuf),
    /// The program under test could not be started.
    #[error("cannot start {program:?}: {source}")]
    Start {
        /// argv[0].
        program: String,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the run could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A capture failed; `what` says which one.
    #[error("{what}: {source}")]
    Capture {
        /// `capture 2 of 3`, `the process exited mid-capture, …`.
        what: String,
        /// The capture's error.
        source: lh_capture::Error,
    },
    /// Reaching or resolving the target failed.
    #[error(transparent)]
    Target(#[from] lh_capture::Error),
    /// A cgroup could not be made, read or parsed.
    #[error(transparent)]
    Cgroup(#[from] lh_cgroup::Error),
    /// The snapshots could not be diffed.
    #[error(transparent)]
    Analysis(#[from] lh_analysis::Error),
}

impl Classify for Error {
    fn class(&self) -> ErrorClass {
        match self {
            Error::Interrupted => ErrorClass::Interrupted,
            Error::Input(_) | Error::OutputNotEmpty(_) | Error::Start { .. } => ErrorClass::Usage,
            Error::Io { .. } => ErrorClass::Environment,
            Error::Capture { source, .. } | Error::Target(source) => source.class(),
            Error::Cgroup(e) => e.class(),
            Error::Analysis(e) => e.class(),
        }
    }
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
