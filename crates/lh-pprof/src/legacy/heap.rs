//! Heap profiles in text, as `go tool pprof` reads them (the `profile` package's
//! `legacy_profile.go`), and jemalloc's threaded dump, as `jeprof` reads it.
//!
//! Three writers share one shape: a header, one line per allocation stack of raw
//! return addresses, then the process's memory map so that the addresses can be
//! symbolized later.
//! - gperftools' heap profiler (tcmalloc's `HEAPPROFILE`): `heap profile: N: B [N: B] @ heapprofile`,
//!   exact values;
//! - sampled heap profiles: `@ heapz_v2/R` or `@ heap_v2/R` (tcmalloc's sampler), `@ heap/2R`
//!   (Go's runtime): each sample is scaled by the inverse of its Poisson sampling probability;
//! - jemalloc (`prof:true`): `heap_v2/R`, then per stack a `@ addr…` line followed by
//!   `t*:` (all threads) and `tN:` (one thread) lines of `N: B [N: B]`, also sampled.
//!
//! The result is a [`Profile`] with addresses and mappings but no functions, as
//! pprof's own parser makes: symbolization is a separate step (lh-native).

use crate::proto::{Label, Location, Mapping, Profile, Sample, ValueType};
use crate::Error;
use std::collections::HashMap;
use std::io::BufRead;

/// Who wrote a heap profile, as told by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// gperftools' heap profiler or tcmalloc's sampler (`heapprofile`, `heapz_v2`, `heap_v2`).
    Tcmalloc,
    /// Go's runtime, legacy text (`heap/N`).
    Go,
    /// jemalloc's `prof_dump` (first line `heap_v2/N`).
    Jemalloc,
}

/// A parsed heap profile and who wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeapText {
    /// The samples as profile.proto values, unsymbolized (addresses and
    /// mappings only) unless the text carried names.
    pub profile: Profile,
    /// Who wrote it, which decides how its sampled values are scaled.
    pub writer: Writer,
}

/// What the header says: the writer, the sampling rate (0: exact values) and
/// whether allocated totals differ from the in-use ones.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Header {
    writer: Writer,
    /// Period of the Poisson sampler in bytes; 0 or 1 means values are exact.
    rate: i64,
    /// `Profile.period` as pprof sets it.
    period: i64,
    has_alloc: bool,
}

/// Names the writer of a heap profile from its first line, or `None` when the
/// text is not one (growth and fragmentation profiles are not heap profiles here).
pub fn sniff(head: &[u8]) -> Option<Writer> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    header(&String::from_utf8_lossy(line))
        .ok()
        .map(|h| h.writer)
}

