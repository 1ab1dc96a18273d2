//! Where memory series come from, each turned into one [`Series`](lh_model::Series):
//! [`prometheus`] (the `query_range` HTTP API over cAdvisor's metrics) and
//! [`cgroup`] (live samples of a memory cgroup, v1 or v2).

pub mod cgroup;
pub mod prometheus;

use lh_model::{Classify, ErrorClass};

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

impl Classify for Error {
    /// A cgroup path is one the user named (`trend --cgroup PATH`): when it
    /// does not exist or holds no memory files, the path is wrong.
    fn class(&self) -> ErrorClass {
        match self {
            Error::Unreachable { .. } => ErrorClass::Environment,
            Error::Cgroup(lh_cgroup::Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                ErrorClass::Usage
            }
            Error::Cgroup(lh_cgroup::Error::Parse { .. }) => ErrorClass::Usage,
            Error::Cgroup(_) => ErrorClass::Environment,
            Error::Query { .. } | Error::Usage(_) => ErrorClass::Usage,
        }
    }
}
