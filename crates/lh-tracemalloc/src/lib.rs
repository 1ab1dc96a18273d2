//! Python `tracemalloc` snapshots, read without running them.
//!
//! A snapshot is what `tracemalloc.take_snapshot()` returns, saved with
//! `Snapshot.dump` or `pickle.dump` (protocols 2 to 5), or written in the small
//! JSON format of docs/tracemalloc-json.md by leakhound's Python helper.
//! [`open`] reads either into compact arrays: each filename, frame and
//! traceback is stored once, and a trace is a size and a traceback index.
//! [`compare_to`] and [`group_by`] give the numbers and order of CPython's
//! `Snapshot.compare_to` and `Snapshot.statistics`.

mod compare;
mod json;
mod pickle;

pub use compare::{compare_to, group, Frame, Group, Key, KeyType, Stat, StatisticDiff};

use flate2::read::MultiGzDecoder;
use hashbrown::hash_table::{Entry, HashTable};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The helper's endpoint with a JSON summary of traced memory (the seed's
/// `/debug/memory`): `{"traced_bytes", "peak_bytes", "tracemalloc_bytes", "traceback_limit", "pid"}`.
pub const ENDPOINT_SUMMARY: &str = "/debug/memory";
/// The helper's endpoint that answers with the snapshot bytes: a pickle by
/// default, the JSON format with `?format=json`.
pub const ENDPOINT_SNAPSHOT: &str = "/debug/memory/snapshot";
/// The query that asks [`ENDPOINT_SNAPSHOT`] for the JSON format.
pub const QUERY_JSON: &str = "format=json";
/// The seed's original endpoint: it writes a pickle under /tmp on the target
/// and answers `{"snapshot": "/tmp/…"}`. A capture client then copies that file.
pub const ENDPOINT_SNAPSHOT_TO_FILE: &str = "/debug/memory/snapshot-file";

/// Why a snapshot could not be read. Pickle errors carry the byte offset in
/// the (decompressed) pickle where reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read; classified as the I/O error is.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A file of no bytes (or only whitespace): said so plainly, not as a
    /// parse error.
    #[error("the file is empty")]
    Empty,
    /// The file starts as gzip, but does not decompress: the file's fault,
    /// not the disk's, hence apart from `Io`.
    #[error("the gzip stream is truncated or corrupt ({0})")]
    Gzip(std::io::Error),
    /// A global other than the tracemalloc classes: loading it would import
    /// and possibly call it.
    #[error("refusing to load: pickle calls {0}")]
    Refused(String),
    /// A pickle protocol other than 2 to 5.
    #[error("unsupported pickle protocol: tracemalloc snapshots are read in protocols 2 to 5 (protocols 0 and 1 are text pickles from Python 2)")]
    Protocol,
    /// The pickle ends in the middle of an opcode's argument.
    #[error("the pickle is truncated (ends at byte {offset})")]
    Truncated {
        /// Its length: where the rest of the argument was expected.
        offset: u64,
    },
    /// A pickle that breaks the format at `offset`.
    #[error("corrupt pickle at byte {offset}: {message}")]
    Corrupt {
        /// The byte where the fault was seen.
        offset: u64,
        /// What is wrong with it.
        message: String,
    },
    /// A well-formed pickle or JSON document of something else.
    #[error("not a tracemalloc snapshot: {0}")]
    NotSnapshot(String),
    /// The helper's JSON format (docs/tracemalloc-json.md), broken.
    #[error("invalid tracemalloc JSON: {0}")]
    Json(String),
}

impl lh_model::Classify for Error {
    /// Everything but a failed read is the file's fault.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::Io(e) => lh_model::Classify::class(e),
            _ => lh_model::ErrorClass::Usage,
        }
    }
}

/// One snapshot in compact arrays. Frames of a traceback are kept in
/// tracemalloc's own order, most recent call first. Filenames, frames and
/// tracebacks are interned by content, so within one snapshot equal indices
/// mean equal keys. Traces are summed per traceback as they are read: every
/// grouping CPython offers is a function of the traceback, so nothing reads
/// a single trace again.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// `tracemalloc.get_traceback_limit()` when the snapshot was taken.
    pub traceback_limit: Option<i64>,
    filenames: Vec<Box<str>>,
    /// (filename index, line number).
    frames: Vec<(u32, i64)>,
    /// Traceback `i` is `tb_frames[tb_start[i]..tb_start[i + 1]]`.
    tb_start: Vec<u32>,
    tb_frames: Vec<u32>,
    /// Size and number of the traces of each traceback.
    per_tb: Vec<Stat>,
    /// Size and number of the objects allocated at each traceback that were
    /// cyclic garbage when the snapshot was taken: unreachable, held only
    /// by reference cycles. Only the helper's JSON snapshots carry it
    /// (docs/tracemalloc-json.md, `cycles`); `None` means not known.
    cycles: Option<Vec<Stat>>,
    traces: usize,
    total_size: i64,
}

