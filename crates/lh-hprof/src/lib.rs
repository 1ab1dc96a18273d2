//! A streaming reader of JVM heap dumps (HPROF 1.0.1, 1.0.2 and 1.0.3; 4- and
//! 8-byte identifiers; HEAP_DUMP and HEAP_DUMP_SEGMENT; plain or gzip as
//! `jcmd PID GC.heap_dump -gz=1` writes them).
//!
//! The dump is never held in memory as records: [`histogram`] is one pass that
//! keeps a counter per class, and [`open`] is two passes that put every object
//! straight into flat integer arrays (see `graph.rs`). Every error names the
//! byte offset and the record it happened in, because a dump that fails to read
//! is usually truncated or corrupt and the user needs to know where.

mod graph;
mod ids;
mod input;
mod names;
mod walk;

pub use graph::{open, Class, Heap, Label, NodeKind};
pub use names::java_name;
pub use walk::Header;

use input::Input;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::Path;
use walk::{ClassDump, Visitor};

/// Why a dump could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read; classified as the I/O error is.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a heap dump at all.
    #[error("not an HPROF heap dump: {0}")]
    NotHprof(String),
    /// A heap dump that breaks the format at `offset`.
    #[error("byte {offset}, {record}: {message}")]
    Format {
        /// Where in the (decompressed) dump the broken record starts.
        offset: u64,
        /// The record's name as the specification spells it (`HEAP_DUMP_SEGMENT`, `INSTANCE_DUMP`).
        record: String,
        /// What is wrong with it.
        message: String,
    },
    /// The references do not form a graph (a bug, or a dump edited mid-read).
    #[error("the object graph is inconsistent: {0}")]
    Graph(lh_graph::GraphError),
    /// The object graph would not fit in the memory this process may use.
    #[error("{0}")]
    TooBig(String),
}

impl lh_model::Classify for Error {
    /// A dump too large for this machine's memory is sound: the machine has
    /// to grow (or `--histogram-only` be used), so it is the environment's.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::Io(e) => lh_model::Classify::class(e),
            Error::TooBig(_) => lh_model::ErrorClass::Environment,
            _ => lh_model::ErrorClass::Usage,
        }
    }
}

/// The kinds of GC root a dump names; each labels the root's edge in paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RootKind {
    /// `ROOT UNKNOWN` (0xFF).
    Unknown,
    /// `ROOT JNI GLOBAL` (0x01): a global reference held by native code.
    JniGlobal,
    /// `ROOT JNI LOCAL` (0x02): a local reference of a native frame.
    JniLocal,
    /// `ROOT JAVA FRAME` (0x03): a local variable of a live Java frame.
    JavaFrame,
    /// `ROOT NATIVE STACK` (0x04).
    NativeStack,
    /// `ROOT STICKY CLASS` (0x05): a class the VM never unloads.
    SystemClass,
    /// `ROOT THREAD BLOCK` (0x06).
    ThreadBlock,
    /// `ROOT MONITOR USED` (0x07): an object whose monitor is held.
    MonitorUsed,
    /// `ROOT THREAD OBJECT` (0x08): a live thread's `java.lang.Thread`.
    Thread,
    /// Android's `ROOT INTERNED STRING` (0x89).
    InternedString,
    /// Android's `ROOT FINALIZING` (0x8A).
    Finalizing,
    /// Android's `ROOT DEBUGGER` (0x8B).
    Debugger,
    /// Android's `ROOT REFERENCE CLEANUP` (0x8C).
    ReferenceCleanup,
    /// Android's `ROOT VM INTERNAL` (0x8D).
    VmInternal,
    /// Android's `ROOT JNI MONITOR` (0x8E).
    JniMonitor,
}

impl RootKind {
    /// Every kind in declaration order: a kind's index here is its
    /// discriminant, which graph edge labels store in place of a name.
    pub const ALL: [RootKind; 15] = [
        RootKind::Unknown,
        RootKind::JniGlobal,
        RootKind::JniLocal,
        RootKind::JavaFrame,
        RootKind::NativeStack,
        RootKind::SystemClass,
        RootKind::ThreadBlock,
        RootKind::MonitorUsed,
        RootKind::Thread,
        RootKind::InternedString,
        RootKind::Finalizing,
        RootKind::Debugger,
        RootKind::ReferenceCleanup,
        RootKind::VmInternal,
        RootKind::JniMonitor,
    ];

