//! V8 `.heapsnapshot` files (Chrome DevTools, `v8.writeHeapSnapshot`, `node
//! --heapsnapshot-signal`), read in one streaming pass into an [`lh_graph::Graph`].
//!
//! A snapshot is one JSON object whose big parts are flat integer arrays
//! (`nodes`, `edges`) and a string table that comes *after* them. We never
//! build a DOM: a byte scanner ([`scan`]) feeds the integers straight into
//! compact arrays, and only the small `snapshot.meta` head goes through
//! serde. Field positions and type names come from the meta, so snapshots of
//! other V8 versions (with or without `trace_node_id` and `detachedness`)
//! read the same. Object ids are kept: V8 keeps an object's id for the
//! lifetime of the process, which is what lets leakhound compare snapshots
//! object by object.
//!
//! Liberal as DevTools and memlab are: writers other than V8 (Julia's, old
//! Chromes) use node types the meta does not list, 64-bit ids (addresses),
//! and more edges than the nodes announce. Those read as `(unknown)` types
//! with their number kept, wide ids, and ignored surplus edges; only what
//! leaves no graph to build (a record cut short, an edge to a missing node,
//! fewer edges than announced) is refused, with its byte offset.

mod scan;

use lh_graph::{Graph, GraphBuilder, GraphError};
use scan::Scanner;
use serde::Deserialize;
use std::io::Read;
use std::path::Path;

/// Why a snapshot could not be read. Every variant but `Graph` carries the
/// byte offset where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read, or its gzip stream is corrupt.
    #[error("read failed at byte {offset}: {source}")]
    Io {
        /// Bytes of the (decompressed) snapshot read before the failure.
        offset: u64,
        /// The failed read.
        source: std::io::Error,
    },
    /// Not JSON, truncated JSON, or JSON of the wrong shape.
    #[error("at byte {offset}: {message}")]
    Syntax {
        /// Where in the (decompressed) snapshot the scanner stopped.
        offset: u64,
        /// What it expected there.
        message: String,
    },
    /// `snapshot.meta` is missing or does not describe nodes and edges.
    #[error("at byte {offset}: bad snapshot.meta: {message}")]
    Meta {
        /// Where in the (decompressed) snapshot the meta was found wanting.
        offset: u64,
        /// What it lacks.
        message: String,
    },
    /// A node or edge refers to something that does not exist.
    #[error("at byte {offset}: {message}")]
    Reference {
        /// Where in the (decompressed) snapshot the reference was read.
        offset: u64,
        /// The reference and what it points past.
        message: String,
    },
    /// The nodes and edges do not form a graph `lh-graph` can hold (too
    /// many of them, or edges out of order); carries no offset, as the
    /// graph is checked once it is built.
    #[error("{0}")]
    Graph(#[from] GraphError),
}

impl lh_model::Classify for Error {
    /// A failed read is classified by its cause (a corrupt gzip stream is
    /// the file's fault); every other error is the snapshot's.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::Io { source, .. } => lh_model::Classify::class(source),
            _ => lh_model::ErrorClass::Usage,
        }
    }
}

/// The node types of V8, by their meta names. Types V8 does not write (or
/// beyond the meta's list) read as `Other`; [`Snapshot::type_index`] keeps their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum NodeKind {
    /// `hidden`: engine internals DevTools shows as `(system)`.
    Hidden,
    /// `array`: the engine's internal arrays (a JS array is an `Object`).
    Array,
    /// `string`: a flat string, named by its content.
    String,
    /// `object`: a JS object, named by its constructor.
    Object,
    /// `code`: compiled code and bytecode.
    Code,
    /// `closure`: a function, named by the function.
    Closure,
    /// `regexp`.
    Regexp,
    /// `number`: a heap number.
    Number,
    /// `native`: an object outside V8's heap, such as a Blink DOM node.
    Native,
    /// `synthetic`: a node the snapshot adds, such as the root and its groups.
    Synthetic,
    /// `concatenated string`: a rope of two strings.
    ConsString,
    /// `sliced string`: a view into another string.
    SlicedString,
    /// `symbol`.
    Symbol,
    /// `bigint`.
    Bigint,
    /// `object shape`: a hidden class (a V8 map).
    ObjectShape,
    /// A type this reader does not know, or a number beyond the meta's list.
    Other,
}

