//! pprof's legacy formats, read with the semantics of the Go `profile`
//! package (`legacy_profile.go`, `legacy_java_profile.go`), which is what
//! `go tool pprof` shows for them: the values it scales, the frames it
//! adjusts, the sample types it names.
//!
//! The formats are told apart by content, as pprof does: each reader in
//! [`READERS`] says whether the bytes are its format ([`Unrecognized`]) and
//! the first that claims them reads them. Most carry raw addresses and the
//! process's memory map (`--- Memory map: ---` or `MAPPED_LIBRARIES:`),
//! which become the profile's mappings for a symbolizer; Java's carry
//! function names.

mod cpu;
pub mod heap;
mod java;
mod text;

use crate::proto::{self, Profile};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// A reader's verdict on bytes that are not its format: the next one is tried.
pub(crate) struct Unrecognized;

/// Why a legacy profile could not be read.
pub(crate) enum Failure {
    /// No legacy reader claims the bytes.
    Unrecognized,
    /// A reader claimed them and found them broken.
    Malformed(String),
}

impl From<Unrecognized> for Failure {
    fn from(_: Unrecognized) -> Self {
        Failure::Unrecognized
    }
}

type Reader = fn(&[u8]) -> Result<Legacy, Failure>;

/// In pprof's order: the binary CPU format first, then the text formats by
/// their headers.
const READERS: &[Reader] = &[
    cpu::parse,
    text::parse_growth,
    text::parse_go_count,
    text::parse_thread,
    text::parse_contention,
    java::parse,
];

/// Whether the head of a file (its first kilobytes) starts as one of the
/// legacy formats does: for telling formats apart without reading it all.
pub(crate) fn sniff(head: &[u8]) -> bool {
    cpu::sniff(head) || text::sniff(head) || java::sniff(head)
}

