//! Where a container's memory is: the `breakdown` object of the JSON
//! contract (`memory --format json`, and `report.json` of soak/diagnose).
//!
//! The OOM killer counts the cgroup's charge, not the heap, so a breakdown
//! starts from the cgroup's usage and splits it into categories, each read
//! from its own source (the cgroup's `memory.stat`, each process's
//! `smaps_rollup`, the runtime). Whatever the sources do not cover is the
//! residual, shown and never folded into a category.
//!
//! Category names are fixed (they are the contract); see [`CATEGORIES`].

use serde::{Deserialize, Serialize};

/// The categories, in the order a breakdown lists them:
///
/// - `runtime_heap_live`: live objects of the runtime's heap (Go HeapInuse,
///   V8 heapUsed, Java heap used, tracemalloc's traced total);
/// - `runtime_heap_free`: held by the heap but free (fragmentation, not yet
///   returned to the kernel);
/// - `runtime_offheap`: the runtime's memory outside its heap (V8
///   external/arrayBuffers, JVM metaspace, code cache, direct buffers);
/// - `native`: anonymous memory of the cgroup's processes that no runtime
///   reading accounts for (malloc from C, a native addon); without a runtime
///   reading, all of the processes' anonymous memory (smaps_rollup `Pss_Anon`);
/// - `stacks`: thread stacks as the runtime reports them (Go StackInuse);
/// - `page_cache_active`, `page_cache_inactive`: file pages on the cgroup's
///   LRU lists (reclaimable: the kernel drops them before an OOM kill);
/// - `shmem`: tmpfs, `/dev/shm`, shared anonymous mappings (not reclaimable
///   without swap, and counted against the limit);
/// - `kernel`: slab, sockets, kernel stacks, page tables charged to the cgroup.
pub const CATEGORIES: [&str; 10] = [
    "runtime_heap_live",
    "runtime_heap_free",
    "runtime_offheap",
    "native",
    "stacks",
    "page_cache_active",
    "page_cache_inactive",
    "shmem",
    "kernel",
    "residual",
];

/// Whether the kernel can take a category back under pressure without
/// killing anything: page cache only.
pub fn reclaimable(category: &str) -> bool {
    category.starts_with("page_cache_")
}

/// One category of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// One of [`CATEGORIES`].
    pub name: String,
    /// Bytes, or `null` when no source for it was read (no runtime reading).
    /// The residual may be negative when sources overlap or race.
    pub bytes: Option<i64>,
    /// Where the figure comes from (`memory.stat active_file`).
    pub source: String,
    /// Page cache: the kernel reclaims it; never a leak.
    pub reclaimable: bool,
}

/// One process of the cgroup, from `/proc/PID/smaps_rollup` (proportional
/// sizes, so pages shared after a fork are not counted twice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// Its pid, as the target's own `/proc` numbers it.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub name: String,
    /// Resident set (`Rss`): what the process has in memory, shared pages in full.
    pub rss_bytes: u64,
    /// `Pss_Anon`: heap, stacks, malloc.
    pub anonymous_bytes: u64,
    /// `Pss_File`: mapped files (executables, libraries, mmapped data).
    pub file_bytes: u64,
    /// `Pss_Shmem`: mapped tmpfs and shared anonymous memory.
    pub shared_bytes: u64,
    /// `Swap`: its pages swapped out, which still count for a leak.
    pub swap_bytes: u64,
}

/// What the cgroup's memory is made of, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// Seconds since the first sample of the run.
    pub at_seconds: f64,
    /// `v1` or `v2`.
    pub cgroup_version: String,
    /// What the limit is charged for (`memory.current`, `memory.usage_in_bytes`).
    pub usage_bytes: u64,
    /// The limit, when there is one.
    pub limit_bytes: Option<u64>,
    /// usage − inactive file, as cAdvisor's `container_memory_working_set_bytes`
    /// (what kubelet evicts on).
    pub working_set_bytes: u64,
    /// What the kernel can reclaim: the page cache (active + inactive file).
    pub reclaimable_bytes: u64,
    /// Swapped-out bytes of the cgroup (0 where swap is off, as on most nodes).
    pub swap_bytes: u64,
    /// OOM kills in this cgroup so far.
    pub oom_kills: u64,
    /// Every category of [`CATEGORIES`], in that order.
    pub categories: Vec<Category>,
    /// The cgroup's processes, largest anonymous first.
    pub processes: Vec<ProcessMemory>,
}

impl Breakdown {
    /// The bytes of category `name`, when measured.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.categories
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.bytes)
    }
}

/// How one category moved over a sampled run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryTrend {
    /// A category of [`CATEGORIES`].
    pub name: String,
    /// Its bytes in the first sample; `None` where not measured.
    pub first_bytes: Option<i64>,
    /// Its bytes in the last sample.
    pub last_bytes: Option<i64>,
    /// last − first, when both were measured.
    pub delta_bytes: Option<i64>,
    /// Whether the kernel can reclaim this part (page cache): then it is no leak.
    pub reclaimable: bool,
}

/// The part that grew most, and what to do next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// A category of [`CATEGORIES`].
    pub category: String,
    /// How much it grew over the run.
    pub delta_bytes: i64,
    /// Whether the kernel can reclaim it: growth of page cache is no leak.
    pub reclaimable: bool,
    /// The process whose memory grew most, when one did.
    pub process: Option<ProcessMemory>,
    /// What usually makes this part grow, and the next step.
    pub hint: String,
}

/// `leakhound memory --format json`: the last breakdown, the first one, each
/// category's trend and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryReport {
    /// The TARGET as the user gave it.
    pub target: String,
    /// The last sample.
    pub breakdown: Breakdown,
    /// The first sample (equal to `breakdown` for a single sample).
    pub first: Breakdown,
    /// `[seconds, usage bytes]` of every sample.
    pub samples: Vec<(f64, u64)>,
    /// How each category moved from the first sample to the last.
    pub trend: Vec<CategoryTrend>,
    /// `leak` (a part the kernel cannot reclaim grew), `no-leak`, or
    /// `insufficient-data` (one sample).
    pub verdict: String,
    /// The part that grew most, when one did.
    pub grown: Option<Growth>,
    /// Why the verdict is what it is, one sentence each.
    pub reasons: Vec<String>,
}
