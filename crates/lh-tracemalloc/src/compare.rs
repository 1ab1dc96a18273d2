//! `Snapshot.statistics` and `Snapshot.compare_to`, with CPython's numbers and order.
//!
//! CPython groups traces by a `Traceback` built from the trace's frames
//! (all of them, the most recent one, or its file with line 0), or in
//! cumulative mode by every frame of the traceback, each occurrence counted.
//! A [`Snapshot`] already sums its traces per interned traceback, so [`group`]
//! only maps each traceback to a key index in its snapshot (the traceback, a
//! frame or a filename), and follows keys across snapshots by content, through
//! a hash of their frames. Neither frame vectors nor key strings are built
//! while grouping: a deep traceback key is compared as indices, and formatted
//! once per group that someone reads ([`Key::text`], [`Key::frames`]).

use crate::{mix, Error, Snapshot};
use hashbrown::HashTable;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::str::FromStr;

/// A frame as CPython compares it: (filename, lineno).
pub type Frame<'a> = (&'a str, i64);

/// The `key_type` argument of `compare_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// `'lineno'`: by the most recent frame, file and line.
    Lineno,
    /// `'filename'`: by the most recent frame's file.
    Filename,
    /// `'traceback'`: by the whole traceback.
    Traceback,
}

impl FromStr for KeyType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lineno" => Ok(KeyType::Lineno),
            "filename" => Ok(KeyType::Filename),
            "traceback" => Ok(KeyType::Traceback),
            other => Err(format!(
                "unknown --by {other:?} for tracemalloc: use lineno, filename or traceback"
            )),
        }
    }
}

/// Size and count of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// Bytes.
    pub size: i64,
    /// Memory blocks (traces).
    pub count: i64,
}

impl Stat {
    /// Saturating, so that a crafted file cannot overflow a sum.
    pub(crate) fn add(&mut self, o: Stat) {
        self.size = self.size.saturating_add(o.size);
        self.count = self.count.saturating_add(o.count);
    }
}

/// One entry of `compare_to`'s result. `traceback` is in CPython's
/// `Traceback` order: oldest frame first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticDiff<'a> {
    /// The group's key as frames: one frame for `lineno`, one with line 0
    /// for `filename`, all of them for `traceback`.
    pub traceback: Vec<Frame<'a>>,
    /// Bytes in the newer snapshot.
    pub size: i64,
    /// Bytes in the newer snapshot minus bytes in the older.
    pub size_diff: i64,
    /// Blocks in the newer snapshot.
    pub count: i64,
    /// Blocks in the newer snapshot minus blocks in the older.
    pub count_diff: i64,
}

/// The key of an empty traceback (`tb[:1]` of `()`).
const EMPTY: u32 = u32::MAX;

/// A group key, read from one snapshot that has it.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    snap: &'a Snapshot,
    kind: KeyType,
    /// A traceback, frame or filename index, by `kind`; or [`EMPTY`].
    id: u32,
}

