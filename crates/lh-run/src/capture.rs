//! `capture TARGET` and `capture -- CMD`: heap snapshots into a directory,
//! without a verdict.

use crate::launch::{launch, Preload};
use crate::outdir::OutputDir;
use crate::progress::Progress;
use crate::ready::wait_ready;
use crate::resolve::{attach, exited_or, Attached};
use crate::{interrupt, Error};
use lh_capture::{CaptureOptions, Runtime, Target};
use lh_cgroup::MemoryCgroup;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to capture from.
#[derive(Debug, Clone)]
pub enum CaptureFrom {
    /// A running target.
    Target(Target),
    /// A program to start (tracing on, as `soak` does), capture, then stop.
    Command {
        /// The program and its arguments.
        argv: Vec<String>,
        /// The allocator to run it on (`--preload`), for a program on glibc's malloc.
        preload: Option<Preload>,
    },
}

/// What to capture, and how.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// The target.
    pub from: CaptureFrom,
    /// Snapshots to take.
    pub count: usize,
    /// Time between them.
    pub interval: Duration,
    /// Go: also take goroutine profiles.
    pub goroutines: bool,
    /// Node: take a snapshot even when the cgroup looks too small for it.
    pub force: bool,
}

/// What a capture wrote.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The runtime the files come from.
    pub runtime: Runtime,
    /// Every file written, in order.
    pub files: Vec<PathBuf>,
}

/// How long a program started by `capture -- CMD` gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a capture; `claim` gives the output directory once the target has
/// resolved, so a wrong target creates nothing.
pub fn capture(
    cfg: &CaptureConfig,
    claim: impl FnOnce() -> Result<OutputDir, Error>,
    progress: &dyn Progress,
) -> Result<(Captured, OutputDir), Error> {
    interrupt::install();
    if cfg.count == 0 {
        return Err(Error::Input("--count must be at least 1".into()));
    }
    // With `-- CMD`, the program is ours: started with tracing on, killed at the end.
    let mut started = None;
    let (target, out) = match &cfg.from {
        CaptureFrom::Target(t) => {
            let target = attach(t)?;
            (target, claim()?)
        }
        CaptureFrom::Command { argv, preload } => {
            let out = claim()?;
            let program = started.insert(launch(argv, &out, *preload, |_| Ok(()))?);
            progress.say(&format!(
                "started pid {} ({})",
                program.pid(),
                argv.join(" ")
            ));
            let deadline = Instant::now() + READY_TIMEOUT;
            let ready = wait_ready(program, deadline, &out.join("app.log"), false)?;
            let pid = program.pid();
            let target = Attached {
                capturer: ready.capturer,
                pid: Some(pid),
                cgroup: MemoryCgroup::of_pid(pid).ok(),
            };
            (target, out)
        }
    };
    let mut files = Vec::new();
    for i in 0..cfg.count {
        if i > 0 {
            interrupt::pause(cfg.interval)?;
        }
        interrupt::check()?;
        progress.step(i as u64, cfg.count as u64, "taking a snapshot");
        let room = target
            .cgroup
            .as_ref()
            .and_then(|cg| Some(cg.limit().ok()??.saturating_sub(cg.usage().ok()?)));
        let bytes = |n| progress.bytes(n);
        let o = CaptureOptions {
            room,
            force: cfg.force,
            goroutines: cfg.goroutines,
            progress: Some(&bytes),
        };
        let what = format!("capture {} of {}", i + 1, cfg.count);
        let got = target
            .capturer
            .capture(out.path(), i + 1, &o)
            .map_err(|e| exited_or(e, &target.capturer, i, out.path(), what))?;
        files.extend(got);
    }
    progress.step(cfg.count as u64, cfg.count as u64, "done");
    let runtime = target.capturer.runtime();
    target.capturer.finish()?;
    drop(started);
    Ok((Captured { runtime, files }, out))
}
