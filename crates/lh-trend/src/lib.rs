//! Leak verdicts from memory time series.
//!
//! [`detect`] turns one [`Series`](lh_model::Series) into a
//! [`Verdict`](lh_model::Verdict); [`corpus`] generates labelled series;
//! [`baselines`] are the alerts people use today, computed as Prometheus
//! computes them; [`eval`] scores all of them on the same corpus; [`jsonl`]
//! reads and writes the `trend`/`detect` contract.

pub mod baselines;
pub mod corpus;
pub mod detect;
pub mod eval;
pub mod jsonl;
pub mod stats;

pub use detect::{analyze, detect, Analysis, Options};
