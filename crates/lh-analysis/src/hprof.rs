//! JVM heap dumps (HPROF): the class histogram, retained sizes from the
//! dominator tree, and MAT-style leak suspects with a pattern and a fix hint.
//!
//! A suspect is an *accumulation point*: starting at the GC roots, follow the
//! dominator tree into every object that retains at least 10 % of the heap;
//! where no child does any more, memory fans out into many small objects, and
//! that object is where it accumulates (MAT's definition). Its shortest path
//! from a GC root, with field names, says who holds it; the pattern comes from
//! that path. Dumps are compared per class, never per object: object ids are
//! addresses, and the GC moves objects between dumps.

use crate::flame::{dominator_paths, FlameBuilder, Side};
use crate::merge::merge;
use crate::suspects::{rank, Thresholds};
use crate::{Error, Options};
use lh_hprof::{Heap, Label, NodeKind};
use lh_model::{
    human_bytes, Flame, FlameBy, GroupStat, InputFormat, Pattern, Report, SnapshotInfo, Summary,
    Suspect,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An object retaining this share of the heap is worth a look (MAT's default).
const ACCUMULATION_SHARE: f64 = 0.10;
/// Groups whose retained size reaches this share of the heap get a retainer path.
const PATH_SHARE: f64 = 0.01;
/// Growth of a class or suspect between dumps that is worth naming: the JVM's
/// own churn between two `jcmd` dumps stays well under this.
const GROWTH: Thresholds = Thresholds {
    min_delta: 1 << 20,
    min_share: 0.05,
};

/// One dump, reduced to what a report needs.
struct Snapshot {
    summary: Summary,
    /// Per class: retained size (objects of the class not dominated by another of
    /// the same class) and a path to its largest retained object.
    retained: HashMap<String, (u64, Option<Vec<String>>)>,
    suspects: Vec<Suspect>,
    /// The dominator tree folded by application class (`last` values only).
    flame: Option<Flame>,
}

fn map_err(path: &Path, e: lh_hprof::Error) -> Error {
    match e {
        lh_hprof::Error::Io(io) => Error::io(path, io),
        other => Error::reader(path, other),
    }
}

fn info(path: &Path, bytes: u64, count: u64) -> SnapshotInfo {
    SnapshotInfo {
        path: path.display().to_string(),
        total_bytes: bytes as i64,
        total_count: count as i64,
    }
}

/// Progress over several files: file `i` of `n` maps its (done, total) into the whole.
fn scaled(opts: &Options, i: usize, n: usize) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        let total = total.max(1);
        opts.progress(i as u64 * total + done, n as u64 * total)
    }
}

/// The histogram pass only: shallow sizes and counts per class.
fn histogram(path: &Path, opts: &Options, i: usize, n: usize) -> Result<Snapshot, Error> {
    let p = scaled(opts, i, n);
    let h = lh_hprof::histogram(path, &p).map_err(|e| map_err(path, e))?;
    let (mut bytes, mut count) = (0u64, 0u64);
    let groups = h
        .classes
        .into_iter()
        .map(|c| {
            bytes += c.shallow;
            count += c.count;
            (
                c.name,
                GroupStat {
                    bytes: c.shallow as i64,
                    count: c.count as i64,
                },
            )
        })
        .collect();
    Ok(Snapshot {
        summary: Summary {
            format: InputFormat::Hprof,
            unit: "bytes".into(),
            sample_type: None,
            info: info(path, bytes, count),
            groups,
        },
        retained: HashMap::new(),
        suspects: Vec::new(),
        flame: None,
    })
}

