//! A pickle interpreter that never executes anything.
//!
//! `pickle.load` imports and calls whatever a file names, so loading a snapshot
//! someone else wrote can run their code. This reader understands the opcodes
//! that protocols 2 to 5 use for a `tracemalloc.Snapshot` and builds plain
//! values from them. The only globals it resolves are the two classes a dump
//! names (`tracemalloc.Snapshot` and `tracemalloc._Traces`, identical in
//! CPython 3.8 to 3.13); it never calls them, it only records that an object of
//! that class was built. Every other global is refused by name before anything
//! else happens.
//!
//! Values live in one arena and the stack and memo hold indices into it, so an
//! object referenced a million times through the memo (a shared traceback, an
//! interned filename) exists once. A snapshot is mostly its million trace and
//! frame tuples, so those get columns of their own instead of arena slots, a
//! value is 8 bytes, and the opcodes of one such tuple are read in one step
//! where they have CPython's usual shape: memory touched per trace and opcode
//! dispatch were what bounded the speed.

use crate::Error;
use std::collections::HashMap;

/// A value on the stack, in the memo, a list or a tuple: small scalars inline,
/// the rest by index. Integers beyond `i32` (pickle's BININT range) are
/// [`Obj::Int`], which keeps this 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum V {
    None,
    Bool(bool),
    Int(i32),
    Obj(u32),
    /// A tuple of a trace's shape, `(domain, size, traceback[, total_nframe])`,
    /// as [`Columns::trace_size`] and [`Columns::trace_tb`] at this index.
    /// The domain is dropped, as `compare_to` ignores it.
    Trace(u32),
    /// A tuple of a frame's shape, `(filename, lineno)`, as
    /// [`Columns::frame_file`] and [`Columns::frame_line`] at this index.
    Frame(u32),
}

/// The two tuple shapes a snapshot is made of, a million of each, in columns
/// instead of arena slots and tuple pool entries: a trace costs 12 bytes here
/// and a frame 8, where a tuple costs 24 plus 8 per item.
#[derive(Default)]
pub(crate) struct Columns {
    pub trace_size: Vec<u64>,
    /// The arena index of the traceback tuple.
    pub trace_tb: Vec<u32>,
    /// The arena index of the filename string.
    pub frame_file: Vec<u32>,
    pub frame_line: Vec<i32>,
}

impl Columns {
    fn with_capacity(traces: usize, frames: usize) -> Self {
        Columns {
            trace_size: Vec::with_capacity(traces),
            trace_tb: Vec::with_capacity(traces),
            frame_file: Vec::with_capacity(frames),
            frame_line: Vec::with_capacity(frames),
        }
    }

    fn trace(&mut self, size: u64, traceback: u32) -> V {
        self.trace_size.push(size);
        self.trace_tb.push(traceback);
        V::Trace(self.trace_size.len() as u32 - 1)
    }

    fn frame(&mut self, file: u32, line: i32) -> V {
        self.frame_file.push(file);
        self.frame_line.push(line);
        V::Frame(self.frame_file.len() as u32 - 1)
    }
}

/// The two classes a tracemalloc dump may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Snapshot,
    Traces,
}

/// An arena object. Strings point into the input and tuples into one shared
/// pool, so that no object costs an allocation of its own; trace and frame
/// tuples are not here at all but in [`Columns`].
#[derive(Debug)]
pub(crate) enum Obj {
    /// A UTF-8 checked range of the input.
    Str {
        start: usize,
        len: usize,
    },
    /// `tuples[start..start + len]`
    Tuple {
        start: usize,
        len: usize,
    },
    /// An integer that does not fit [`V::Int`].
    Int(i64),
    // The rare kinds are boxed so that every arena slot stays 24 bytes (a
    // bare Vec would make each of the hundred thousand slots 32): hence the allow.
    List(Box<List>),
    #[allow(clippy::box_collection)]
    Dict(Box<Vec<(V, V)>>),
    Class(Class),
    Instance(Box<Instance>),
}

/// A list: `run` as [`V::Trace`] values, then `items`. A snapshot's list of
/// traces holds each trace tuple once, in the order they were built, so it is
/// a run of trace indices instead of a million values.
#[derive(Debug, Default)]
pub(crate) struct List {
    run: std::ops::Range<u32>,
    items: Vec<V>,
}