impl<'a> Key<'a> {
    /// The key as CPython's `Traceback`: frames oldest first; a filename key
    /// is one frame with line 0.
    pub fn frames(&self) -> Vec<Frame<'a>> {
        let s = self.snap;
        match (self.kind, self.id) {
            (_, EMPTY) => Vec::new(),
            (KeyType::Filename, file) => vec![(&s.filenames[file as usize], 0)],
            (KeyType::Lineno, f) => vec![s.frame(f)],
            (KeyType::Traceback, tb) => s
                .traceback(tb as usize)
                .iter()
                .rev()
                .map(|f| s.frame(*f))
                .collect(),
        }
    }

    /// The group key a user reads: `file:line` (most recent frame), `file`, or
    /// a whole traceback from the most recent frame out, joined by ` <- `.
    pub fn text(&self) -> String {
        let s = self.snap;
        match (self.kind, self.id) {
            (_, EMPTY) => "<unknown>".into(),
            (KeyType::Filename, file) => s.filenames[file as usize].to_string(),
            (KeyType::Lineno, f) => frames_text(s, &[f]),
            (KeyType::Traceback, tb) => frames_text(s, s.traceback(tb as usize)),
        }
    }

    /// Equal content. Within one snapshot, indices are interned by content.
    fn same(&self, o: &Key<'_>) -> bool {
        let (a, b) = (self.snap, o.snap);
        if std::ptr::eq(a, b) || self.id == EMPTY || o.id == EMPTY {
            return self.id == o.id;
        }
        let (x, y) = (self.id as usize, o.id as usize);
        match self.kind {
            KeyType::Filename => a.filenames[x] == b.filenames[y],
            KeyType::Lineno => a.frame(self.id) == b.frame(o.id),
            KeyType::Traceback => {
                let (p, q) = (a.traceback(x), b.traceback(y));
                p.len() == q.len() && p.iter().zip(q).all(|(f, g)| a.frame(*f) == b.frame(*g))
            }
        }
    }

    /// A hash of the content, equal for equal keys of any snapshots.
    /// `files` holds the hash of each of the snapshot's filenames.
    fn hash(&self, files: &[u64]) -> u64 {
        let s = self.snap;
        let frame = |f: &u32| {
            let (file, line) = s.frames[*f as usize];
            mix(files[file as usize], line as u64)
        };
        match (self.kind, self.id) {
            (_, EMPTY) => 0,
            (KeyType::Filename, file) => files[file as usize],
            (KeyType::Lineno, f) => frame(&f),
            (KeyType::Traceback, tb) => s
                .traceback(tb as usize)
                .iter()
                .fold(1, |h, f| mix(h, frame(f))),
        }
    }
}

/// One group followed across snapshots: its key and its size and count in
/// each snapshot, in the order the snapshots were given.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    /// What the group is keyed by, borrowed from the snapshot it was first seen in.
    pub key: Key<'a>,
    /// Its size and count in each snapshot; zero where it is absent.
    pub stats: Vec<Stat>,
    /// Of that, what was cyclic garbage, in each snapshot; zero where a
    /// snapshot does not say ([`Snapshot::has_cycles`]).
    pub cycles: Vec<Stat>,
}

/// `Snapshot._group_by` of each snapshot, keys matched across them: every key
/// of any snapshot once, in no particular order, with a zero [`Stat`] where a
/// snapshot lacks it.
pub fn group<'a>(
    snaps: &[&'a Snapshot],
    kind: KeyType,
    cumulative: bool,
) -> Result<Vec<Group<'a>>, Error> {
    if cumulative && kind == KeyType::Traceback {
        return Err(Error::NotSnapshot(
            "cumulative mode cannot be used with key type 'traceback'".into(),
        ));
    }
    let mut groups: Vec<Group<'a>> = Vec::new();
    // (hash, index into groups)
    let mut index: HashTable<(u64, u32)> = HashTable::new();
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    for (i, &snap) in snaps.iter().enumerate() {
        let files: Vec<u64> = snap.filenames.iter().map(|f| hasher.hash_one(f)).collect();
        for (id, stat, cycles) in local_groups(snap, kind, cumulative) {
            let key = Key { snap, kind, id };
            let h = key.hash(&files);
            let at = match index.find(h, |(_, g)| groups[*g as usize].key.same(&key)) {
                Some((_, g)) => *g as usize,
                None => {
                    index.insert_unique(h, (h, groups.len() as u32), |e| e.0);
                    groups.push(Group {
                        key,
                        stats: vec![Stat::default(); snaps.len()],
                        cycles: vec![Stat::default(); snaps.len()],
                    });
                    groups.len() - 1
                }
            };
            groups[at].stats[i].add(stat);
            groups[at].cycles[i].add(cycles);
        }
    }
    Ok(groups)
}