/// The full analysis of one dump: graph, dominators, retained sizes, suspects.
fn full(path: &Path, opts: &Options, i: usize, n: usize) -> Result<Snapshot, Error> {
    let p = scaled(opts, i, n);
    let heap = lh_hprof::open(path, &p).map_err(|e| map_err(path, e))?;
    let g = &heap.graph;
    let nodes = heap.node_count();
    // Weak references (Reference.referent) keep nothing alive.
    let weak = |e: usize| Label(g.edge_label(e)).is_weak();
    let dom = lh_graph::dominators(g, heap.root, |e| !weak(e));
    let retained = lh_graph::retained_sizes(g, &dom);

    // Histogram rows (instances and arrays; class objects are not rows).
    let mut rows: Vec<GroupStat> = vec![GroupStat::default(); heap.classes.len()];
    for v in 1..nodes as u32 {
        if let NodeKind::Instance(c) | NodeKind::Array(c) = heap.kind(v) {
            let e = &mut rows[c as usize];
            e.bytes += g.self_size(v) as i64;
            e.count += 1;
        }
    }
    let mut groups: HashMap<String, GroupStat> = HashMap::new();
    for (c, row) in rows.iter().enumerate().filter(|r| r.1.count > 0) {
        *groups.entry(heap.classes[c].name.clone()).or_default() += *row;
    }

    // Retained size per class: a depth-first walk of the dominator tree that
    // counts an object only when no ancestor is of the same class. The path
    // shown for a class leads to an object held where most of the class's
    // memory is: objects are grouped by the class of their immediate
    // dominator (MAT's "immediate dominators" view), and the largest object of
    // the heaviest group is the example. The largest object overall would
    // mislead: of 8,000 sessions' 1 KiB byte[]s and System.in's 8 KiB buffer,
    // it is the buffer.
    let mut per_class: Vec<u64> = vec![0; heap.classes.len()];
    // Keyed by class << 32 | (dominator's class + 1, 0 for none): one u64 to
    // hash per object, since this runs over every object of the dump.
    let mut held_by: HashMap<u64, (u64, u32)> = HashMap::new();
    let mut active: Vec<u32> = vec![0; heap.classes.len()];
    let mut stack: Vec<(u32, u32)> = vec![(heap.root, 0)];
    while let Some(&(v, cursor)) = stack.last() {
        let kids = dom.children(v);
        if cursor == 0 {
            if let Some(c) = heap.class(v) {
                if active[c as usize] == 0 {
                    let r = retained[v as usize];
                    per_class[c as usize] += r;
                    let idom = stack.len().checked_sub(2).map(|i| stack[i].0);
                    let by = idom.and_then(|d| heap.class(d)).map_or(0, |d| d as u64 + 1);
                    let e = held_by.entry((c as u64) << 32 | by).or_insert((0, v));
                    e.0 += r;
                    if retained[e.1 as usize] < r {
                        e.1 = v;
                    }
                }
                active[c as usize] += 1;
            }
        }
        if let Some(&k) = kids.get(cursor as usize) {
            let top = stack.len() - 1;
            stack[top].1 += 1;
            stack.push((k, 0));
        } else {
            if let Some(c) = heap.class(v) {
                active[c as usize] -= 1;
            }
            stack.pop();
        }
    }
    let total = retained[heap.root as usize].max(1);
    let points = accumulation_points(&heap, &retained, &dom, total);
    let flame = flame(&heap, &dom);
    // The dominator tree and retained sizes are the largest arrays here; free
    // them before the retainer tree needs its own.
    drop(dom);
    drop(retained);
    // Shortest strong paths from the roots, for "held by".
    let tree = lh_graph::RetainerTree::build(g, heap.root, |e| (!weak(e)).then_some(1));
    let mut example: Vec<(u64, u32)> = vec![(0, 0); heap.classes.len()];
    for (&key, &(r, v)) in &held_by {
        let e = &mut example[(key >> 32) as usize];
        // Ties go to the lower node id, so the choice does not depend on the
        // map's iteration order.
        if (r, std::cmp::Reverse(v)) > (e.0, std::cmp::Reverse(e.1)) {
            *e = (r, v);
        }
    }
    drop(held_by);
    let mut by_name: HashMap<String, (u64, Option<Vec<String>>)> = HashMap::new();
    for (c, &r) in per_class.iter().enumerate() {
        if r == 0 {
            continue;
        }
        let biggest = example[c].1;
        let path = (r as f64 >= PATH_SHARE * total as f64)
            .then(|| describe_path(&heap, &steps(&heap, &tree, biggest)));
        let e = by_name.entry(heap.classes[c].name.clone()).or_default();
        e.0 += r;
        if e.1.is_none() {
            e.1 = path;
        }
    }

    let suspects = accumulation_suspects(&heap, &points, &tree, total);
    Ok(Snapshot {
        summary: Summary {
            format: InputFormat::Hprof,
            unit: "bytes".into(),
            sample_type: None,
            info: info(path, heap.total_shallow, heap.total_count),
            groups,
        },
        retained: by_name,
        suspects,
        flame: Some(flame),
    })
}