impl Snapshot {
    /// Number of traces (memory blocks).
    pub fn len(&self) -> usize {
        self.traces
    }

    /// No traces: tracemalloc was started but nothing was allocated, or the
    /// snapshot was filtered down to nothing.
    pub fn is_empty(&self) -> bool {
        self.traces == 0
    }

    /// Bytes in all traces.
    pub fn total_size(&self) -> u64 {
        self.total_size as u64
    }

    /// Whether the snapshot says which of its objects were cyclic garbage.
    pub fn has_cycles(&self) -> bool {
        self.cycles.is_some()
    }

    /// The frames of traceback `i`, most recent first.
    fn traceback(&self, i: usize) -> &[u32] {
        &self.tb_frames[self.tb_start[i] as usize..self.tb_start[i + 1] as usize]
    }

    fn frame(&self, f: u32) -> Frame<'_> {
        let (file, line) = self.frames[f as usize];
        (&self.filenames[file as usize], line)
    }
}

/// Folds one more part (an index, a line, a part's hash) into a key's hash:
/// a multiply whose high half is folded down, since hashbrown picks buckets
/// from the low bits and tags from the high ones.
fn mix(h: u64, v: u64) -> u64 {
    let x = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

/// Interns filenames, frames and tracebacks while a reader fills a [`Snapshot`].
/// The tables hold indices into the snapshot's own arrays, hashed with [`mix`]:
/// a snapshot has hundreds of thousands of frame tuples to intern.
#[derive(Default)]
struct Builder {
    snap: Snapshot,
    files: HashMap<Box<str>, u32>,
    frames: HashTable<u32>,
    /// (hash, traceback index)
    tracebacks: HashTable<(u64, u32)>,
}

impl Builder {
    fn new() -> Self {
        let mut b = Builder::default();
        b.snap.tb_start.push(0);
        b
    }

    fn file(&mut self, name: &str) -> u32 {
        if let Some(i) = self.files.get(name) {
            return *i;
        }
        let i = self.snap.filenames.len() as u32;
        self.snap.filenames.push(name.into());
        self.files.insert(name.into(), i);
        i
    }

    fn frame(&mut self, file: u32, line: i64) -> u32 {
        let frames = &mut self.snap.frames;
        let hash = |(file, line): (u32, i64)| mix(u64::from(file), line as u64);
        match self.frames.entry(
            hash((file, line)),
            |i| frames[*i as usize] == (file, line),
            |i| hash(frames[*i as usize]),
        ) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let i = frames.len() as u32;
                frames.push((file, line));
                e.insert(i);
                i
            }
        }
    }

    /// Interns a traceback by content, so that equal tracebacks group together
    /// as CPython's tuple equality does. The table keeps each hash, so that
    /// growing it does not hash every traceback again.
    fn traceback(&mut self, frames: &[u32]) -> u32 {
        let snap = &mut self.snap;
        let hash = frames.iter().fold(0, |h, f| mix(h, u64::from(*f)));
        let found = self.tracebacks.find(hash, |(h, i)| {
            *h == hash && snap.traceback(*i as usize) == frames
        });
        if let Some((_, i)) = found {
            return *i;
        }
        let i = snap.per_tb.len() as u32;
        snap.tb_frames.extend_from_slice(frames);
        snap.tb_start.push(snap.tb_frames.len() as u32);
        snap.per_tb.push(Stat::default());
        self.tracebacks.insert_unique(hash, (hash, i), |e| e.0);
        i
    }

    /// Records cyclic garbage at traceback `tb`; `snap.cycles` is set.
    fn cycles(&mut self, tb: u32, count: u64, size: u64) -> Result<(), Error> {
        let too_big = || Error::NotSnapshot(format!("{count} objects of {size} bytes"));
        let stat = Stat {
            size: i64::try_from(size).map_err(|_| too_big())?,
            count: i64::try_from(count).map_err(|_| too_big())?,
        };
        if let Some(c) = self.snap.cycles.as_mut() {
            c[tb as usize].add(stat);
        }
        Ok(())
    }

    /// Counts one trace; sizes beyond `i64` are refused (CPython's are `size_t`
    /// of real memory blocks).
    fn trace(&mut self, size: u64, tb: u32) -> Result<(), Error> {
        let size = i64::try_from(size)
            .map_err(|_| Error::NotSnapshot(format!("a trace of {size} bytes")))?;
        let s = &mut self.snap;
        s.per_tb[tb as usize].add(Stat { size, count: 1 });
        s.traces += 1;
        s.total_size = s.total_size.saturating_add(size);
        Ok(())
    }

    fn finish(self) -> Snapshot {
        self.snap
    }
}

/// Reads a snapshot file, pickle or JSON, told apart by content; gzip
/// (`Snapshot.dump` piped through gzip, or a capture stored compressed) is
/// decompressed as it is read.
pub fn open(path: &Path) -> Result<Snapshot, Error> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Err(Error::Empty);
    }
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0))?;
    read(file, gzip, len)
}