/// Parses a heap profile from a buffered reader, line by line.
pub fn parse(mut input: impl BufRead) -> Result<HeapText, Error> {
    let mut buf = Vec::new();
    let mut next_line = |buf: &mut Vec<u8>| -> Result<Option<String>, Error> {
        buf.clear();
        if input.read_until(b'\n', buf)? == 0 {
            return Ok(None);
        }
        Ok(Some(String::from_utf8_lossy(buf).into_owned()))
    };
    let Some(first) = next_line(&mut buf)? else {
        return Err(Error::Empty);
    };
    let mut h = header(&first).map_err(|e| Error::Invalid(format!("line 1: {e}")))?;
    let mut line_at = 1usize;
    // jemalloc's totals follow its header: they tell whether allocated values
    // were kept (`prof_accum:true`); otherwise they are zeros.
    let mut pending = None;
    if h.writer == Writer::Jemalloc {
        pending = next_line(&mut buf)?;
        if let Some(c) = pending
            .as_deref()
            .and_then(|l| l.trim().strip_prefix("t*:"))
            .and_then(four_counts)
        {
            h.has_alloc = (c[2] != c[0] && c[2] != 0) || (c[3] != c[1] && c[3] != 0);
        }
    }
    let sample_type: &[(&str, &str)] = if h.has_alloc {
        // alloc before inuse, so that the default (the last) is inuse_space, as in pprof.
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    } else {
        &[("objects", "count"), ("space", "bytes")]
    };
    let mut b = Builder::new(sample_type, h.period);
    let mut stack: Option<Vec<u64>> = None;
    let mut maps = false;
    while let Some(raw) = match pending.take() {
        Some(l) => Some(l),
        None => next_line(&mut buf)?,
    } {
        line_at += 1;
        let line = raw.trim();
        if maps {
            b.mapping_line(line);
            continue;
        }
        if is_memory_map_sentinel(line) {
            maps = true;
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |what: &str| Error::Invalid(format!("line {line_at}: {what}: {line:?}"));
        if h.writer == Writer::Jemalloc {
            if let Some(addrs) = line.strip_prefix('@') {
                stack = Some(hex_addresses(addrs).ok_or_else(|| bad("a bad address"))?);
            } else if let Some(rest) = line.strip_prefix("t*:") {
                // Lines before the first stack are the per-thread totals of the header.
                if let Some(addrs) = &stack {
                    let counts = four_counts(rest).ok_or_else(|| bad("not a count line"))?;
                    let (values, block) = sample_values(counts, &h).map_err(|e| bad(&e))?;
                    b.sample(addrs, values, block);
                }
            } else if !is_thread_line(line) {
                return Err(bad("not a stack or count line"));
            }
            continue;
        }
        let (counts, addrs) = heap_sample(line).ok_or_else(|| bad("not a heap sample"))?;
        let addrs = hex_addresses(addrs).ok_or_else(|| bad("a bad address"))?;
        let (values, block) = sample_values(counts, &h).map_err(|e| bad(&e))?;
        b.sample(&addrs, values, block);
    }
    Ok(HeapText {
        profile: b.finish(),
        writer: h.writer,
    })
}

/// Reads the header line: `heap profile: N: B [N: B] @ heap…/R` (pprof's
/// `heapHeaderRE`, unanchored as there) or jemalloc's `heap_v2/R`.
fn header(line: &str) -> Result<Header, String> {
    let line = line.trim_end();
    if let Some(rate) = line.strip_prefix("heap_v2/") {
        let rate: i64 = rate
            .trim()
            .parse()
            .map_err(|_| format!("a jemalloc heap_v2 header with a bad rate: {line:?}"))?;
        return Ok(Header {
            writer: Writer::Jemalloc,
            rate,
            period: rate,
            has_alloc: false,
        });
    }
    let not = || format!("not a heap profile header: {line:?}");
    let at = line.find("heap profile:").ok_or_else(not)?;
    let rest = &line[at + "heap profile:".len()..];
    let (counts, tail) = counts_then_at(rest).ok_or_else(not)?;
    let tail = tail.trim_start();
    let name_len = tail
        .strip_prefix("heap")
        .map(|t| {
            4 + t
                .bytes()
                .take_while(|c| *c == b'_' || c.is_ascii_lowercase() || c.is_ascii_digit())
                .count()
        })
        .ok_or_else(not)?;
    let name = &tail[..name_len];
    let after = tail[name_len..]
        .strip_prefix('/')
        .unwrap_or(&tail[name_len..]);
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let period: i64 = if digits.is_empty() {
        0
    } else {
        digits
            .parse()
            .map_err(|_| format!("a sampling period out of range: {line:?}"))?
    };
    let has_alloc =
        (counts[2] != counts[0] && counts[2] != 0) || (counts[3] != counts[1] && counts[3] != 0);
    let (writer, rate, period) = match name {
        "heapz_v2" | "heap_v2" => (Writer::Tcmalloc, period, period),
        "heapprofile" => (Writer::Tcmalloc, 0, 1),
        // Go writes twice its MemProfileRate here, as tcmalloc's v1 did.
        "heap" => (Writer::Go, period / 2, period / 2),
        _ => return Err(not()),
    };
    Ok(Header {
        writer,
        rate,
        period,
        has_alloc,
    })
}

/// `N: B [N: B]` then ` @`, with the spacing pprof's regular expressions allow;
/// returns the four numbers (in-use count and bytes, allocated count and bytes)
/// and what follows the `@`.
fn counts_then_at(s: &str) -> Option<([i64; 4], &str)> {
    let mut p = Scan(s);
    let n0 = p.int()?;
    p.lit(":")?;
    let b0 = p.int()?;
    p.lit("[")?;
    let n1 = p.int()?;
    p.lit(":")?;
    let b1 = p.int()?;
    p.lit("]")?;
    p.lit("@")?;
    Some(([n0, b0, n1, b1], p.0))
}

/// A heap sample line: the counts and the address list after `@`.
fn heap_sample(line: &str) -> Option<([i64; 4], &str)> {
    let (counts, rest) = counts_then_at(line)?;
    // pprof's `[ x0-9a-f]*`: the addresses end at the first other character.
    let end = rest
        .find(|c: char| !(c == ' ' || c == 'x' || c.is_ascii_digit() || ('a'..='f').contains(&c)))
        .unwrap_or(rest.len());
    Some((counts, &rest[..end]))
}

/// jemalloc's `N: B [N: B]` after `t*:`, to the end of the line.
fn four_counts(s: &str) -> Option<[i64; 4]> {
    let mut p = Scan(s);
    let n0 = p.int()?;
    p.lit(":")?;
    let b0 = p.int()?;
    p.lit("[")?;
    let n1 = p.int()?;
    p.lit(":")?;
    let b1 = p.int()?;
    p.lit("]")?;
    p.0.trim().is_empty().then_some([n0, b0, n1, b1])
}

/// A jemalloc per-thread line, `tN: …`, which the all-threads `t*:` line sums.
fn is_thread_line(line: &str) -> bool {
    line.strip_prefix('t')
        .and_then(|r| r.split_once(':'))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
}

/// A tiny cursor for the fixed grammar of count lines; spaces are optional
/// around every token, as ` *` in pprof's expressions.
struct Scan<'a>(&'a str);