/// The dominator tree as a flame graph of application classes, MAT's view
/// of where memory accumulates: an application object (or a class object,
/// for its statics) opens a frame; JDK objects and arrays count in the frame
/// of the application object above them, and so does everything inside a
/// JDK collection, so that the sessions in `StaticLeak.SESSIONS` are
/// StaticLeak's memory, where the fix is.
fn flame(heap: &Heap, dom: &lh_graph::Dominators) -> Flame {
    let mut b = FlameBuilder::new(FlameBy::Dominators);
    let mut names: HashMap<u32, u32> = HashMap::new();
    let app = |n: u32| heap.class(n).is_some() && !is_jdk(heap.key(n));
    dominator_paths(
        &mut b,
        Side::Last,
        heap.root,
        &|n| dom.children(n),
        &|n| heap.graph.self_size(n),
        &mut |b, n| {
            let c = heap.class(n).filter(|_| app(n))?;
            Some(*names.entry(c).or_insert_with(|| b.name(heap.key(n))))
        },
        &app,
    );
    b.build()
}

/// One step of a retainer path: (from, label, to).
type Step = (u32, Label, u32);

/// The cheapest path from the GC roots to `node`, as steps.
fn steps(heap: &Heap, tree: &lh_graph::RetainerTree, node: u32) -> Vec<Step> {
    let g = &heap.graph;
    tree.path(g, node)
        .unwrap_or_default()
        .into_iter()
        .map(|e| (g.edge_from(e), Label(g.edge_label(e)), g.edge_to(e)))
        .collect()
}

fn describe_path(heap: &Heap, steps: &[Step]) -> Vec<String> {
    let mut out = vec!["(GC root)".to_string()];
    out.extend(steps.iter().map(|&(f, l, t)| heap.describe_step(f, l, t)));
    out
}

/// Whether a class is the JDK's own (where a user rarely makes the fix).
fn is_jdk(name: &str) -> bool {
    ["java.", "javax.", "jdk.", "sun.", "com.sun."]
        .iter()
        .any(|p| name.starts_with(p))
        || name.ends_with("[]")
}

const LISTENER_WORDS: [&str; 5] = ["listener", "observer", "callback", "handler", "subscriber"];

/// MAT's accumulation points: follow the dominator tree from the roots into
/// every object retaining ≥ 10 % of the heap, and stop where none of an
/// object's children does. Returns (node, retained size).
fn accumulation_points(
    heap: &Heap,
    retained: &[u64],
    dom: &lh_graph::Dominators,
    total: u64,
) -> Vec<(u32, u64)> {
    let min = (ACCUMULATION_SHARE * total as f64) as u64;
    let mut points = Vec::new();
    let mut todo: Vec<u32> = dom
        .children(heap.root)
        .iter()
        .copied()
        .filter(|&k| retained[k as usize] >= min)
        .collect();
    while let Some(v) = todo.pop() {
        let big: Vec<u32> = dom
            .children(v)
            .iter()
            .copied()
            .filter(|&k| retained[k as usize] >= min)
            .collect();
        if big.is_empty() {
            points.push((v, retained[v as usize]));
        } else {
            todo.extend(big);
        }
    }
    points
}