impl NodeKind {
    fn from_name(s: &str) -> NodeKind {
        match s {
            "hidden" => NodeKind::Hidden,
            "array" => NodeKind::Array,
            "string" => NodeKind::String,
            "object" => NodeKind::Object,
            "code" => NodeKind::Code,
            "closure" => NodeKind::Closure,
            "regexp" => NodeKind::Regexp,
            "number" => NodeKind::Number,
            "native" => NodeKind::Native,
            "synthetic" => NodeKind::Synthetic,
            "concatenated string" => NodeKind::ConsString,
            "sliced string" => NodeKind::SlicedString,
            "symbol" => NodeKind::Symbol,
            "bigint" => NodeKind::Bigint,
            "object shape" => NodeKind::ObjectShape,
            _ => NodeKind::Other,
        }
    }

    /// Whether the node's name is its string content rather than a class.
    pub fn is_string(self) -> bool {
        matches!(
            self,
            NodeKind::String | NodeKind::ConsString | NodeKind::SlicedString
        )
    }
}

/// The edge types of V8, by their meta names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EdgeKind {
    /// A variable of a closure's context.
    Context,
    /// An array element, named by index.
    Element,
    /// A named property.
    Property,
    /// An engine field (a Map's `table`, a closure's `context`).
    Internal,
    /// An engine reference named by index.
    Hidden,
    /// A shortcut the engine adds for display (from the root to the globals).
    Shortcut,
    /// Keeps nothing alive.
    Weak,
    /// A name this reader does not know, or a number beyond the meta's list
    /// ([`Snapshot::edge_type_index`] keeps it). Named like a property.
    Other,
}

impl EdgeKind {
    fn from_name(s: &str) -> EdgeKind {
        match s {
            "context" => EdgeKind::Context,
            "element" => EdgeKind::Element,
            "property" => EdgeKind::Property,
            "internal" => EdgeKind::Internal,
            "hidden" => EdgeKind::Hidden,
            "shortcut" => EdgeKind::Shortcut,
            "weak" => EdgeKind::Weak,
            _ => EdgeKind::Other,
        }
    }

    /// Element and hidden edges carry an index, the others a string.
    fn is_indexed(self) -> bool {
        matches!(self, EdgeKind::Element | EdgeKind::Hidden)
    }
}

/// What to read. Earlier snapshots of a comparison need only ids, classes
/// and sizes; skipping their edges saves most of the time and memory.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Read the edges too; without them the graph has nodes and self sizes only.
    pub edges: bool,
}

/// A snapshot in compact arrays: per node a kind, a name, an id and (in the
/// graph) a self size; per edge a kind and (in the graph) a target and a label,
/// the name's string index or the element index.
pub struct Snapshot {
    graph: Graph,
    /// Per node its type number as written (saturated at 255), read through `types`.
    node_type: Vec<u8>,
    types: TypeTable<NodeKind>,
    name: Vec<u32>,
    id: Ids,
    /// Present when the meta has `detachedness`: 2 is detached (DOM).
    detached: Option<Vec<u8>>,
    edge_type: Vec<u8>,
    edge_types: TypeTable<EdgeKind>,
    strings: Strings,
    /// Whether edges were read.
    pub has_edges: bool,
    /// Edges after the last one the nodes' `edge_count` fields account for
    /// (Julia's writer leaves some): not part of the graph.
    pub surplus_edges: u64,
    /// Edges of the transient roots (the stack, handle scopes): a path
    /// through them says "in use right now", which hides the real holder.
    transient: Vec<std::ops::Range<usize>>,
}

/// The meta's type names, by type number, for every number a byte can hold:
/// numbers the meta does not list map to `Other` and read as `(unknown)`.
struct TypeTable<K> {
    kind: [K; 256],
    /// DevTools' class name for a type: `(` name `)`.
    label: Vec<String>,
}

