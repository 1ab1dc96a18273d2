//! The `report.json` of `soak` and `diagnose`: what the run saw and its verdict.
//!
//! This is part of the JSON contract (ARCHITECTURE.md), next to the
//! `diff`/`analyze` [`Report`] it embeds, so it lives here with the other
//! contract types rather than with the engine that fills it in (lh-run).
//! Written through [`Versioned`](crate::Versioned), so `report.json` starts
//! with `schema_version` as every JSON output does.

use crate::{Report, Verdict, VerdictKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How the program under test ended, as Kubernetes would show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// Killed by the kernel at its memory limit (exit code 137).
    #[serde(rename = "OOMKilled")]
    OomKilled,
    /// Killed by another signal.
    Killed,
    /// Exited with a non-zero code.
    Error,
    /// Exited with code 0.
    Completed,
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndReason::OomKilled => "OOMKilled",
            EndReason::Killed => "Killed",
            EndReason::Error => "Error",
            EndReason::Completed => "Completed",
        })
    }
}

/// The program's end, when it came before the soak's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    /// `OOMKilled`, `Killed`, `Error` or `Completed`.
    pub reason: EndReason,
    /// The exit code as a shell (and Kubernetes) shows it: 128 + signal when killed.
    pub exit_code: i32,
    /// Seconds from the start, to a tenth.
    pub after_seconds: f64,
}

impl Ended {
    /// From a wait status: the exit code, or the signal that killed it, and
    /// whether the cgroup's OOM counter rose meanwhile.
    pub fn new(code: Option<i32>, signal: Option<i32>, oom: bool, after_seconds: f64) -> Self {
        let (reason, exit_code) = match (code, signal) {
            (_, Some(9)) if oom => (EndReason::OomKilled, 137),
            (_, Some(sig)) => (EndReason::Killed, 128 + sig),
            (Some(0), _) => (EndReason::Completed, 0),
            (Some(c), _) => (EndReason::Error, c),
            _ => (EndReason::Error, 1),
        };
        Ended {
            reason,
            exit_code,
            after_seconds: (after_seconds * 10.0).round() / 10.0,
        }
    }
}

/// What a soak or a diagnosis saw, and its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// `leak` or `no-leak`.
    pub verdict: VerdictKind,
    /// Why, one sentence each, most telling first.
    pub reasons: Vec<String>,
    /// `go`, `node`, `python` or `jvm`.
    pub runtime: String,
    /// Set when the program ended before the soak did.
    pub ended: Option<Ended>,
    /// The cgroup's memory limit (0 when it has none, or none is known).
    pub limit_bytes: u64,
    /// The highest usage sampled.
    pub peak_bytes: u64,
    /// (seconds since start, bytes) of the cgroup's usage.
    pub samples: Vec<(f64, u64)>,
    /// The heap snapshots taken, oldest first.
    pub snapshots: Vec<PathBuf>,
    /// Requests the built-in HTTP load sent (`soak --http-load`).
    pub requests: Option<u64>,
    /// The cgroup's last `memory.stat` before the program ended.
    pub memory_stat: BTreeMap<String, u64>,
    /// OOM kills the cgroup had seen before we looked (diagnose).
    pub oom_kills_before: Option<u64>,
    /// The trend detector's verdict on the memory samples.
    pub trend: Option<Verdict>,
    /// The diff of the snapshots, when two or more were taken.
    pub report: Option<Report>,
}

impl Outcome {
    /// True when the verdict is a leak.
    pub fn is_leak(&self) -> bool {
        self.verdict == VerdictKind::Leak
    }

    /// True when the program was killed at its memory limit.
    pub fn oom_killed(&self) -> bool {
        self.ended
            .as_ref()
            .is_some_and(|e| e.reason == EndReason::OomKilled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_read_as_kubernetes_shows_them() {
        assert_eq!(
            Ended::new(None, Some(9), true, 1.26).reason,
            EndReason::OomKilled
        );
        assert_eq!(Ended::new(None, Some(9), true, 1.26).exit_code, 137);
        assert_eq!(
            Ended::new(None, Some(9), false, 1.0).reason,
            EndReason::Killed
        );
        assert_eq!(
            Ended::new(Some(0), None, false, 1.0).reason,
            EndReason::Completed
        );
        assert_eq!(Ended::new(Some(4), None, false, 1.0).exit_code, 4);
        let e = Ended::new(None, Some(9), true, 1.26);
        assert_eq!(e.after_seconds, 1.3);
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            serde_json::json!({"reason": "OOMKilled", "exit_code": 137, "after_seconds": 1.3})
        );
    }
}