impl Scan<'_> {
    fn int(&mut self) -> Option<i64> {
        let s = self.0.trim_start();
        let len = s.strip_prefix('-').map_or(0, |_| 1)
            + s[s.starts_with('-') as usize..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
        let v = s[..len].parse().ok()?;
        self.0 = &s[len..];
        Some(v)
    }

    fn lit(&mut self, lit: &str) -> Option<()> {
        self.0 = self.0.trim_start().strip_prefix(lit)?;
        Some(())
    }
}

/// Every `0x…` number in `s` (pprof's `hexNumberRE`); `None` if one overflows 64 bits.
fn hex_addresses(s: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find("0x") {
        let digits = &rest[at + 2..];
        let len = digits
            .bytes()
            .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            .count();
        if len > 0 {
            out.push(u64::from_str_radix(&digits[..len], 16).ok()?);
        }
        rest = &digits[len..];
    }
    Some(out)
}

/// A sample's values in the profile's sample types, and its average block size
/// (pprof's `bytes` label), as pprof's `parseHeapSample` computes them.
fn sample_values(c: [i64; 4], h: &Header) -> Result<(Vec<i64>, i64), String> {
    let mut values = Vec::with_capacity(4);
    let mut block = 0;
    let mut add = |count: i64, size: i64, what: &str| {
        if count == 0 && size != 0 {
            return Err(format!("{what} count was 0 but {what} bytes was {size}"));
        }
        let (mut count, mut size) = (count, size);
        if count != 0 {
            block = size / count;
            (count, size) = scale(count, size, h.rate);
        }
        values.extend([count, size]);
        Ok(())
    };
    if h.has_alloc {
        add(c[2], c[3], "allocation")?;
    }
    add(c[0], c[1], "inuse")?;
    Ok((values, block))
}

