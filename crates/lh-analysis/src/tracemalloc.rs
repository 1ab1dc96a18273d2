//! Python tracemalloc snapshots: groups with the numbers of CPython's
//! `Snapshot.compare_to` (`--by lineno|filename|traceback`, `--cumulative`),
//! the `unbounded-cache` pattern read from the source line that allocates,
//! and `reference-cycle` where the snapshot shows it: a tracemalloc snapshot
//! has no references, so a cycle is only visible when the helper's JSON
//! snapshot carries its `cycles` table (what the collector found to be
//! cyclic garbage, by allocation site).

use crate::merge::report;
use crate::suspects::{rank, Thresholds};
use crate::{Error, Options};
use lh_model::{human_bytes, GroupStat, InputFormat, Pattern, Report, SnapshotInfo};
use lh_tracemalloc::KeyType;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use lh_tracemalloc::{
    ENDPOINT_SNAPSHOT, ENDPOINT_SNAPSHOT_TO_FILE, ENDPOINT_SUMMARY, QUERY_JSON,
};

/// tracemalloc counts every block exactly, but a warm interpreter still grows
/// a little (interned strings, import caches, free lists): below 64 KiB or
/// 1 % of traced memory, growth is not worth a suspect.
const THRESHOLDS: Thresholds = Thresholds {
    min_delta: 64 << 10,
    min_share: 0.01,
};

fn key_type(opts: &Options) -> Result<KeyType, Error> {
    let key: KeyType = match &opts.by {
        Some(b) => b.parse().map_err(Error::Usage)?,
        None => KeyType::Lineno,
    };
    if opts.cumulative && key == KeyType::Traceback {
        return Err(Error::Usage(
            "--cumulative needs --by lineno or --by filename (as in CPython's compare_to)".into(),
        ));
    }
    Ok(key)
}

/// Reads one snapshot file, pickle or JSON.
pub fn open(path: &Path) -> Result<lh_tracemalloc::Snapshot, Error> {
    lh_tracemalloc::open(path).map_err(|e| match e {
        lh_tracemalloc::Error::Io(io) => Error::io(path, io),
        other => Error::reader(path, other),
    })
}

fn info(path: &Path, snap: &lh_tracemalloc::Snapshot) -> SnapshotInfo {
    SnapshotInfo {
        path: path.display().to_string(),
        total_bytes: snap.total_size() as i64,
        total_count: snap.len() as i64,
    }
}

/// Reads the snapshots, as many at once as there are cores: each is reduced
/// to sums per traceback while it is read, so all of them fit in memory.
fn read_all(paths: &[PathBuf], opts: &Options) -> Result<Vec<lh_tracemalloc::Snapshot>, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total = paths.len() as u64;
    let mut out = Vec::with_capacity(paths.len());
    for batch in paths.chunks(threads) {
        let done: Vec<Result<_, Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch.iter().map(|p| scope.spawn(move || open(p))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for s in done {
            out.push(s?);
        }
        opts.progress(out.len() as u64, total);
    }
    Ok(out)
}

/// Cyclic garbage at each group key in the last snapshot, when that snapshot
/// carries the helper's `cycles` table; only keys that have some.
type Cycles = HashMap<String, lh_tracemalloc::Stat>;

/// The snapshots' groups, followed across them by lh-tracemalloc (by index
/// and content hash), as a report without suspects: key strings are built
/// once per group, not once per snapshot, and never hashed.
fn report_of(paths: &[PathBuf], opts: &Options, key: KeyType) -> Result<(Report, Cycles), Error> {
    let snaps = read_all(paths, opts)?;
    let refs: Vec<&lh_tracemalloc::Snapshot> = snaps.iter().collect();
    let groups = lh_tracemalloc::group(&refs, key, opts.cumulative)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let last = snaps.len() - 1;
    let cycles: Cycles = groups
        .iter()
        .filter(|g| snaps[last].has_cycles() && g.cycles[last].count > 0)
        .map(|g| (g.key.text(), g.cycles[last]))
        .collect();
    let row = |g: &lh_tracemalloc::Group| {
        let stats = g.stats.iter().map(|s| GroupStat {
            bytes: s.size,
            count: s.count,
        });
        (g.key.text(), stats.collect::<Vec<_>>())
    };
    // Formatting tens of thousands of traceback keys is most of what is left
    // once the files are read, and each key is independent: on every core.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut rows = Vec::with_capacity(groups.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .chunks(groups.len().div_ceil(threads).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().map(row).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            rows.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
    });
    let infos = paths.iter().zip(&snaps).map(|(p, s)| info(p, s)).collect();
    Ok((
        report(InputFormat::Tracemalloc, "bytes", infos, rows),
        cycles,
    ))
}

