//! Shared types of leakhound.
//!
//! Every format crate reduces a heap snapshot to a [`Summary`]: groups of bytes
//! and counts keyed by what a user fixes (a function, a class, a `file:line`).
//! The analysis turns N summaries into a [`Report`], whose JSON is the
//! `diff`/`analyze` contract of ARCHITECTURE.md. Time series and their
//! verdicts ([`Series`], [`Verdict`]) are the `trend`/`detect` contract.
//! These types carry no behaviour beyond small helpers, so that every crate can
//! depend on them without pulling anything else in.

pub mod breakdown;
pub mod duration;
pub mod error;
pub mod outcome;
pub mod versioned;

pub use error::{Classify, ErrorClass};
pub use versioned::{Versioned, SCHEMA_VERSION};

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// The snapshot formats leakhound reads. Detected from content, never from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// Go's heap and goroutine profiles (`profile.proto`).
    Pprof,
    /// Node and Chrome `.heapsnapshot` files.
    V8,
    /// JVM heap dumps (`jcmd GC.heap_dump`, `jmap`).
    Hprof,
    /// Python `tracemalloc` snapshots, pickled or in leakhound's JSON.
    Tracemalloc,
    /// jemalloc's heap profile (`prof:true`), symbolized from the binaries.
    Jemalloc,
    /// A heap profile from gperftools' tcmalloc (`HEAPPROFILE`) or its sampler.
    Tcmalloc,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFormat::Pprof => "pprof",
            InputFormat::V8 => "v8",
            InputFormat::Hprof => "hprof",
            InputFormat::Tracemalloc => "tracemalloc",
            InputFormat::Jemalloc => "jemalloc",
            InputFormat::Tcmalloc => "tcmalloc",
        })
    }
}

/// Size and count of one group in one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupStat {
    /// Value in the report's unit (bytes for heaps, goroutines for goroutine profiles).
    pub bytes: i64,
    /// Number of objects, allocations or goroutines.
    pub count: i64,
}

impl std::ops::AddAssign for GroupStat {
    fn add_assign(&mut self, rhs: Self) {
        self.bytes += rhs.bytes;
        self.count += rhs.count;
    }
}

/// One snapshot reduced to groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Which reader produced it; snapshots of different formats are never merged.
    pub format: InputFormat,
    /// `bytes` for heap sizes; `goroutines` (or another count) where the profile has no sizes.
    pub unit: String,
    /// Which sample type the values come from, e.g. `inuse_space` (pprof only).
    pub sample_type: Option<String>,
    /// Path and totals, for the report's `snapshots[]`.
    pub info: SnapshotInfo,
    /// Per group key, its size and count: keys are what a user fixes.
    pub groups: HashMap<String, GroupStat>,
}

/// The `snapshots[]` entry of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// As given on the command line, so the user recognizes it.
    pub path: String,
    /// All bytes of the snapshot, in the report's unit (groups may not add up: some formats drop tiny ones).
    pub total_bytes: i64,
    /// All objects, allocations or goroutines.
    pub total_count: i64,
}

/// One row of `groups[]`: a key followed across every snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The function, class, constructor or `file:line` the group is of.
    pub key: String,
    /// One value per snapshot, in time order, so growth can be read step by step.
    pub bytes: Vec<i64>,
    /// One count per snapshot, in time order.
    pub count: Vec<i64>,
    /// Last minus first: the growth a leak shows.
    pub delta_bytes: i64,
    /// Last minus first, of counts.
    pub delta_count: i64,
    /// True when the group grew at every step of three or more snapshots.
    pub monotonic: bool,
    /// Memory the group's objects keep alive (formats with a graph), which is what freeing them would return.
    pub retained_bytes: Option<u64>,
    /// From a GC root to the group's largest retainer (formats with a graph).
    pub retainer_path: Option<Vec<String>>,
}

/// The leak patterns leakhound names. Serialized in kebab-case (`goroutine-leak`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pattern {
    /// Goroutines piling up at one stack (Go).
    GoroutineLeak,
    /// A listener added per event and never removed (Node).
    EventListener,
    /// A Map, Set, Array or object growing under a long-lived owner (Node).
    UnboundedCollection,
    /// Timeout or Immediate closures kept by the timer list (Node).
    Timer,
    /// DOM nodes detached from the document but still referenced.
    DetachedDom,
    /// A large context captured by a long-lived closure (Node).
    ClosureContext,
    /// A collection held by a static field (JVM).
    StaticCollection,
    /// Values kept by ThreadLocal maps of pooled threads (JVM).
    ThreadLocal,
    /// A cache that never evicts (JVM, Python).
    UnboundedCache,
    /// A listener list that only grows (JVM).
    ListenerList,
    /// A class loader kept alive with its classes (JVM).
    Classloader,
    /// Objects kept by reference cycles (Python).
    ReferenceCycle,
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name is the public one; reuse it so the two never drift.
        let v = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

