//! V8 heap snapshots: classes followed across snapshots by object id, the
//! leaked objects found memlab's way, clustered by the path that holds them,
//! and named with a pattern and a fix.
//!
//! V8 gives every object an id that it keeps for the life of the process, so
//! snapshots can be compared object by object, not only by class totals:
//! - two snapshots: per class, the objects new in the second and gone since
//!   the first (DevTools' Comparison view);
//! - three or more: the objects created between the first and the second
//!   snapshot that are still alive in the last (memlab's method). One-off
//!   allocations of warm-up die or stop growing; a leak keeps them all.
//!
//! The leaked objects of a class are clustered by their retainer path (the
//! cheapest path from the GC roots through readable edges), and the biggest
//! cluster's path is what the report shows: it names the emitter, Map or
//! timer list the user must fix.

use crate::merge::merge;
use crate::suspects::{rank, Thresholds};
use crate::{Error, Options};
use lh_graph::{dominators, retained_sizes, Dominators, RetainerTree};
use lh_model::{
    human_bytes, Churn, GroupStat, InputFormat, LargeObject, Pattern, Report, SnapshotInfo,
    Summary, Suspect,
};
use lh_v8::{EdgeKind, NodeKind, ReadOptions, Snapshot, ROOT};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Leaked objects of a class worth naming: fewer is churn, not a leak.
const MIN_LEAKED_OBJECTS: u64 = 10;
/// What the leaked objects of a class must retain, at least, and as a share
/// of the last snapshot: Node's own warm-up (code, feedback, shapes) stays
/// far below either.
const MIN_LEAKED_BYTES: u64 = 128 << 10;
const MIN_LEAKED_SHARE: f64 = 0.005;
/// Class-level fallback for snapshots of different processes.
const BY_CLASS: Thresholds = Thresholds {
    min_delta: 1 << 20,
    min_share: 0.05,
};
/// How many objects `analyze` lists with their paths.
const LARGEST: usize = 10;

fn read(path: &Path, edges: bool, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Snapshot, Error> {
    lh_v8::open(path, ReadOptions { edges }, progress).map_err(|e| match e {
        lh_v8::Error::Io { source, .. } if source.kind() != std::io::ErrorKind::InvalidData => {
            Error::io(path, source)
        }
        other => Error::reader(path, other),
    })
}

/// Progress of several files read at once, reported as one sum.
struct Shared<'a> {
    opts: &'a Options,
    done: Vec<AtomicU64>,
    total: Vec<AtomicU64>,
}