/// MAT-style suspects of one dump, from its accumulation points.
fn accumulation_suspects(
    heap: &Heap,
    points: &[(u32, u64)],
    tree: &lh_graph::RetainerTree,
    total: u64,
) -> Vec<Suspect> {
    let mut merged: Vec<Suspect> = Vec::new();
    for &(v, r) in points {
        let steps = steps(heap, tree, v);
        let Some((key, pattern, hint)) = classify(heap, v, &steps) else {
            continue;
        };
        if let Some(s) = merged
            .iter_mut()
            .find(|s| s.key == key && s.pattern == pattern)
        {
            s.retained_bytes = Some(s.retained_bytes.unwrap_or(0) + r);
            continue;
        }
        merged.push(Suspect {
            key,
            delta_bytes: 0,
            retained_bytes: Some(r),
            retainer_path: Some(describe_path(heap, &steps)),
            pattern,
            hint,
            confidence: 0.0,
        });
    }
    for s in &mut merged {
        let share = s.retained_bytes.unwrap_or(0) as f64 / total as f64;
        s.confidence = ((0.4 + 0.6 * share).min(0.95) * 100.0).round() / 100.0;
        s.hint = format!(
            "{} ({:.0} % of the heap). {}",
            human_bytes(s.retained_bytes.unwrap_or(0) as i64),
            share * 100.0,
            s.hint
        );
    }
    merged.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then_with(|| a.key.cmp(&b.key))
    });
    merged
}

/// Names the suspect at accumulation point `v` from its path: the class a user
/// changes, the pattern and the hint. `None` for a cache that bounds itself.
fn classify(heap: &Heap, v: u32, steps: &[Step]) -> Option<(String, Option<Pattern>, String)> {
    let field = |l: Label| heap.label_name(l).to_ascii_lowercase();
    let class_name = |n: u32| match heap.kind(n) {
        NodeKind::Class(c) => heap.classes[c as usize].name.clone(),
        _ => heap.key(n).to_string(),
    };
    // An LRU cache built on LinkedHashMap in application code overrides
    // removeEldestEntry to evict: a bounded cache, not a leak.
    let bounded = steps.iter().map(|s| s.2).chain([v]).any(|n| {
        matches!(heap.kind(n), NodeKind::Instance(c)
            if !is_jdk(&heap.classes[c as usize].name)
                && heap.is_subclass(c, "java.util.LinkedHashMap"))
    });
    if bounded {
        return None;
    }
    let holder = |i: usize| -> String { class_name(steps[i].0) };
    let static_step = steps.iter().rposition(|s| s.1.is_static());
    let what = class_name(v);

    if let Some(i) = steps.iter().position(|s| {
        matches!(
            field(s.1).as_str(),
            "threadlocals" | "inheritablethreadlocals"
        )
    }) {
        let thread = holder(i);
        let (key, field) = match thread_local_owner(heap, steps) {
            Some((class, field)) => (class.clone(), format!("{class}.{field}")),
            None => (
                "java.lang.ThreadLocal".to_string(),
                "a ThreadLocal".to_string(),
            ),
        };
        return Some((
            key,
            Some(Pattern::ThreadLocal),
            format!(
                "Values of {field} pile up in {thread} threads that never end (a pool). \
                 Call remove() in a finally block when the task is done, or do not keep growing state in a ThreadLocal."
            ),
        ));
    }
    if let Some(i) = steps.iter().rposition(|s| {
        let f = field(s.1);
        LISTENER_WORDS.iter().any(|w| f.contains(w))
    }) {
        let owner = holder(i);
        let f = heap.label_name(steps[i].1);
        return Some((
            owner.clone(),
            Some(Pattern::ListenerList),
            format!(
                "{owner}.{f} only grows: listeners are added and never removed. Remove each \
                 listener when its owner is done (or hold listeners weakly)."
            ),
        ));
    }
    let cache = steps.iter().position(|s| {
        field(s.1).contains("cache") || class_name(s.2).to_ascii_lowercase().contains("cache")
    });
    if let Some(i) = cache {
        let owner = holder(i);
        let f = heap.label_name(steps[i].1);
        return Some((
            owner.clone(),
            Some(Pattern::UnboundedCache),
            format!(
                "The cache {owner}.{f} never evicts. Bound it (a size limit with LRU eviction, \
                 e.g. LinkedHashMap.removeEldestEntry or Caffeine's maximumSize) or expire entries."
            ),
        ));
    }
    if let Some(i) = static_step {
        let owner = holder(i);
        let f = heap.label_name(steps[i].1);
        return Some((
            owner.clone(),
            Some(Pattern::StaticCollection),
            format!(
                "The static field {owner}.{f} holds a {} that only grows. Remove entries when \
                 they are done with, or bound the collection.",
                steps
                    .get(i)
                    .map(|s| class_name(s.2))
                    .unwrap_or_else(|| what.clone())
            ),
        ));
    }
    let loader = steps.iter().map(|s| s.2).chain([v]).find(|&n| {
        matches!(heap.kind(n), NodeKind::Instance(c)
            if heap.is_subclass(c, "java.lang.ClassLoader")
                && !heap.classes[c as usize].name.starts_with("jdk.internal."))
    });
    if let Some(l) = loader {
        let name = class_name(l);
        return Some((
            name.clone(),
            Some(Pattern::Classloader),
            format!(
                "A class loader ({name}) is kept alive with all its classes and their statics. \
                 Look for a thread, ThreadLocal or static of a parent loader that still refers to one of its classes."
            ),
        ));
    }
    // No pattern: name the nearest application class holding the memory.
    let key = steps
        .iter()
        .rev()
        .map(|s| class_name(s.2))
        .chain(steps.first().map(|s| class_name(s.0)))
        .find(|n| !is_jdk(n))
        .unwrap_or(what.clone());
    Some((
        key,
        None,
        format!("One {what} accumulates this memory; see the path for who holds it."),
    ))
}