/// Reads a legacy profile, or says that none of the formats is this one.
pub(crate) fn parse(data: &[u8]) -> Result<Profile, Failure> {
    for read in READERS {
        match read(data) {
            Ok(l) => return Ok(l.into_profile()),
            Err(Failure::Unrecognized) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Failure::Unrecognized)
}

/// A frame's symbol, where the format names it (Java).
#[derive(Clone, Debug, PartialEq)]
struct Symbol {
    name: String,
    file: String,
    line: i64,
}

/// A sample as the legacy formats give it: addresses, leaf first.
struct Sample {
    addrs: Vec<u64>,
    values: Vec<i64>,
    /// pprof's `bytes` numeric label: the average block size.
    block_size: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct Mapping {
    start: u64,
    limit: u64,
    offset: u64,
    file: String,
    build_id: String,
}

/// A legacy profile before it is laid out as `profile.proto`.
#[derive(Default)]
struct Legacy {
    sample_types: Vec<(String, String)>,
    period_type: Option<(String, String)>,
    period: i64,
    duration_nanos: i64,
    samples: Vec<Sample>,
    mappings: Vec<Mapping>,
    /// Symbols by address (Java).
    symbols: HashMap<u64, Symbol>,
    /// Java's profiles: pprof aggregates their addresses away, keeping the symbols.
    addressless: bool,
}

pub(super) fn types(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(t, u)| (t.to_string(), u.to_string()))
        .collect()
}

impl Legacy {
    fn new(sample_types: &[(&str, &str)], period_type: (&str, &str), period: i64) -> Self {
        Legacy {
            sample_types: types(sample_types),
            period_type: Some((period_type.0.into(), period_type.1.into())),
            period,
            ..Default::default()
        }
    }

    /// Lays the profile out as pprof does: locations numbered in order of
    /// first use by a sample, one per address; each address in the mapping
    /// that holds it, or in a catch-all mapping when none does.
    fn into_profile(mut self) -> Profile {
        massage_mappings(&mut self.mappings);
        let mut p = Profile {
            string_table: vec![String::new()],
            period: self.period,
            duration_nanos: self.duration_nanos,
            ..Default::default()
        };
        let mut strings: HashMap<String, i64> = HashMap::from([(String::new(), 0)]);
        let mut s = |v: &str| -> i64 {
            if let Some(&i) = strings.get(v) {
                return i;
            }
            p.string_table.push(v.to_string());
            let i = p.string_table.len() as i64 - 1;
            strings.insert(v.to_string(), i);
            i
        };
        p.sample_type = self
            .sample_types
            .iter()
            .map(|(t, u)| proto::ValueType {
                r#type: s(t),
                unit: s(u),
            })
            .collect();
        p.period_type = self.period_type.as_ref().map(|(t, u)| proto::ValueType {
            r#type: s(t),
            unit: s(u),
        });
        let bytes_key = s("bytes");
        let mut functions: HashMap<String, u64> = HashMap::new();
        let mut location_of: HashMap<u64, u64> = HashMap::new();
        let mut fake_mapping = None;
        let mut samples = Vec::with_capacity(self.samples.len());
        for sample in &self.samples {
            let mut ids = Vec::with_capacity(sample.addrs.len());
            for &addr in &sample.addrs {
                let id = *location_of.entry(addr).or_insert_with(|| {
                    let id = p.location.len() as u64 + 1;
                    let mut loc = proto::Location {
                        id,
                        address: addr,
                        ..Default::default()
                    };
                    if let Some(sym) = self.symbols.get(&addr) {
                        let next = functions.len() as u64 + 1;
                        let fid = *functions.entry(sym.name.clone()).or_insert_with(|| {
                            let name = s(&sym.name);
                            p.function.push(proto::Function {
                                id: next,
                                name,
                                system_name: name,
                                filename: s(&sym.file),
                                start_line: 0,
                            });
                            next
                        });
                        loc.line = vec![proto::Line {
                            function_id: fid,
                            line: sym.line,
                            column: 0,
                        }];
                    }
                    if self.addressless {
                        loc.address = 0;
                    }
                    p.location.push(loc);
                    id
                });
                ids.push(id);
            }
            samples.push(proto::Sample {
                location_id: ids,
                value: sample.values.clone(),
                label: sample
                    .block_size
                    .map(|b| proto::Label {
                        key: bytes_key,
                        num: b,
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
            });
        }
        p.sample = samples;
        for loc in &mut p.location {
            let a = loc.address;
            if a == 0 {
                // No address (a Java frame, named instead): no mapping.
                continue;
            }
            if let Some(i) = self
                .mappings
                .iter()
                .position(|m| m.start <= a && a < m.limit)
            {
                loc.mapping_id = i as u64 + 1;
                continue;
            }
            // Legacy handlers may leave out the first part of a split mapping.
            if let Some(i) = self
                .mappings
                .iter()
                .position(|m| m.offset != 0 && m.start.wrapping_sub(m.offset) <= a && a < m.start)
            {
                let m = &mut self.mappings[i];
                m.start -= m.offset;
                m.offset = 0;
                loc.mapping_id = i as u64 + 1;
                continue;
            }
            let fake = *fake_mapping.get_or_insert_with(|| {
                self.mappings.push(Mapping {
                    limit: u64::MAX,
                    ..Default::default()
                });
                self.mappings.len() as u64
            });
            loc.mapping_id = fake;
        }
        let has_symbols = !self.symbols.is_empty();
        p.mapping = self
            .mappings
            .iter()
            .enumerate()
            .map(|(i, m)| proto::Mapping {
                id: i as u64 + 1,
                memory_start: m.start,
                memory_limit: m.limit,
                file_offset: m.offset,
                filename: s(&m.file),
                build_id: s(&m.build_id),
                has_functions: has_symbols,
                has_filenames: has_symbols,
                has_line_numbers: has_symbols,
                has_inline_frames: has_symbols,
            })
            .collect();
        p
    }
}

/// pprof's estimate of what a sampled heap held: a block of average size
/// `size / count` is sampled with probability `1 - exp(-avg / rate)`, so
/// each value is divided by that (`rate <= 1`: everything was sampled).
fn scale_heap_sample(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, size);
    }
    let avg = size as f64 / count as f64;
    let scale = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * scale) as i64, (size as f64 * scale) as i64)
}

/// `0x…` numbers in a line, in order; a number too big for 64 bits makes the line malformed.
fn hex_addresses(line: &str) -> Result<Vec<u64>, Failure> {
    static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"0x[0-9a-f]+").unwrap());
    HEX.find_iter(line)
        .map(|m| {
            u64::from_str_radix(&m.as_str()[2..], 16).map_err(|_| {
                Failure::Malformed(format!(
                    "address {} does not fit in 64 bits in {line:?}",
                    m.as_str()
                ))
            })
        })
        .collect()
}

/// Blank lines and `#` comments, which every text format skips.
fn is_space_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Where the memory map starts.
fn is_memory_map_sentinel(line: &str) -> bool {
    line.contains("--- Memory map: ---") || line.contains("MAPPED_LIBRARIES:")
}

/// Lines of text, as Go's `bufio.Scanner` splits them (a `\r` before the
/// `\n` dropped); bytes that are not UTF-8 are kept lossily.
fn lines(data: &[u8]) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n').map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        String::from_utf8_lossy(l)
    })
}