/// Reads a whole snapshot through `Read` into one buffer, then parses it.
/// Not a map: mapped pages count toward RSS, and a file truncated under a
/// map faults instead of failing. The pickle's memo refers back anywhere, so
/// the loader needs the decoded bytes at hand; `len` only sizes the buffer.
fn read(mut file: std::fs::File, gzip: bool, len: u64) -> Result<Snapshot, Error> {
    let cap = usize::try_from(len).unwrap_or(0);
    let mut data = Vec::new();
    if gzip {
        // Pickles compress about 4:1; growth past the guess is amortized.
        data.try_reserve(cap.saturating_mul(4)).ok();
        MultiGzDecoder::new(std::io::BufReader::new(file))
            .read_to_end(&mut data)
            .map_err(Error::Gzip)?;
    } else {
        data.try_reserve_exact(cap).ok();
        file.read_to_end(&mut data)?;
    }
    parse(&data)
}

/// Reads a snapshot from bytes: a pickle (first byte 0x80, or a protocol 0/1
/// pickle, refused) or a JSON document.
pub fn parse(data: &[u8]) -> Result<Snapshot, Error> {
    match data.trim_ascii_start().first() {
        None => Err(Error::Empty),
        Some(b'{') => json::parse(data),
        Some(_) => from_pickle(data),
    }
}

fn from_pickle(data: &[u8]) -> Result<Snapshot, Error> {
    use pickle::{Class, Instance, Obj, V};
    let l = pickle::load(data)?;
    let not = |what: &str| Error::NotSnapshot(what.to_string());
    let instance = |v: V, of: Class| match l.obj(v) {
        Some(Obj::Instance(i)) if i.class == of => Some(&**i),
        _ => None,
    };
    let Instance { args, state, .. } = instance(l.root, Class::Snapshot)
        .ok_or_else(|| not("the pickle holds another kind of object"))?;
    // Snapshot.__init__(traces, traceback_limit) via REDUCE, or __dict__ via BUILD.
    let (traces, limit) = match state {
        Some(s) => (l.dict_get(*s, "traces"), l.dict_get(*s, "traceback_limit")),
        None => (
            l.args(*args).first().copied(),
            l.args(*args).get(1).copied(),
        ),
    };
    let traces = traces.ok_or_else(|| not("the Snapshot has no traces"))?;
    let list = match instance(traces, Class::Traces) {
        Some(Instance { state: Some(s), .. }) => l.dict_get(*s, "_traces"),
        Some(Instance { args, .. }) => l.args(*args).first().copied(),
        // Older pickles may hold the list directly.
        None => Some(traces),
    }
    .ok_or_else(|| not("the Snapshot's traces have no list"))?;
    let items: Box<dyn Iterator<Item = V>> = match l.obj(list) {
        Some(Obj::List(v)) => Box::new(v.iter()),
        _ => Box::new(
            l.tuple(list)
                .ok_or_else(|| not("the Snapshot's traces are not a list"))?
                .iter()
                .copied(),
        ),
    };
    let mut b = Builder::new();
    b.snap.traceback_limit = limit.and_then(|v| l.int(v));
    let c = &l.columns;
    // Tracebacks and filenames are shared objects: each is resolved once, by
    // arena index (u32::MAX: not yet), in a table per kind so that a crafted
    // pickle using one object as both cannot mix their indices. Frames are one
    // tuple per use in CPython's dumps, so they are interned by content instead.
    let mut tb_of = vec![u32::MAX; l.arena.len()];
    let mut file_of = vec![u32::MAX; l.arena.len()];
    let mut frames = Vec::new();
    for (i, t) in items.enumerate() {
        let bad = |what: &str| Error::NotSnapshot(format!("trace {i}: {what}"));
        // (domain, size, traceback) up to Python 3.8; 3.9+ adds total_nframe.
        let V::Trace(t) = t else {
            return Err(bad(
                "expected (domain, size >= 0, traceback[, total_nframe])",
            ));
        };
        let (size, tb_id) = (c.trace_size[t as usize], c.trace_tb[t as usize]);
        let mut idx = tb_of[tb_id as usize];
        if idx == u32::MAX {
            frames.clear();
            for f in l
                .tuple(V::Obj(tb_id))
                .ok_or_else(|| bad("the traceback is not a tuple"))?
            {
                let V::Frame(f) = *f else {
                    return Err(bad("a frame is not (filename, lineno)"));
                };
                let (name, line) = (c.frame_file[f as usize], c.frame_line[f as usize]);
                let mut file = file_of[name as usize];
                if file == u32::MAX {
                    // A frame's filename is a string by construction.
                    file = b.file(l.str(V::Obj(name)).unwrap_or_default());
                    file_of[name as usize] = file;
                }
                frames.push(b.frame(file, line.into()));
            }
            idx = b.traceback(&frames);
            tb_of[tb_id as usize] = idx;
        }
        b.trace(size, idx)?;
    }
    Ok(b.finish())
}