impl<'a> Shared<'a> {
    fn new(opts: &'a Options, n: usize) -> Self {
        Shared {
            opts,
            done: (0..n).map(|_| AtomicU64::new(0)).collect(),
            total: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn report(&self, i: usize, done: u64, total: u64) {
        self.done[i].store(done, Ordering::Relaxed);
        self.total[i].store(total, Ordering::Relaxed);
        let sum = |v: &[AtomicU64]| v.iter().map(|x| x.load(Ordering::Relaxed)).sum::<u64>();
        self.opts.progress(sum(&self.done), sum(&self.total));
    }
}

/// What is kept of an earlier snapshot.
struct Earlier {
    summary: Summary,
    baseline: Option<Baseline>,
    ids: Option<Vec<u32>>,
}

/// Class of every node as an index into `keys`, so that per-class sums are
/// array lookups rather than string hashing.
struct Classes {
    keys: Vec<String>,
    of: Vec<u32>,
}

impl Classes {
    fn new(s: &Snapshot) -> Classes {
        // Objects are grouped by name, everything else by kind: look classes
        // up by name index or kind, and hash each distinct name only once.
        const UNSET: u32 = u32::MAX;
        let mut by_name: Vec<u32> = Vec::new();
        let mut by_kind = [UNSET; 16];
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut keys: Vec<String> = Vec::new();
        let mut intern = |k: &str, keys: &mut Vec<String>| {
            *index.entry(k.to_string()).or_insert_with(|| {
                keys.push(k.to_string());
                keys.len() as u32 - 1
            })
        };
        let of = (0..s.node_count() as u32)
            .map(|n| {
                if matches!(s.kind(n), NodeKind::Object | NodeKind::Native) {
                    let i = s.name_index(n) as usize;
                    if i >= by_name.len() {
                        by_name.resize(i + 1, UNSET);
                    }
                    if by_name[i] == UNSET {
                        by_name[i] = intern(s.class_name(n), &mut keys);
                    }
                    by_name[i]
                } else {
                    let k = s.kind(n) as usize;
                    if by_kind[k] == UNSET {
                        by_kind[k] = intern(s.class_name(n), &mut keys);
                    }
                    by_kind[k]
                }
            })
            .collect();
        Classes { keys, of }
    }

    fn key(&self, n: u32) -> &str {
        &self.keys[self.of[n as usize] as usize]
    }
}

fn summarize(s: &Snapshot, c: &Classes, path: &Path) -> Summary {
    let mut stats = vec![GroupStat::default(); c.keys.len()];
    let mut total = 0i64;
    for n in 0..s.node_count() as u32 {
        let size = s.self_size(n) as i64;
        total += size;
        stats[c.of[n as usize] as usize] += GroupStat {
            bytes: size,
            count: 1,
        };
    }
    Summary {
        format: InputFormat::V8,
        unit: "bytes".into(),
        sample_type: None,
        info: SnapshotInfo {
            path: path.display().to_string(),
            total_bytes: total,
            total_count: s.node_count() as i64,
        },
        groups: c.keys.iter().cloned().zip(stats).collect(),
    }
}

/// Synthetic nodes (the roots and their categories) have the same ids in
/// every snapshot of every process; only heap objects identify a process.
fn is_object(s: &Snapshot, n: u32) -> bool {
    s.kind(n) != NodeKind::Synthetic
}

/// The first snapshot, by object id: class and size of each, to tell what
/// was deleted and whether the snapshots come from one process.
struct Baseline {
    /// `(id, class index, self size)`, sorted by id.
    objects: Vec<(u32, u32, u64)>,
    keys: Vec<String>,
}

impl Baseline {
    fn new(s: &Snapshot, c: &Classes) -> Baseline {
        let mut objects: Vec<(u32, u32, u64)> = (0..s.node_count() as u32)
            .filter(|&n| is_object(s, n))
            .map(|n| (s.id(n), c.of[n as usize], s.self_size(n)))
            .collect();
        objects.sort_unstable_by_key(|o| o.0);
        Baseline {
            objects,
            keys: c.keys.clone(),
        }
    }

    fn find(&self, id: u32) -> Option<&(u32, u32, u64)> {
        self.objects
            .binary_search_by_key(&id, |o| o.0)
            .ok()
            .map(|i| &self.objects[i])
    }
}

fn sorted_ids(s: &Snapshot) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..s.node_count() as u32)
        .filter(|&n| is_object(s, n))
        .map(|n| s.id(n))
        .collect();
    ids.sort_unstable();
    ids
}

/// The last snapshot with its graph, dominators and retained sizes.
struct Heap {
    s: Snapshot,
    classes: Classes,
    doms: Dominators,
    retained: Vec<u64>,
    tree: RetainerTree,
}

impl Heap {
    /// Sets each group's `retained_bytes` to its class's retained size.
    fn fill_class_retained(&self, report: &mut Report) {
        let (class_retained, _) = self.class_retained(&self.retained, None);
        let retained_of: HashMap<&str, u64> = self
            .classes
            .keys
            .iter()
            .map(String::as_str)
            .zip(class_retained.iter().copied())
            .collect();
        for g in &mut report.groups {
            g.retained_bytes = retained_of.get(g.key.as_str()).copied();
        }
    }

    fn new(s: Snapshot) -> Heap {
        let classes = Classes::new(&s);
        let doms = dominators(s.graph(), ROOT, |e| s.keeps_alive(e));
        let retained = retained_sizes(s.graph(), &doms);
        let tree = RetainerTree::build(s.graph(), ROOT, |e| s.path_cost(e));
        Heap {
            s,
            classes,
            doms,
            retained,
            tree,
        }
    }