impl<K: Copy> TypeTable<K> {
    fn new(names: &[String], other: K, of: impl Fn(&str) -> K) -> Self {
        let mut kind = [other; 256];
        for (k, n) in kind.iter_mut().zip(names) {
            *k = of(n);
        }
        let label = names.iter().take(255).map(|n| format!("({n})")).collect();
        TypeTable { kind, label }
    }

    fn label(&self, t: u8) -> &str {
        self.label
            .get(t as usize)
            .map_or("(unknown)", String::as_str)
    }
}

/// Object ids: V8 writes 32-bit ids, other writers (Julia) addresses. The
/// narrow form costs half the memory; the first wide id widens the lot.
enum Ids {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Ids {
    #[inline]
    fn push(&mut self, v: u64) {
        match self {
            Ids::Narrow(ids) => match u32::try_from(v) {
                Ok(v) => ids.push(v),
                Err(_) => {
                    let mut wide: Vec<u64> = Vec::with_capacity(ids.capacity());
                    wide.extend(ids.iter().map(|&i| u64::from(i)));
                    wide.push(v);
                    *self = Ids::Wide(wide);
                }
            },
            Ids::Wide(ids) => ids.push(v),
        }
    }

    fn get(&self, n: usize) -> u64 {
        match self {
            Ids::Narrow(ids) => u64::from(ids[n]),
            Ids::Wide(ids) => ids[n],
        }
    }
}

/// The string table, holding only the strings a report can show (class,
/// property and variable names), not the contents of string objects.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    /// `ends[i]` is where string `i` ends in `bytes`.
    ends: Vec<u64>,
}

impl Strings {
    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        if i >= self.ends.len() {
            return "";
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        // Every stored string was made valid UTF-8 by the scanner.
        std::str::from_utf8(&self.bytes[start..self.ends[i] as usize]).unwrap_or("")
    }
}

/// The root node: V8 writes the synthetic root first.
pub const ROOT: u32 = 0;