impl List {
    fn push(&mut self, v: V) {
        match v {
            V::Trace(i) if self.items.is_empty() && (self.run.is_empty() || self.run.end == i) => {
                if self.run.is_empty() {
                    self.run.start = i;
                }
                self.run.end = i + 1;
            }
            _ => self.items.push(v),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = V> + '_ {
        self.run
            .clone()
            .map(V::Trace)
            .chain(self.items.iter().copied())
    }
}

/// An object of an allowed class: constructor arguments and `BUILD` state.
#[derive(Debug)]
pub(crate) struct Instance {
    pub class: Class,
    /// The argument tuple, as in [`Obj::Tuple`].
    pub args: (usize, usize),
    pub state: Option<V>,
}

/// What a pickle decodes to: the root value and the arena it points into.
pub(crate) struct Loaded<'a> {
    pub root: V,
    pub arena: Vec<Obj>,
    tuples: Vec<V>,
    pub columns: Columns,
    data: &'a [u8],
}

impl Loaded<'_> {
    pub fn int(&self, v: V) -> Option<i64> {
        int_of(&self.arena, v)
    }

    pub fn obj(&self, v: V) -> Option<&Obj> {
        match v {
            V::Obj(i) => self.arena.get(i as usize),
            _ => None,
        }
    }

    pub fn str(&self, v: V) -> Option<&str> {
        match self.obj(v)? {
            Obj::Str { start, len } => std::str::from_utf8(&self.data[*start..start + len]).ok(),
            _ => None,
        }
    }

    pub fn tuple(&self, v: V) -> Option<&[V]> {
        match self.obj(v)? {
            Obj::Tuple { start, len } => Some(&self.tuples[*start..start + len]),
            _ => None,
        }
    }

    /// The constructor arguments of an [`Obj::Instance`].
    pub fn args(&self, (start, len): (usize, usize)) -> &[V] {
        &self.tuples[start..start + len]
    }

    /// Looks a string key up in a dict value.
    pub fn dict_get(&self, v: V, key: &str) -> Option<V> {
        match self.obj(v)? {
            Obj::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| self.str(*k) == Some(key))
                .map(|(_, v)| *v),
            _ => None,
        }
    }
}

/// Names a global as `pickle` would import it, e.g. `posix.system`.
fn resolve(module: &str, name: &str) -> Result<Class, Error> {
    match (module, name) {
        ("tracemalloc", "Snapshot") => Ok(Class::Snapshot),
        ("tracemalloc", "_Traces") => Ok(Class::Traces),
        _ => Err(Error::Refused(format!("{module}.{name}"))),
    }
}

/// Protocols 0 and 1 have no PROTO opcode and are not read. Say what the
/// pickle would call if it opens with a global that no snapshot needs, since
/// that is the more important news.
fn old_protocol(data: &[u8]) -> Error {
    if data.first() == Some(&b'c') {
        let mut lines = data[1..].splitn(3, |b| *b == b'\n');
        if let (Some(m), Some(n)) = (lines.next(), lines.next()) {
            let (m, n) = (String::from_utf8_lossy(m), String::from_utf8_lossy(n));
            // A protocol 0/1 snapshot opens with copyreg's reconstructor.
            let reconstructor = n == "_reconstructor" && (m == "copy_reg" || m == "copyreg");
            if !reconstructor && resolve(&m, &n).is_err() {
                return Error::Refused(format!("{m}.{n}"));
            }
        }
    }
    Error::Protocol
}

/// A trace or frame tuple read ahead of the opcode loop: where its opcodes
/// end, what it is, and the memo slot it is put in.
struct Ahead {
    end: usize,
    shape: Shape,
    memo: Option<u32>,
}

enum Shape {
    /// size, traceback (an arena index)
    Trace(u64, u32),
    /// filename (an arena index), line
    Frame(u32, i32),
}