    /// Per class, DevTools' retained size: the sum over its objects that no
    /// other object of the class dominates. With `only`, the same over the
    /// objects `only` accepts, which also returns those objects (the tops of
    /// each class's leaked subtrees).
    fn class_retained(
        &self,
        retained: &[u64],
        only: Option<&dyn Fn(u32) -> bool>,
    ) -> (Vec<u64>, Vec<u32>) {
        let nk = self.classes.keys.len();
        let mut sum = vec![0u64; nk];
        let mut inside = vec![0u32; nk];
        let mut tops = Vec::new();
        // Iterative DFS over the dominator tree: enter adds the node's class
        // to the path, leave removes it.
        let mut stack: Vec<(u32, usize)> = vec![(ROOT, 0)];
        let enter = |n: u32, inside: &mut [u32], sum: &mut [u64], tops: &mut Vec<u32>| {
            let counted = only.is_none_or(|f| f(n));
            if counted {
                let k = self.classes.of[n as usize] as usize;
                if inside[k] == 0 {
                    sum[k] += retained[n as usize];
                    if only.is_some() {
                        tops.push(n);
                    }
                }
                inside[k] += 1;
            }
        };
        enter(ROOT, &mut inside, &mut sum, &mut tops);
        while let Some(top) = stack.last_mut() {
            let (n, i) = *top;
            let children = self.doms.children(n);
            if i < children.len() {
                top.1 += 1;
                let c = children[i];
                enter(c, &mut inside, &mut sum, &mut tops);
                stack.push((c, 0));
            } else {
                stack.pop();
                if only.is_none_or(|f| f(n)) {
                    inside[self.classes.of[n as usize] as usize] -= 1;
                }
            }
        }
        (sum, tops)
    }

    /// The retainer path of `n`, as steps `(edge, node)`; runs of the same
    /// step (linked lists such as Node's timer lists) are kept once.
    fn steps(&self, n: u32) -> Vec<usize> {
        self.tree.path(self.s.graph(), n).unwrap_or_default()
    }

    /// A cluster key: the classes and edge names along the path, with array
    /// indices and repeated steps folded, so that the thousand entries of one
    /// Map share a key.
    fn cluster_key(&self, steps: &[usize]) -> Vec<(u32, u32)> {
        let g = self.s.graph();
        let mut key: Vec<(u32, u32)> = Vec::with_capacity(steps.len());
        for &e in steps {
            let label = if is_index(&self.s, e) {
                u32::MAX
            } else {
                g.edge_label(e)
            };
            let step = (label, self.classes.of[g.edge_to(e) as usize]);
            if key.last() != Some(&step) {
                key.push(step);
            }
        }
        key
    }

    /// The path as a report shows it: `(GC root)`, the root's category, then
    /// `.edge → Class` steps, runs of one step written once with a count.
    fn render(&self, steps: &[usize]) -> Vec<String> {
        let g = self.s.graph();
        let mut out = vec!["(GC root)".to_string()];
        let mut last: Option<String> = None;
        let mut run = 0usize;
        let flush = |out: &mut Vec<String>, last: &Option<String>, run: usize| {
            if let Some(l) = last {
                if run > 1 {
                    out.push(format!("{l} (×{run})"));
                } else {
                    out.push(l.clone());
                }
            }
        };
        for (i, &e) in steps.iter().enumerate() {
            let to = g.edge_to(e);
            // The synthetic root and its categories carry no edge worth naming.
            let s = if i == 0 || self.s.kind(g.edge_from(e)) == NodeKind::Synthetic {
                self.s.describe(to)
            } else {
                let name = if is_index(&self.s, e) {
                    "[]".to_string()
                } else {
                    self.s.edge_name(e)
                };
                format!("{name} → {}", self.s.describe(to))
            };
            if last.as_ref() == Some(&s) {
                run += 1;
            } else {
                flush(&mut out, &last, run);
                last = Some(s);
                run = 1;
            }
        }
        flush(&mut out, &last, run);
        out
    }
}