/// One entry of `suspects[]`; `suspects[0]` is the most likely leak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    /// The group key, as in `groups[]`.
    pub key: String,
    /// How much it grew from first to last snapshot.
    pub delta_bytes: i64,
    /// What it keeps alive in the last snapshot, where the format knows.
    pub retained_bytes: Option<u64>,
    /// Why it is still alive: from a GC root to the object, where the format has a graph.
    pub retainer_path: Option<Vec<String>>,
    /// The leak pattern recognized, which decides the hint.
    pub pattern: Option<Pattern>,
    /// What to do about it, in one or two sentences.
    pub hint: String,
    /// 0.0 to 1.0: how sure leakhound is that this group leaks.
    pub confidence: f64,
}

/// The `diff`/`analyze` JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The format all snapshots share.
    pub format: InputFormat,
    /// `bytes`, or the count a profile without sizes has (`goroutines`).
    pub unit: String,
    /// The inputs, in the order given (time order for `diff`).
    pub snapshots: Vec<SnapshotInfo>,
    /// Sorted by `delta_bytes`, descending (by `bytes` of the one snapshot for `analyze`).
    pub groups: Vec<Group>,
    /// Most likely leak first; empty when nothing grew steadily enough.
    pub suspects: Vec<Suspect>,
    /// What some formats know beyond groups and suspects. Flattened into the
    /// JSON and left out when empty, so the contract above only grows. One
    /// field holding a `Default` struct means new details never break the
    /// places that build a `Report`.
    #[serde(flatten, default)]
    pub details: Details,
}

/// Extras of a report, each omitted from the JSON when empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    /// Per group key: objects new in the last snapshot and gone since the first,
    /// matched by object id (V8 ids are stable within one process). Only formats
    /// with stable ids fill it; DevTools' Comparison view shows the same.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub churn: std::collections::BTreeMap<String, Churn>,
    /// The objects that retain the most, with the path that holds each (`analyze`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub largest: Vec<LargeObject>,
    /// Things the reader of a report must know, e.g. that snapshots come from
    /// different processes and could only be compared by class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What a flame graph of the last snapshot against the first draws. Not
    /// part of the JSON contract (it can be as large as the profile itself);
    /// the HTML report reads it.
    #[serde(skip)]
    pub flame: Option<Flame>,
}

/// What the frames of a [`Flame`] are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlameBy {
    /// Call stacks of the profile (pprof, native): a frame is a function.
    Stack,
    /// Paths down the dominator tree (V8, HPROF): a frame's width is what it retains.
    Dominators,
    /// tracemalloc tracebacks: a frame is a `file:line`.
    Traceback,
}

/// Folded stacks of the first and the last snapshot, the input of a
/// differential flame graph. Frame names are interned: a profile has far
/// fewer distinct frames than stacks.
#[derive(Debug, Clone, PartialEq)]
pub struct Flame {
    /// What a frame is: a function, a class on a dominator path, a `file:line`.
    pub by: FlameBy,
    /// Frame names, indexed by the ids in [`FlameStack::frames`].
    pub names: Vec<String>,
    /// Every distinct stack once.
    pub stacks: Vec<FlameStack>,
}

/// One stack, root first, with its value in the first and the last snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlameStack {
    /// Ids into [`Flame::names`], root first.
    pub frames: Vec<u32>,
    /// Its value in the first snapshot.
    pub first: u64,
    /// Its value in the last snapshot.
    pub last: u64,
}

/// Objects of one group that appeared and disappeared between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Churn {
    /// Objects present in the last snapshot and not in the first.
    pub new_count: i64,
    /// Their bytes.
    pub new_bytes: i64,
    /// Objects of the first snapshot gone by the last: churn, not leak.
    pub deleted_count: i64,
    /// Their bytes.
    pub deleted_bytes: i64,
}

