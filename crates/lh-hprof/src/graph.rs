//! The object graph of a dump, built in two streaming passes into `lh-graph`.
//!
//! Pass 1 numbers every object in file order and keeps, per object, only its
//! id (8 bytes), its class (4) and its shallow size (4). Between passes the ids
//! become a lookup table (see `ids.rs`). Pass 2 reads the dump again and adds each
//! object's outgoing references as edges, in node order, as `lh-graph` wants
//! them. Node 0 is a synthetic root with an edge to every GC root, since HPROF
//! has no single root. Class objects are nodes too: their static fields are
//! their edges, and each class loader gets an edge to every class it defined,
//! so that a loader retains its classes (MAT does the same).

use crate::ids::IdIndex;
use crate::input::id_at;
use crate::input::Input;
use crate::walk::{self, ClassDump, Header, Static, Visitor};
use crate::{
    java_name, record_starts, source, source_part, Error, IdMap, Progress, RootKind, Strings,
};
use lh_graph::{Graph, GraphBuilder};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a node is. Encoded in the top two bits of [`Heap::class_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// The synthetic root.
    Root,
    /// An instance of the class.
    Instance(u32),
    /// The class object of the class: holds its statics.
    Class(u32),
    /// An array; the class is the array class (`byte[]`, `java.lang.Object[]`).
    Array(u32),
}

const KIND_SHIFT: u32 = 30;
const K_INSTANCE: u32 = 0;
const K_CLASS: u32 = 1;
const K_ARRAY: u32 = 2;
const K_ROOT: u32 = 3;
const CLASS_MASK: u32 = (1 << KIND_SHIFT) - 1;
/// Class indices 0..12 are the primitive array classes, by HPROF type code.
const PRIM_CLASSES: u32 = 12;

/// An edge label: a field name, a static field name, an array index or a root kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(pub u32);

const L_ARRAY: u32 = 1 << 31;
const L_STATIC: u32 = 1 << 30;
const L_WEAK: u32 = 1 << 29;
const L_NAME: u32 = L_WEAK - 1;
/// Names 0..15 are the root kinds, in [`RootKind::ALL`] order.
const N_CLASS: u32 = RootKind::ALL.len() as u32;
const N_LOADER: u32 = N_CLASS + 1;

impl Label {
    /// An element of an object array; see [`Label::index`].
    pub fn is_array(self) -> bool {
        self.0 & L_ARRAY != 0
    }
    /// A static field: the edge goes from a class object.
    pub fn is_static(self) -> bool {
        !self.is_array() && self.0 & L_STATIC != 0
    }
    /// `Reference.referent`: does not keep its target alive.
    pub fn is_weak(self) -> bool {
        !self.is_array() && self.0 & L_WEAK != 0
    }
    /// The array index, for an array element.
    pub fn index(self) -> Option<u32> {
        self.is_array().then_some(self.0 & !L_ARRAY)
    }
    fn name(self) -> u32 {
        self.0 & L_NAME
    }
}

/// One class of the dump.
#[derive(Debug, Clone, Default)]
pub struct Class {
    /// Java source form, as in the histogram: `java.util.HashMap$Node`, `byte[]`.
    pub name: String,
    /// The class object's id in the dump.
    pub id: u64,
    /// Index of the superclass, if dumped.
    pub super_class: Option<u32>,
    /// The class object's node, if the class was dumped.
    pub node: Option<u32>,
    /// The id of the class loader that defined it; 0 for the bootstrap loader.
    pub loader: u64,
    /// Shallow size of each instance (see [`crate::histogram`]).
    pub instance_size: u64,
    super_id: u64,
    /// (name string id, type) of the class's own fields, in dump order.
    fields: Vec<(u64, u8)>,
}

/// A dump's object graph with class and field names.
pub struct Heap {
    /// The dump's version and identifier size.
    pub header: Header,
    /// Objects, class objects and the synthetic root as nodes, in file order
    /// after the root; references, statics and loader-to-class links as edges.
    pub graph: Graph,
    /// The synthetic root: node 0.
    pub root: u32,
    class_of: Vec<u32>,
    /// Every class the dump names, indexed by the class indices of [`NodeKind`];
    /// the primitive array classes come first.
    pub classes: Vec<Class>,
    names: Vec<String>,
    /// Shallow sizes of instances and arrays only: the histogram's total.
    pub total_shallow: u64,
    /// Instances and arrays, as the histogram counts them (no class objects, no root).
    pub total_count: u64,
}

impl Heap {
    /// What node `node` is, and of which class.
    pub fn kind(&self, node: u32) -> NodeKind {
        let c = self.class_of[node as usize];
        let i = c & CLASS_MASK;
        match c >> KIND_SHIFT {
            K_INSTANCE => NodeKind::Instance(i),
            K_CLASS => NodeKind::Class(i),
            K_ARRAY => NodeKind::Array(i),
            _ => NodeKind::Root,
        }
    }

    /// The histogram key of a node: the class of an instance or array; for a
    /// class object, the class it is (so statics count toward their class).
    pub fn key(&self, node: u32) -> &str {
        match self.kind(node) {
            NodeKind::Root => "(GC root)",
            NodeKind::Instance(c) | NodeKind::Class(c) | NodeKind::Array(c) => {
                &self.classes[c as usize].name
            }
        }
    }

    /// The class index of the node (the represented class for class objects).
    pub fn class(&self, node: u32) -> Option<u32> {
        match self.kind(node) {
            NodeKind::Root => None,
            NodeKind::Instance(c) | NodeKind::Class(c) | NodeKind::Array(c) => Some(c),
        }
    }

    /// Nodes of the graph, the synthetic root included.
    pub fn node_count(&self) -> usize {
        self.class_of.len()
    }

    /// Whether class `c` is `ancestor` or inherits from a class of that name.
    pub fn is_subclass(&self, c: u32, ancestor: &str) -> bool {
        let mut c = Some(c);
        let mut depth = 0;
        while let Some(i) = c {
            let class = &self.classes[i as usize];
            if class.name == ancestor {
                return true;
            }
            c = class.super_class;
            depth += 1;
            if depth > 256 {
                break;
            }
        }
        false
    }

    /// The name of a field label; root kinds name themselves.
    pub fn label_name(&self, l: Label) -> String {
        match l.index() {
            Some(i) => format!("[{i}]"),
            None => self.names[l.name() as usize].clone(),
        }
    }

    /// One step of a path, as people read it: `.table → java.util.HashMap$Node[]`,
    /// `static StaticLeak.SESSIONS → java.util.HashMap`, `[3] → byte[]`.
    pub fn describe_step(&self, from: u32, l: Label, to: u32) -> String {
        let what = match self.kind(to) {
            NodeKind::Class(c) => format!("class {}", self.classes[c as usize].name),
            _ => self.key(to).to_string(),
        };
        if from == self.root {
            return format!("{what} ({})", self.label_name(l));
        }
        if l.is_static() {
            return format!("static {}.{} → {what}", self.key(from), self.label_name(l));
        }
        let name = self.label_name(l);
        if l.is_array() || name.starts_with('<') {
            format!("{name} → {what}")
        } else {
            format!(".{name} → {what}")
        }
    }
}

/// At most this many threads read a dump; each costs a read buffer.
const MAX_PARTS: usize = 8;

/// Reads a dump into its object graph, in two passes. Fails with
/// [`Error::TooBig`] before building the graph if it cannot fit in memory.
///
/// An uncompressed dump is split at record boundaries into one part per
/// core, and both passes read the parts side by side: pass 1 collects each
/// part's objects on its own and joins them in file order, pass 2 builds
/// each part's edges and joins the CSR arrays. HotSpot writes the heap in
/// 1 MiB segments, so the parts come out even.
pub fn open(path: &Path, progress: Progress<'_>) -> Result<Heap, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    open_in_parts(path, progress, threads.min(MAX_PARTS))
}

fn open_in_parts(path: &Path, progress: Progress<'_>, parts: usize) -> Result<Heap, Error> {
    let (inp, header, size) = source(path, Arc::default())?;
    // A gzip stream cannot be entered in the middle: one part.
    let starts = if inp.gzip || parts < 2 {
        vec![inp.offset()]
    } else {
        let first = inp.offset();
        record_starts(
            path,
            first,
            size.saturating_sub(first).div_ceil(parts as u64),
        )?
    };
    drop(inp);

    let counter = Arc::new(AtomicU64::new(0));
    let collected = {
        let mut tick = || progress(counter.load(Ordering::Relaxed), 2 * size);
        in_parts(path, &starts, &counter, &mut tick, |k, inp, tick| {
            let mut c = Collect::new(header.id_size, k == 0);
            walk::walk(inp, header, &mut c, tick)?;
            Ok(c)
        })?
    };
    let mut collected = collected.into_iter();
    let mut p1 = collected.next().expect("there is always a first part");
    let mut part_list = vec![Part {
        node: 0,
        edge_bound: 0,
    }];
    for c in collected {
        part_list.push(Part {
            node: p1.ids.len() as u32,
            edge_bound: c.edge_bound,
        });
        p1.append(c)?;
    }
    let mut heap = p1.finish(header)?;
    // The first part's builder ends up holding the whole graph.
    part_list[0].edge_bound = heap.edge_bound;
    heap.parts = part_list;
    check_memory(heap.nodes(), heap.edge_bound)?;

    let counter2 = Arc::new(AtomicU64::new(0));
    let sizes = std::mem::take(&mut heap.sizes);
    let heap = heap;
    let builders = {
        let mut tick = || progress(size + counter2.load(Ordering::Relaxed), 2 * size);
        in_parts(path, &starts, &counter2, &mut tick, |k, inp, tick| {
            let mut edges = Edges::new(&heap, k, &sizes);
            walk::walk(inp, header, &mut edges, tick)?;
            Ok(edges.builder)
        })?
    };
    drop(sizes);
    let mut builders = builders.into_iter();
    let mut builder = builders.next().expect("there is always a first part");
    for b in builders {
        builder.append(b);
    }
    progress(2 * size, 2 * size);
    Ok(Heap {
        header,
        graph: builder.build().map_err(Error::Graph)?,
        root: 0,
        class_of: heap.class_of,
        classes: heap.classes,
        names: heap.names,
        total_shallow: heap.total_shallow,
        total_count: heap.total_count,
    })
}

/// Runs `pass` over each part of the dump (parts start at `starts`), side
/// by side: the first on this thread, which reports progress through `tick`
/// (`progress` need not be `Sync`), the others on threads of their own.
/// The results come in part order; an error of an earlier part wins.
fn in_parts<T: Send>(
    path: &Path,
    starts: &[u64],
    counter: &Arc<AtomicU64>,
    tick: &mut dyn FnMut(),
    pass: impl Fn(usize, &mut Input<Box<dyn Read>>, &mut dyn FnMut()) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let run = |k: usize, tick: &mut dyn FnMut()| -> Result<T, Error> {
        let mut inp = if starts.len() == 1 {
            source(path, counter.clone())?.0
        } else {
            source_part(path, starts[k], starts.get(k + 1).copied(), counter.clone())?
        };
        pass(k, &mut inp, tick)
    };
    std::thread::scope(|scope| {
        let run = &run;
        let rest: Vec<_> = (1..starts.len())
            .map(|k| scope.spawn(move || run(k, &mut || {})))
            .collect();
        let first = run(0, tick);
        std::iter::once(first)
            .chain(
                rest.into_iter()
                    .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))),
            )
            .collect()
    })
}

/// Refuses graphs that would not fit: better a clear message now than the
/// OOM killer later. About 60 bytes a node (ids, lookup, graph, dominators,
/// retained sizes) and 8 an edge.
fn check_memory(nodes: usize, edges: u64) -> Result<(), Error> {
    let need = nodes as u64 * 60 + edges * 8;
    if let Some(avail) = available_memory() {
        if need > avail {
            return Err(Error::TooBig(format!(
                "the object graph of this dump ({nodes} objects, up to {edges} references) needs about {} MiB, \
                 but only {} MiB are available; run on a larger machine, or use --histogram-only",
                need >> 20,
                avail >> 20
            )));
        }
    }
    Ok(())
}

/// MemAvailable, or the cgroup's remaining memory if lower.
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let mut avail = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        * 1024;
    let cg = |f: &str| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{f}"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
    };
    if let (Some(max), Some(cur)) = (cg("memory.max"), cg("memory.current")) {
        avail = avail.min(max.saturating_sub(cur));
    }
    Some(avail)
}

/// What pass 1 keeps.
struct Collect {
    id_size: u8,
    strings: Strings,
    class_names: IdMap<u64>,
    class_index: IdMap<u32>,
    classes: Vec<Class>,
    /// Static fields of dumped classes, by class index, as (name id, target id).
    statics: Vec<(u32, u64, u64)>,
    statics_size: Vec<(u32, u32)>,
    ids: Vec<u64>,
    class_of: Vec<u32>,
    sizes: Vec<u32>,
    roots: Vec<(u64, RootKind)>,
    edge_bound: u64,
}

/// One part of the dump: the nodes from `node` on, with at most
/// `edge_bound` edges.
#[derive(Debug, Clone, Copy)]
struct Part {
    node: u32,
    edge_bound: u64,
}

/// Pass 1's result, input of pass 2.
struct Pass1 {
    id_size: u8,
    classes: Vec<Class>,
    names: Vec<String>,
    class_of: Vec<u32>,
    sizes: Vec<u32>,
    /// Object id → node.
    ids: IdIndex,
    roots: Vec<(u32, RootKind)>,
    /// Per class: (first, end) into `fields`: object fields of the whole chain
    /// as (byte offset in the instance body, label).
    layout: Vec<(u32, u32, u32)>,
    fields: Vec<(u32, u32)>,
    statics: Vec<(u32, u32, u64)>,
    /// (loader node, class node) pairs, sorted by loader node.
    loader_edges: Vec<(u32, u32)>,
    edge_bound: u64,
    parts: Vec<Part>,
    total_shallow: u64,
    total_count: u64,
}

impl Pass1 {
    fn nodes(&self) -> usize {
        self.class_of.len()
    }

    #[inline]
    fn lookup(&self, id: u64) -> Option<u32> {
        self.ids.get(id)
    }
}

impl Collect {
    /// Collects one part of a dump; the first holds the synthetic root.
    fn new(id_size: u8, first: bool) -> Self {
        let mut classes: Vec<Class> = (0..PRIM_CLASSES as u8)
            .map(|t| Class {
                name: format!("{}[]", crate::names::primitive(t)),
                ..Default::default()
            })
            .collect();
        classes.shrink_to_fit();
        let mut c = Collect {
            id_size,
            strings: Strings::default(),
            class_names: IdMap::default(),
            class_index: IdMap::default(),
            classes,
            statics: Vec::new(),
            statics_size: Vec::new(),
            ids: Vec::new(),
            class_of: Vec::new(),
            sizes: Vec::new(),
            roots: Vec::new(),
            edge_bound: 0,
        };
        if first {
            c.ids.push(0);
            c.class_of.push(K_ROOT << KIND_SHIFT);
            c.sizes.push(0);
        }
        c
    }

    /// Appends the next part of the dump, collected on its own, as if one
    /// read had gone on through it: its nodes follow ours, its classes are
    /// matched by id (the new ones numbered in the order it met them), and
    /// the dump of a class we already have is dropped with its node and
    /// statics, as a sequential read skips a repeated class dump.
    fn append(&mut self, mut other: Collect) -> Result<(), Error> {
        self.strings.append(other.strings);
        self.class_names.extend(other.class_names);
        // Local class index → ours; the local nodes of repeated dumps, and
        // the local classes whose statics go with them.
        let mut map: Vec<u32> = (0..PRIM_CLASSES).collect();
        let mut repeated: Vec<u32> = Vec::new();
        let mut dropped = vec![false; other.classes.len()];
        let mut dumped: Vec<(u32, u32)> = Vec::new();
        for (local, c) in other
            .classes
            .drain(..)
            .enumerate()
            .skip(PRIM_CLASSES as usize)
        {
            let g = self.class_index(c.id);
            map.push(g);
            let Some(node) = c.node else { continue };
            let ours = &mut self.classes[g as usize];
            if ours.node.is_some() {
                repeated.push(node);
                dropped[local] = true;
                continue;
            }
            ours.super_id = c.super_id;
            ours.loader = c.loader;
            ours.fields = c.fields;
            dumped.push((g, node));
        }
        repeated.sort_unstable();
        if !repeated.is_empty() {
            remove_nodes(&mut other.ids, &repeated);
            remove_nodes(&mut other.class_of, &repeated);
            remove_nodes(&mut other.sizes, &repeated);
        }
        let base = self.ids.len() as u64;
        if base + other.ids.len() as u64 >= u64::from(u32::MAX - 1) {
            return Err(Error::TooBig(
                "more than 4 billion objects: too many for one graph".into(),
            ));
        }
        // A node's number drops by the repeated dumps before it.
        for (g, node) in dumped {
            let before = repeated.partition_point(|&r| r < node) as u32;
            self.classes[g as usize].node = Some(base as u32 + node - before);
        }
        self.ids.append(&mut other.ids);
        self.sizes.append(&mut other.sizes);
        self.class_of.extend(
            other
                .class_of
                .iter()
                .map(|&k| (k & !CLASS_MASK) | map[(k & CLASS_MASK) as usize]),
        );
        let kept = |c: u32| !dropped[c as usize];
        self.statics.extend(
            other
                .statics
                .iter()
                .filter(|s| kept(s.0))
                .map(|&(c, name, target)| (map[c as usize], name, target)),
        );
        self.statics_size.extend(
            other
                .statics_size
                .iter()
                .filter(|s| kept(s.0))
                .map(|&(c, size)| (map[c as usize], size)),
        );
        self.roots.append(&mut other.roots);
        self.edge_bound += other.edge_bound;
        Ok(())
    }

    fn class_index(&mut self, id: u64) -> u32 {
        if let Some(&i) = self.class_index.get(&id) {
            return i;
        }
        let i = self.classes.len() as u32;
        self.classes.push(Class {
            id,
            ..Default::default()
        });
        self.class_index.insert(id, i);
        i
    }

    fn push(&mut self, id: u64, class: u32, size: u64) -> Result<(), String> {
        if self.ids.len() >= (u32::MAX - 1) as usize {
            return Err("more than 4 billion objects: too many for one graph".into());
        }
        self.ids.push(id);
        self.class_of.push(class);
        self.sizes.push(size.min(u64::from(u32::MAX)) as u32);
        Ok(())
    }

    fn finish(mut self, header: Header) -> Result<Pass1, Error> {
        let ids_size = self.id_size;
        // Names: root kinds, then the fixed labels, then field names.
        let mut names: Vec<String> = RootKind::ALL.iter().map(|k| k.name().to_string()).collect();
        names.push("<class>".into());
        names.push("<classloader>".into());
        let mut name_index: IdMap<u32> = IdMap::default();
        let mut name_of = |sid: u64, strings: &Strings| -> u32 {
            *name_index.entry(sid).or_insert_with(|| {
                names.push(strings.get(sid).unwrap_or("?").to_string());
                (names.len() - 1) as u32
            })
        };
        // Class names and superclass links.
        for i in PRIM_CLASSES as usize..self.classes.len() {
            let c = &self.classes[i];
            let raw = self
                .class_names
                .get(&c.id)
                .and_then(|n| self.strings.get(*n))
                .map(java_name);
            let super_class = (c.super_id != 0)
                .then(|| self.class_index.get(&c.super_id).copied())
                .flatten();
            let c = &mut self.classes[i];
            c.name = raw.unwrap_or_else(|| format!("<unknown class 0x{:x}>", c.id));
            c.super_class = super_class;
        }
        // Instance sizes and flattened object-field layouts (own fields first,
        // then the superclass's, as instance dumps store them).
        let mut layout = vec![(0u32, 0u32, 0u32); self.classes.len()];
        let mut fields = Vec::new();
        let reference = self
            .classes
            .iter()
            .position(|c| c.name == "java.lang.ref.Reference")
            .map(|i| i as u32);
        for (i, slot) in layout.iter_mut().enumerate() {
            let lookup = |c: u64| {
                self.class_index
                    .get(&c)
                    .map(|&i| &self.classes[i as usize])
                    .filter(|c| c.node.is_some())
                    .map(|c| (c.super_id, own_bytes(&c.fields, ids_size)))
            };
            let size = crate::instance_size(ids_size, self.classes[i].id, &lookup);
            self.classes[i].instance_size = size;
            let first = fields.len() as u32;
            let mut offset = 0u32;
            let mut c = Some(i as u32);
            let mut depth = 0;
            while let Some(ci) = c {
                let class = &self.classes[ci as usize];
                for &(name, ty) in &class.fields {
                    if ty == 2 {
                        let mut l = name_of(name, &self.strings);
                        if Some(ci) == reference && self.strings.get(name) == Some("referent") {
                            l |= L_WEAK;
                        }
                        fields.push((offset, l));
                    }
                    offset += walk::type_size(ty, ids_size).unwrap_or(0);
                }
                c = class.super_class;
                depth += 1;
                if depth > 256 {
                    break;
                }
            }
            *slot = (first, fields.len() as u32, offset);
        }
        // Shallow sizes of instances, now that every class is known.
        let mut total_shallow = 0u64;
        let mut total_count = 0u64;
        for n in 0..self.class_of.len() {
            let c = self.class_of[n];
            match c >> KIND_SHIFT {
                K_INSTANCE => {
                    let s = self.classes[(c & CLASS_MASK) as usize].instance_size;
                    self.sizes[n] = s.min(u64::from(u32::MAX)) as u32;
                    total_shallow += s;
                    total_count += 1;
                }
                K_ARRAY => {
                    total_shallow += u64::from(self.sizes[n]);
                    total_count += 1;
                }
                _ => {}
            }
        }
        for &(class, size) in &self.statics_size {
            if let Some(node) = self.classes[class as usize].node {
                self.sizes[node as usize] = size;
            }
        }
        let statics: Vec<(u32, u32, u64)> = self
            .statics
            .iter()
            .map(|&(class, name, target)| (class, name_of(name, &self.strings), target))
            .collect();
        let mut p = Pass1 {
            id_size: header.id_size,
            classes: self.classes,
            names,
            class_of: self.class_of,
            sizes: self.sizes,
            ids: IdIndex::new(self.ids),
            roots: Vec::new(),
            layout,
            fields,
            statics,
            loader_edges: Vec::new(),
            edge_bound: self.edge_bound,
            parts: Vec::new(),
            total_shallow,
            total_count,
        };
        let mut roots: Vec<(u32, RootKind)> = self
            .roots
            .iter()
            .filter_map(|&(id, k)| p.lookup(id).map(|n| (n, k)))
            .collect();
        // A bootstrap class with no sticky-class root is still alive: its loader is the VM.
        for c in &p.classes {
            if let (Some(node), 0) = (c.node, c.loader) {
                roots.push((node, RootKind::SystemClass));
            }
        }
        roots.sort_unstable_by_key(|r| r.0);
        roots.dedup_by_key(|r| r.0);
        p.roots = roots;
        let mut le: Vec<(u32, u32)> = p
            .classes
            .iter()
            .filter_map(|c| Some((p.lookup(c.loader)?, c.node?)))
            .collect();
        le.sort_unstable();
        p.edge_bound += (p.roots.len() + 2 * le.len()) as u64;
        p.loader_edges = le;
        Ok(p)
    }
}

/// Removes the elements at `nodes` (sorted) from a per-node array.
fn remove_nodes<T>(v: &mut Vec<T>, nodes: &[u32]) {
    let mut i = 0u32;
    v.retain(|_| {
        i += 1;
        nodes.binary_search(&(i - 1)).is_err()
    });
}

fn own_bytes(fields: &[(u64, u8)], id_size: u8) -> u32 {
    fields
        .iter()
        .map(|f| walk::type_size(f.1, id_size).unwrap_or(0))
        .sum()
}

impl Visitor for Collect {
    fn utf8(&mut self, id: u64, text: &[u8]) {
        self.strings.add(id, text);
    }
    fn load_class(&mut self, class: u64, name: u64) {
        self.class_names.insert(class, name);
    }
    fn root(&mut self, kind: RootKind, id: u64) {
        self.roots.push((id, kind));
    }
    fn class_dump(&mut self, c: &ClassDump<'_>) -> Result<(), String> {
        let i = self.class_index(c.id);
        if self.classes[i as usize].node.is_some() {
            return Ok(()); // a repeated class dump adds nothing
        }
        let node = self.ids.len() as u32;
        let class = &mut self.classes[i as usize];
        class.node = Some(node);
        class.super_id = c.super_id;
        class.loader = c.loader;
        class.fields = c.fields.to_vec();
        let mut size = 0u32;
        for &Static { name, ty, value } in c.statics {
            size += walk::type_size(ty, self.id_size).unwrap_or(0);
            if ty == 2 && value != 0 {
                self.statics.push((i, name, value));
                self.edge_bound += 1;
            }
        }
        self.statics_size.push((i, size));
        self.push(c.id, (K_CLASS << KIND_SHIFT) | i, 0)
    }
    fn instance(&mut self, id: u64, class: u64, fields: &[u8]) -> Result<(), String> {
        let c = self.class_index(class);
        self.edge_bound += (fields.len() / usize::from(self.id_size)) as u64;
        self.push(id, (K_INSTANCE << KIND_SHIFT) | c, 0)
    }
    fn obj_array(&mut self, id: u64, class: u64, elems: &[u8]) -> Result<(), String> {
        let c = self.class_index(class);
        self.edge_bound += (elems.len() / usize::from(self.id_size)) as u64;
        let size = crate::array_size(self.id_size, elems.len() as u64);
        self.push(id, (K_ARRAY << KIND_SHIFT) | c, size)
    }
    fn prim_array(&mut self, id: u64, ty: u8, len: u32) {
        let size = crate::array_size(
            self.id_size,
            u64::from(len) * u64::from(walk::type_size(ty, self.id_size).unwrap_or(0)),
        );
        // Errors here can only be the 4-billion-object limit, met again at the next object.
        let _ = self.push(id, (K_ARRAY << KIND_SHIFT) | u32::from(ty), size);
    }
}

/// Pass 2 over one part: the edges of its nodes, node by node.
struct Edges<'a> {
    p: &'a Pass1,
    /// The part's nodes, numbered from 0: node `base + i` is its node `i`.
    builder: GraphBuilder,
    base: u32,
    /// The node after the part's last.
    end: u32,
    /// The next node in file order.
    next: u32,
    next_static: usize,
    next_loader: usize,
}

const CHANGED: &str = "the dump changed between passes: more objects than before";

impl<'a> Edges<'a> {
    /// Pass 2 of part `k`, whose nodes have these shallow sizes (by node).
    fn new(p: &'a Pass1, k: usize, sizes: &[u32]) -> Self {
        let part = p.parts[k];
        let (base, end) = (
            part.node,
            p.parts.get(k + 1).map_or(p.nodes(), |n| n.node as usize),
        );
        let mut builder = GraphBuilder::new(end - base as usize, part.edge_bound as usize);
        for &s in &sizes[base as usize..end] {
            builder.add_node(u64::from(s));
        }
        let mut next = base;
        if base == 0 {
            // The synthetic root comes first.
            for &(node, kind) in &p.roots {
                builder.add_edge(0, node, Label(kind as u32).0);
            }
            next = 1;
        }
        // `p.statics` is in class-dump order, which is node order.
        let next_static = p
            .statics
            .partition_point(|s| p.classes[s.0 as usize].node.is_none_or(|n| n < base));
        Edges {
            p,
            builder,
            base,
            end: end as u32,
            next,
            next_static,
            next_loader: p.loader_edges.partition_point(|l| l.0 < base),
        }
    }

    /// Takes the next node number, which must be the one pass 1 gave `id`.
    fn node(&mut self) -> Result<u32, String> {
        let n = self.next;
        if n >= self.end {
            return Err(CHANGED.into());
        }
        self.next += 1;
        Ok(n)
    }

    fn edge(&mut self, from: u32, target: u64, label: u32) {
        if let Some(to) = self.p.lookup(target) {
            self.builder.add_edge(from - self.base, to, label);
        }
    }

    /// A loader's edges to the classes it defined.
    fn loader_edges(&mut self, node: u32) {
        let le = &self.p.loader_edges;
        while self.next_loader < le.len() && le[self.next_loader].0 < node {
            self.next_loader += 1;
        }
        while self.next_loader < self.p.loader_edges.len()
            && self.p.loader_edges[self.next_loader].0 == node
        {
            let to = self.p.loader_edges[self.next_loader].1;
            self.builder.add_edge(node - self.base, to, N_CLASS);
            self.next_loader += 1;
        }
    }
}

impl Visitor for Edges<'_> {
    fn class_dump(&mut self, c: &ClassDump<'_>) -> Result<(), String> {
        if self.next >= self.end {
            return Err(CHANGED.into());
        }
        let k = self.p.class_of[self.next as usize];
        let i = k & CLASS_MASK;
        if k >> KIND_SHIFT != K_CLASS || self.p.classes[i as usize].id != c.id {
            return Ok(()); // the repeated dump of a class, which pass 1 skipped
        }
        let node = self.node()?;
        if c.loader != 0 {
            self.edge(node, c.loader, N_LOADER);
        }
        while self.next_static < self.p.statics.len() && self.p.statics[self.next_static].0 == i {
            let (_, name, target) = self.p.statics[self.next_static];
            self.edge(node, target, name | L_STATIC);
            self.next_static += 1;
        }
        self.loader_edges(node);
        Ok(())
    }

    fn instance(&mut self, _id: u64, _class: u64, body: &[u8]) -> Result<(), String> {
        let node = self.node()?;
        let c = (self.p.class_of[node as usize] & CLASS_MASK) as usize;
        let (first, end, need) = self.p.layout[c];
        if (body.len() as u64) < u64::from(need) {
            return Err(format!(
                "an instance of {} has {} bytes of fields, its class layout needs {need}",
                self.p.classes[c].name,
                body.len()
            ));
        }
        let ids = self.p.id_size;
        for k in first..end {
            let (offset, label) = self.p.fields[k as usize];
            let target = id_at(&body[offset as usize..], ids);
            if target != 0 {
                self.edge(node, target, label);
            }
        }
        self.loader_edges(node);
        Ok(())
    }

    fn obj_array(&mut self, _id: u64, _class: u64, elems: &[u8]) -> Result<(), String> {
        let node = self.node()?;
        let ids = usize::from(self.p.id_size);
        for (i, e) in elems.chunks_exact(ids).enumerate() {
            let target = id_at(e, self.p.id_size);
            if target != 0 {
                self.edge(node, target, L_ARRAY | (i as u32 & !L_ARRAY));
            }
        }
        Ok(())
    }

    fn prim_array(&mut self, _id: u64, _ty: u8, _len: u32) {
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump of a header and no record, read in parts: `record_starts` cut
    /// the one (empty) part away, and the first pass indexed an empty list of
    /// parts (found by fuzzing). It reads as it does in one part.
    #[test]
    fn a_dump_with_no_record_reads_the_same_in_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.hprof");
        let mut dump = b"JAVA PROFILE 1.0.2\0".to_vec();
        dump.extend_from_slice(&8u32.to_be_bytes());
        dump.extend_from_slice(&0u64.to_be_bytes());
        std::fs::write(&path, dump).unwrap();
        let one = open_in_parts(&path, &|_, _| {}, 1).map(|h| h.node_count());
        let two = open_in_parts(&path, &|_, _| {}, 2).map(|h| h.node_count());
        assert_eq!(format!("{one:?}"), format!("{two:?}"));
    }
}
