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
//! interned filename) exists once. A snapshot is mostly its million trace
//! tuples, so those get columns of their own instead of arena slots, and a
//! value is 8 bytes: memory touched per trace, not opcodes, bounds the speed.

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
    /// A tuple of a trace's shape, `(domain, size, traceback[, total_nframe])`:
    /// its size and traceback are in [`Loaded::trace_size`] and
    /// [`Loaded::trace_tb`] at this index. The domain is dropped, as
    /// `compare_to` ignores it.
    Trace(u32),
}

/// The two classes a tracemalloc dump may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Snapshot,
    Traces,
}

/// Strings point into the input and tuples into one shared pool, so that the
/// millions of trace tuples of a large snapshot cost no allocation each.
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
    // bare Vec would make each of the million slots 32): hence the allow.
    #[allow(clippy::box_collection)]
    List(Box<Vec<V>>),
    #[allow(clippy::box_collection)]
    Dict(Box<Vec<(V, V)>>),
    Class(Class),
    Instance(Box<Instance>),
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
    /// Size and traceback (an arena index) of each [`V::Trace`].
    pub trace_size: Vec<u64>,
    pub trace_tb: Vec<u32>,
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

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<V>,
    marks: Vec<usize>,
    arena: Vec<Obj>,
    tuples: Vec<V>,
    memo: Vec<V>,
    trace_size: Vec<u64>,
    trace_tb: Vec<u32>,
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
    // A trace costs 12 to 20 bytes of pickle, one memo slot and one list
    // slot; a shared traceback of k frames some 5k bytes, k + 1 arena slots
    // and 3k tuple slots. Reserving what the smallest encodings could need
    // saves copying while growing: untouched reserved pages cost nothing.
    let n = data.len();
    let mut m = Machine {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        arena: Vec::with_capacity(n / 16),
        tuples: Vec::with_capacity(n / 2),
        memo: Vec::with_capacity(n / 8),
        trace_size: Vec::with_capacity(n / 12),
        trace_tb: Vec::with_capacity(n / 12),
        sparse: HashMap::new(),
    };
    let root = m.run()?;
    Ok(Loaded {
        root,
        arena: m.arena,
        tuples: m.tuples,
        trace_size: m.trace_size,
        trace_tb: m.trace_tb,
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

    /// Moves the top `n` stack values into a new tuple.
    fn tuple_of_top(&mut self, n: usize) {
        let from = self.stack.len() - n;
        if let [domain, size, V::Obj(tb)] | [domain, size, V::Obj(tb), V::Int(_) | V::None] =
            self.stack[from..]
        {
            let int = |v| int_of(&self.arena, v);
            if let (Some(_), Some(Ok(size))) = (int(domain), int(size).map(u64::try_from)) {
                self.stack.truncate(from);
                self.stack.push(V::Trace(self.trace_size.len() as u32));
                self.trace_size.push(size);
                self.trace_tb.push(tb);
                return;
            }
        }
        let start = self.tuples.len();
        self.tuples.extend_from_slice(&self.stack[from..]);
        self.stack.truncate(from);
        self.push(Obj::Tuple { start, len: n });
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
                b'(' => self.marks.push(self.stack.len()),
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
                    self.push(Obj::List(Box::new(items)));
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
                        Obj::List(list) => list.extend(self.stack.drain(m..)),
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
