//! The run engine: leakhound's work against live processes.
//!
//! `soak` (start a program in a memory-limited cgroup, put load on it, watch
//! it), `diagnose` (attach to a running target) and `demo` (soak a bundled
//! leaky app) are one pipeline ([`pipeline`]): sample the cgroup, take heap
//! snapshots through lh-capture on a schedule, diff them with lh-analysis, and
//! judge with one policy ([`policy`]) into an [`Outcome`]. `capture` shares
//! the target resolution ([`resolve`]), the program launch ([`launch`]) and
//! the output directory rules ([`outdir`]).
//!
//! It lives in a library, not in the binary, so that every front end (the
//! CLI, a Kubernetes transport, the agent) runs the same engine: the binary
//! only turns flags into the configs here and renders what comes back.
//! Progress goes through the [`progress::Progress`] trait, so the engine
//! never decides what a terminal shows.

pub mod capture;
pub mod diagnose;
pub mod error;
pub mod interrupt;
pub mod launch;
pub mod load;
pub mod outdir;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod ready;
pub mod resolve;
pub mod soak;

pub use capture::{capture, CaptureConfig, CaptureFrom, Captured};
pub use diagnose::{diagnose, DiagnoseConfig};
pub use error::Error;
pub use launch::Preload;
pub use lh_model::outcome::Outcome;
pub use load::LoadSpec;
pub use outdir::OutputDir;
pub use progress::{Progress, Quiet, Terminal};
pub use soak::{demo, soak, SoakConfig};

/// Writes `report.json` (0600) of a soak or diagnosis into `out`, with its
/// `schema_version`; returns the JSON.
pub fn write_report(o: &Outcome, out: &OutputDir) -> Result<String, Error> {
    let json = serde_json::to_string_pretty(&lh_model::Versioned::new(o))
        .expect("an Outcome always serializes");
    out.write("report.json", json.as_bytes())?;
    Ok(json)
}

/// Bytes as MiB with one decimal, as the engine's messages show sizes.
pub(crate) fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}
