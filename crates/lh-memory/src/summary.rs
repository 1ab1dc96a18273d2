//! From samples to a verdict: each category's trend and the part that grew.

use lh_model::breakdown::{
    reclaimable, Breakdown, CategoryTrend, Growth, MemoryReport, ProcessMemory, CATEGORIES,
};

const MIB: f64 = (1u64 << 20) as f64;

/// Growth below this share of the first usage (or 4 MiB) is noise: allocator
/// arenas, a GC cycle, one page-cache readahead.
const NOISE_SHARE: f64 = 0.05;
const NOISE_FLOOR: i64 = 4 << 20;

fn mib(b: i64) -> String {
    format!("{:+.1} MiB", b as f64 / MIB)
}

/// What makes each part grow, and where to look next.
fn hint(category: &str) -> &'static str {
    match category {
        "runtime_heap_live" => "live objects on the runtime's heap: diff heap profiles (leakhound diagnose)",
        "runtime_heap_free" => "heap held but free (fragmentation, memory not yet returned): usually settles; check the allocator's release settings",
        "runtime_offheap" => "the runtime's memory outside its heap (Buffers, direct buffers, metaspace)",
        "native" => "anonymous memory of the processes (malloc from C, a native addon, or a runtime heap): a native heap profile, or a heap diff when the runtime's heap is the part",
        "stacks" => "thread or goroutine stacks: threads or goroutines piling up (a goroutine profile diff)",
        "shmem" => "files in a tmpfs (/dev/shm, an emptyDir with medium: Memory) or shared memory: counted against the limit and never reclaimed without swap; look for the files in the tmpfs mounts and who writes them",
        "kernel" => "kernel memory (slab, sockets, page tables, kernel stacks): open sockets or files, many threads; see /proc/slabinfo and ss -m",
        _ => "page cache of files read or written: the kernel reclaims it before an OOM kill, so it is not a leak",
    }
}

/// The process whose own memory (anonymous and shared) grew most between
/// the first and last sample, if one grew.
fn grown_process(first: &Breakdown, last: &Breakdown) -> Option<ProcessMemory> {
    let own = |p: &ProcessMemory| (p.anonymous_bytes + p.shared_bytes) as i64;
    last.processes
        .iter()
        .map(|p| {
            let before = first
                .processes
                .iter()
                .find(|q| q.pid == p.pid)
                .map_or(0, own);
            (own(p) - before, p)
        })
        .filter(|(d, _)| *d > NOISE_FLOOR)
        .max_by_key(|(d, _)| *d)
        .map(|(_, p)| p.clone())
}

/// Compares the first and last breakdown of `samples` (at least one) and
/// names the part that grew. Only a part the kernel cannot reclaim makes a
/// `leak`; page cache growth is reported, and is `no-leak`.
pub fn summarize(target: &str, samples: Vec<Breakdown>) -> MemoryReport {
    let first = samples.first().expect("at least one sample").clone();
    let last = samples.last().expect("at least one sample").clone();
    let trend: Vec<CategoryTrend> = CATEGORIES
        .iter()
        .map(|&name| {
            let (a, b) = (first.get(name), last.get(name));
            CategoryTrend {
                name: name.into(),
                first_bytes: a,
                last_bytes: b,
                delta_bytes: a.zip(b).map(|(a, b)| b - a),
                reclaimable: reclaimable(name),
            }
        })
        .collect();
    let noise = NOISE_FLOOR.max((first.usage_bytes as f64 * NOISE_SHARE) as i64);
    let grew = |pick: &dyn Fn(&CategoryTrend) -> bool| {
        trend
            .iter()
            .filter(|t| t.name != "residual" && pick(t))
            .filter_map(|t| Some((t, t.delta_bytes?)))
            .filter(|(_, d)| *d > noise)
            .max_by_key(|(_, d)| *d)
    };
    let held = grew(&|t| !t.reclaimable);
    let cache = grew(&|t| t.reclaimable);
    let usage_delta = last.usage_bytes as i64 - first.usage_bytes as i64;
    let mut reasons = vec![format!(
        "cgroup usage {:.1} MiB → {:.1} MiB ({}) over {:.0} s, {} samples",
        first.usage_bytes as f64 / MIB,
        last.usage_bytes as f64 / MIB,
        mib(usage_delta),
        last.at_seconds - first.at_seconds,
        samples.len()
    )];
    let (verdict, grown) = if samples.len() < 2 {
        reasons.push("one sample: sample with --duration to see which part grows".into());
        ("insufficient-data", None)
    } else if let Some((t, d)) = held.or(cache) {
        let flat: Vec<&str> = trend
            .iter()
            .filter(|o| o.name != t.name && o.name != "residual")
            .filter(|o| o.delta_bytes.is_some_and(|d| d <= noise))
            .map(|o| o.name.as_str())
            .collect();
        reasons.push(format!(
            "growth is {}: {} ({}); flat: {}",
            t.name,
            mib(d),
            hint(&t.name),
            flat.join(", ")
        ));
        let process = grown_process(&first, &last);
        if let Some(p) = &process {
            reasons.push(format!("the process that grew: {} (pid {})", p.name, p.pid));
        }
        let g = Growth {
            category: t.name.clone(),
            delta_bytes: d,
            reclaimable: t.reclaimable,
            process,
            hint: hint(&t.name).into(),
        };
        (if t.reclaimable { "no-leak" } else { "leak" }, Some(g))
    } else {
        reasons.push(format!("no part grew by more than {}", mib(noise)));
        ("no-leak", None)
    };
    if let (Some(limit), Some("leak")) = (last.limit_bytes, Some(verdict)) {
        let held = last
            .working_set_bytes
            .saturating_sub(last.get("page_cache_active").unwrap_or(0) as u64);
        reasons.push(format!(
            "memory the kernel cannot reclaim: {:.1} MiB of the {:.1} MiB limit",
            held as f64 / MIB,
            limit as f64 / MIB
        ));
    }
    let residual = last.get("residual").unwrap_or(0);
    reasons.push(format!(
        "residual {} ({:.1} % of usage): charged pages no source names",
        mib(residual),
        100.0 * residual as f64 / last.usage_bytes.max(1) as f64
    ));
    MemoryReport {
        target: target.into(),
        samples: samples
            .iter()
            .map(|b| (b.at_seconds, b.usage_bytes))
            .collect(),
        breakdown: last,
        first,
        trend,
        verdict: verdict.into(),
        grown,
        reasons,
    }
}
