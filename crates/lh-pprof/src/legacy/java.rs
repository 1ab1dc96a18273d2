//! Java's legacy profiles (`--- heapz 1 ---`, `--- contentionz 1 ---`):
//! `attribute = value` lines, `value value @ addr…` samples, then one
//! `0xADDR function (File.java:line)` line per frame. The CPU profile's
//! binary samples end with the same symbol lines.

use super::{
    hex_addresses, scale_heap_sample, text::parse_go_int, Failure, Legacy, Sample, Symbol,
};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Java's heap sampling interval, fixed in the agent: 512 KiB.
const HEAPZ_SAMPLING_RATE: i64 = 524_288;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Heap,
    Contention,
}

/// The lines that end in `\n`: like pprof, a last line without one is not a header or sample line.
fn terminated(b: &[u8]) -> impl Iterator<Item = (usize, String)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let n = b[at..].iter().position(|&c| c == b'\n')?;
        let line = String::from_utf8_lossy(&b[at..at + n]).trim().to_string();
        let start = at;
        at += n + 1;
        Some((start, line))
    })
}

/// The profile's kind by its first line, and where its body starts.
fn header_line(data: &[u8]) -> Option<(Kind, usize)> {
    let nl = data.iter().position(|&c| c == b'\n')?;
    let kind = match String::from_utf8_lossy(&data[..nl]).trim() {
        "--- heapz 1 ---" => Kind::Heap,
        "--- contentionz 1 ---" => Kind::Contention,
        _ => return None,
    };
    Some((kind, nl))
}

pub(super) fn sniff(head: &[u8]) -> bool {
    header_line(head).is_some()
}

pub(super) fn parse(data: &[u8]) -> Result<Legacy, Failure> {
    let (kind, nl) = header_line(data).ok_or(Failure::Unrecognized)?;
    let mut l = Legacy {
        period_type: Some((String::new(), String::new())),
        addressless: true,
        ..Default::default()
    };
    let body = &data[nl + 1..];
    let samples_at = header(kind, body, &mut l)?;
    let symbols_at = samples(kind, &body[samples_at..], &mut l)?;
    symbols(&body[samples_at + symbols_at..], &mut l)?;
    Ok(l)
}

/// The `attribute = value` lines; returns where the samples start.
fn header(kind: Kind, b: &[u8], l: &mut Legacy) -> Result<usize, Failure> {
    static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([\w ]+)=([\w ]+)").unwrap());
    for (at, line) in terminated(b) {
        if line.is_empty() {
            continue;
        }
        let Some(c) = ATTRIBUTE.captures(&line) else {
            return Ok(at);
        };
        let (attr, value) = (c[1].trim(), c[2].trim());
        let number = || {
            parse_go_int(value)
                .ok_or_else(|| Failure::Malformed(format!("bad number in attribute {line:?}")))
        };
        match (kind, attr) {
            (_, "format") if value != "java" => return Err(Failure::Unrecognized),
            (_, "format") => {}
            (Kind::Heap, "resolution") => {
                l.sample_types = super::types(&[("inuse_objects", "count"), ("inuse_space", value)])
            }
            (Kind::Contention, "resolution") => {
                l.sample_types = super::types(&[("contentions", "count"), ("delay", value)])
            }
            (Kind::Contention, "sampling period") => {
                l.period_type = Some(("contentions".into(), "count".into()));
                l.period = number()?;
            }
            (Kind::Contention, "ms since reset") => {
                l.duration_nanos = number()?.wrapping_mul(1_000_000)
            }
            _ => return Err(Failure::Unrecognized),
        }
    }
    // Every line was an attribute: what follows the last full line is next.
    Ok(after_last_line(b))
}

/// The sample lines; returns where the symbols start.
fn samples(kind: Kind, b: &[u8], l: &mut Legacy) -> Result<usize, Failure> {
    static SAMPLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r" *(\d+) +(\d+) +@ +([ x0-9a-f]*)").unwrap());
    for (at, line) in terminated(b) {
        if line.is_empty() {
            continue;
        }
        let Some(c) = SAMPLE.captures(&line) else {
            return Ok(at);
        };
        let addrs = hex_addresses(&c[3])?;
        let num = |s: &str| {
            parse_go_int(s).ok_or_else(|| Failure::Malformed(format!("bad number in {line:?}")))
        };
        let (mut v0, mut v1) = (num(&c[2])?, num(&c[1])?);
        let mut block_size = None;
        match kind {
            Kind::Heap => {
                if v0 == 0 {
                    return Err(Failure::Malformed(format!(
                        "sample {line:?}: the second value must be non-zero"
                    )));
                }
                block_size = Some(v1 / v0);
                (v0, v1) = scale_heap_sample(v0, v1, HEAPZ_SAMPLING_RATE);
            }
            Kind::Contention if l.period != 0 => {
                v0 = v0.wrapping_mul(l.period);
                v1 = v1.wrapping_mul(l.period);
            }
            Kind::Contention => {}
        }
        l.samples.push(Sample {
            addrs,
            values: vec![v0, v1],
            block_size,
        });
    }
    Ok(after_last_line(b))
}

fn after_last_line(b: &[u8]) -> usize {
    b.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1)
}

/// The `0xADDR function (File.java:line)` lines naming the frames.
pub(super) fn symbols(b: &[u8], l: &mut Legacy) -> Result<(), Failure> {
    static LOCATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\s*0x([[:xdigit:]]+)\s+(.*)\s*$").unwrap());
    static FILE_LINE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(.*)\s+\((.+):(-?[[:digit:]]+)\)$").unwrap());
    static PATH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.*)\s+\((.*)\)$").unwrap());
    let used: std::collections::HashSet<u64> = l
        .samples
        .iter()
        .flat_map(|s| s.addrs.iter().copied())
        .collect();
    // pprof keeps one function per name, with the file it was first seen in.
    let mut file_of: HashMap<String, String> = HashMap::new();
    for line in String::from_utf8_lossy(b).lines() {
        let line = line.trim();
        let Some(c) = LOCATION.captures(line) else {
            continue;
        };
        let addr = u64::from_str_radix(&c[1], 16)
            .map_err(|_| Failure::Malformed(format!("bad address in {line:?}")))?;
        if !used.contains(&addr) {
            continue;
        }
        let what = &c[2];
        let (name, file, line_no) = if let Some(f) = FILE_LINE.captures(what) {
            let n = f[3].parse::<i64>().ok().filter(|&n| n > 0).unwrap_or(0);
            (f[1].to_string(), f[2].to_string(), n)
        } else if let Some(p) = PATH.captures(what) {
            (p[1].to_string(), base_name(&p[2]), 0)
        } else if what.contains("generated stub/JIT") {
            ("STUB".to_string(), String::new(), 0)
        } else {
            (what.to_string(), String::new(), 0)
        };
        let file = file_of.entry(name.clone()).or_insert(file).clone();
        l.symbols.insert(
            addr,
            Symbol {
                name,
                file,
                line: line_no,
            },
        );
    }
    Ok(())
}

/// Go's `filepath.Base`.
fn base_name(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}
