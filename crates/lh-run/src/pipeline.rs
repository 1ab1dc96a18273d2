//! The pipeline every run goes through: sample the cgroup, take snapshots,
//! diff them, judge. `soak` and `diagnose` differ only in how the program
//! came to be and when snapshots are taken.

use crate::outdir::OutputDir;
use crate::policy::{judge, Evidence};
use crate::progress::Progress;
use crate::{mib, Error};
use lh_capture::{CaptureOptions, Capturer};
use lh_cgroup::MemoryCgroup;
use lh_model::outcome::{Ended, Outcome};
use lh_model::Verdict;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// What to do when a V8 snapshot would not fit in the cgroup's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headroom {
    /// Skip it, saying so once (a soak goes on; later snapshots may fit).
    Skip,
    /// Fail the run (a diagnosis asked for that snapshot).
    Fail,
}

/// One run's watch over a target: its samples and snapshots so far.
pub struct Watch<'a> {
    capturer: &'a Capturer,
    cgroup: Option<&'a MemoryCgroup>,
    limit: Option<u64>,
    out: &'a OutputDir,
    force: bool,
    headroom: Headroom,
    headroom_said: bool,
    progress: &'a dyn Progress,
    start: Instant,
    /// (seconds since start, bytes) of the cgroup's usage.
    pub samples: Vec<(f64, u64)>,
    /// The highest usage sampled.
    pub peak: u64,
    /// The heap snapshots taken, oldest first.
    pub snapshots: Vec<PathBuf>,
    /// The cgroup's last `memory.stat`.
    pub memory_stat: BTreeMap<String, u64>,
}

impl<'a> Watch<'a> {
    /// Starts watching; `start` is when the program (or the diagnosis) began.
    pub fn new(
        capturer: &'a Capturer,
        cgroup: Option<&'a MemoryCgroup>,
        out: &'a OutputDir,
        force: bool,
        headroom: Headroom,
        progress: &'a dyn Progress,
        start: Instant,
    ) -> Self {
        Watch {
            capturer,
            cgroup,
            limit: cgroup.and_then(|c| c.limit().ok().flatten()),
            out,
            force,
            headroom,
            headroom_said: false,
            progress,
            start,
            samples: Vec::new(),
            peak: 0,
            snapshots: Vec::new(),
            memory_stat: BTreeMap::new(),
        }
    }

    /// The cgroup's limit, if it has one.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Samples the cgroup's usage (and what it is made of) now.
    pub fn sample(&mut self) -> Result<Option<u64>, Error> {
        let Some(cg) = self.cgroup else {
            return Ok(None);
        };
        let usage = cg.usage()?;
        // memory.stat says what the usage is made of (anon heap vs page cache).
        self.memory_stat = cg.stat().unwrap_or_default();
        self.peak = self.peak.max(usage);
        let t = (self.start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
        self.samples.push((t, usage));
        Ok(Some(usage))
    }

    /// Takes the next snapshot, saying why. A snapshot the headroom guard
    /// refuses is skipped or fails, as [`Headroom`] says.
    pub fn take(&mut self, why: &str) -> Result<(), lh_capture::Error> {
        let usage = self.cgroup.and_then(|c| c.usage().ok());
        let seq = self.snapshots.len() + 1;
        let progress = |n| self.progress.bytes(n);
        let o = CaptureOptions {
            room: self.limit.zip(usage).map(|(l, u)| l.saturating_sub(u)),
            force: self.force,
            goroutines: false,
            progress: Some(&progress),
        };
        match self.capturer.capture(self.out.path(), seq, &o) {
            Ok(files) => {
                self.progress.say(&format!(
                    "snapshot {seq} ({why}{})",
                    usage
                        .map(|u| format!(", cgroup at {}", mib(u)))
                        .unwrap_or_default()
                ));
                self.snapshots.push(files[0].clone());
                Ok(())
            }
            Err(e @ lh_capture::Error::Headroom(_)) if self.headroom == Headroom::Skip => {
                // Once is enough: the room only shrinks as the leak goes on.
                if !std::mem::replace(&mut self.headroom_said, true) {
                    self.progress.say(&format!(
                        "snapshot skipped (said once; later ones may be too): {e}"
                    ));
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Diffs the snapshots and judges the run; with `redact_strings`, the
    /// diff drops string contents before any report is made of it.
    pub fn finish(self, end: Finish, redact_strings: bool) -> Result<Outcome, Error> {
        let report = if self.snapshots.len() >= 2 {
            self.progress.step(1, 1, "diffing the snapshots");
            let opts = lh_analysis::Options {
                redact_strings,
                ..Default::default()
            };
            Some(lh_analysis::diff_files(&self.snapshots, &opts)?)
        } else {
            None
        };
        let (verdict, reasons) = judge(&Evidence {
            oom_kills_before: end.oom_kills_before,
            ended: end.ended.as_ref(),
            exited: end.exited,
            report: report.as_ref(),
            snapshots: self.snapshots.len(),
            trend: end.trend.as_ref(),
        });
        Ok(Outcome {
            verdict,
            reasons,
            runtime: self.capturer.runtime().to_string(),
            ended: end.ended,
            limit_bytes: self.limit.unwrap_or(0),
            peak_bytes: self.peak,
            samples: self.samples,
            snapshots: self.snapshots,
            requests: end.requests,
            memory_stat: self.memory_stat,
            oom_kills_before: end.oom_kills_before,
            trend: end.trend,
            report,
        })
    }
}

/// How the run ended, beyond what the watch saw.
#[derive(Debug, Default)]
pub struct Finish {
    /// The program's end, if before the run's.
    pub ended: Option<Ended>,
    /// A pid that exited during the diagnosis.
    pub exited: Option<u32>,
    /// OOM kills before the run looked.
    pub oom_kills_before: Option<u64>,
    /// The trend over the whole run.
    pub trend: Option<Verdict>,
    /// Requests the HTTP load had answered.
    pub requests: Option<u64>,
}