/// Undoes Poisson sampling at `rate`: an allocation of size S is sampled with
/// probability 1 - exp(-S/rate), so each sample stands for 1/that many
/// (pprof's `scaleHeapSample`, jeprof's `AdjustSamples`).
fn scale(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, size);
    }
    let avg = size as f64 / count as f64;
    let s = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * s) as i64, (size as f64 * s) as i64)
}

/// True for the lines that open the memory map section.
fn is_memory_map_sentinel(line: &str) -> bool {
    line.contains("--- Memory map: ---") || line.contains("MAPPED_LIBRARIES:")
}

/// Builds the profile as pprof's legacy parser does: one location per distinct
/// address (minus one, to land on the call instruction), then mappings from
/// the memory map, merged and assigned to locations.
struct Builder {
    p: Profile,
    strings: HashMap<String, i64>,
    locations: HashMap<u64, u64>,
    bytes_key: i64,
    mappings: Vec<Map>,
    /// `attr=value` lines of a memory map, replacing `$attr` in later lines.
    vars: Vec<(String, String)>,
}

/// A mapping before ids are assigned.
#[derive(Debug, Clone)]
struct Map {
    start: u64,
    limit: u64,
    offset: u64,
    file: String,
    build_id: String,
}

impl Builder {
    fn new(types: &[(&str, &str)], period: i64) -> Self {
        let mut b = Builder {
            p: Profile {
                string_table: vec![String::new()],
                period,
                ..Default::default()
            },
            strings: HashMap::new(),
            locations: HashMap::new(),
            bytes_key: 0,
            mappings: Vec::new(),
            vars: Vec::new(),
        };
        b.p.sample_type = types
            .iter()
            .map(|(t, u)| ValueType {
                r#type: b.string(t),
                unit: b.string(u),
            })
            .collect();
        b.p.period_type = Some(ValueType {
            r#type: b.string("space"),
            unit: b.string("bytes"),
        });
        b.bytes_key = b.string("bytes");
        b
    }

    fn string(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = self.p.string_table.len() as i64;
        self.p.string_table.push(s.to_string());
        self.strings.insert(s.to_string(), i);
        i
    }

    fn sample(&mut self, addrs: &[u64], value: Vec<i64>, block: i64) {
        let location_id = addrs
            .iter()
            .map(|a| {
                let addr = a.wrapping_sub(1);
                let next = self.locations.len() as u64 + 1;
                *self.locations.entry(addr).or_insert_with(|| {
                    self.p.location.push(Location {
                        id: next,
                        address: addr,
                        ..Default::default()
                    });
                    next
                })
            })
            .collect();
        self.p.sample.push(Sample {
            location_id,
            value,
            label: vec![Label {
                key: self.bytes_key,
                num: block,
                ..Default::default()
            }],
        });
    }

    /// One line of a memory map: `/proc/PID/maps` or pprof's brief form
    /// (`start-end: file (@offset) buildid`); other lines are skipped, as pprof does.
    fn mapping_line(&mut self, line: &str) {
        let mut line = strip_log_prefix(line).to_string();
        for (k, v) in &self.vars {
            line = line.replace(k.as_str(), v);
        }
        match mapping_entry(&line) {
            Some(Some(m)) => self.mappings.push(m),
            Some(None) => {}
            None => {
                if let Some((k, v)) = line.split_once('=') {
                    self.vars
                        .push((format!("${}", k.trim()), v.trim().to_string()));
                }
            }
        }
    }

