//! Where memory series come from, each turned into one [`Series`](lh_model::Series):
//! [`prometheus`] (the `query_range` HTTP API over cAdvisor's metrics) and
//! [`cgroup`] (live samples of a memory cgroup, v1 or v2).

pub mod cgroup;
pub mod prometheus;

/// Whether a failure is the user's input (exit 2) or the environment (exit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Input,
    Environment,
}

/// A source failure, saying what was asked of whom.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Prometheus could not be reached or failed on its side.
    #[error("Prometheus at {url}: {message}")]
    Unreachable { url: String, message: String },
    /// Prometheus rejected the query, or it matched nothing or too much.
    #[error("Prometheus at {url}: {message}")]
    Query { url: String, message: String },
    /// The cgroup could not be read.
    #[error(transparent)]
    Cgroup(#[from] lh_cgroup::Error),
    /// Bad options (an interval of 0, a range that is not a duration).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unreachable { .. } => ErrorKind::Environment,
            Error::Cgroup(lh_cgroup::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorKind::Input
            }
            Error::Cgroup(lh_cgroup::Error::Parse { .. }) => ErrorKind::Input,
            Error::Cgroup(_) => ErrorKind::Environment,
            Error::Query { .. } | Error::Usage(_) => ErrorKind::Input,
        }
    }
}
