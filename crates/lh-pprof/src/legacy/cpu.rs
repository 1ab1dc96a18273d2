//! The legacy binary CPU profile of gperftools (`profilez`) and of Java
//! agents: a header of five words, then `count, depth, pc…` records up to a
//! `0, 1, 0` marker, then the memory map (C++) or symbols (Java) as text.
//! Words are 32 or 64 bits in either byte order: the header tells which.

use super::{drop_duplicate_leaf, java, lines, parse_mappings, Failure, Legacy, Sample};

/// The words of the profile in one width and byte order. Reading past the
/// end yields 0 and leaves the reader exhausted, as pprof's readers do.
#[derive(Clone, Copy)]
struct Words<'a> {
    rest: Option<&'a [u8]>,
    wide: bool,
    big: bool,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> u64 {
        let n = if self.wide { 8 } else { 4 };
        let Some(b) = self.rest.filter(|b| b.len() >= n) else {
            self.rest = None;
            return 0;
        };
        self.rest = Some(&b[n..]);
        let mut w = [0u8; 8];
        if self.big {
            w[8 - n..].copy_from_slice(&b[..n]);
            u64::from_be_bytes(w)
        } else {
            w[..n].copy_from_slice(&b[..n]);
            u64::from_le_bytes(w)
        }
    }

    fn remaining(&self) -> &'a [u8] {
        self.rest.unwrap_or_default()
    }
}

/// The header `0, 3, 0|1, period, 0` in the first word layout that fits:
/// the words after it, the period in microseconds and whether it is Java's.
fn header(data: &[u8]) -> Option<(Words<'_>, u64, bool)> {
    for (wide, big) in [(false, false), (false, true), (true, false), (true, true)] {
        let mut w = Words {
            rest: Some(data),
            wide,
            big,
        };
        let h: [u64; 5] = std::array::from_fn(|_| w.next());
        if w.rest.is_some() && h[0] == 0 && h[1] == 3 && h[2] <= 1 && h[3] != 0 && h[4] == 0 {
            return Some((w, h[3], h[2] == 1));
        }
    }
    None
}

pub(super) fn sniff(head: &[u8]) -> bool {
    header(head).is_some()
}

pub(super) fn parse(data: &[u8]) -> Result<Legacy, Failure> {
    let (w, micros, java) = header(data).ok_or(Failure::Unrecognized)?;
    let period = (micros as i64).wrapping_mul(1000);
    if java {
        java_cpu(w, period)
    } else {
        cpp(w, period)
    }
}

fn new_profile(period: i64) -> Legacy {
    Legacy::new(
        &[("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        period,
    )
}

/// The stack records up to the end marker; `adjust` moves return
/// addresses (all but the leaf PC) back onto their calls.
fn samples(w: &mut Words, adjust: bool, l: &mut Legacy) -> Result<(), Failure> {
    while !w.remaining().is_empty() {
        let count = w.next();
        let depth = w.next();
        if w.rest.is_none() || depth > (w.remaining().len() / 4) as u64 {
            return Err(Failure::Unrecognized);
        }
        let addrs: Vec<u64> = (0..depth).map(|_| w.next()).collect();
        if count == 0 && depth == 1 && addrs[0] == 0 {
            break;
        }
        let addrs = addrs
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                if adjust && i > 0 {
                    a.wrapping_sub(1)
                } else {
                    a
                }
            })
            .collect();
        l.samples.push(Sample {
            addrs,
            values: vec![count as i64, (count as i64).wrapping_mul(l.period)],
            block_size: None,
        });
    }
    Ok(())
}

fn cpp(mut w: Words, period: i64) -> Result<Legacy, Failure> {
    let mut l = new_profile(period);
    samples(&mut w, true, &mut l)?;
    strip_signal_frames(&mut l.samples);
    l.mappings = parse_mappings(lines(w.remaining()));
    drop_duplicate_leaf(&mut l.samples);
    Ok(l)
}

fn java_cpu(mut w: Words, period: i64) -> Result<Legacy, Failure> {
    let mut l = new_profile(period);
    l.addressless = true;
    samples(&mut w, false, &mut l)?;
    java::symbols(w.remaining(), &mut l)?;
    Ok(l)
}

/// When nearly every sample has the same second frame, that frame is the
/// signal handler's, pushed by the measurement: pprof removes it, twice at
/// most, allowing one sample in 32 to differ.
fn strip_signal_frames(samples: &mut [Sample]) {
    let margin = samples.len() / 32;
    for _ in 0..2 {
        let mut counts: std::collections::HashMap<u64, usize> = Default::default();
        for s in samples.iter().filter(|s| s.addrs.len() > 1) {
            *counts.entry(s.addrs[1]).or_default() += 1;
        }
        // At most one address can be this common.
        if let Some((&frame, _)) = counts.iter().find(|(_, &c)| c >= samples.len() - margin) {
            for s in samples.iter_mut() {
                if s.addrs.len() > 1 && s.addrs[1] == frame {
                    s.addrs.remove(1);
                }
            }
        }
    }
}
