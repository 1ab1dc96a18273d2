//! Where a container's memory is.
//!
//! A heap profile that "looks fine" while the container climbs toward its
//! limit means the growth is elsewhere: off-heap buffers, C allocations,
//! thread stacks, a tmpfs, the kernel. The OOM killer counts the cgroup's
//! charge, so [`read`] starts from it and splits it into the categories of
//! [`lh_model::breakdown::CATEGORIES`], each measured from its own source:
//! the cgroup's `memory.stat` for page cache, shmem and kernel; every
//! process's `smaps_rollup` for anonymous memory. What no source covers is
//! the residual, shown rather than spread over the others. [`summarize`]
//! compares samples and names the part that grew.
//!
//! Everything is read through lh-capture's [`Transport`] (files of the
//! target), so a pod is read exactly as a local process once its transport
//! exists.

pub mod cgroup;
pub mod smaps;
mod summary;

use cgroup::{CgroupFiles, CgroupMemory, ParseError};
use lh_capture::transport::{read_text, TargetFile};
use lh_capture::{Local, Target, Transport};
use lh_model::breakdown::{reclaimable, Breakdown, Category, ProcessMemory, CATEGORIES};
use lh_model::{Classify, ErrorClass};
use std::path::Path;
use std::time::{Duration, Instant};

pub use summary::summarize;

/// Why a breakdown could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The target's files or its runtime could not be reached.
    #[error(transparent)]
    Transport(#[from] lh_capture::Error),
    /// A cgroup file held something else than its format.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// A TARGET this command cannot read (a URL, an empty cgroup).
    #[error("{0}")]
    Target(String),
}

impl Classify for Error {
    /// A wrong target (gone, a URL, an empty cgroup) is the user's; a cgroup
    /// file that does not parse is the machine's.
    fn class(&self) -> ErrorClass {
        match self {
            Error::Transport(e) => e.class(),
            Error::Parse(_) => ErrorClass::Environment,
            Error::Target(_) => ErrorClass::Usage,
        }
    }
}

/// The transport for a `pid:` or `cgroup:` target. A cgroup is read through
/// one of its processes (the transport reads "the target's cgroup"), which
/// must be in that cgroup itself, not in a child of it.
pub fn transport_for(target: &Target) -> Result<Local, Error> {
    match target {
        Target::Pid(pid) => Ok(Local::process(*pid)),
        Target::Cgroup(dir) => {
            let procs = dir.join("cgroup.procs");
            let text = std::fs::read_to_string(&procs).map_err(|e| {
                Error::Target(format!("{}: {e} (is it a memory cgroup?)", procs.display()))
            })?;
            let pid = text
                .lines()
                .find_map(|l| l.trim().parse().ok())
                .ok_or_else(|| {
                    Error::Target(format!(
                        "{} holds no process of its own (look in its child cgroups)",
                        dir.display()
                    ))
                })?;
            Ok(Local::process(pid))
        }
        other => Err(Error::Target(format!(
            "memory reads a pid: or cgroup: target, not {other:?}"
        ))),
    }
}

fn optional(t: &dyn Transport, name: &str) -> String {
    read_text(t, TargetFile::Cgroup(name)).unwrap_or_default()
}

/// Reads the cgroup's files, telling v2 from v1 by `memory.current`.
fn read_cgroup(t: &dyn Transport) -> Result<CgroupMemory, Error> {
    let (v2, usage) = match read_text(t, TargetFile::Cgroup("memory.current")) {
        Ok(u) => (true, u),
        Err(e @ lh_capture::Error::NoProcess(_)) => return Err(e.into()),
        Err(_) => (
            false,
            read_text(t, TargetFile::Cgroup("memory.usage_in_bytes"))?,
        ),
    };
    let files = if v2 {
        CgroupFiles {
            stat: read_text(t, TargetFile::Cgroup("memory.stat"))?,
            usage,
            limit: read_text(t, TargetFile::Cgroup("memory.max"))?,
            events: optional(t, "memory.events"),
            extra: optional(t, "memory.swap.current"),
        }
    } else {
        CgroupFiles {
            stat: read_text(t, TargetFile::Cgroup("memory.stat"))?,
            usage,
            limit: read_text(t, TargetFile::Cgroup("memory.limit_in_bytes"))?,
            events: optional(t, "memory.oom_control"),
            extra: optional(t, "memory.kmem.usage_in_bytes"),
        }
    };
    Ok(CgroupMemory::parse(v2, &files)?)
}