/// Reads opcodes ahead of the machine without running them; `None` where the
/// bytes are not the expected opcode or end.
struct Reader<'a> {
    d: &'a [u8],
    p: usize,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.d.get(at..at + N)?.try_into().ok()
    }

    /// BININT1, BININT2 or BININT.
    fn int(&mut self) -> Option<i64> {
        let (v, n) = match *self.d.get(self.p)? {
            b'K' => (i64::from(*self.d.get(self.p + 1)?), 2),
            b'M' => (i64::from(u16::from_le_bytes(self.bytes(self.p + 1)?)), 3),
            b'J' => (i64::from(i32::from_le_bytes(self.bytes(self.p + 1)?)), 5),
            _ => return None,
        };
        self.p += n;
        Some(v)
    }

    /// BINGET or LONG_BINGET: the memo index.
    fn get(&mut self) -> Option<u32> {
        let (i, n) = match *self.d.get(self.p)? {
            b'h' => (u32::from(*self.d.get(self.p + 1)?), 2),
            b'j' => (u32::from_le_bytes(self.bytes(self.p + 1)?), 5),
            _ => return None,
        };
        self.p += n;
        Some(i)
    }

    /// Steps over `op` if it is next.
    fn op(&mut self, op: u8) -> bool {
        let here = self.d.get(self.p) == Some(&op);
        self.p += usize::from(here);
        here
    }

    /// MEMOIZE (as slot `next`), BINPUT or LONG_BINPUT if one is next: the
    /// slot, or `Some(None)` for none.
    fn memo(&mut self, next: usize) -> Option<Option<u32>> {
        let (i, n) = match self.d.get(self.p) {
            Some(0x94) => (u32::try_from(next).ok()?, 1),
            Some(b'q') => (u32::from(*self.d.get(self.p + 1)?), 2),
            Some(b'r') => (u32::from_le_bytes(self.bytes(self.p + 1)?), 5),
            _ => return Some(None),
        };
        self.p += n;
        Some(Some(i))
    }
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    marks: Vec<usize>,
    arena: Vec<Obj>,
    tuples: Vec<V>,
    memo: Vec<V>,
    columns: Columns,
    /// Memo slots written out of order (BINPUT with a sparse index); pickle
    /// itself numbers them densely, so this stays empty for real dumps.
    sparse: HashMap<u32, V>,
}

/// Decodes a pickle of protocol 2 to 5 without executing anything.
pub(crate) fn load(data: &[u8]) -> Result<Loaded<'_>, Error> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    if data[0] != 0x80 {
        return Err(old_protocol(data));
    }
    // A trace costs 12 to 20 bytes of pickle and a frame 6 to 9, each one
    // memo slot; a traceback of k frames k tuple slots. Reserving what the
    // smallest encodings could need saves copying while growing: untouched
    // reserved pages cost nothing.
    let n = data.len();
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        arena: Vec::new(),
        tuples: Vec::with_capacity(n / 6),
        memo: Vec::with_capacity(n / 6),
        columns: Columns::with_capacity(n / 12, n / 6),
        sparse: HashMap::new(),
    };
    let root = m.run()?;
    Ok(Loaded {
        root,
        arena: m.arena,
        tuples: m.tuples,
        columns: m.columns,
        data,
    })
}