    fn finish(mut self) -> Profile {
        let mut maps = massage(std::mem::take(&mut self.mappings));
        // Locations point to mappings by containment; pprof also widens a mapping
        // whose first part a writer left out, and adds a fake one for the rest.
        let mut fake = false;
        let mut owner = Vec::with_capacity(self.p.location.len());
        for loc in &self.p.location {
            let a = loc.address;
            if a == 0 {
                owner.push(None);
                continue;
            }
            let mut found = maps.iter().position(|m| m.start <= a && a < m.limit);
            if found.is_none() {
                found = maps.iter().position(|m| {
                    m.offset != 0 && m.start.wrapping_sub(m.offset) <= a && a < m.start
                });
                if let Some(i) = found {
                    let m = &mut maps[i];
                    m.start -= m.offset;
                    m.offset = 0;
                }
            }
            if found.is_none() {
                if !fake {
                    maps.push(Map {
                        start: 0,
                        limit: u64::MAX,
                        offset: 0,
                        file: String::new(),
                        build_id: String::new(),
                    });
                    fake = true;
                }
                found = Some(maps.len() - 1);
            }
            owner.push(found);
        }
        for (loc, m) in self.p.location.iter_mut().zip(owner) {
            loc.mapping_id = m.map_or(0, |i| i as u64 + 1);
        }
        let mappings: Vec<Mapping> = maps
            .iter()
            .enumerate()
            .map(|(i, m)| Mapping {
                id: i as u64 + 1,
                memory_start: m.start,
                memory_limit: m.limit,
                file_offset: m.offset,
                filename: self.string(&m.file),
                build_id: self.string(&m.build_id),
                ..Default::default()
            })
            .collect();
        self.p.mapping = mappings;
        self.p
    }
}

/// pprof's `massageMappings` and the start of `remapMappingIDs`: merges adjacent
/// pieces of one file, moves the main binary first, drops an `/anon_hugepage`
/// lead and normalises a main binary loaded at 0x400000.
fn massage(maps: Vec<Map>) -> Vec<Map> {
    let mut out: Vec<Map> = Vec::with_capacity(maps.len());
    for m in maps {
        if let Some(last) = out.last_mut() {
            if adjacent(last, &m) {
                last.limit = m.limit;
                if !m.file.is_empty() {
                    last.file = m.file;
                }
                if !m.build_id.is_empty() {
                    last.build_id = m.build_id;
                }
                continue;
            }
        }
        out.push(m);
    }
    if let Some(i) = out.iter().position(|m| {
        let f = m.file.replace("(deleted)", "");
        let f = f.trim();
        !f.is_empty() && !is_shared_library(f) && !f.starts_with('[')
    }) {
        out.swap(0, i);
    }
    if out.len() > 1 && out[0].file.starts_with("/anon_hugepage") && out[0].limit == out[1].start {
        out.remove(0);
    }
    if let Some(m) = out.first_mut() {
        if m.start.wrapping_sub(m.offset) == 0x400000 {
            m.start = 0x400000;
            m.offset = 0;
        }
    }
    out
}

fn adjacent(a: &Map, b: &Map) -> bool {
    if !a.file.is_empty() && !b.file.is_empty() && a.file != b.file {
        return false;
    }
    if !a.build_id.is_empty() && !b.build_id.is_empty() && a.build_id != b.build_id {
        return false;
    }
    if a.limit != b.start {
        return false;
    }
    !(a.offset != 0 && b.offset != 0 && a.offset.wrapping_add(a.limit - a.start) != b.offset)
}

/// pprof's `libRx`: `.so` at the end, or `.so.N` / `.so_N`.
fn is_shared_library(f: &str) -> bool {
    f.ends_with(".so")
        || f.match_indices(".so").any(|(i, _)| {
            let rest = &f.as_bytes()[i + 3..];
            rest.len() >= 2 && (rest[0] == b'.' || rest[0] == b'_') && rest[1].is_ascii_digit()
        })
}

/// Drops a glog prefix (`I0102 15:04:05.000 file.cc:12] `) from a map line.
fn strip_log_prefix(line: &str) -> &str {
    if let Some(end) = line.find("] ") {
        let head = &line[..end];
        if !head.contains('[') {
            if let Some((_, n)) = head.rsplit_once(':') {
                if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
                    return line[end + 1..].trim_start();
                }
            }
        }
    }
    line
}

