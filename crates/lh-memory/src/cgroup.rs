//! The cgroup's side of a breakdown: v1 and v2 `memory.stat` and friends.
//!
//! The two hierarchies name the same pages differently. v2 has one flat
//! `memory.stat` with `anon`, `file`, `shmem`, `kernel` (or, before 5.18,
//! its parts: `kernel_stack`, `pagetables`, `percpu`, `sock`, `vmalloc`,
//! `slab`). v1 has `rss`/`cache` (and `total_*` for the subtree, which is
//! what the usage counts) and no kernel lines at all: kernel memory is
//! `memory.kmem.usage_in_bytes`, which v1 also charges to the usage.
//! In both, shmem pages sit on the anon LRU, so `active_file` +
//! `inactive_file` is the page cache without tmpfs.

use std::collections::BTreeMap;

/// The cgroup files a breakdown reads, as text, so that parsing is one pure
/// function over either hierarchy (and tested on fixture layouts).
#[derive(Debug, Default, Clone)]
pub struct CgroupFiles {
    /// `memory.stat`.
    pub stat: String,
    /// v2 `memory.current` or v1 `memory.usage_in_bytes`.
    pub usage: String,
    /// v2 `memory.max` or v1 `memory.limit_in_bytes`.
    pub limit: String,
    /// v2 `memory.events` or v1 `memory.oom_control` (both have `oom_kill N`).
    pub events: String,
    /// v1 `memory.kmem.usage_in_bytes`; v2 `memory.swap.current` (empty if absent).
    pub extra: String,
}

/// The cgroup's figures, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMemory {
    /// Read from a v2 cgroup; the field names below are v2's either way.
    pub v2: bool,
    /// What the cgroup is charged: `memory.current` (v2) or `memory.usage_in_bytes` (v1).
    pub usage: u64,
    /// The limit; `None` for none (v2 `max`, v1's huge sentinel).
    pub limit: Option<u64>,
    /// Anonymous memory, the heaps and stacks of the processes: `anon` (v2),
    /// `total_rss` (v1).
    pub anon: u64,
    /// Page cache recently used; counted in the working set.
    pub active_file: u64,
    /// Page cache the kernel would reclaim first; not in the working set.
    pub inactive_file: u64,
    /// Shared memory and tmpfs files: file pages that cannot be dropped, only swapped.
    pub shmem: u64,
    /// Kernel memory charged to the cgroup (stacks, page tables, slab,
    /// sockets); see `kernel_source` for what it was summed from.
    pub kernel: u64,
    /// Which lines `kernel` was taken from, for the source column.
    pub kernel_source: &'static str,
    /// Swapped out: `memory.swap.current` (v2), `total_swap` (v1); 0 where not known.
    pub swap: u64,
    /// The `oom_kill` count of `memory.events` (v2) or `memory.oom_control` (v1).
    pub oom_kills: u64,
}

/// A file that did not hold what its name promises.
#[derive(Debug, thiserror::Error)]
#[error("{file}: cannot parse {text:?}")]
pub struct ParseError {
    /// The cgroup file, by name.
    pub file: &'static str,
    /// Its first 80 characters, trimmed.
    pub text: String,
}

fn kv(text: &str) -> BTreeMap<&str, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k, v.trim().parse().ok()?))
        })
        .collect()
}

fn number(file: &'static str, text: &str) -> Result<u64, ParseError> {
    text.trim().parse().map_err(|_| ParseError {
        file,
        text: text.trim().chars().take(80).collect(),
    })
}

/// v1 writes "no limit" as the largest page-aligned i64 (or more); v2 as `max`.
const NO_LIMIT: u64 = 1 << 62;

impl CgroupMemory {
    /// Parses the files of a v2 (`v2`) or v1 memory cgroup.
    pub fn parse(v2: bool, f: &CgroupFiles) -> Result<Self, ParseError> {
        let stat = kv(&f.stat);
        let usage_file = if v2 {
            "memory.current"
        } else {
            "memory.usage_in_bytes"
        };
        let usage = number(usage_file, &f.usage)?;
        let limit = match f.limit.trim() {
            "max" if v2 => None,
            t => Some(number(
                if v2 {
                    "memory.max"
                } else {
                    "memory.limit_in_bytes"
                },
                t,
            )?)
            .filter(|&l| l < NO_LIMIT),
        };
        let oom_kills = kv(&f.events).get("oom_kill").copied().unwrap_or(0);
        let get = |k: &str| stat.get(k).copied().unwrap_or(0);
        // v1's own lines cover this cgroup only; total_* its subtree, as the usage does.
        let v1 = |k: &str| {
            stat.get(format!("total_{k}").as_str())
                .copied()
                .unwrap_or(get(k))
        };
        if stat.is_empty() {
            return Err(ParseError {
                file: "memory.stat",
                text: f.stat.chars().take(80).collect(),
            });
        }
        Ok(if v2 {
            let (kernel, kernel_source) = match stat.get("kernel") {
                Some(&k) => (k, "memory.stat kernel"),
                None => (
                    [
                        "kernel_stack",
                        "pagetables",
                        "percpu",
                        "sock",
                        "vmalloc",
                        "slab",
                    ]
                    .iter()
                    .map(|k| get(k))
                    .sum(),
                    "memory.stat kernel_stack+pagetables+percpu+sock+vmalloc+slab",
                ),
            };
            CgroupMemory {
                v2,
                usage,
                limit,
                anon: get("anon"),
                active_file: get("active_file"),
                inactive_file: get("inactive_file"),
                shmem: get("shmem"),
                kernel,
                kernel_source,
                swap: if f.extra.trim().is_empty() {
                    0
                } else {
                    number("memory.swap.current", &f.extra)?
                },
                oom_kills,
            }
        } else {
            CgroupMemory {
                v2,
                usage,
                limit,
                anon: v1("rss"),
                active_file: v1("active_file"),
                inactive_file: v1("inactive_file"),
                shmem: v1("shmem"),
                kernel: if f.extra.trim().is_empty() {
                    0
                } else {
                    number("memory.kmem.usage_in_bytes", &f.extra)?
                },
                kernel_source: "memory.kmem.usage_in_bytes",
                swap: v1("swap"),
                oom_kills,
            }
        })
    }