impl Snapshot {
    /// Nodes, self sizes and (if read, see [`ReadOptions`]) edges, for
    /// dominators and retainer paths; labels are indices that [`Snapshot::edge_name`] spells.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
    /// Nodes, the synthetic root ([`ROOT`]) included.
    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }
    /// The node's type, as the meta names it.
    pub fn kind(&self, n: u32) -> NodeKind {
        self.types.kind[self.node_type[n as usize] as usize]
    }
    /// The node's type number as written (255 stands for 255 and above):
    /// for a type the meta does not list, the only thing known about it.
    pub fn type_index(&self, n: u32) -> u8 {
        self.node_type[n as usize]
    }
    /// The node's raw name: a constructor, a function, or `system / …`.
    /// Empty for strings, whose content is not kept.
    pub fn name(&self, n: u32) -> &str {
        self.strings.get(self.name[n as usize])
    }
    /// The node's name as an index into the string table: equal indices are
    /// equal names, which lets callers group without hashing strings.
    pub fn name_index(&self, n: u32) -> u32 {
        self.name[n as usize]
    }
    /// The object id, stable for the lifetime of the process.
    pub fn id(&self, n: u32) -> u64 {
        self.id.get(n as usize)
    }
    /// The bytes of the node itself, not of what it retains.
    pub fn self_size(&self, n: u32) -> u64 {
        self.graph.self_size(n)
    }
    /// True for DOM nodes V8 marked as detached from their document.
    pub fn is_detached(&self, n: u32) -> bool {
        self.detached.as_ref().is_some_and(|d| d[n as usize] == 2)
    }

    /// The class the node is grouped under, as DevTools' Summary view
    /// groups: objects by constructor name, everything else by kind.
    pub fn class_name(&self, n: u32) -> &str {
        match self.kind(n) {
            NodeKind::Object | NodeKind::Native => {
                let s = self.name(n);
                if s.is_empty() {
                    "(object)"
                } else {
                    s
                }
            }
            NodeKind::Hidden => "(system)",
            NodeKind::Array => "(array)",
            NodeKind::String => "(string)",
            NodeKind::ConsString => "(concatenated string)",
            NodeKind::SlicedString => "(sliced string)",
            NodeKind::Code => "(compiled code)",
            NodeKind::Closure => "(closure)",
            NodeKind::Regexp => "(regexp)",
            NodeKind::Number => "(number)",
            NodeKind::Synthetic => "(synthetic)",
            NodeKind::Symbol => "(symbol)",
            NodeKind::Bigint => "(bigint)",
            NodeKind::ObjectShape => "(object shape)",
            NodeKind::Other => self.types.label(self.type_index(n)),
        }
    }

    /// The node as a path shows it: the class, and a closure's function name.
    pub fn describe(&self, n: u32) -> String {
        match self.kind(n) {
            NodeKind::Closure => match self.name(n) {
                "" => "(closure) (anonymous)".into(),
                f => format!("(closure) {f}"),
            },
            NodeKind::Synthetic | NodeKind::Hidden | NodeKind::Array
                if !self.name(n).is_empty() =>
            {
                self.name(n).to_string()
            }
            _ => self.class_name(n).to_string(),
        }
    }

    /// The edge's type, as the meta names it; decides how its label reads
    /// and whether it keeps its target alive.
    pub fn edge_kind(&self, e: usize) -> EdgeKind {
        self.edge_types.kind[self.edge_type[e] as usize]
    }
    /// The edge's type number as written (saturated at 255).
    pub fn edge_type_index(&self, e: usize) -> u8 {
        self.edge_type[e]
    }

    /// The edge's name: a property or variable name, or `[i]` for an index.
    pub fn edge_name(&self, e: usize) -> String {
        let l = self.graph.edge_label(e);
        if self.edge_kind(e).is_indexed() {
            format!("[{l}]")
        } else {
            format!(".{}", self.strings.get(l))
        }
    }

    /// The edge's name when it is a string (property, variable, field).
    pub fn edge_str(&self, e: usize) -> Option<&str> {
        (!self.edge_kind(e).is_indexed()).then(|| self.strings.get(self.graph.edge_label(e)))
    }

    /// Whether an edge keeps its target alive, as DevTools decides for
    /// dominators: weak edges never do, and shortcuts only from the root,
    /// where they mark the global objects.
    pub fn keeps_alive(&self, e: usize) -> bool {
        match self.edge_kind(e) {
            EdgeKind::Weak => false,
            EdgeKind::Shortcut => e < self.graph.edge_range(ROOT).end,
            _ => true,
        }
    }

    /// The cost of an edge in a retainer path: the edges a person reads
    /// (properties, elements, closure variables) are cheap, engine internals
    /// dearer, weak edges are never followed. Every edge costs at least 1 so
    /// that shorter paths still win.
    pub fn path_cost(&self, e: usize) -> Option<u8> {
        if !self.keeps_alive(e) {
            return None;
        }
        if self.transient.iter().any(|r| r.contains(&e)) {
            return Some(40);
        }
        Some(match self.edge_kind(e) {
            EdgeKind::Property | EdgeKind::Element | EdgeKind::Context | EdgeKind::Shortcut => 2,
            EdgeKind::Internal => 3,
            _ => 5,
        })
    }
}

/// The fields of `snapshot` that the reader needs.
#[derive(Deserialize)]
struct Head {
    meta: Option<Meta>,
    #[serde(default)]
    node_count: Option<u64>,
    #[serde(default)]
    edge_count: Option<u64>,
}

#[derive(Deserialize)]
struct Meta {
    node_fields: Option<Vec<String>>,
    node_types: Option<Vec<serde_json::Value>>,
    edge_fields: Option<Vec<String>>,
    edge_types: Option<Vec<serde_json::Value>>,
}