/// One object of a snapshot with a graph, and what holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LargeObject {
    /// Its group key (class or constructor name).
    pub key: String,
    /// The object id in the snapshot (V8 `@id`), to find it in DevTools.
    pub id: u64,
    /// The object's own size.
    pub self_bytes: u64,
    /// What it keeps alive, itself included.
    pub retained_bytes: u64,
    /// From a GC root to the object.
    pub retainer_path: Vec<String>,
}

/// Progress of a long read: called with (bytes done, bytes in all). The binary
/// draws a bar from it on a TTY; libraries only report.
pub type Progress = dyn Fn(u64, u64) + Send + Sync;

/// One memory series: the `trend`/`detect` JSONL input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Names the series in verdicts, e.g. `namespace/pod/container`.
    pub id: String,
    #[serde(default)]
    /// The memory limit, which gives a time to reach it.
    pub limit_bytes: Option<u64>,
    /// `[unix_seconds, bytes]` pairs.
    pub points: Vec<(f64, f64)>,
    /// Optional `[unix_seconds, value]` pairs of any load measure (requests/s,
    /// queue length, connections). Memory that grows because load grows is not
    /// a leak, and only the load itself can tell the two apart. Absent, the
    /// line reads and writes exactly as it did before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<Vec<(f64, f64)>>,
}

/// What the detector concluded about a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    /// A significant, sustained rise of the memory floor.
    Leak,
    /// Evidence against a leak: flat, bounded, warmed up, or explained by load.
    NoLeak,
    /// Still warming up: rising, but along a curve that may level off.
    Warming,
    /// Too few samples, or too short a span, to judge.
    InsufficientData,
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The serde name is the public one, as for `Pattern`.
        let v = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        f.write_str(v.as_str().unwrap_or_default())
    }
}

/// One `trend`/`detect` output object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The series' id, from the input line.
    pub id: String,
    /// The conclusion.
    pub verdict: VerdictKind,
    /// How fast the floor rises (negative when it falls).
    pub slope_bytes_per_hour: f64,
    /// 0.0 to 1.0: how sure the detector is, meant to be calibrated (see bench/detector.sh).
    pub confidence: f64,
    /// When the upper envelope reaches the limit at the current slope; `None` without a limit or a rise.
    pub time_to_limit_seconds: Option<f64>,
    /// The limit the verdict was judged against.
    pub limit_bytes: Option<u64>,
    /// The detector's argument, one finding per line, the deciding one last.
    pub reasons: Vec<String>,
}

/// Sizes as people read them: 1.5 MiB, 312 KiB, 12 B.
pub fn human_bytes(b: i64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b.unsigned_abs() as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    let sign = if b < 0 { "-" } else { "" };
    if u == 0 {
        format!("{sign}{v} {}", units[u])
    } else {
        format!("{sign}{v:.1} {}", units[u])
    }
}

/// Durations as people read them: `42 min`, `5.5 h`, `3.2 d`. Hours up to
/// three days, since "70 h" reads better than "2.9 d" for a time to OOM.
pub fn human_duration(s: f64) -> String {
    if s < 3600.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 72.0 * 3600.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(-3 << 20), "-3.0 MiB");
    }

    #[test]
    fn pattern_names_are_kebab_case() {
        assert_eq!(Pattern::GoroutineLeak.to_string(), "goroutine-leak");
        assert_eq!(
            serde_json::to_string(&Pattern::UnboundedCache).unwrap(),
            "\"unbounded-cache\""
        );
    }

    #[test]
    fn series_reads_the_contract_line() {
        let s: Series = serde_json::from_str(
            r#"{"id": "ns/pod/c", "limit_bytes": 536870912, "points": [[1764300000, 123456789], [1764300030, 123500000]]}"#,
        )
        .unwrap();
        assert_eq!(s.limit_bytes, Some(536870912));
        assert_eq!(s.points[1], (1764300030.0, 123500000.0));
        assert_eq!(s.load, None);
        // Without a load, a series writes the line it was read from.
        assert!(!serde_json::to_string(&s).unwrap().contains("load"));
        let l: Series = serde_json::from_str(
            r#"{"id": "a", "points": [[1764300000, 1]], "load": [[1764300000, 250.5]]}"#,
        )
        .unwrap();
        assert_eq!(l.load, Some(vec![(1764300000.0, 250.5)]));
    }

    #[test]
    fn verdict_kind_is_kebab_case() {
        assert_eq!(
            serde_json::to_string(&VerdictKind::InsufficientData).unwrap(),
            "\"insufficient-data\""
        );
    }
}
