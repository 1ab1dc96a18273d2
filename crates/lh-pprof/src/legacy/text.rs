//! The text formats of gperftools and old Go runtimes: heap growth
//! (`heap profile: … @ growthz`), Go's count profiles (`goroutine profile:
//! total N`), thread listings (`--- threadz`, `--- Thread …`) and
//! contention (`--- contentionz`, `--- mutex:`, `--- contention:`).
//!
//! Their stacks are return addresses; like pprof we subtract one from each
//! so that it lands on the call, except where pprof knows the leaf is a PC.

use super::{
    drop_duplicate_leaf, hex_addresses, is_memory_map_sentinel, is_space_or_comment, lines,
    parse_mappings, Failure, Legacy, Sample, Unrecognized,
};
use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// The profile's lines and a cursor over them.
struct Lines<'a> {
    all: Vec<Cow<'a, str>>,
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(data: &'a [u8]) -> Self {
        Lines {
            all: lines(data).collect(),
            at: 0,
        }
    }

    fn current(&self) -> &str {
        self.all.get(self.at).map_or("", |l| l.as_ref())
    }

    /// Moves to the next line; false past the last.
    fn advance(&mut self) -> bool {
        self.at += 1;
        self.at < self.all.len()
    }

    fn skip_comments(&mut self) {
        while self.at < self.all.len() && is_space_or_comment(self.current()) {
            self.at += 1;
        }
    }

    /// pprof's `parseAdditionalSections`: anything up to the memory map is
    /// skipped, and the map becomes the profile's mappings.
    fn finish(mut self, mut l: Legacy) -> Legacy {
        while self.at < self.all.len() && !is_memory_map_sentinel(self.current()) {
            self.at += 1;
        }
        let rest = self.all.drain((self.at + 1).min(self.all.len())..);
        l.mappings = parse_mappings(rest);
        l
    }
}

static GROWTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] @ (growthz?|fragmentationz?)")
        .unwrap()
});
static COUNT_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\A(\S+) profile: total \d+\z").unwrap());
static THREADZ: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"--- threadz \d+ ---").unwrap());
static THREAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"--- Thread ([[:xdigit:]]+) \(name: (.*)/(\d+)\) stack: ---").unwrap()
});
const CONTENTION: [&str; 3] = ["--- contentionz ", "--- mutex:", "--- contention:"];

/// Whether the head of a file starts as one of these formats does.
pub(super) fn sniff(head: &[u8]) -> bool {
    let ls = Lines::new(head);
    let first = ls.current();
    let mut skipped = Lines::new(head);
    skipped.skip_comments();
    let header = skipped.current();
    GROWTH.is_match(first)
        || CONTENTION.iter().any(|p| first.starts_with(p))
        || COUNT_START.is_match(header)
        || THREADZ.is_match(header)
        || THREAD.is_match(header)
}

fn number(s: &str, line: &str) -> Result<i64, Failure> {
    s.parse()
        .map_err(|_| Failure::Malformed(format!("bad number {s:?} in {line:?}")))
}

/// Return addresses minus one, to land on the call; `keep_leaf` leaves the
/// first, a PC from the signal context, as it is.
fn calls(mut addrs: Vec<u64>, keep_leaf: bool) -> Vec<u64> {
    for (i, a) in addrs.iter_mut().enumerate() {
        if !(keep_leaf && i == 0) {
            *a = a.wrapping_sub(1);
        }
    }
    addrs
}

/// gperftools' heap growth stacks: where the heap grew, never scaled.
pub(super) fn parse_growth(data: &[u8]) -> Result<Legacy, Failure> {
    static SAMPLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *] @([ x0-9a-f]*)").unwrap()
    });
    let mut ls = Lines::new(data);
    if !GROWTH.is_match(ls.current()) {
        Err(Unrecognized)?;
    }
    let mut l = Legacy::new(
        &[("objects", "count"), ("space", "bytes")],
        ("space", "bytes"),
        1,
    );
    while ls.advance() {
        let line = ls.current().trim();
        if is_space_or_comment(line) {
            continue;
        }
        if is_memory_map_sentinel(line) {
            break;
        }
        let c = SAMPLE
            .captures(line)
            .ok_or_else(|| Failure::Malformed(format!("not a heap sample line: {line:?}")))?;
        let count = number(&c[1], line)?;
        let size = number(&c[2], line)?;
        if count == 0 && size != 0 {
            return Err(Failure::Malformed(format!(
                "inuse count was 0 but inuse bytes was {size}"
            )));
        }
        let block_size = if count != 0 { size / count } else { 0 };
        l.samples.push(Sample {
            addrs: calls(hex_addresses(&c[5])?, false),
            values: vec![count, size],
            block_size: Some(block_size),
        });
    }
    Ok(ls.finish(l))
}