/// Positions of the fields in one node or edge record.
struct Layout {
    nf: usize,
    n_type: usize,
    n_name: usize,
    n_id: usize,
    n_size: usize,
    n_edges: usize,
    n_detached: Option<usize>,
    node_types: TypeTable<NodeKind>,
    ef: usize,
    e_type: usize,
    e_name: usize,
    e_to: usize,
    edge_types: TypeTable<EdgeKind>,
    node_count: u64,
    edge_count: u64,
}

fn parse_head(raw: &[u8], offset: u64) -> Result<Layout, Error> {
    let bad = |m: String| Error::Meta { offset, message: m };
    let head: Head = serde_json::from_slice(raw).map_err(|e| bad(e.to_string()))?;
    let meta = head.meta.ok_or_else(|| bad("no \"meta\" object".into()))?;
    let nfields = meta
        .node_fields
        .ok_or_else(|| bad("no node_fields".into()))?;
    let efields = meta
        .edge_fields
        .ok_or_else(|| bad("no edge_fields".into()))?;
    let pos = |fields: &[String], name: &str, what: &str| {
        fields
            .iter()
            .position(|f| f == name)
            .ok_or_else(|| bad(format!("{what} has no \"{name}\" field")))
    };
    let types =
        |t: Option<Vec<serde_json::Value>>, at: usize, what: &str| -> Result<Vec<String>, Error> {
            t.as_ref()
                .and_then(|t| t.get(at))
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .ok_or_else(|| bad(format!("{what} do not list the type names")))
        };
    let n_type = pos(&nfields, "type", "node_fields")?;
    let e_type = pos(&efields, "type", "edge_fields")?;
    let node_types = TypeTable::new(
        &types(meta.node_types, n_type, "node_types")?,
        NodeKind::Other,
        NodeKind::from_name,
    );
    let edge_types = TypeTable::new(
        &types(meta.edge_types, e_type, "edge_types")?,
        EdgeKind::Other,
        EdgeKind::from_name,
    );
    Ok(Layout {
        nf: nfields.len(),
        n_type,
        n_name: pos(&nfields, "name", "node_fields")?,
        n_id: pos(&nfields, "id", "node_fields")?,
        n_size: pos(&nfields, "self_size", "node_fields")?,
        n_edges: pos(&nfields, "edge_count", "node_fields")?,
        n_detached: nfields.iter().position(|f| f == "detachedness"),
        node_types,
        ef: efields.len(),
        e_type,
        e_name: pos(&efields, "name_or_index", "edge_fields")?,
        e_to: pos(&efields, "to_node", "edge_fields")?,
        edge_types,
        node_count: head.node_count.unwrap_or(0),
        edge_count: head.edge_count.unwrap_or(0),
    })
}

/// A growable bit set of the string indices worth keeping.
#[derive(Default)]
struct Wanted(Vec<u64>);

impl Wanted {
    fn set(&mut self, i: u32) {
        let w = i as usize / 64;
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// Called with (bytes read, file size) every few megabytes.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Opens a snapshot file (plain or gzip).
pub fn open(path: &Path, opts: ReadOptions, progress: Progress<'_>) -> Result<Snapshot, Error> {
    let io = |source| Error::Io { offset: 0, source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut magic = [0u8; 2];
    let gz = f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(f);
    let f = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(io)?);
    let counted = Counting {
        inner: f,
        read: 0,
        size,
        next_report: 0,
        progress,
    };
    if gz {
        read(flate2::read::MultiGzDecoder::new(counted), opts)
    } else {
        read_sized(counted, opts, Some(size))
    }
}

/// Parses a snapshot held in memory (tests, fuzzing).
pub fn parse(bytes: &[u8], opts: ReadOptions) -> Result<Snapshot, Error> {
    read_sized(bytes, opts, Some(bytes.len() as u64))
}

/// Counts the file's bytes as they are read, for the progress bar.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    size: u64,
    next_report: u64,
    progress: Progress<'a>,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read >= self.next_report {
            (self.progress)(self.read, self.size);
            self.next_report = self.read + (8 << 20);
        }
        Ok(n)
    }
}

/// Reads a snapshot from any reader.
pub fn read<R: Read>(src: R, opts: ReadOptions) -> Result<Snapshot, Error> {
    read_sized(src, opts, None)
}