/// The class and static field holding the ThreadLocal whose values pile up:
/// the `referent` of the ThreadLocalMap entry on the path.
fn thread_local_owner(heap: &Heap, steps: &[Step]) -> Option<(String, String)> {
    let entry = steps
        .iter()
        .map(|s| s.2)
        .find(|&n| heap.key(n) == "java.lang.ThreadLocal$ThreadLocalMap$Entry")?;
    let g = &heap.graph;
    let tl = g
        .edges(entry)
        .find(|&(_, _, l)| heap.label_name(Label(l)) == "referent")
        .map(|(_, t, _)| t)?;
    (1..heap.node_count() as u32)
        .filter(|&n| matches!(heap.kind(n), NodeKind::Class(_)))
        .find_map(|n| {
            g.edges(n)
                .find(|&(_, t, l)| t == tl && Label(l).is_static())
                .map(|(_, _, l)| (heap.key(n).to_string(), heap.label_name(Label(l))))
        })
}

fn read(path: &Path, opts: &Options, i: usize, n: usize) -> Result<Snapshot, Error> {
    if opts.histogram_only {
        histogram(path, opts, i, n)
    } else {
        full(path, opts, i, n)
    }
}

fn check_opts(opts: &Options) -> Result<(), Error> {
    if opts.by.is_some() || opts.sample_index.is_some() || opts.cumulative {
        return Err(Error::Usage(
            "HPROF dumps are grouped by class: --by, --sample-index and --cumulative do not apply"
                .into(),
        ));
    }
    Ok(())
}

/// One dump: the histogram with retained sizes, and MAT-style suspects.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report, Error> {
    check_opts(opts)?;
    let snap = read(path, opts, 0, 1)?;
    let mut report = merge(std::slice::from_ref(&snap.summary))?;
    attach_retained(&mut report, &snap);
    report.suspects = snap.suspects;
    Ok(report)
}