/// Parses one memory map entry: `Some(Some(m))` for an executable mapping,
/// `Some(None)` for one to skip (not executable), `None` when the line is not a
/// mapping at all.
fn mapping_entry(line: &str) -> Option<Option<Map>> {
    let line = line.trim_start();
    let (start, rest) = hex_token(line)?;
    let rest = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix(char::is_whitespace))
        .unwrap_or(rest)
        .trim_start();
    let (limit, rest) = hex_token(rest)?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = rest.split_whitespace().peekable();
    let perm = words
        .next_if(|w| w.bytes().all(|c| b"-rwxp".contains(&c)))
        .map(str::to_string);
    let rest: Vec<&str> = words.collect();
    // /proc/PID/maps: offset, dev (hex:hex), inode, then the optional path.
    let proc_maps = rest.len() >= 3
        && is_hex(rest[0])
        && rest[1]
            .split_once(':')
            .is_some_and(|(a, b)| is_hex(a) && is_hex(b))
        && rest[2].bytes().all(|c| c.is_ascii_digit());
    let (offset, file, build_id) = if proc_maps {
        (
            u64::from_str_radix(rest[0], 16).ok()?,
            rest.get(3).copied().unwrap_or_default(),
            "",
        )
    } else {
        let file = rest.first().copied().unwrap_or_default();
        let mut i = 1;
        let mut offset = 0;
        if let Some(o) = rest
            .get(1)
            .and_then(|w| w.strip_prefix("(@"))
            .and_then(|w| w.strip_suffix(')'))
        {
            offset = u64::from_str_radix(o, 16).ok()?;
            i = 2;
        }
        let build_id = rest
            .get(i)
            .copied()
            .filter(|w| is_hex(w))
            .unwrap_or_default();
        (offset, file, build_id)
    };
    if perm.as_deref().is_some_and(|p| !p.contains('x')) {
        return Some(None);
    }
    Some(Some(Map {
        start,
        limit,
        offset,
        file: file.to_string(),
        build_id: build_id.to_string(),
    }))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A hex number with an optional `0x`, and what follows it.
