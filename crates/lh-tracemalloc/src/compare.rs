//! `Snapshot.statistics` and `Snapshot.compare_to`, with CPython's numbers and order.
//!
//! CPython groups traces by a `Traceback` built from the trace's frames
//! (all of them, the most recent one, or its file with line 0), or in
//! cumulative mode by every frame of the traceback, each occurrence counted.
//! Grouping here first sums traces per interned traceback in a flat array,
//! then maps each traceback to its key once, which gives the same sums
//! without a dictionary lookup per trace.

use crate::{Error, Snapshot};
use std::collections::HashMap;
use std::str::FromStr;

/// A frame as CPython compares it: (filename, lineno).
pub type Frame<'a> = (&'a str, i64);

/// The `key_type` argument of `compare_to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Lineno,
    Filename,
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
    pub size: i64,
    pub count: i64,
}

/// One entry of `compare_to`'s result. `traceback` is in CPython's
/// `Traceback` order: oldest frame first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatisticDiff<'a> {
    pub traceback: Vec<Frame<'a>>,
    pub size: i64,
    pub size_diff: i64,
    pub count: i64,
    pub count_diff: i64,
}

/// `Snapshot._group_by`: keys are tracebacks, oldest frame first.
pub fn group_by<'a>(
    snap: &'a Snapshot,
    key: KeyType,
    cumulative: bool,
) -> Result<HashMap<Vec<Frame<'a>>, Stat>, Error> {
    if cumulative && key == KeyType::Traceback {
        return Err(Error::NotSnapshot(
            "cumulative mode cannot be used with key type 'traceback'".into(),
        ));
    }
    let mut per_tb = vec![Stat::default(); snap.tracebacks()];
    for (size, tb) in snap.sizes.iter().zip(&snap.trace_tb) {
        let s = &mut per_tb[*tb as usize];
        s.size += *size as i64;
        s.count += 1;
    }
    let mut out: HashMap<Vec<Frame<'a>>, Stat> = HashMap::new();
    let mut add = |k: Vec<Frame<'a>>, s: Stat| {
        let e = out.entry(k).or_default();
        e.size += s.size;
        e.count += s.count;
    };
    let one = |f: Frame<'a>| -> Vec<Frame<'a>> {
        match key {
            KeyType::Filename => vec![(f.0, 0)],
            _ => vec![f],
        }
    };
    for (i, s) in per_tb.iter().enumerate() {
        if s.count == 0 {
            continue;
        }
        let frames = snap.traceback(i);
        if cumulative {
            for f in frames {
                add(one(snap.frame(*f)), *s);
            }
            continue;
        }
        let k = match key {
            KeyType::Traceback => frames.iter().rev().map(|f| snap.frame(*f)).collect(),
            // An empty traceback groups under an empty key, as `tb[:1]` does.
            _ => frames
                .first()
                .map(|f| one(snap.frame(*f)))
                .unwrap_or_default(),
        };
        add(k, *s);
    }
    Ok(out)
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
    let new_g = group_by(new, key, cumulative)?;
    let mut old_g = group_by(old, key, cumulative)?;
    let mut out: Vec<StatisticDiff<'a>> = new_g
        .into_iter()
        .map(|(k, s)| {
            let p = old_g.remove(&k).unwrap_or_default();
            StatisticDiff {
                traceback: k,
                size: s.size,
                size_diff: s.size - p.size,
                count: s.count,
                count_diff: s.count - p.count,
            }
        })
        .collect();
    out.extend(old_g.into_iter().map(|(k, s)| StatisticDiff {
        traceback: k,
        size: 0,
        size_diff: -s.size,
        count: 0,
        count_diff: -s.count,
    }));
    out.sort_by(|a, b| {
        let ka = (a.size_diff.abs(), a.size, a.count_diff.abs(), a.count);
        let kb = (b.size_diff.abs(), b.size, b.count_diff.abs(), b.count);
        kb.cmp(&ka).then_with(|| b.traceback.cmp(&a.traceback))
    });
    Ok(out)
}

/// The group key a user reads: `file:line` (most recent frame), `file`, or a
/// whole traceback from the most recent frame out, joined by ` <- `.
pub fn key_string(traceback: &[Frame<'_>], key: KeyType) -> String {
    match key {
        KeyType::Filename => traceback
            .first()
            .map(|f| f.0.to_string())
            .unwrap_or_else(|| "<unknown>".into()),
        _ if traceback.is_empty() => "<unknown>".into(),
        _ => {
            // One buffer per key, no formatter: traceback keys of deep
            // stacks are long and many, and this showed up in profiles.
            let mut out = String::with_capacity(traceback.len() * 48);
            for (i, (f, l)) in traceback.iter().rev().enumerate() {
                if i > 0 {
                    out.push_str(" <- ");
                }
                out.push_str(f);
                out.push(':');
                push_int(&mut out, *l);
            }
            out
        }
    }
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

    #[test]
    fn keys() {
        let tb = [("a.py", 10), ("b.py", -3), ("c.py", 0)];
        assert_eq!(
            key_string(&tb, KeyType::Traceback),
            "c.py:0 <- b.py:-3 <- a.py:10"
        );
        assert_eq!(key_string(&tb[..1], KeyType::Lineno), "a.py:10");
        assert_eq!(
            key_string(&[("x.py", i64::MIN)], KeyType::Lineno),
            format!("x.py:{}", i64::MIN)
        );
        assert_eq!(key_string(&tb[..1], KeyType::Filename), "a.py");
        assert_eq!(key_string(&[], KeyType::Lineno), "<unknown>");
    }
}