/// Go's count profiles in text (`goroutine`, `threadcreate`, debug=1).
pub(super) fn parse_go_count(data: &[u8]) -> Result<Legacy, Failure> {
    static COUNT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\A(\d+) @(( 0x[0-9a-f]+)+)\z").unwrap());
    let mut ls = Lines::new(data);
    ls.skip_comments();
    let Some(c) = COUNT_START.captures(ls.current()) else {
        Err(Unrecognized)?
    };
    let kind = c[1].to_string();
    let mut l = Legacy::new(&[(&kind, "count")], (&kind, "count"), 1);
    while ls.advance() {
        let line = ls.current();
        if is_space_or_comment(line) {
            continue;
        }
        if line.starts_with("---") {
            break;
        }
        let c = COUNT
            .captures(line)
            .ok_or_else(|| Failure::Malformed(format!("not a count line: {line:?}")))?;
        l.samples.push(Sample {
            values: vec![parse_go_int(&c[1])
                .ok_or_else(|| Failure::Malformed(format!("bad count in {line:?}")))?],
            addrs: calls(hex_addresses(&c[2])?, false),
            block_size: None,
        });
    }
    Ok(ls.finish(l))
}

/// Thread listings: one stack per thread, `same as previous` counting one more.
pub(super) fn parse_thread(data: &[u8]) -> Result<Legacy, Failure> {
    let mut ls = Lines::new(data);
    ls.skip_comments();
    if THREADZ.is_match(ls.current()) {
        while ls.advance() {
            let line = ls.current();
            if is_memory_map_sentinel(line) || line.starts_with('-') {
                break;
            }
        }
    } else if !THREAD.is_match(ls.current()) {
        Err(Unrecognized)?;
    }
    let mut l = Legacy::new(&[("thread", "count")], ("thread", "count"), 1);
    while !is_memory_map_sentinel(ls.current()) {
        if ls.current().starts_with("---- no stack trace for") {
            break;
        }
        if !THREAD.is_match(ls.current()) {
            // As in pprof, which wants each stack followed by a thread or the memory map.
            Err(Unrecognized)?;
        }
        // The thread's stack: address lines up to the next `---`.
        let mut addrs = Vec::new();
        let mut same_as_previous = false;
        while ls.advance() {
            let line = ls.current().trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with("---") {
                break;
            }
            if line.contains("same as previous thread") {
                same_as_previous = true;
                continue;
            }
            addrs.extend(hex_addresses(line)?);
        }
        if same_as_previous || addrs.is_empty() {
            if let Some(last) = l.samples.last_mut() {
                last.values[0] += 1;
            }
        } else {
            l.samples.push(Sample {
                addrs: calls(addrs, true),
                values: vec![1],
                block_size: None,
            });
        }
    }
    let mut l = ls.finish(l);
    drop_duplicate_leaf(&mut l.samples);
    Ok(l)
}

/// Lock contention: gperftools' `--- contentionz` and old Go runtimes'
/// `--- mutex:` / `--- contention:`, delays unsampled to nanoseconds.
pub(super) fn parse_contention(data: &[u8]) -> Result<Legacy, Failure> {
    static SAMPLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d+) *(\d+) @([ x0-9a-f]*)").unwrap());
    let mut ls = Lines::new(data);
    if !CONTENTION.iter().any(|p| ls.current().starts_with(p)) {
        Err(Unrecognized)?;
    }
    let mut l = Legacy::new(
        &[("contentions", "count"), ("delay", "nanoseconds")],
        ("contentions", "count"),
        1,
    );
    let mut cpu_hz: i64 = 0;
    // `attribute = value` lines before the samples; Java's attributes are not ours.
    let attr = |v: &str| -> Result<i64, Failure> { parse_go_int(v).ok_or(Failure::Unrecognized) };
    while ls.advance() {
        let line = ls.current().trim();
        if is_space_or_comment(line) {
            continue;
        }
        if line.starts_with("---") {
            break;
        }
        let Some((k, v)) = line.split_once('=') else {
            break;
        };
        let v = v.trim();
        match k.trim() {
            "cycles/second" => cpu_hz = attr(v)?,
            "sampling period" => l.period = attr(v)?,
            "ms since reset" => l.duration_nanos = attr(v)?.wrapping_mul(1_000_000),
            "discarded samples" => {}
            _ => Err(Unrecognized)?,
        }
    }
    loop {
        let line = ls.current().trim();
        if line.starts_with("---") {
            break;
        }
        if !is_space_or_comment(line) {
            let c = SAMPLE.captures(line).ok_or(Failure::Unrecognized)?;
            let mut delay = number(&c[1], line)?;
            let mut count = number(&c[2], line)?;
            if l.period > 0 {
                if cpu_hz > 0 {
                    let ghz = cpu_hz as f64 / 1e9;
                    delay = (delay as f64 * l.period as f64 / ghz) as i64;
                }
                count = count.wrapping_mul(l.period);
            }
            l.samples.push(Sample {
                addrs: calls(hex_addresses(&c[3])?, false),
                values: vec![count, delay],
                block_size: None,
            });
        }
        if !ls.advance() {
            break;
        }
    }
    Ok(ls.finish(l))
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` reads it: decimal,
/// `0x` hex, `0o`/`0` octal, `0b` binary, with an optional sign.
pub(super) fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits.replace('_', "");
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h.to_string())
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b.to_string())
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, o.to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits[1..].to_string())
    } else {
        (10, digits)
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(&body, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}