    /// How MAT and VisualVM call this root kind.
    pub fn name(self) -> &'static str {
        match self {
            RootKind::Unknown => "unknown root",
            RootKind::JniGlobal => "JNI global",
            RootKind::JniLocal => "JNI local",
            RootKind::JavaFrame => "Java local",
            RootKind::NativeStack => "native stack",
            RootKind::SystemClass => "system class",
            RootKind::ThreadBlock => "thread block",
            RootKind::MonitorUsed => "busy monitor",
            RootKind::Thread => "thread",
            RootKind::InternedString => "interned string",
            RootKind::Finalizing => "finalizing",
            RootKind::Debugger => "debugger",
            RootKind::ReferenceCleanup => "reference cleanup",
            RootKind::VmInternal => "VM internal",
            RootKind::JniMonitor => "JNI monitor",
        }
    }
}

/// Record names as the HPROF specification spells them, for error messages.
pub(crate) fn tag_name(tag: u8) -> String {
    let n = match tag {
        0x01 => "UTF8",
        0x02 => "LOAD_CLASS",
        0x03 => "UNLOAD_CLASS",
        0x04 => "STACK_FRAME",
        0x05 => "STACK_TRACE",
        0x06 => "ALLOC_SITES",
        0x07 => "HEAP_SUMMARY",
        0x0A => "START_THREAD",
        0x0B => "END_THREAD",
        0x0C => "HEAP_DUMP",
        0x0D => "CPU_SAMPLES",
        0x0E => "CONTROL_SETTINGS",
        0x1C => "HEAP_DUMP_SEGMENT",
        0x2C => "HEAP_DUMP_END",
        _ => "unknown",
    };
    format!("{n} (tag 0x{tag:02x})")
}

pub(crate) fn sub_name(tag: u8) -> String {
    let n = match tag {
        0xFF => "ROOT_UNKNOWN",
        0x01 => "ROOT_JNI_GLOBAL",
        0x02 => "ROOT_JNI_LOCAL",
        0x03 => "ROOT_JAVA_FRAME",
        0x04 => "ROOT_NATIVE_STACK",
        0x05 => "ROOT_STICKY_CLASS",
        0x06 => "ROOT_THREAD_BLOCK",
        0x07 => "ROOT_MONITOR_USED",
        0x08 => "ROOT_THREAD_OBJECT",
        0x20 => "CLASS_DUMP",
        0x21 => "INSTANCE_DUMP",
        0x22 => "OBJECT_ARRAY_DUMP",
        0x23 => "PRIMITIVE_ARRAY_DUMP",
        0x89 => "ROOT_INTERNED_STRING",
        0x8A => "ROOT_FINALIZING",
        0x8B => "ROOT_DEBUGGER",
        0x8C => "ROOT_REFERENCE_CLEANUP",
        0x8D => "ROOT_VM_INTERNAL",
        0x8E => "ROOT_JNI_MONITOR",
        0x90 => "UNREACHABLE",
        0xC3 => "PRIMITIVE_ARRAY_NODATA",
        0xFE => "HEAP_DUMP_INFO",
        _ => "unknown",
    };
    format!("{n} (tag 0x{tag:02x})")
}

/// Hashes object ids, which are already well spread addresses: one multiply,
/// several times faster than SipHash on the per-object lookups of a pass.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A dump opened for one pass: reader, header and file size.
pub(crate) type Opened = (Input<Box<dyn Read>>, Header, u64);

/// Opens a dump, plain or gzip, positioned after its header. `counter` is
/// advanced with the raw (compressed) bytes read, for progress.
pub(crate) fn source(
    path: &Path,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Opened, Error> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    let counted = Counting {
        inner: file,
        n: counter,
    };
    let gzip = n == 2 && magic == [0x1f, 0x8b];
    let src: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 20, counted),
        ))
    } else {
        Box::new(counted)
    };
    let mut inp = Input::new(src);
    inp.gzip = gzip;
    let h = walk::header(&mut inp)?;
    Ok((inp, h, size))
}