/// The room to reserve for `count` records of `fields` numbers each, as the
/// meta announces them: no more than `input` bytes can hold (each number
/// takes at least two, a digit and a comma), so a header that lies about its
/// counts costs nothing up front. The arrays still grow to what is there.
fn reserve_hint(count: u64, fields: usize, input: Option<u64>, cap: u64) -> usize {
    let fit = input.map_or(u64::MAX, |b| b / (2 * fields.max(1) as u64));
    usize::try_from(count.min(fit).min(cap)).unwrap_or(0)
}

/// [`read`], knowing the input's size in bytes when it is not compressed.
fn read_sized<R: Read>(src: R, opts: ReadOptions, input: Option<u64>) -> Result<Snapshot, Error> {
    let mut sc = Scanner::new(src);
    match sc.peek_token()? {
        Some(b'{') => {}
        Some(_) => return Err(sc.error("not a V8 heap snapshot: expected a JSON object")),
        None => return Err(sc.error("the file is empty")),
    }
    sc.expect(b'{')?;
    let mut layout: Option<Layout> = None;
    let mut builder: Option<GraphBuilder> = None;
    let mut node_type = Vec::new();
    let mut name = Vec::new();
    let mut id = Ids::Narrow(Vec::new());
    let mut detached: Option<Vec<u8>> = None;
    let mut edge_counts: Vec<u32> = Vec::new();
    let mut edge_type = Vec::new();
    let mut surplus_edges = 0;
    let mut wanted = Wanted::default();
    let mut strings = None;
    let mut seen_nodes = false;
    let mut seen_edges = false;
    let mut key = Vec::new();
    if sc.peek_token()? != Some(b'}') {
        loop {
            key.clear();
            sc.string_into(&mut key)?;
            sc.expect(b':')?;
            let at = sc.offset();
            match key.as_slice() {
                b"snapshot" => {
                    let mut raw = Vec::new();
                    sc.skip_value(Some(&mut raw))?;
                    let l = parse_head(&raw, at)?;
                    let hint = reserve_hint(l.node_count, l.nf, input, 1 << 28);
                    let ehint = if opts.edges {
                        reserve_hint(l.edge_count, l.ef, input, 1 << 30)
                    } else {
                        0
                    };
                    builder = Some(GraphBuilder::new(hint, ehint));
                    layout = Some(l);
                }
                b"nodes" => {
                    let (Some(l), Some(b)) = (&layout, &mut builder) else {
                        return Err(Error::Meta {
                            offset: at,
                            message: "\"nodes\" come before \"snapshot\" and its meta".into(),
                        });
                    };
                    read_nodes(
                        &mut sc,
                        l,
                        b,
                        &mut node_type,
                        &mut name,
                        &mut id,
                        &mut detached,
                        &mut edge_counts,
                        &mut wanted,
                    )?;
                    seen_nodes = true;
                }
                b"edges" if opts.edges => {
                    let (Some(l), Some(b)) = (&layout, &mut builder) else {
                        return Err(Error::Meta {
                            offset: at,
                            message: "\"edges\" come before \"snapshot\" and its meta".into(),
                        });
                    };
                    if !seen_nodes {
                        return Err(sc.error("\"edges\" come before \"nodes\""));
                    }
                    surplus_edges =
                        read_edges(&mut sc, l, b, &edge_counts, &mut edge_type, &mut wanted)?;
                    seen_edges = true;
                }
                b"strings" => {
                    // V8 writes strings last; were they first, keep them all.
                    strings = Some(read_strings(&mut sc, (seen_nodes).then_some(&wanted))?);
                }
                _ => sc.skip_value(None)?,
            }
            if !sc.next_item(b'}')? {
                break;
            }
        }
    } else {
        sc.expect(b'}')?;
    }
    let end = sc.offset();
    let Some(builder) = builder else {
        return Err(Error::Meta {
            offset: 0,
            message: "no \"snapshot\" object: this JSON is not a V8 heap snapshot".into(),
        });
    };
    if !seen_nodes {
        return Err(Error::Syntax {
            offset: end,
            message: "the snapshot has no \"nodes\" array".into(),
        });
    }
    if opts.edges && !seen_edges {
        return Err(Error::Syntax {
            offset: end,
            message: "the snapshot has no \"edges\" array".into(),
        });
    }
    let Some(strings) = strings else {
        return Err(Error::Syntax {
            offset: end,
            message: "the snapshot has no \"strings\" array".into(),
        });
    };
    if node_type.is_empty() {
        return Err(Error::Syntax {
            offset: end,
            message: "the snapshot has no nodes".into(),
        });
    }
    let max_name = name.iter().copied().max().unwrap_or(0) as usize;
    if max_name >= strings.ends.len() {
        return Err(Error::Reference {
            offset: end,
            message: format!(
                "a node name refers to string {max_name}, but there are {} strings",
                strings.ends.len()
            ),
        });
    }
    let graph = builder.build()?;
    let Layout {
        node_types: types,
        edge_types,
        ..
    } = layout.expect("set with the builder");
    let transient = (0..node_type.len() as u32)
        .filter(|&n| {
            types.kind[node_type[n as usize] as usize] == NodeKind::Synthetic
                && matches!(
                    strings.get(name[n as usize]),
                    "(Stack roots)" | "(Handle scope)"
                )
        })
        .map(|n| graph.edge_range(n))
        .collect();
    Ok(Snapshot {
        transient,
        graph,
        node_type,
        types,
        name,
        id,
        detached,
        edge_type,
        edge_types,
        strings,
        has_edges: opts.edges,
        surplus_edges,
    })
}