/// Whether an edge is a position in a collection (an array element, or a
/// slot of a Map's hash table, which V8 names by number): paths that differ
/// only there are the same path.
fn is_index(s: &Snapshot, e: usize) -> bool {
    match s.edge_kind(e) {
        EdgeKind::Element | EdgeKind::Hidden => true,
        _ => s
            .edge_str(e)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// Classes whose objects are the engine's, never what a user fixes.
fn is_internal(key: &str) -> bool {
    matches!(
        key,
        "(system)" | "(compiled code)" | "(synthetic)" | "(object shape)" | "(other)"
    ) || key.starts_with("system / ")
}

/// DevTools' parenthesized groups are real leaks only when no named class
/// explains the growth: a leaked `RequestContext` drags its closure and its
/// arrays along, and the class is what the user recognizes.
fn weight(key: &str) -> f64 {
    if key.starts_with('(') {
        0.4
    } else {
        1.0
    }
}

/// What the leaked objects of one class look like in the last snapshot.
struct Leak {
    key: u32,
    count: u64,
    retained: u64,
    /// The biggest cluster: its objects, their retained size, and its path.
    cluster_count: u64,
    cluster_retained: u64,
    clusters: usize,
    steps: Vec<usize>,
}

/// Diffs N snapshots of one process, in time order.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    let n = paths.len();
    // The earlier snapshots (ids and classes only) are read on other threads
    // while this one reads the last snapshot's graph: on two cores that
    // hides most of their cost. They are summarized and dropped in their
    // thread, so their arrays are gone before the dominator tree is built.
    let progress = Shared::new(opts, n);
    let (earlier, last) = std::thread::scope(|scope| {
        let handles: Vec<_> = paths[..n - 1]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let progress = &progress;
                scope.spawn(move || -> Result<Earlier, Error> {
                    let s = read(p, false, &|d, t| progress.report(i, d, t))?;
                    let c = Classes::new(&s);
                    Ok(Earlier {
                        summary: summarize(&s, &c, p),
                        baseline: (i == 0).then(|| Baseline::new(&s, &c)),
                        ids: (i == 1).then(|| sorted_ids(&s)),
                    })
                })
            })
            .collect();
        let last = read(&paths[n - 1], true, &|d, t| progress.report(n - 1, d, t)).map(Heap::new);
        let earlier: Result<Vec<Earlier>, Error> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        (earlier, last)
    });
    let mut earlier = earlier?;
    let heap = last?;
    let base = earlier[0]
        .baseline
        .take()
        .expect("the first snapshot keeps its ids");
    let second = earlier.get_mut(1).and_then(|e| e.ids.take());
    let mut summaries: Vec<Summary> = earlier.into_iter().map(|e| e.summary).collect();
    let s = &heap.s;
    summaries.push(summarize(s, &heap.classes, &paths[n - 1]));
    let mut report = merge(&summaries)?;

    // Churn by id, and whether the ids mean the same objects.
    let mut churn: HashMap<String, Churn> = HashMap::new();
    let mut seen = vec![false; base.objects.len()];
    let (mut shared, mut mismatched) = (0u64, 0u64);
    for v in 0..s.node_count() as u32 {
        if !is_object(s, v) {
            continue;
        }
        match base.objects.binary_search_by_key(&s.id(v), |o| o.0) {
            Ok(i) => {
                seen[i] = true;
                shared += 1;
                if base.keys[base.objects[i].1 as usize] != heap.classes.key(v) {
                    mismatched += 1;
                }
            }
            Err(_) => {
                let c = churn.entry(heap.classes.key(v).to_string()).or_default();
                c.new_count += 1;
                c.new_bytes += s.self_size(v) as i64;
            }
        }
    }
    for (o, seen) in base.objects.iter().zip(&seen) {
        if !seen {
            let c = churn.entry(base.keys[o.1 as usize].clone()).or_default();
            c.deleted_count += 1;
            c.deleted_bytes += o.2 as i64;
        }
    }
    heap.fill_class_retained(&mut report);

    // Ids of one process name the same object in every snapshot; in another
    // process the same id is some unrelated object.
    if shared == 0 || mismatched * 10 > shared {
        report.details.notes.push(format!(
            "the snapshots share {shared} object ids and {mismatched} of them name objects of another class: \
             they come from different processes, so they are compared by class totals only. \
             Take all snapshots from one running process to find the leaked objects."
        ));
        report.suspects = rank(&report, BY_CLASS);
        for sus in &mut report.suspects {
            sus.hint = format!(
                "{} grew by {} between processes; compare snapshots of one process to see what holds it.",
                sus.key,
                human_bytes(sus.delta_bytes)
            );
        }
        return Ok(report);
    }
    report.details.churn = churn.into_iter().collect();

    // The leaked objects: new since the first snapshot and, with three or
    // more, already there in the second.
    let is_leaked: Vec<bool> = (0..s.node_count() as u32)
        .map(|v| {
            let k = s.kind(v);
            is_object(s, v)
                && heap.doms.is_reachable(v)
                && !matches!(k, NodeKind::Code | NodeKind::ObjectShape | NodeKind::Hidden)
                && base.find(s.id(v)).is_none()
                && second
                    .as_ref()
                    .is_none_or(|ids| ids.binary_search(&s.id(v)).is_ok())
        })
        .collect();
    let leaked = |v: u32| is_leaked[v as usize];
    // What the leaked objects retain *of leaked objects*: a Map's new hash
    // table dominates old entries too, and those are not part of the growth.
    let mut leak_sizes = vec![0u64; s.node_count()];
    for &v in heap.doms.preorder().iter().rev() {
        if leaked(v) {
            leak_sizes[v as usize] += s.self_size(v);
        }
        if let Some(d) = heap.doms.idom(v) {
            leak_sizes[d as usize] += leak_sizes[v as usize];
        }
    }
    let (leak_retained, tops) = heap.class_retained(&leak_sizes, Some(&leaked));
    let mut leak_count = vec![0u64; heap.classes.keys.len()];
    for v in 0..s.node_count() as u32 {
        if leaked(v) {
            leak_count[heap.classes.of[v as usize] as usize] += 1;
        }
    }
    let last_total = report.snapshots[n - 1].total_bytes.max(0) as u64;
    let min_bytes = MIN_LEAKED_BYTES.max((MIN_LEAKED_SHARE * last_total as f64) as u64);
    let group_of: HashMap<String, usize> = report
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.key.clone(), i))
        .collect();
    let grows = |key: &str| {
        let Some(&gi) = group_of.get(key) else {
            return false;
        };
        let c = &report.groups[gi].count;
        c[n - 1] > c[0] && c.windows(2).all(|w| w[1] >= w[0])
    };
    let mut candidates: Vec<u32> = (0..heap.classes.keys.len() as u32)
        .filter(|&k| {
            let key = heap.classes.keys[k as usize].as_str();
            leak_count[k as usize] >= MIN_LEAKED_OBJECTS
                && leak_retained[k as usize] >= min_bytes
                && !is_internal(key)
                && grows(key)
        })
        .collect();
    let score = |k: u32| leak_retained[k as usize] as f64 * weight(&heap.classes.keys[k as usize]);
    candidates.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
    candidates.truncate(10);

    let mut by_class: HashMap<u32, Vec<u32>> = HashMap::new();
    for &t in &tops {
        let k = heap.classes.of[t as usize];
        if candidates.contains(&k) {
            by_class.entry(k).or_default().push(t);
        }
    }
    // A leaked RequestContext drags its payload Array along, and is dragged
    // by its listener closure: classes whose leaked objects mostly sit inside
    // (or around) the leaked objects of a higher-ranked class are that leak,
    // not another one. Checked on a sample of each class's objects.
    let leaked_above = |o: u32, class: u32| {
        let mut up = heap.doms.idom(o);
        while let Some(u) = up {
            if heap.classes.of[u as usize] == class && leaked(u) {
                return true;
            }
            up = heap.doms.idom(u);
        }
        false
    };
    let mostly = |objs: &[u32], class: u32| {
        let step = (objs.len() / 50).max(1);
        let sample: Vec<u32> = objs.iter().step_by(step).copied().collect();
        sample.iter().filter(|&&o| leaked_above(o, class)).count() * 2 > sample.len()
    };
    let mut kept: Vec<u32> = Vec::new();
    for &k in &candidates {
        let objs = by_class.get(&k).map_or(&[][..], Vec::as_slice);
        let same_leak = kept.iter().any(|&a| {
            let above = by_class.get(&a).map_or(&[][..], Vec::as_slice);
            mostly(objs, a) || mostly(above, k)
        });
        if !same_leak {
            kept.push(k);
        }
    }
    let leaks: Vec<Leak> = kept
        .iter()
        .map(|&k| {
            let objects = by_class.get(&k).cloned().unwrap_or_default();
            let mut clusters: HashMap<Vec<(u32, u32)>, (u64, u64, u32)> = HashMap::new();
            for &o in &objects {
                let key = heap.cluster_key(&heap.steps(o));
                let c = clusters.entry(key).or_insert((0, 0, o));
                c.0 += 1;
                c.1 += heap.retained[o as usize];
                if heap.retained[o as usize] > heap.retained[c.2 as usize] {
                    c.2 = o;
                }
            }
            let best = clusters
                .values()
                .max_by_key(|c| (c.1, c.0))
                .copied()
                .unwrap_or((0, 0, ROOT));
            Leak {
                key: k,
                count: leak_count[k as usize],
                retained: leak_retained[k as usize],
                cluster_count: best.0,
                cluster_retained: best.1,
                clusters: clusters.len(),
                steps: heap.steps(best.2),
            }
        })
        .collect();

    let leaked_total: u64 = leaks.iter().map(|l| l.retained).sum::<u64>().max(1);
    let window = if n >= 3 {
        format!(
            "created between {} and {} and still alive in {}",
            name_of(&paths[0]),
            name_of(&paths[1]),
            name_of(&paths[n - 1])
        )
    } else {
        format!("new in {} since {}", name_of(&paths[1]), name_of(&paths[0]))
    };
    for l in &leaks {
        let key = heap.classes.keys[l.key as usize].clone();
        let path = heap.render(&l.steps);
        let (pattern, hint) = pattern_of(&heap, &l.steps, &key, l, &window);
        let share = l.retained as f64 / leaked_total as f64;
        let confidence = if n >= 3 {
            0.6 + 0.3 * share + if pattern.is_some() { 0.09 } else { 0.0 }
        } else {
            (0.4 + 0.2 * share + if pattern.is_some() { 0.1 } else { 0.0 }).min(0.7)
        };
        if let Some(&gi) = group_of.get(key.as_str()) {
            report.groups[gi].retainer_path = Some(path.clone());
        }
        report.suspects.push(Suspect {
            delta_bytes: group_of
                .get(key.as_str())
                .map_or(0, |&gi| report.groups[gi].delta_bytes),
            key,
            retained_bytes: Some(l.retained),
            retainer_path: Some(path),
            pattern,
            hint,
            confidence: (confidence.min(0.99) * 100.0).round() / 100.0,
        });
    }
    Ok(report)
}