/// Every process of the cgroup, read from its `smaps_rollup`. A process that
/// exits between the listing and the read is left out.
fn read_processes(t: &dyn Transport) -> Result<Vec<ProcessMemory>, Error> {
    let procs = read_text(t, TargetFile::Cgroup("cgroup.procs"))?;
    let mut out = Vec::new();
    for pid in procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        let file = |name: &str| {
            let p = format!("/proc/{pid}/{name}");
            read_text(t, TargetFile::Root(Path::new(&p)))
        };
        let (Ok(rollup), Ok(comm)) = (file("smaps_rollup"), file("comm")) else {
            continue;
        };
        // Kernel threads have an empty rollup; they own no user memory.
        out.extend(smaps::parse(pid, comm.trim(), &rollup));
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.anonymous_bytes));
    Ok(out)
}

fn category(name: &str, bytes: Option<u64>, source: &str) -> Category {
    Category {
        name: name.into(),
        bytes: bytes.map(|b| b as i64),
        source: source.into(),
        reclaimable: reclaimable(name),
    }
}

/// One breakdown of the target's cgroup now; `at_seconds` is the caller's clock.
pub fn read(t: &dyn Transport, at_seconds: f64) -> Result<Breakdown, Error> {
    let cg = read_cgroup(t)?;
    let processes = read_processes(t)?;
    let anon: u64 = processes.iter().map(|p| p.anonymous_bytes).sum();
    let stat = |k: &str| {
        if cg.v2 {
            format!("memory.stat {k}")
        } else {
            format!("memory.stat total_{k}")
        }
    };
    let none = "no runtime reading";
    let mut categories = vec![
        category(CATEGORIES[0], None, none),
        category(CATEGORIES[1], None, none),
        category(CATEGORIES[2], None, none),
        category(
            "native",
            Some(anon),
            &format!("smaps_rollup Pss_Anon of {} processes", processes.len()),
        ),
        category("stacks", None, none),
        category(
            "page_cache_active",
            Some(cg.active_file),
            &stat("active_file"),
        ),
        category(
            "page_cache_inactive",
            Some(cg.inactive_file),
            &stat("inactive_file"),
        ),
        category("shmem", Some(cg.shmem), &stat("shmem")),
        category("kernel", Some(cg.kernel), cg.kernel_source),
    ];
    let measured: i64 = categories.iter().filter_map(|c| c.bytes).sum();
    categories.push(Category {
        name: "residual".into(),
        bytes: Some(cg.usage as i64 - measured),
        source: format!(
            "{} less every category above",
            if cg.v2 {
                "memory.current"
            } else {
                "memory.usage_in_bytes"
            }
        ),
        reclaimable: false,
    });
    Ok(Breakdown {
        at_seconds,
        cgroup_version: if cg.v2 { "v2" } else { "v1" }.into(),
        usage_bytes: cg.usage,
        limit_bytes: cg.limit,
        working_set_bytes: cg.working_set(),
        reclaimable_bytes: cg.active_file + cg.inactive_file,
        swap_bytes: cg.swap,
        oom_kills: cg.oom_kills,
        categories,
        processes,
    })
}

/// Breakdowns every `interval` for `duration` (one when `duration` is zero).
/// Stops early, keeping what it has, when the target goes away after the
/// first sample.
pub fn sample(
    t: &dyn Transport,
    duration: Duration,
    interval: Duration,
) -> Result<Vec<Breakdown>, Error> {
    let start = Instant::now();
    let mut out = vec![read(t, 0.0)?];
    let interval = interval.max(Duration::from_millis(100));
    while start.elapsed() + interval <= duration {
        let next = start + interval * out.len() as u32;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        match read(t, start.elapsed().as_secs_f64()) {
            Ok(b) => out.push(b),
            Err(Error::Transport(lh_capture::Error::NoProcess(_))) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