#[allow(clippy::too_many_arguments)]
fn read_nodes<R: Read>(
    sc: &mut Scanner<R>,
    l: &Layout,
    b: &mut GraphBuilder,
    node_type: &mut Vec<u8>,
    name: &mut Vec<u32>,
    id: &mut Ids,
    detached: &mut Option<Vec<u8>>,
    edge_counts: &mut Vec<u32>,
    wanted: &mut Wanted,
) -> Result<(), Error> {
    let hint = usize::try_from(l.node_count.min(1 << 28)).unwrap_or(0);
    node_type.reserve(hint);
    name.reserve(hint);
    if let Ids::Narrow(ids) = id {
        ids.reserve(hint);
    }
    // String nodes are named by their content, which no report shows.
    let is_string = l.node_types.kind.map(NodeKind::is_string);
    edge_counts.reserve(hint);
    let mut det = l.n_detached.map(|_| Vec::with_capacity(hint));
    let mut rec = vec![0u64; l.nf];
    let mut f = 0;
    sc.uints(|v, at| {
        rec[f] = v;
        // Ids may be addresses, sizes are 64-bit, the rest is ignored or
        // saturated; names and edge counts index 32-bit tables.
        if v > u64::from(u32::MAX) && (f == l.n_name || f == l.n_edges) {
            return Err(Error::Syntax {
                offset: at,
                message: format!("node field value {v} is out of range"),
            });
        }
        f += 1;
        if f == l.nf {
            f = 0;
            let t = rec[l.n_type].min(255) as u8;
            node_type.push(t);
            name.push(rec[l.n_name] as u32);
            if !is_string[t as usize] {
                wanted.set(rec[l.n_name] as u32);
            }
            id.push(rec[l.n_id]);
            edge_counts.push(rec[l.n_edges] as u32);
            if let (Some(d), Some(i)) = (det.as_mut(), l.n_detached) {
                d.push(rec[i].min(255) as u8);
            }
            b.add_node(rec[l.n_size]);
        }
        Ok(())
    })?;
    if f != 0 {
        return Err(sc.error(format!(
            "the nodes array ends inside a node: its length is not a multiple of {} fields",
            l.nf
        )));
    }
    *detached = det;
    Ok(())
}