    /// cAdvisor's working set: usage less inactive file pages.
    pub fn working_set(&self) -> u64 {
        self.usage.saturating_sub(self.inactive_file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v2 `memory.stat` in the layout of a 6.x kernel (one `kernel` line),
    /// as a containerd pod under the systemd driver shows it
    /// (`/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/…/cri-containerd-<id>.scope`).
    const V2_STAT: &str = "anon 104857600\nfile 62914560\nkernel 8912896\nkernel_stack 163840\n\
pagetables 1093632\nsec_pagetables 0\npercpu 0\nsock 0\nvmalloc 0\nshmem 20971520\nzswap 0\n\
zswapped 0\nfile_mapped 41086976\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\n\
file_thp 0\nshmem_thp 0\ninactive_anon 125829120\nactive_anon 65536\ninactive_file 31457280\n\
active_file 10485760\nunevictable 0\nslab_reclaimable 5455872\nslab_unreclaimable 1224704\n\
slab 6680576\nworkingset_refault_anon 0\nworkingset_refault_file 0\npgfault 91032\npgmajfault 179\n";

    #[test]
    fn v2_reads_its_own_lines() {
        let f = CgroupFiles {
            stat: V2_STAT.into(),
            usage: "176685056\n".into(),
            limit: "268435456\n".into(),
            events: "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n".into(),
            extra: "0\n".into(),
        };
        let m = CgroupMemory::parse(true, &f).unwrap();
        assert_eq!(m.anon, 104857600);
        assert_eq!(m.shmem, 20971520);
        assert_eq!(m.kernel, 8912896);
        assert_eq!((m.active_file, m.inactive_file), (10485760, 31457280));
        assert_eq!(m.limit, Some(268435456));
        assert_eq!(m.oom_kills, 1);
        assert_eq!(m.working_set(), 176685056 - 31457280);
        // anon + file + kernel is what memory.current charges.
        assert_eq!(m.usage, 104857600 + 62914560 + 8912896);
    }

    /// Before 5.18 there is no `kernel` line (the layout of a 5.4 kernel).
    #[test]
    fn v2_without_a_kernel_line_sums_its_parts() {
        let stat = "anon 1757184\nfile 0\nkernel_stack 110592\nslab 1441792\nsock 4096\nshmem 0\n\
file_mapped 0\nfile_dirty 0\nfile_writeback 0\nanon_thp 0\ninactive_anon 0\nactive_anon 1892352\n\
inactive_file 0\nactive_file 0\nunevictable 0\nslab_reclaimable 139264\nslab_unreclaimable 1302528\n";
        let f = CgroupFiles {
            stat: stat.into(),
            usage: "4718592".into(),
            limit: "max\n".into(),
            events: String::new(),
            extra: String::new(),
        };
        let m = CgroupMemory::parse(true, &f).unwrap();
        assert_eq!(m.kernel, 110592 + 1441792 + 4096);
        assert_eq!(m.limit, None);
        assert_eq!((m.swap, m.oom_kills), (0, 0));
    }

    #[test]
    fn v1_takes_the_subtree_and_kmem() {
        let stat = "cache 798720\nrss 1671168\nshmem 0\nswap 0\nactive_file 659456\n\
inactive_file 139264\nhierarchical_memory_limit 9223372036854771712\ntotal_cache 1798720\n\
total_rss 2671168\ntotal_shmem 4096\ntotal_swap 0\ntotal_inactive_file 239264\ntotal_active_file 759456\n";
        let f = CgroupFiles {
            stat: stat.into(),
            usage: "3465216\n".into(),
            limit: "9223372036854771712\n".into(),
            events: "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n".into(),
            extra: "671744\n".into(),
        };
        let m = CgroupMemory::parse(false, &f).unwrap();
        assert_eq!((m.anon, m.shmem, m.kernel), (2671168, 4096, 671744));
        assert_eq!((m.active_file, m.inactive_file), (759456, 239264));
        assert_eq!((m.limit, m.oom_kills), (None, 2));
    }

    #[test]
    fn garbage_is_an_error_not_a_zero() {
        let f = CgroupFiles {
            stat: "nonsense".into(),
            usage: "12".into(),
            limit: "max".into(),
            ..Default::default()
        };
        assert!(CgroupMemory::parse(true, &f).is_err());
        let f = CgroupFiles {
            stat: V2_STAT.into(),
            usage: "twelve".into(),
            limit: "max".into(),
            ..Default::default()
        };
        let e = CgroupMemory::parse(true, &f).unwrap_err();
        assert_eq!(e.file, "memory.current");
    }
}