/// One snapshot's groups, by key index, with their traces and their cyclic
/// garbage: summed from the per-traceback sums in flat arrays, without a
/// lookup per traceback or frame. Keys without traces are left out, as
/// CPython has no such group.
fn local_groups(snap: &Snapshot, kind: KeyType, cumulative: bool) -> Vec<(u32, Stat, Stat)> {
    let none = Stat::default();
    let cycles = |tb: usize| snap.cycles.as_ref().map_or(none, |c| c[tb]);
    let per_tb = snap.per_tb.iter().enumerate().filter(|(_, s)| s.count > 0);
    if kind == KeyType::Traceback {
        return per_tb.map(|(tb, s)| (tb as u32, *s, cycles(tb))).collect();
    }
    let id = |f: &u32| match kind {
        KeyType::Filename => snap.frames[*f as usize].0,
        _ => *f,
    };
    let slots = match kind {
        KeyType::Filename => snap.filenames.len(),
        _ => snap.frames.len(),
    };
    // The last slot is the empty traceback's key.
    let mut sums = vec![(none, none); slots + 1];
    for (tb, s) in per_tb {
        let c = cycles(tb);
        let frames = snap.traceback(tb);
        let mut add = |slot: usize| {
            sums[slot].0.add(*s);
            sums[slot].1.add(c);
        };
        if cumulative {
            frames.iter().for_each(|f| add(id(f) as usize));
        } else {
            add(frames.first().map_or(slots, |f| id(f) as usize));
        }
    }
    sums.into_iter()
        .enumerate()
        .filter(|(_, (s, _))| s.count > 0)
        .map(|(i, (s, c))| (if i == slots { EMPTY } else { i as u32 }, s, c))
        .collect()
}

/// `new.compare_to(old, key, cumulative)`: every key of either snapshot, in
/// CPython's order (by |size_diff|, size, |count_diff|, count, traceback; all
/// descending).
pub fn compare_to<'a>(
    new: &'a Snapshot,
    old: &'a Snapshot,
    key: KeyType,
    cumulative: bool,
) -> Result<Vec<StatisticDiff<'a>>, Error> {
    let mut out: Vec<StatisticDiff<'a>> = group(&[old, new], key, cumulative)?
        .into_iter()
        .map(|g| {
            let (o, n) = (g.stats[0], g.stats[1]);
            StatisticDiff {
                traceback: g.key.frames(),
                size: n.size,
                size_diff: n.size.saturating_sub(o.size),
                count: n.count,
                count_diff: n.count.saturating_sub(o.count),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let ka = (a.size_diff.abs(), a.size, a.count_diff.abs(), a.count);
        let kb = (b.size_diff.abs(), b.size, b.count_diff.abs(), b.count);
        kb.cmp(&ka).then_with(|| b.traceback.cmp(&a.traceback))
    });
    Ok(out)
}

/// `file:line` for each frame (most recent first), joined by ` <- `, or
/// `<unknown>` for none. One buffer per key, no formatter: traceback keys of
/// deep stacks are long and many, and this showed up in profiles.
fn frames_text(s: &Snapshot, frames: &[u32]) -> String {
    if frames.is_empty() {
        return "<unknown>".into();
    }
    // The exact length first: one allocation, no slack (50k keys of deep
    // tracebacks are many megabytes).
    let len: usize = frames
        .iter()
        .map(|f| {
            let (file, line) = s.frame(*f);
            file.len() + 1 + digits(line)
        })
        .sum::<usize>()
        + 4 * (frames.len() - 1);
    let mut out = String::with_capacity(len);
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push_str(" <- ");
        }
        let (file, line) = s.frame(*f);
        out.push_str(file);
        out.push(':');
        push_int(&mut out, line);
    }
    out
}

/// The length of `n` in decimal, with its sign.
fn digits(n: i64) -> usize {
    usize::from(n < 0)
        + n.unsigned_abs()
            .checked_ilog10()
            .map_or(1, |d| d as usize + 1)
}

