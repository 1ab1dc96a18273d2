//! Leak verdicts from memory time series.
//!
//! [`detect`] turns one [`Series`](lh_model::Series) into a
//! [`Verdict`](lh_model::Verdict); [`corpus`] generates labelled series;
//! [`baselines`] are the alerts people use today, computed as Prometheus
//! computes them; [`eval`] scores all of them on the same corpus; [`jsonl`]
//! reads and writes the `trend`/`detect` contract; [`load`] tells growth
//! that follows a given load series from a leak.

pub mod baselines;
pub mod calibration;
pub mod corpus;
pub mod detect;
pub mod eval;
pub mod jsonl;
pub mod load;
pub mod stats;

pub use detect::{analyze, detect, detect_with_siblings, Analysis, Options};