fn name_of(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// Names the leak pattern from the path that holds the biggest cluster, and
/// says what to change.
fn pattern_of(
    heap: &Heap,
    steps: &[usize],
    key: &str,
    l: &Leak,
    window: &str,
) -> (Option<Pattern>, String) {
    let s = &heap.s;
    let g = s.graph();
    let nodes: Vec<u32> = steps.iter().map(|&e| g.edge_to(e)).collect();
    let class = |n: u32| heap.classes.key(n);
    let what = format!(
        "{} {key} objects ({}) {window}; {} of them ({}) are held along the path shown{}.",
        l.count,
        human_bytes(l.retained as i64),
        l.cluster_count,
        human_bytes(l.cluster_retained as i64),
        if l.clusters > 1 {
            format!(", the rest along {} other paths", l.clusters - 1)
        } else {
            String::new()
        }
    );
    let detached = nodes.last().is_some_and(|&n| s.is_detached(n)) || key.starts_with("Detached");
    if detached {
        return (
            Some(Pattern::DetachedDom),
            format!("{what} These DOM nodes are detached from the document but still referenced: drop the reference when removing them."),
        );
    }
    // The holder nearest to the leaked objects decides: walk the path back
    // from them. A listener array (`_events.<name>`) belongs to its emitter.
    let timers = ["Timeout", "Immediate", "TimersList"];
    let collections = ["Map", "Set", "Array", "Object"];
    let events_edge = |i: usize| s.edge_str(steps[i]) == Some("_events");
    let holder = (0..nodes.len()).rev().find_map(|i| {
        if timers.contains(&class(nodes[i])) {
            Some((Pattern::Timer, i))
        } else if events_edge(i) {
            Some((Pattern::EventListener, i))
        } else if collections.contains(&class(nodes[i]))
            && class(nodes[i]) != key
            && !(i > 0 && events_edge(i - 1))
        {
            Some((Pattern::UnboundedCollection, i))
        } else {
            None
        }
    });
    match holder {
        Some((Pattern::Timer, _)) => {
            return (
                Some(Pattern::Timer),
                format!(
                    "{what} Node's timer list keeps every setInterval/setTimeout callback and what its closure captures \
                     until the timer is cleared: keep the handle and call clearInterval/clearTimeout when the work is done, \
                     or timer.unref() only if it must not keep the process alive."
                ),
            )
        }
        Some((Pattern::EventListener, i)) => {
            let event = steps
                .get(i + 1)
                .and_then(|&e| s.edge_str(e))
                .map(|e| format!(" '{e}'"))
                .unwrap_or_default();
            let emitter = if i > 0 { class(nodes[i - 1]) } else { "an emitter" };
            return (
                Some(Pattern::EventListener),
                format!(
                    "{what} Each one is kept by a listener for event{event} on {emitter} that is added per request and never removed: \
                     remove it (emitter.off / removeListener) when the request ends, or use emitter.once."
                ),
            );
        }
        Some((_, i)) => {
            let var = (0..=i)
                .rev()
                .find_map(|j| s.edge_str(steps[j]).filter(|n| !n.is_empty()))
                .map(|n| format!(" '{n}'"))
                .unwrap_or_default();
            return (
                Some(Pattern::UnboundedCollection),
                format!(
                    "{what} They accumulate in the {}{var}, which only grows: evict entries (an LRU with a size bound, or delete \
                     when the request ends), or key it weakly (WeakMap/WeakRef) if the entries should die with their owner.",
                    class(nodes[i])
                ),
            );
        }
        None => {}
    }
    if let Some(i) = nodes.iter().position(|&n| s.kind(n) == NodeKind::Closure) {
        let f = s.describe(nodes[i]);
        return (
            Some(Pattern::ClosureContext),
            format!(
                "{what} A long-lived closure, {f}, captures the context that holds them: capture less (copy the fields it needs) \
                 or drop the closure when done."
            ),
        );
    }
    (
        None,
        format!("{what} Follow the path to the first object that should have let go of them."),
    )
}

/// One snapshot: classes by self and retained size, and the objects that
/// retain the most, each with the path that holds it.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report, Error> {
    let heap = Heap::new(read(path, true, &|d, t| opts.progress(d, t))?);
    let s = &heap.s;
    let summary = summarize(s, &heap.classes, path);
    let mut report = merge(std::slice::from_ref(&summary))?;
    heap.fill_class_retained(&mut report);
    // The largest objects a user owns: not the roots, the global object or
    // engine internals (backing stores such as a Map's hash table are
    // "array" nodes), which retain everything and explain nothing.
    let mut objects: Vec<u32> = (0..s.node_count() as u32)
        .filter(|&v| {
            matches!(
                s.kind(v),
                NodeKind::Object | NodeKind::Closure | NodeKind::Native
            ) && !is_internal(heap.classes.key(v))
                && !s.name(v).starts_with("global")
                && heap.doms.is_reachable(v)
        })
        .collect();
    objects.sort_by_key(|&v| std::cmp::Reverse(heap.retained[v as usize]));
    let mut picked: Vec<u32> = Vec::new();
    for v in objects {
        if picked.len() == LARGEST {
            break;
        }
        // An object inside one already listed adds nothing, unless it holds
        // most of it: then it is the more precise answer (the Map inside the
        // module's closure) and takes its place.
        match picked.iter().position(|&p| heap.doms.dominates(p, v)) {
            Some(i) if 2 * heap.retained[v as usize] >= heap.retained[picked[i] as usize] => {
                picked[i] = v;
            }
            Some(_) => {}
            None => picked.push(v),
        }
    }
    report.details.largest = picked
        .into_iter()
        .map(|v| LargeObject {
            key: heap.classes.key(v).to_string(),
            id: u64::from(s.id(v)),
            self_bytes: s.self_size(v),
            retained_bytes: heap.retained[v as usize],
            retainer_path: heap.render(&heap.steps(v)),
        })
        .collect();
    Ok(report)
}