/// Diffs N snapshots in time order.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let key = key_type(opts)?;
    let (mut report, cycles) = report_of(paths, opts, key)?;
    let mut suspects = rank(&report, THRESHOLDS);
    for s in &mut suspects {
        // The allocating line is the most recent frame: the first of a traceback key.
        let site = s.key.split(" <- ").next().unwrap_or(&s.key);
        let grew = human_bytes(s.delta_bytes);
        let n = paths.len();
        // Cyclic garbage is the evidence only when it is most of the growth.
        let cyclic = cycles.get(&s.key).filter(|c| 2 * c.size >= s.delta_bytes);
        match (cyclic, collection_at(site)) {
            (Some(c), _) => {
                s.pattern = Some(Pattern::ReferenceCycle);
                s.hint = format!(
                    "memory allocated at {site} grew by {grew} over {n} snapshots, and {} objects \
                     from there ({}) were cyclic garbage in the last one: unreachable, yet not freed, \
                     because only reference cycles hold them and the cycle collector has not run \
                     (gc.disable(), gc.freeze() or high thresholds: see gc.isenabled() and \
                     gc.get_threshold()). Break the cycle: keep the back-reference (parent, owner, \
                     callback) as a weakref.ref or in a weakref.WeakSet, or drop it in a close() \
                     called when the object is done with.",
                    c.count,
                    human_bytes(c.size)
                );
            }
            (None, Some(name)) if key != KeyType::Filename => {
                s.pattern = Some(Pattern::UnboundedCache);
                s.hint = format!(
                    "`{name}` is a long-lived dict or list (module or class level) that only grows: memory \
                     allocated at {site} and kept grew by {grew} over {n} snapshots. Bound it with \
                     functools.lru_cache(maxsize=…) or evict old entries (a size cap, a TTL, or a \
                     weakref.WeakValueDictionary)."
                );
            }
            _ => {
                s.hint = format!(
                    "memory allocated at {} and still held grew by {grew} over {n} snapshots. Find what \
                     keeps these objects alive (a global, a class attribute, a cache, a reference cycle \
                     gc cannot collect): leakhound diff --by traceback shows the callers.",
                    s.key
                );
            }
        }
    }
    report.suspects = suspects;
    Ok(report)
}

/// One snapshot: the largest groups, as `Snapshot.statistics`.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report, Error> {
    let key = key_type(opts)?;
    Ok(report_of(&[path.to_path_buf()], opts, key)?.0)
}

/// Names the long-lived collection a `file:line` adds to, when the source is
/// at hand: `NAME[k] = …`, `NAME.append(…)` and the like, where `NAME` is
/// assigned at module level, or `self.NAME`/`Class.NAME` where `NAME` is a
/// class attribute. Reading the line is what tracemalloc's own
/// `Traceback.format` does through linecache.
fn collection_at(site: &str) -> Option<String> {
    let (file, line) = site.rsplit_once(':')?;
    let line: usize = line.parse().ok()?;
    let source = std::fs::read_to_string(file).ok()?;
    let text = source.lines().nth(line.checked_sub(1)?)?.trim();
    let target = growing_target(text)?;
    // `self.items`, `cls.items` and `Registry.items` grow the class attribute `items`.
    let (owner, attr) = match target.rsplit_once('.') {
        Some((_, a)) => (true, a),
        None => (false, target),
    };
    let defined = |indented: bool| {
        source.lines().any(|l| {
            let t = l.trim_start();
            (indented == (t.len() != l.len()))
                && t.strip_prefix(attr).is_some_and(|r| {
                    let r = r.trim_start();
                    (r.starts_with('=') && !r.starts_with("==")) || r.starts_with(':')
                })
        })
    };
    defined(owner).then(|| target.to_string())
}

/// The collection a statement grows: `a[k] = v`, `a.append(v)`, `A.b.add(v)`…
fn growing_target(text: &str) -> Option<&str> {
    const GROWERS: [&str; 7] = [
        ".append(",
        ".extend(",
        ".add(",
        ".insert(",
        ".setdefault(",
        ".update(",
        "[",
    ];
    let end = GROWERS.iter().filter_map(|g| text.find(g)).min()?;
    let target = &text[..end];
    if target.starts_with('[') || target.is_empty() {
        return None;
    }
    // `x = cache[k]` reads; only `cache[k] = …` and method calls grow.
    let subscript = text[end..].starts_with('[');
    if subscript
        && !text[end..].split_once(']').is_some_and(|(_, r)| {
            let r = r.trim_start();
            r.starts_with('=') && !r.starts_with("==")
        })
    {
        return None;
    }
    let valid = target
        .split('.')
        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'));
    if !valid || target.split('.').count() > 2 {
        return None;
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_targets() {
        assert_eq!(growing_target("_cache[key] = payload(key)"), Some("_cache"));
        assert_eq!(
            growing_target("Registry.items.append(bytearray(512))"),
            Some("Registry.items")
        );
        assert_eq!(growing_target("self.items.append(x)"), Some("self.items"));
        assert_eq!(growing_target("x = _cache[key]"), None);
        assert_eq!(growing_target("if _cache[key] == 1:"), None);
        assert_eq!(
            growing_target("data = [bytes(100) for _ in range(9)]"),
            None
        );
    }
}