fn hex_token(s: &str) -> Option<(u64, &str)> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    let len = s.bytes().take_while(u8::is_ascii_hexdigit).count();
    if len == 0 {
        return None;
    }
    Some((u64::from_str_radix(&s[..len], 16).ok()?, &s[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCMALLOC: &str = "heap profile:   3: 3072 [ 3: 3072] @ heapprofile
   2: 2048 [ 2: 2048] @ 0x401136 0x401180
   1: 1024 [ 1: 1024] @ 0x401150 0x401180

MAPPED_LIBRARIES:
00400000-00401000 r--p 00000000 00:00 10    /tmp/leak
00401000-00402000 r-xp 00001000 00:00 10    /tmp/leak
7f0000000000-7f0000100000 r-xp 00026000 fe:00 20    /usr/lib/libc.so.6
";

    const JEMALLOC: &str = "heap_v2/524288
  t*: 2: 10240 [0: 0]
  t0: 2: 10240 [0: 0]
@ 0x7f0000000100 0x401136 0x401180
  t*: 2: 10240 [0: 0]
  t0: 2: 10240 [0: 0]

MAPPED_LIBRARIES:
00401000-00402000 r-xp 00001000 00:00 10    /tmp/leak
7f0000000000-7f0000100000 r-xp 00009000 fe:00 21    /usr/lib/libjemalloc.so.2
";

    #[test]
    fn reads_gperftools_exactly() {
        let h = parse(TCMALLOC.as_bytes()).unwrap();
        assert_eq!(h.writer, Writer::Tcmalloc);
        let p = &h.profile;
        assert_eq!(p.sample_types(), [("objects", "count"), ("space", "bytes")]);
        assert_eq!(p.sample[0].value, [2, 2048]);
        assert_eq!(p.sample[1].value, [1, 1024]);
        assert_eq!(p.location[0].address, 0x401135);
        // Non-executable pieces are skipped; the main binary comes first.
        assert_eq!(p.mapping.len(), 2);
        assert_eq!(p.string(p.mapping[0].filename), "/tmp/leak");
        assert_eq!(p.mapping[0].file_offset, 0);
        assert_eq!(p.mapping[0].memory_start, 0x400000);
        assert_eq!(p.location[0].mapping_id, 1);
    }

    #[test]
    fn scales_jemalloc_samples() {
        let h = parse(JEMALLOC.as_bytes()).unwrap();
        assert_eq!(h.writer, Writer::Jemalloc);
        let p = &h.profile;
        assert_eq!(p.sample.len(), 1);
        // Two 5 KiB samples at 1 in 512 KiB stand for about 2 / (1 - e^-(5120/524288)).
        let [n, b] = p.sample[0].value[..] else {
            panic!()
        };
        assert_eq!((n, b), scale(2, 10240, 524288));
        assert!((205..=206).contains(&n), "{n}");
        assert_eq!(p.location.len(), 3);
        assert_eq!(p.string(p.mapping[1].filename), "/usr/lib/libjemalloc.so.2");
        assert_eq!(p.location[0].mapping_id, 2);
    }

    #[test]
    fn headers_name_their_writer() {
        assert_eq!(
            sniff(b"heap_v2/524288\n  t*: 0: 0 [0: 0]\n"),
            Some(Writer::Jemalloc)
        );
        assert_eq!(
            sniff(b"heap profile: 1: 2 [3: 4] @ heap/1048576\n"),
            Some(Writer::Go)
        );
        assert_eq!(
            sniff(b"heap profile:    144:  8498176 [   144:  8498176] @ heapz_v2/524288\n"),
            Some(Writer::Tcmalloc)
        );
        assert_eq!(sniff(b"heap profile: 1: 2 [3: 4] @ growthz\n"), None);
        assert_eq!(sniff(b"heap_v2/abc\n"), None);
        assert_eq!(sniff(b"\x0a\x04"), None);
    }

    #[test]
    fn go_heap_has_alloc_types_and_half_rate() {
        let h = parse(
            &b"heap profile: 1: 524288 [3: 1572864] @ heap/1048576\n1: 524288 [3: 1572864] @ 0x420cef 0x422151\n"[..],
        )
        .unwrap();
        let p = &h.profile;
        assert_eq!(p.period, 524288);
        assert_eq!(p.sample_types().len(), 4);
        assert_eq!(p.sample[0].value, [4, 2488234, 1, 829411]);
    }

    #[test]
    fn bad_lines_are_errors_with_their_number() {
        let e =
            parse(&b"heap profile: 1: 2 [1: 2] @ heapprofile\n1: 2 [1: 2] @ 0x1\nnonsense\n"[..])
                .unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        assert!(
            parse(&b"heap profile: 1: 2 [1: 2] @ heapprofile\n0: 5 [0: 5] @ 0x1\n"[..]).is_err()
        );
        assert!(matches!(parse(&b""[..]), Err(Error::Empty)));
        assert!(parse(&b"@ 0x1\n"[..]).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(bytes.as_slice());
        }

        #[test]
        fn mutated_profiles_never_panic(flips in proptest::collection::vec((0usize..4096, proptest::num::u8::ANY), 1..8), jem in proptest::bool::ANY) {
            let mut bytes = if jem { JEMALLOC } else { TCMALLOC }.as_bytes().to_vec();
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
            if let Ok(h) = parse(bytes.as_slice()) {
                let _ = crate::summarize(&h.profile, "x", crate::Granularity::Line, None);
            }
        }
    }
}