/// The memory map at the end of most legacy profiles, in the layouts pprof
/// accepts: `/proc/PID/maps` and the brief `start-end file (@offset) buildid`.
/// Lines of other shapes are skipped, and `name=value` lines define
/// `$name` for the lines after them, as in pprof.
fn parse_mappings<'a>(lines: impl Iterator<Item = std::borrow::Cow<'a, str>>) -> Vec<Mapping> {
    static LOG_PREFIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[^\[\]]+:[0-9]+]\s").unwrap());
    static PROC_MAPS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^\s*(?:0x)?([[:xdigit:]]+)[\s-]?\s*(?:0x)?([[:xdigit:]]+):?",
            r"(?:\s+([-rwxp]+))?(?:\s+([[:xdigit:]]+))?\s+[[:xdigit:]]+:[[:xdigit:]]+\s+[[:digit:]]+(?:\s+(\S+))?"
        ))
        .unwrap()
    });
    static BRIEF_MAPS: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^\s*(?:0x)?([[:xdigit:]]+)[\s-]?\s*(?:0x)?([[:xdigit:]]+):?",
            r"(?:\s+([-rwxp]+))?(?:\s+(\S+))?(?:\s+\(@([[:xdigit:]]+)\))?(?:\s+([[:xdigit:]]+))?"
        ))
        .unwrap()
    });
    let mut out = Vec::new();
    let mut vars: Vec<(String, String)> = Vec::new();
    for raw in lines {
        let mut line = match LOG_PREFIX.find(&raw) {
            Some(m) => raw[m.end()..].to_string(),
            None => raw.to_string(),
        };
        for (k, v) in &vars {
            line = line.replace(k.as_str(), v);
        }
        let (start, end, perm, offset, file, build_id);
        if let Some(c) = PROC_MAPS.captures(&line) {
            (start, end, perm, offset, file, build_id) =
                (c.get(1), c.get(2), c.get(3), c.get(4), c.get(5), None);
        } else if let Some(c) = BRIEF_MAPS.captures(&line) {
            (start, end, perm, file, offset, build_id) =
                (c.get(1), c.get(2), c.get(3), c.get(4), c.get(5), c.get(6));
        } else {
            if let Some((k, v)) = line.split_once('=') {
                vars.push((format!("${}", k.trim()), v.trim().to_string()));
            }
            continue;
        }
        let text = |m: Option<regex::Match>| m.map_or("", |m| m.as_str()).to_string();
        if perm.is_some_and(|p| !p.as_str().contains('x')) {
            continue;
        }
        let hex = |m: Option<regex::Match>| u64::from_str_radix(m.map_or("", |m| m.as_str()), 16);
        let (Ok(start), Ok(limit)) = (hex(start), hex(end)) else {
            continue;
        };
        let offset = match offset {
            Some(_) => match hex(offset) {
                Ok(o) => o,
                Err(_) => continue,
            },
            None => 0,
        };
        out.push(Mapping {
            start,
            limit,
            offset,
            file: text(file),
            build_id: text(build_id),
        });
    }
    out
}

/// pprof's clean-up of a memory map: adjacent pieces of one file merged,
/// the main binary first, a leading `/anon_hugepage` dropped, and the main
/// binary moved to 0x400000 where its offset says it starts there.
fn massage_mappings(m: &mut Vec<Mapping>) {
    if m.len() > 1 {
        let mut merged: Vec<Mapping> = vec![m[0].clone()];
        for n in m.drain(1..) {
            let last = merged.last_mut().expect("not empty");
            if adjacent(last, &n) {
                last.limit = n.limit;
                if !n.file.is_empty() {
                    last.file = n.file;
                }
                if !n.build_id.is_empty() {
                    last.build_id = n.build_id;
                }
                continue;
            }
            merged.push(n);
        }
        *m = merged;
    }
    static LIB: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"([.]so$|[.]so[._][0-9]+)").unwrap());
    if let Some(i) = m.iter().position(|x| {
        let f = x.file.replace("(deleted)", "");
        let f = f.trim();
        !f.is_empty() && !LIB.is_match(f) && !f.starts_with('[')
    }) {
        m.swap(0, i);
    }
    if m.len() > 1 && m[0].file.starts_with("/anon_hugepage") && m[0].limit == m[1].start {
        m.remove(0);
    }
    if let Some(first) = m.first_mut() {
        if first.start.wrapping_sub(first.offset) == 0x400000 {
            first.start = 0x400000;
            first.offset = 0;
        }
    }
}

fn adjacent(a: &Mapping, b: &Mapping) -> bool {
    if !a.file.is_empty() && !b.file.is_empty() && a.file != b.file {
        return false;
    }
    if !a.build_id.is_empty() && !b.build_id.is_empty() && a.build_id != b.build_id {
        return false;
    }
    if a.limit != b.start {
        return false;
    }
    if a.offset != 0
        && b.offset != 0
        && a.offset.wrapping_add(a.limit.wrapping_sub(a.start)) != b.offset
    {
        return false;
    }
    true
}

/// pprof drops a duplicated leaf: the handler records the signal's PC and
/// the same PC (minus one) unwound from the stack.
fn drop_duplicate_leaf(samples: &mut [Sample]) {
    for s in samples {
        if s.addrs.len() > 1 && s.addrs[0] == s.addrs[1].wrapping_add(1) {
            s.addrs.remove(1);
        }
    }
}
