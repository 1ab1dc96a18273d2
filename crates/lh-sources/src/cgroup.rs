//! Live samples of a memory cgroup. The files are read through
//! [`lh_cgroup::MemoryCgroup`], which knows both hierarchies; this module only
//! turns readings into the working set that cAdvisor (and so Kubernetes and
//! the OOM killer's neighbours) report: usage minus inactive page cache.

use crate::Error;
use lh_cgroup::{MemoryCgroup, Version};
use lh_model::Series;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of a memory cgroup.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Unix seconds.
    pub time: f64,
    /// `memory.usage_in_bytes` (v1) or `memory.current` (v2).
    pub usage: u64,
    /// Usage minus inactive file pages, as cAdvisor computes it.
    /// Usage minus inactive file pages, as cAdvisor counts it: what the OOM killer weighs.
    pub working_set: u64,
    /// The cgroup's memory limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// OOM kills so far (`memory.oom_control` or `memory.events`).
    pub oom_kills: u64,
}

/// Reads a cgroup once.
pub fn read(cg: &MemoryCgroup) -> Result<Reading, Error> {
    let usage = cg.usage()?;
    let stat = cg.stat()?;
    let inactive = match cg.version() {
        Version::V1 => stat.get("total_inactive_file"),
        Version::V2 => stat.get("inactive_file"),
    }
    .copied()
    .unwrap_or(0);
    Ok(Reading {
        time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        usage,
        working_set: usage.saturating_sub(inactive),
        limit: cg.limit()?,
        oom_kills: cg.oom_kills()?,
    })
}

/// Samples the working set of the cgroup at `path` every `interval` for
/// `duration`, calling `each` after every reading (for progress). Stops early,
/// keeping what it has, if the cgroup disappears (its container went away).
pub fn sample(
    path: &Path,
    interval: Duration,
    duration: Duration,
    mut each: impl FnMut(&Reading),
) -> Result<Series, Error> {
    if interval.is_zero() {
        return Err(Error::Usage("the sampling interval must be above 0".into()));
    }
    let cg = MemoryCgroup::open(path)?;
    let start = Instant::now();
    let mut series = Series {
        id: path.display().to_string(),
        limit_bytes: None,
        points: Vec::new(),
        load: None,
    };
    let mut k = 0u32;
    loop {
        let r = match read(&cg) {
            Ok(r) => r,
            // The container went away: what was sampled is still a series.
            Err(_) if !series.points.is_empty() && !path.exists() => break,
            Err(e) => return Err(e),
        };
        series.limit_bytes = r.limit;
        series.points.push((r.time, r.working_set as f64));
        each(&r);
        k += 1;
        let next = interval * k;
        if next > duration {
            break;
        }
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Ok(series)
}