fn read_edges<R: Read>(
    sc: &mut Scanner<R>,
    l: &Layout,
    b: &mut GraphBuilder,
    edge_counts: &[u32],
    edge_type: &mut Vec<u8>,
    wanted: &mut Wanted,
) -> Result<u64, Error> {
    let n = edge_counts.len() as u64;
    let total: u64 = edge_counts.iter().map(|&c| u64::from(c)).sum();
    edge_type.reserve(usize::try_from(total.min(1 << 30)).unwrap_or(0));
    let mut node = 0usize;
    let mut left = edge_counts.first().copied().unwrap_or(0);
    let mut rec = vec![0u64; l.ef];
    let mut rec_at = vec![0u64; l.ef];
    let mut done: u64 = 0;
    let mut surplus: u64 = 0;
    let mut f = 0;
    sc.uints(|v, at| {
        rec_at[f] = at;
        rec[f] = v;
        f += 1;
        if f == l.ef {
            f = 0;
            if done == total {
                // No node owns it: DevTools never visits such an edge either.
                surplus += 1;
                return Ok(());
            }
            // Some node ahead still owns an edge, since done < total.
            while left == 0 {
                node += 1;
                left = edge_counts[node];
            }
            left -= 1;
            let t = rec[l.e_type].min(255) as u8;
            let k = l.edge_types.kind[t as usize];
            let to = rec[l.e_to];
            let nf = l.nf as u64;
            if (to / nf) * nf != to || to / nf >= n {
                return Err(Error::Reference {
                    offset: rec_at[l.e_to],
                    message: format!(
                        "edge {done} points to node array index {to}, which is not the start of one of the {n} nodes"
                    ),
                });
            }
            let label = rec[l.e_name];
            if label > u64::from(u32::MAX) {
                return Err(Error::Syntax {
                    offset: rec_at[l.e_name],
                    message: format!("edge name {label} is out of range"),
                });
            }
            if !k.is_indexed() {
                wanted.set(label as u32);
            }
            edge_type.push(t);
            b.add_edge(node as u32, (to / l.nf as u64) as u32, label as u32);
            done += 1;
        }
        Ok(())
    })?;
    if f != 0 {
        return Err(sc.error(format!(
            "the edges array ends inside an edge: its length is not a multiple of {} fields",
            l.ef
        )));
    }
    if done != total {
        return Err(sc.error(format!(
            "the nodes announce {total} edges but the edges array holds {done}"
        )));
    }
    Ok(surplus)
}

fn read_strings<R: Read>(sc: &mut Scanner<R>, wanted: Option<&Wanted>) -> Result<Strings, Error> {
    let mut s = Strings::default();
    let mut scratch = Vec::new();
    if sc.open_array()? {
        loop {
            let i = s.ends.len();
            if wanted.is_none_or(|w| w.has(i)) {
                sc.string_into(&mut s.bytes)?;
            } else {
                // Contents of string objects: unescaped and dropped.
                scratch.clear();
                sc.string_into(&mut scratch)?;
            }
            s.ends.push(s.bytes.len() as u64);
            if !sc.next_item(b']')? {
                break;
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the v8 fuzz target: a 610-byte snapshot whose meta announced
    /// 44,775,375,728 edges made the reader reserve 4 GiB per edge array before
    /// reading one. The reservation is now bounded by what the input can hold.
    #[test]
    fn a_header_that_lies_about_its_counts_reserves_little() {
        assert_eq!(reserve_hint(44_775_375_728, 3, Some(610), 1 << 30), 101);
        assert_eq!(reserve_hint(5, 3, Some(610), 1 << 30), 5);
        assert_eq!(reserve_hint(u64::MAX, 3, None, 1 << 30), 1 << 30);
        let lie =
            br#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count"],
            "node_types":[["hidden"],"string","number","number","number"],
            "edge_fields":["type","name_or_index","to_node"],
            "edge_types":[["element"],"string_or_number","node"]},
            "node_count":1,"edge_count":44775375728},
            "nodes":[0,0,1,8,0],"edges":[],"strings":[""]}"#;
        let s = parse(lie, ReadOptions { edges: true }).expect("one node, no edge");
        assert_eq!(s.graph.node_count(), 1);
    }
}