/// Opens bytes `start..end` (to the end of the file if `end` is `None`) of
/// an uncompressed dump, for one part of a pass that threads share. `start`
/// must be a record boundary that an earlier pass found.
pub(crate) fn source_part(
    path: &Path,
    start: u64,
    end: Option<u64>,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<Input<Box<dyn Read>>, Error> {
    use std::io::Seek;
    let mut file = std::fs::File::open(path)?;
    file.seek(std::io::SeekFrom::Start(start))?;
    let counted = Counting {
        inner: file.take(end.map_or(u64::MAX, |e| e - start)),
        n: counter,
    };
    Ok(Input::starting_at(Box::new(counted), start))
}

/// Offsets of records of an uncompressed dump at which it can be cut into
/// parts of about `every` bytes, from `first` (the first record) on: a skim
/// over the record headers, whose lengths say where the next one starts.
/// The skim stops quietly at anything malformed; the passes report it.
pub(crate) fn record_starts(path: &Path, first: u64, every: u64) -> Result<Vec<u64>, Error> {
    use std::io::{BufReader, Seek, SeekFrom};
    let mut f = BufReader::with_capacity(64 << 10, std::fs::File::open(path)?);
    f.seek(SeekFrom::Start(first))?;
    let mut starts = vec![first];
    let (mut at, every) = (first, every.max(1));
    let mut head = [0u8; 9];
    while f.read_exact(&mut head).is_ok() {
        let len = u64::from(u32::from_be_bytes([head[5], head[6], head[7], head[8]]));
        at += 9 + len;
        if f.seek_relative(len as i64).is_err() {
            break;
        }
        if at - starts[starts.len() - 1] >= every {
            starts.push(at);
        }
    }
    // A part cut at the very end would be empty. The first part is kept even
    // when it is (a dump of a header only): the passes expect one at least.
    let size = f.get_ref().metadata()?.len();
    starts.retain(|&s| s == first || s < size);
    Ok(starts)
}

/// Counts the bytes read from the file, whatever decompresses them.
struct Counting<R> {
    inner: R,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n
            .fetch_add(k as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(k)
    }
}

/// One row of the class histogram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassStat {
    /// Java source form: `java.util.HashMap$Node`, `byte[]`, `java.lang.Object[]`.
    pub name: String,
    /// Instances (or arrays) of the class.
    pub count: u64,
    /// Sum of shallow sizes, see [`shallow sizes`](crate#shallow-sizes).
    pub shallow: u64,
}

/// The class histogram of one dump.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// The dump's version and identifier size.
    pub header: Header,
    /// One row per class name (classes of one name from several loaders are summed).
    pub classes: Vec<ClassStat>,
}

/// Called with (bytes read, bytes in all) as a dump is read.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// The class histogram: instances and arrays counted per class, in one pass.
///
/// # Shallow sizes
///
/// A dump does not record how large an object was in memory, so both tools
/// estimate it the same way, and leakhound's figures equal hprof-slurp's:
/// an instance is a 16-byte header (8 with 4-byte ids) plus its fields,
/// class by class up the superclass chain (each level rounded up to the id
/// size), rounded up to 8; an array is a 16-byte header (12 with 4-byte ids)
/// plus its elements, rounded up to 8. With compressed oops (the default below
/// 32 GB of heap) the JVM's real objects are smaller, so these are upper bounds.
/// Class objects are nodes of the graph but not rows of the histogram, as in
/// hprof-slurp; their shallow size in the graph is the size of their statics.
pub fn histogram(path: &Path, progress: Progress<'_>) -> Result<Histogram, Error> {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (mut inp, header, size) = source(path, counter.clone())?;
    let mut v = HistogramPass {
        id_size: header.id_size,
        ..Default::default()
    };
    let mut tick = || progress(counter.load(std::sync::atomic::Ordering::Relaxed), size);
    walk::walk(&mut inp, header, &mut v, &mut tick)?;
    progress(size, size);
    Ok(Histogram {
        header,
        classes: v.finish(),
    })
}

/// Strings by id, in one arena: a dump has tens of thousands of them, and one
/// allocation each would be most of the histogram pass's allocations.
#[derive(Default)]
pub(crate) struct Strings {
    arena: Vec<u8>,
    at: IdMap<(usize, u32)>,
}

impl Strings {
    pub fn add(&mut self, id: u64, text: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(text);
        self.at.insert(id, (start, text.len() as u32));
    }

    /// Adds the strings of a later part of the dump (a later id wins, as
    /// in [`Strings::add`]).
    pub fn append(&mut self, other: Strings) {
        for (id, (start, len)) in other.at {
            self.add(id, &other.arena[start..start + len as usize]);
        }
    }

    pub fn get(&self, id: u64) -> Option<&str> {
        self.at.get(&id).map(|&(s, n)| {
            std::str::from_utf8(&self.arena[s..s + n as usize]).unwrap_or("<invalid UTF-8>")
        })
    }
}

#[derive(Default)]
struct HistogramPass {
    id_size: u8,
    strings: Strings,
    class_names: IdMap<u64>,
    /// class id -> (super id, bytes of its own fields)
    layouts: IdMap<(u64, u32)>,
    instances: IdMap<u64>,
    /// The last class seen and its counter slot: consecutive objects often share a class.
    last: (u64, u64),
    obj_arrays: IdMap<(u64, u64)>,
    prim_arrays: [(u64, u64); 12],
}

