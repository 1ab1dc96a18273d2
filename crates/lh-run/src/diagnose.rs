//! `diagnose TARGET`: a running target's OOM history, N snapshots over an
//! interval, their diff, and the verdict.

use crate::outdir::OutputDir;
use crate::pipeline::{Finish, Headroom, Watch};
use crate::progress::Progress;
use crate::resolve::{attach, exited_or};
use crate::{interrupt, Error, Outcome};
use lh_capture::Target;
use std::time::{Duration, Instant};

/// What to diagnose, and how.
#[derive(Debug, Clone)]
pub struct DiagnoseConfig {
    /// The target.
    pub target: Target,
    /// Snapshots to take (2 or more).
    pub count: usize,
    /// Time between them.
    pub interval: Duration,
    /// Take V8 snapshots even when the headroom guard says no.
    pub force: bool,
    /// Drop string contents from the report (`--redact-strings`).
    pub redact_strings: bool,
}

/// Runs a diagnosis into `out`.
pub fn diagnose(
    cfg: &DiagnoseConfig,
    out: &OutputDir,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    interrupt::install();
    if cfg.count < 2 {
        return Err(Error::Input("--count must be at least 2 to diff".into()));
    }
    let target = attach(&cfg.target)?;
    let oom_before = target.cgroup.as_ref().and_then(|c| c.oom_kills().ok());
    let mut watch = Watch::new(
        &target.capturer,
        target.cgroup.as_ref(),
        out,
        cfg.force,
        Headroom::Fail,
        progress,
        Instant::now(),
    );
    for i in 0..cfg.count {
        if i > 0 {
            interrupt::pause(cfg.interval)?;
        }
        progress.step(i as u64, cfg.count as u64, "taking a snapshot");
        watch.sample()?;
        let what = format!("snapshot {} of {}", i + 1, cfg.count);
        watch
            .take(&what)
            .map_err(|e| exited_or(e, &target.capturer, i, out.path(), what.clone()))?;
    }
    let exited = target
        .pid
        .filter(|_| target.capturer.transport().check_alive().is_err());
    let outcome = watch.finish(
        Finish {
            exited,
            oom_kills_before: oom_before,
            ..Finish::default()
        },
        cfg.redact_strings,
    )?;
    target.capturer.finish()?;
    Ok(outcome)
}
