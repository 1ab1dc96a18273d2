//! `soak -- CMD`: the program under a memory limit, under load, watched until
//! the duration ends or the kernel OOM-kills it; and `demo`, a soak of a
//! bundled leaky app.

use crate::launch::{launch, Preload};
use crate::load::{Load, LoadSpec};
use crate::outdir::OutputDir;
use crate::pipeline::{Finish, Headroom, Watch};
use crate::policy::live_trend;
use crate::progress::Progress;
use crate::ready::wait_ready;
use crate::{interrupt, mib, Error, Outcome};
use lh_cgroup::MemoryCgroup;
use lh_model::outcome::Ended;
use lh_model::VerdictKind;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

/// What to soak, and how.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The memory limit of the program's cgroup, in bytes.
    pub memory_limit: u64,
    /// How long to run it (unless it is OOM-killed first).
    pub duration: Duration,
    /// The load to put on it.
    pub load: LoadSpec,
    /// How often to sample the cgroup.
    pub sample_interval: Duration,
    /// Snapshots along the way, besides the first and the last.
    pub captures: usize,
    /// How long it gets to start and serve its profiles.
    pub ready_timeout: Duration,
    /// Take V8 snapshots even when the headroom guard says no.
    pub force: bool,
    /// Run a native program on this allocator instead of its own, for its
    /// heap profiler (glibc's malloc has none).
    pub preload: Option<Preload>,
    /// Drop string contents from the report (`--redact-strings`).
    pub redact_strings: bool,
    /// The program and its arguments.
    pub cmd: Vec<String>,
}

/// Runs a soak into `out`.
pub fn soak(cfg: &SoakConfig, out: &OutputDir, progress: &dyn Progress) -> Result<Outcome, Error> {
    interrupt::install();
    let limit = cfg.memory_limit;
    let cg = MemoryCgroup::create(limit)?;
    let oom_before = cg.oom_kills()?;
    let start = Instant::now();
    let mut program = launch(&cfg.cmd, out, cfg.preload, |cmd| Ok(cg.enter_on_exec(cmd)?))?;
    let pid = program.pid();
    progress.say(&format!(
        "started pid {pid} ({}) in cgroup {} with a {} limit",
        cfg.cmd.join(" "),
        cg.path().display(),
        mib(limit)
    ));
    let ready = wait_ready(
        &mut program,
        start + cfg.ready_timeout,
        &out.join("app.log"),
        cfg.load.needs_app_port(),
    )?;
    progress.say(&format!(
        "{} program ready{}",
        ready.capturer.runtime(),
        ready
            .app_port
            .as_ref()
            .map(|x| format!(" on {x}"))
            .unwrap_or_default()
    ));

    let mut watch = Watch::new(
        &ready.capturer,
        Some(&cg),
        out,
        cfg.force,
        Headroom::Skip,
        progress,
        start,
    );
    watch.take("baseline")?;
    let load = Load::start(&cfg.load, ready.app_port.as_ref(), out)?;

    let every = cfg.duration.div_f64(cfg.captures as f64 + 1.0);
    let mut next_periodic = Instant::now() + every;
    // Snapshots as the limit nears: the last ones before an OOM kill are the evidence.
    let mut pressure = vec![0.5, 0.7, 0.85];
    let soak_start = Instant::now();
    let end = soak_start + cfg.duration;
    let mut trend_said = false;
    // The detector runs every fourth sample: enough to catch a leak early.
    let mut next_trend_check = 4;
    let ended = loop {
        interrupt::check()?;
        let status = program
            .child
            .try_wait()
            .map_err(|e| Error::io(&out.join("app.log"), e))?;
        if let Some(st) = status {
            let oom = cg.oom_kills()? > oom_before;
            let after = start.elapsed().as_secs_f64();
            break Some(Ended::new(st.code(), st.signal(), oom, after));
        }
        let usage = watch.sample()?.unwrap_or(0);
        let now = Instant::now();
        progress.step(
            now.duration_since(soak_start)
                .as_secs()
                .min(cfg.duration.as_secs()),
            cfg.duration.as_secs(),
            &format!(
                "cgroup at {} of {}, {} snapshot(s)",
                mib(usage),
                mib(limit),
                watch.snapshots.len()
            ),
        );
        if now >= end {
            break None;
        }
        let frac = usage as f64 / limit as f64;
        let crossed = pressure.iter().position(|p| frac >= *p);
        // The detector's first "leak" is worth a snapshot at once: the OOM
        // kill may be seconds away.
        let mut trend_now = false;
        if !trend_said && watch.samples.len() >= next_trend_check {
            next_trend_check += 4;
            let v = live_trend(&watch.samples, limit);
            if v.verdict == VerdictKind::Leak {
                progress.say(&format!("trend detector: leak ({})", v.reasons.join("; ")));
                trend_said = true;
                trend_now = true;
            }
        }
        let why = if trend_now {
            Some("the trend detector says leak".to_string())
        } else if let Some(i) = crossed {
            let p = pressure[i];
            pressure.retain(|q| *q > frac);
            Some(format!("memory at {:.0}% of the limit", p * 100.0))
        } else if now >= next_periodic {
            next_periodic = now + every;
            Some("periodic".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            // The program may die under us mid-capture: that is the OOM kill
            // we were racing, not an error of the soak.
            if let Err(e) = watch.take(&why) {
                let alive = program.child.try_wait().ok().flatten().is_none()
                    && ready.capturer.transport().check_alive().is_ok();
                if alive {
                    return Err(e.into());
                }
                continue;
            }
        }
        std::thread::sleep(cfg.sample_interval);
    };
    if ended.is_none() {
        watch.take("final")?;
    }
    let requests = load.requests();
    drop(load);
    drop(program);
    let trend = live_trend(&watch.samples, limit);
    watch.finish(
        Finish {
            ended,
            trend: Some(trend),
            requests,
            ..Finish::default()
        },
        cfg.redact_strings,
    )
}

/// The bundled leaky app: a Node server whose session cache never evicts.
/// Node is on most machines and needs no build step, so `demo` runs on a
/// fresh clone with nothing but cargo and node.
pub const DEMO_APP: &str = include_str!("../../leakhound/demo/server.js");

/// Soaks the bundled app for `duration` in `out`; the verdict should be a
/// leak naming its `Session` class.
pub fn demo(
    duration: Duration,
    redact_strings: bool,
    out: &OutputDir,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let app = out.write("server.js", DEMO_APP.as_bytes())?;
    progress.say(&format!(
        "demo: soaking a Node server with a leaky session cache ({}) for {:.0} s; snapshots come through the inspector",
        app.display(),
        duration.as_secs_f64()
    ));
    let cfg = SoakConfig {
        // Room for the leak and for V8's snapshots (about twice the heap each).
        memory_limit: 512 << 20,
        duration,
        load: LoadSpec::Http {
            url: "/work?n=10".into(),
            rps: 20,
        },
        sample_interval: Duration::from_millis(250),
        captures: 3,
        ready_timeout: Duration::from_secs(30),
        force: false,
        preload: None,
        redact_strings,
        cmd: vec!["node".into(), app.to_string_lossy().into_owned()],
    };
    soak(&cfg, out, progress).map_err(|e| match e {
        Error::Start { source, .. } => Error::Input(format!(
            "cannot start node ({source}): the demo needs `node` (Node.js 18 or later) on PATH"
        )),
        e => e,
    })
}