/// Appends the decimal digits of `n`.
fn push_int(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    let mut digits = [0u8; 20];
    let mut v = n.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|d| *d as char));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two snapshots that number the same files, frames and tracebacks
    /// differently, plus an empty traceback and odd line numbers.
    fn pair() -> (Snapshot, Snapshot) {
        let a = r#"{"tracemalloc": 1, "filenames": ["a.py", "b.py", "c.py"],
            "frames": [[0, 10], [1, -3], [2, 0]], "tracebacks": [[0, 1, 2], [], [1]],
            "traces": [[0, 100, 0], [0, 5, 1], [0, 7, 2], [0, 1, 0]],
            "cycles": [[0, 2, 90], [2, 1, 7], [0, 1, 3]]}"#;
        let b = r#"{"tracemalloc": 1, "filenames": ["c.py", "b.py", "a.py"],
            "frames": [[2, 10], [1, -3], [0, 0], [1, -9223372036854775808]],
            "tracebacks": [[3], [0, 1, 2]], "traces": [[0, 300, 1], [0, 2, 0]]}"#;
        (
            crate::parse(a.as_bytes()).unwrap(),
            crate::parse(b.as_bytes()).unwrap(),
        )
    }

    fn texts(groups: &[Group<'_>]) -> Vec<(String, Vec<i64>)> {
        let mut v: Vec<_> = groups
            .iter()
            .map(|g| (g.key.text(), g.stats.iter().map(|s| s.size).collect()))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keys_follow_content_across_snapshots() {
        let (a, b) = pair();
        let tb = group(&[&a, &b], KeyType::Traceback, false).unwrap();
        assert_eq!(
            texts(&tb),
            [
                ("<unknown>".to_string(), vec![5, 0]),
                ("a.py:10 <- b.py:-3 <- c.py:0".into(), vec![101, 300]),
                ("b.py:-3".into(), vec![7, 0]),
                (format!("b.py:{}", i64::MIN), vec![0, 2]),
            ]
        );
        let first = tb.iter().find(|g| g.stats[0].size == 101).unwrap();
        assert_eq!(
            first.key.frames(),
            [("c.py", 0), ("b.py", -3), ("a.py", 10)]
        );
        let files = group(&[&a, &b], KeyType::Filename, true).unwrap();
        assert_eq!(
            texts(&files),
            [
                ("a.py".to_string(), vec![101, 300]),
                ("b.py".into(), vec![108, 302]),
                ("c.py".into(), vec![101, 300]),
            ]
        );
        assert_eq!(files[0].key.frames()[0].1, 0, "filename keys have line 0");
    }

    #[test]
    fn cyclic_garbage_groups_with_its_traces() {
        let (a, b) = pair();
        assert!(a.has_cycles() && !b.has_cycles());
        let lines = group(&[&a, &b], KeyType::Lineno, false).unwrap();
        let cycles = |text: &str| {
            let g = lines.iter().find(|g| g.key.text() == text).unwrap();
            (g.cycles[0], g.cycles[1])
        };
        let none = Stat::default();
        let stat = |size, count| Stat { size, count };
        assert_eq!(cycles("a.py:10"), (stat(93, 3), none));
        assert_eq!(cycles("b.py:-3"), (stat(7, 1), none));
        assert_eq!(cycles("<unknown>"), (none, none));
        let bad = r#"{"tracemalloc": 1, "filenames": [], "frames": [], "tracebacks": [[]],
            "traces": [], "cycles": [[1, 1, 1]]}"#;
        let e = crate::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("cycles entry 0 names traceback 1"), "{e}");
    }

    #[test]
    fn ints() {
        for n in [0, 7, -3, 10, -10, 99, 1234567, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_int(&mut s, n);
            assert_eq!(s, n.to_string());
            assert_eq!(digits(n), s.len());
        }
    }
}