impl<'a> Machine<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        Error::Corrupt {
            offset: at as u64,
            message: message.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| self.truncated())?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    // Errors are built lazily (`ok_or_else`): an eager one would be built
    // and dropped on every read, which showed up in profiles.
    fn truncated(&self) -> Error {
        Error::Truncated {
            offset: self.data.len() as u64,
        }
    }

    fn u8(&mut self) -> Result<u8, Error> {
        let b = *self.data.get(self.pos).ok_or_else(|| self.truncated())?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn line(&mut self) -> Result<&'a str, Error> {
        let at = self.pos;
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| self.truncated())?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| self.err(at, "a global name is not UTF-8"))
    }

    fn alloc(&mut self, o: Obj) -> V {
        self.arena.push(o);
        V::Obj((self.arena.len() - 1) as u32)
    }

    fn push(&mut self, o: Obj) {
        let v = self.alloc(o);
        self.stack.push(v);
    }

    fn pop(&mut self, at: usize) -> Result<V, Error> {
        if self.marks.last().is_some_and(|m| *m >= self.stack.len()) {
            return Err(self.err(at, "stack underflow (popped past a MARK)"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.err(at, "stack underflow"))
    }

    fn top(&self, at: usize) -> Result<V, Error> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err(at, "stack underflow"))
    }

    /// Everything above the last MARK, which is removed.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<V>, Error> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.err(at, "no MARK on the stack"))?;
        Ok(self.stack.split_off(m))
    }

    fn str(&mut self, n: usize, at: usize) -> Result<(), Error> {
        let start = self.pos;
        let b = self.take(n)?;
        std::str::from_utf8(b).map_err(|_| self.err(at, "a string is not UTF-8"))?;
        self.push(Obj::Str { start, len: n });
        Ok(())
    }

    /// Moves the top `n` stack values into a new tuple: a column entry for
    /// a trace or a frame, otherwise an arena slot.
    fn tuple_of_top(&mut self, n: usize) {
        let from = self.stack.len() - n;
        let int = |v| int_of(&self.arena, v);
        let v = match self.stack[from..] {
            [domain, size, V::Obj(tb)] | [domain, size, V::Obj(tb), V::Int(_) | V::None] => {
                match (int(domain), int(size).map(u64::try_from)) {
                    (Some(_), Some(Ok(size))) => Some(self.columns.trace(size, tb)),
                    _ => None,
                }
            }
            [V::Obj(file), V::Int(line)]
                if matches!(self.arena[file as usize], Obj::Str { .. }) =>
            {
                Some(self.columns.frame(file, line))
            }
            _ => None,
        };
        let v = v.unwrap_or_else(|| {
            let start = self.tuples.len();
            self.tuples.extend_from_slice(&self.stack[from..]);
            self.alloc(Obj::Tuple { start, len: n })
        });
        self.stack.truncate(from);
        self.stack.push(v);
    }

    /// After a MARK: one trace tuple as CPython writes it, `BININT* BININT*
    /// BINGET [BININT*] TUPLE [MEMOIZE | BINPUT]` (domain, size, a traceback
    /// pickled before, total_nframe), read in one step. A snapshot is mostly
    /// these, and dispatching their seven opcodes one by one was the reader's
    /// main cost. `None` for any other shape, which then runs opcode by
    /// opcode to the same result.
    fn trace_ahead(&self) -> Option<Ahead> {
        let mut a = Reader {
            d: self.data,
            p: self.pos,
        };
        a.int()?;
        let size = u64::try_from(a.int()?).ok()?;
        let V::Obj(tb) = *self.memo.get(a.get()? as usize)? else {
            return None;
        };
        if !a.op(b't') {
            a.int()?;
            a.op(b't').then_some(())?;
        }
        Some(Ahead {
            memo: a.memo(self.memo.len())?,
            end: a.p,
            shape: Shape::Trace(size, tb),
        })
    }

    /// After a BINGET of a string: the rest of a frame tuple as CPython
    /// writes it, `BININT* TUPLE2 [MEMOIZE | BINPUT]`, read in one step, as
    /// [`Machine::trace_ahead`] does for traces.
    fn frame_ahead(&self, file: u32) -> Option<Ahead> {
        let mut a = Reader {
            d: self.data,
            p: self.pos,
        };
        let line = i32::try_from(a.int()?).ok()?;
        a.op(0x86).then_some(())?;
        Some(Ahead {
            memo: a.memo(self.memo.len())?,
            end: a.p,
            shape: Shape::Frame(file, line),
        })
    }

    /// Does what the opcodes read ahead would have done.
    fn run_ahead(&mut self, a: Ahead, at: usize) -> Result<(), Error> {
        self.pos = a.end;
        let v = match a.shape {
            Shape::Trace(size, tb) => self.columns.trace(size, tb),
            Shape::Frame(file, line) => self.columns.frame(file, line),
        };
        self.stack.push(v);
        match a.memo {
            Some(idx) => self.memo_put(idx, at),
            None => Ok(()),
        }
    }

    fn memo_put(&mut self, idx: u32, at: usize) -> Result<(), Error> {
        let v = self.top(at)?;
        let i = idx as usize;
        if i == self.memo.len() {
            self.memo.push(v);
        } else if i < self.memo.len() {
            self.memo[i] = v;
        } else {
            self.sparse.insert(idx, v);
        }
        Ok(())
    }

    fn memo_get(&mut self, idx: u32, at: usize) -> Result<(), Error> {
        let v = self
            .memo
            .get(idx as usize)
            .or_else(|| self.sparse.get(&idx))
            .copied()
            .ok_or_else(|| self.err(at, format!("memo entry {idx} is not defined")))?;
        if let V::Obj(file) = v {
            if matches!(self.arena[file as usize], Obj::Str { .. }) {
                if let Some(a) = self.frame_ahead(file) {
                    return self.run_ahead(a, at);
                }
            }
        }
        self.stack.push(v);
        Ok(())
    }

    fn obj_mut(&mut self, v: V, at: usize) -> Result<&mut Obj, Error> {
        match v {
            V::Obj(i) => Ok(&mut self.arena[i as usize]),
            _ => Err(self.err(at, "expected a container on the stack")),
        }
    }

    fn class(&self, v: V, at: usize) -> Result<Class, Error> {
        match v {
            V::Obj(i) => match &self.arena[i as usize] {
                Obj::Class(c) => Ok(*c),
                _ => Err(self.err(at, "calls something that is not a class")),
            },
            _ => Err(self.err(at, "calls something that is not a class")),
        }
    }

    fn args(&self, v: V, at: usize) -> Result<(usize, usize), Error> {
        match v {
            V::Obj(i) => match &self.arena[i as usize] {
                Obj::Tuple { start, len } => Ok((*start, *len)),
                _ => Err(self.err(at, "constructor arguments are not a tuple")),
            },
            _ => Err(self.err(at, "constructor arguments are not a tuple")),
        }
    }

    fn run(&mut self) -> Result<V, Error> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    // PROTO
                    let p = self.u8()?;
                    if !(2..=5).contains(&p) {
                        return Err(Error::Protocol);
                    }
                }
                0x95 => {
                    // FRAME: only a read-ahead hint; the whole input is at hand.
                    self.u64()?;
                }
                b'.' => {
                    // STOP
                    let v = self.pop(at)?;
                    return Ok(v);
                }
                b'(' => match self.trace_ahead() {
                    Some(t) => self.run_ahead(t, at)?,
                    None => self.marks.push(self.stack.len()),
                },
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let v = self.top(at)?;
                    self.stack.push(v);
                }
                b'N' => self.stack.push(V::None),
                0x88 => self.stack.push(V::Bool(true)),
                0x89 => self.stack.push(V::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(V::Int(v));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(V::Int(v.into()));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.stack.push(V::Int(v.into()));
                }
                0x8a | 0x8b => {
                    // LONG1, LONG4: little-endian two's complement
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let b = self.take(n)?;
                    let v = long(b)
                        .ok_or_else(|| self.err(at, "an integer does not fit in 64 bits"))?;
                    match i32::try_from(v) {
                        Ok(small) => self.stack.push(V::Int(small)),
                        Err(_) => self.push(Obj::Int(v)),
                    }
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    self.str(n, at)?;
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    self.str(n, at)?;
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).unwrap_or(usize::MAX);
                    self.str(n, at)?;
                }
                b')' => self.push(Obj::Tuple { start: 0, len: 0 }),
                b't' => {
                    let m = self
                        .marks
                        .pop()
                        .ok_or_else(|| self.err(at, "no MARK on the stack"))?;
                    self.tuple_of_top(self.stack.len() - m);
                }
                0x85..=0x87 => {
                    // TUPLE1..3
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n
                        || self.marks.last().is_some_and(|m| *m > self.stack.len() - n)
                    {
                        return Err(self.err(at, "stack underflow"));
                    }
                    self.tuple_of_top(n);
                }
                b']' => self.push(Obj::List(Box::default())),
                b'l' => {
                    let items = self.pop_mark(at)?;
                    self.push(Obj::List(Box::new(List { run: 0..0, items })));
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let l = self.top(at)?;
                    match self.obj_mut(l, at)? {
                        Obj::List(items) => items.push(v),
                        _ => return Err(self.err(at, "APPEND to something that is not a list")),
                    }
                }
                b'e' => {
                    // APPENDS: moved straight from the stack, as a snapshot's
                    // million traces arrive in batches of a thousand.
                    let m = self
                        .marks
                        .pop()
                        .ok_or_else(|| self.err(at, "no MARK on the stack"))?;
                    let list = match m.checked_sub(1).and_then(|i| self.stack.get(i)) {
                        Some(V::Obj(l)) => &mut self.arena[*l as usize],
                        _ => return Err(self.err(at, "APPENDS to something that is not a list")),
                    };
                    match list {
                        Obj::List(list) => self.stack.drain(m..).for_each(|v| list.push(v)),
                        _ => return Err(self.err(at, "APPENDS to something that is not a list")),
                    }
                }
                b'}' => self.push(Obj::Dict(Box::default())),
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = pairs(&items).ok_or_else(|| self.err(at, "odd DICT items"))?;
                    self.push(Obj::Dict(Box::new(pairs)));
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.top(at)?;
                    match self.obj_mut(d, at)? {
                        Obj::Dict(items) => items.push((k, v)),
                        _ => return Err(self.err(at, "SETITEM on something that is not a dict")),
                    }
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let new = pairs(&items).ok_or_else(|| self.err(at, "odd SETITEMS items"))?;
                    let d = self.top(at)?;
                    match self.obj_mut(d, at)? {
                        Obj::Dict(items) => items.extend(new),
                        _ => return Err(self.err(at, "SETITEMS on something that is not a dict")),
                    }
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let c = resolve(module, name)?;
                    self.push(Obj::Class(c));
                }
                0x93 => {
                    // STACK_GLOBAL
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (m, n) = (self.string_of(module), self.string_of(name));
                    match (m, n) {
                        (Some(m), Some(n)) => {
                            let c = resolve(&m, &n)?;
                            self.push(Obj::Class(c));
                        }
                        _ => {
                            return Err(self.err(at, "STACK_GLOBAL of something that is not a name"))
                        }
                    }
                }
                0x81 | b'R' => {
                    // NEWOBJ cls args / REDUCE callable args: recorded, never called.
                    let args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let class = self.class(cls, at)?;
                    let args = self.args(args, at)?;
                    self.push(Obj::Instance(Box::new(Instance {
                        class,
                        args,
                        state: None,
                    })));
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let inst = self.top(at)?;
                    match self.obj_mut(inst, at)? {
                        Obj::Instance(i) => i.state = Some(state),
                        _ => return Err(self.err(at, "BUILD on something that is not an object")),
                    }
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i, at)?;
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i, at)?;
                }
                0x94 => {
                    let i = self.memo.len() as u32;
                    self.memo_put(i, at)?;
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.memo_get(i, at)?;
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i, at)?;
                }
                b'i' | b'o' => {
                    // INST and OBJ (protocols 0 and 1) import and call a class.
                    if op == b'i' {
                        let module = self.line()?;
                        let name = self.line()?;
                        resolve(module, name)?;
                    }
                    return Err(Error::Protocol);
                }
                other => {
                    return Err(self.err(
                        at,
                        format!("opcode 0x{other:02x} does not occur in a tracemalloc snapshot"),
                    ))
                }
            }
        }
    }

    fn string_of(&self, v: V) -> Option<String> {
        match v {
            V::Obj(i) => match &self.arena[i as usize] {
                Obj::Str { start, len } => {
                    Some(String::from_utf8_lossy(&self.data[*start..start + len]).into_owned())
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// The value of an integer, inline or in the arena.
fn int_of(arena: &[Obj], v: V) -> Option<i64> {
    match v {
        V::Int(n) => Some(n.into()),
        V::Obj(i) => match arena.get(i as usize)? {
            Obj::Int(n) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

fn pairs(items: &[V]) -> Option<Vec<(V, V)>> {
    let chunks = items.chunks_exact(2);
    if !chunks.remainder().is_empty() {
        return None;
    }
    Some(chunks.map(|c| (c[0], c[1])).collect())
}

/// Decodes pickle's LONG1/LONG4 payload (little-endian two's complement).
fn long(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return Some(0);
    }
    let negative = b[b.len() - 1] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    if b.len() > 8 && b[8..].iter().any(|x| *x != fill) {
        return None;
    }
    let mut buf = [fill; 8];
    let n = b.len().min(8);
    buf[..n].copy_from_slice(&b[..n]);
    let v = i64::from_le_bytes(buf);
    // Bytes beyond 8 equal the fill; the sign must agree with bit 63.
    ((v < 0) == negative).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_small() {
        assert_eq!(std::mem::size_of::<Obj>(), 24);
        assert_eq!(std::mem::size_of::<V>(), 8);
    }

    #[test]
    fn longs() {
        assert_eq!(long(&[]), Some(0));
        assert_eq!(long(&[0xff]), Some(-1));
        assert_eq!(long(&[0x00, 0x00, 0x00, 0x80, 0x00]), Some(1 << 31));
        assert_eq!(long(&[0; 9]), Some(0));
        assert_eq!(long(&[0, 0, 0, 0, 0, 0, 0, 0x80, 0]), None);
        assert_eq!(long(&[1, 0, 0, 0, 0, 0, 0, 0, 1]), None);
    }

    #[test]
    fn refuses_other_globals_by_name() {
        // protocol 4: STACK_GLOBAL 'posix' 'system'
        let p = b"\x80\x04\x8c\x05posix\x8c\x06system\x93.";
        let e = load(p).err().unwrap();
        assert_eq!(e.to_string(), "refusing to load: pickle calls posix.system");
        let p0 = b"cos\nsystem\n(S'true'\ntR.";
        assert_eq!(
            load(p0).err().unwrap().to_string(),
            "refusing to load: pickle calls os.system"
        );
    }
}