impl Visitor for HistogramPass {
    fn utf8(&mut self, id: u64, text: &[u8]) {
        self.strings.add(id, text);
    }
    fn load_class(&mut self, class: u64, name: u64) {
        self.class_names.insert(class, name);
    }
    fn class_dump(&mut self, c: &ClassDump<'_>) -> Result<(), String> {
        let own: u32 = c
            .fields
            .iter()
            .map(|f| walk::type_size(f.1, self.id_size).unwrap_or(0))
            .sum();
        self.layouts.insert(c.id, (c.super_id, own));
        Ok(())
    }
    fn instance(&mut self, _id: u64, class: u64, _fields: &[u8]) -> Result<(), String> {
        if self.last.0 == class && self.last.1 > 0 {
            self.last.1 += 1;
            return Ok(());
        }
        self.flush_last();
        self.last = (class, 1);
        Ok(())
    }
    fn obj_array(&mut self, _id: u64, class: u64, elems: &[u8]) -> Result<(), String> {
        let n = (elems.len() / usize::from(self.id_size)) as u64;
        let e = self.obj_arrays.entry(class).or_default();
        e.0 += 1;
        e.1 += array_size(self.id_size, n * u64::from(self.id_size));
        Ok(())
    }
    fn prim_array(&mut self, _id: u64, ty: u8, len: u32) {
        let size = walk::type_size(ty, self.id_size).unwrap_or(0);
        let e = &mut self.prim_arrays[usize::from(ty)];
        e.0 += 1;
        e.1 += array_size(self.id_size, u64::from(len) * u64::from(size));
    }
}

/// An array's shallow size: header and elements, 8-aligned (as hprof-slurp).
pub(crate) fn array_size(id_size: u8, payload: u64) -> u64 {
    let header = if id_size == 8 { 16 } else { 12 };
    (header + payload).next_multiple_of(8)
}

/// An instance's shallow size from its class chain (as hprof-slurp).
pub(crate) fn instance_size(
    id_size: u8,
    class: u64,
    layouts: &dyn Fn(u64) -> Option<(u64, u32)>,
) -> u64 {
    let header = if id_size == 8 { 16 } else { 8 };
    // Sum up the chain from the top: each level is rounded up to the id size.
    // A class without a dump, and java.lang.Object, count as a bare header;
    // the depth cap stops a malformed cyclic chain.
    let mut chain = Vec::new();
    let mut c = class;
    while let Some((sup, own)) = layouts(c) {
        if sup == 0 || chain.len() > 256 {
            break;
        }
        chain.push(own);
        c = sup;
    }
    let mut size = header;
    for own in chain.iter().rev() {
        size = (size + u64::from(*own)).next_multiple_of(u64::from(id_size));
    }
    size.next_multiple_of(8)
}

impl HistogramPass {
    fn flush_last(&mut self) {
        if self.last.1 > 0 {
            *self.instances.entry(self.last.0).or_default() += self.last.1;
            self.last.1 = 0;
        }
    }

    fn name_of(&self, class: u64) -> String {
        match self
            .class_names
            .get(&class)
            .and_then(|n| self.strings.get(*n))
        {
            Some(n) => java_name(n),
            None => format!("<unknown class 0x{class:x}>"),
        }
    }

    fn finish(mut self) -> Vec<ClassStat> {
        self.flush_last();
        let mut rows: HashMap<String, (u64, u64)> = HashMap::new();
        let layouts = |c: u64| self.layouts.get(&c).copied();
        for (&class, &count) in &self.instances {
            let size = instance_size(self.id_size, class, &layouts);
            let e = rows.entry(self.name_of(class)).or_default();
            e.0 += count;
            e.1 += count * size;
        }
        for (&class, &(count, bytes)) in &self.obj_arrays {
            let mut name = self.name_of(class);
            if !name.ends_with("[]") {
                name.push_str("[]");
            }
            let e = rows.entry(name).or_default();
            e.0 += count;
            e.1 += bytes;
        }
        for (ty, &(count, bytes)) in self.prim_arrays.iter().enumerate() {
            if count > 0 {
                let e = rows
                    .entry(format!("{}[]", names::primitive(ty as u8)))
                    .or_default();
                e.0 += count;
                e.1 += bytes;
            }
        }
        let mut out: Vec<ClassStat> = rows
            .into_iter()
            .map(|(name, (count, shallow))| ClassStat {
                name,
                count,
                shallow,
            })
            .collect();
        out.sort_by(|a, b| b.shallow.cmp(&a.shallow).then_with(|| a.name.cmp(&b.name)));
        out
    }
}