fn attach_retained(report: &mut Report, snap: &Snapshot) {
    for g in &mut report.groups {
        if let Some((r, path)) = snap.retained.get(&g.key) {
            g.retained_bytes = Some(*r);
            g.retainer_path = path.clone();
        }
    }
}

/// Two or more dumps in time order: per-class deltas, and suspects ranked by
/// how much the memory they retain grew, then by what they retain.
pub fn diff(paths: &[PathBuf], opts: &Options) -> Result<Report, Error> {
    check_opts(opts)?;
    let n = paths.len();
    let snaps = paths
        .iter()
        .enumerate()
        .map(|(i, p)| read(p, opts, i, n))
        .collect::<Result<Vec<_>, _>>()?;
    let summaries: Vec<Summary> = snaps.iter().map(|s| s.summary.clone()).collect();
    let mut report = merge(&summaries)?;
    let last = &snaps[n - 1];
    attach_retained(&mut report, last);
    if let (Some(first), Some(lastf)) = (&snaps[0].flame, &last.flame) {
        let mut b = FlameBuilder::new(FlameBy::Dominators);
        b.add_flame(first, Side::First);
        b.add_flame(lastf, Side::Last);
        report.details.flame = Some(b.build());
    }

    // Accumulation points followed across dumps by key and pattern: a suspect
    // whose retained size grew. One that stayed put (a warm cache) is not a leak.
    let mut suspects: Vec<Suspect> = Vec::new();
    let series = |s: &Suspect| -> Vec<i64> {
        snaps
            .iter()
            .map(|snap| {
                snap.suspects
                    .iter()
                    .find(|o| o.key == s.key && o.pattern == s.pattern)
                    .and_then(|o| o.retained_bytes)
                    .unwrap_or(0) as i64
            })
            .collect()
    };
    let last_total = last.summary.info.total_bytes.max(1);
    for s in &last.suspects {
        let r = series(s);
        let delta = r[n - 1] - r[0];
        let steps = n - 1;
        let grew = r.windows(2).filter(|w| w[1] > w[0]).count();
        let steady = grew as f64 / steps as f64;
        if delta < GROWTH.min_delta
            || (delta as f64) < GROWTH.min_share * last_total as f64
            || (n >= 3 && steady < 0.75)
        {
            continue;
        }
        let share = s.retained_bytes.unwrap_or(0) as f64 / last_total as f64;
        let confidence = if n >= 3 {
            0.6 + 0.25 * steady + 0.15 * share.min(1.0)
        } else {
            0.45 + 0.25 * share.min(1.0)
        };
        suspects.push(Suspect {
            delta_bytes: delta,
            confidence: (confidence.min(0.99) * 100.0).round() / 100.0,
            hint: format!(
                "retained size grew by {} over {n} dumps ({}). {}",
                human_bytes(delta),
                r.iter()
                    .map(|b| human_bytes(*b))
                    .collect::<Vec<_>>()
                    .join(" → "),
                s.hint
            ),
            ..s.clone()
        });
    }
    suspects.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(b.delta_bytes.cmp(&a.delta_bytes))
            .then_with(|| a.key.cmp(&b.key))
    });
    // Classes whose shallow size grew steadily, after the accumulation points
    // (they are often what those points hold), with a lower confidence.
    for mut s in rank(&report, GROWTH) {
        if suspects.iter().any(|o| o.key == s.key) {
            continue;
        }
        s.confidence = (s.confidence * 0.6 * 100.0).round() / 100.0;
        s.hint = format!(
            "instances of {} grew by {} (shallow) over {n} dumps; see the retainer path for who holds them.",
            s.key,
            human_bytes(s.delta_bytes)
        );
        suspects.push(s);
    }
    report.suspects = suspects;
    Ok(report)
}
