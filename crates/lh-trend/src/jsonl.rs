//! The `trend`/`detect` JSONL contract: one [`Series`] per line in, one
//! [`Verdict`] per line out.

use lh_model::{Series, Verdict};
use std::io::{BufRead, Write};

/// A line that is not a series. Carries the line number, so a user can find it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Parses one line; blank lines give `None`.
pub fn parse_line(line: &str, number: usize) -> Result<Option<Series>, Error> {
    let l = line.trim();
    if l.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(l)
        .map(Some)
        .map_err(|e| Error::Line {
            line: number,
            message: format!(
                "not a series ({e}); expected {{\"id\": …, \"limit_bytes\": …, \"points\": [[unix_seconds, bytes], …]}}"
            ),
        })
}

/// Reads every series of a JSONL text, in order. Large inputs (the 10,000
/// series benchmark is about 700 MB) are parsed on every core.
pub fn parse_all(text: &str) -> Result<Vec<Series>, Error> {
    let lines: Vec<&str> = text.lines().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = lines.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<Series>, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = lines
            .chunks(chunk)
            .enumerate()
            .map(|(c, ls)| {
                s.spawn(move || {
                    let mut v = Vec::with_capacity(ls.len());
                    for (i, l) in ls.iter().enumerate() {
                        if let Some(s) = parse_line(l, c * chunk + i + 1)? {
                            v.push(s);
                        }
                    }
                    Ok(v)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("parser thread"))
            .collect()
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Reads series from a buffered reader, line by line.
pub fn read(r: impl BufRead) -> Result<Vec<Series>, Error> {
    let mut out = Vec::new();
    for (i, l) in r.lines().enumerate() {
        if let Some(s) = parse_line(&l?, i + 1)? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Writes one series per line.
pub fn write_series(w: &mut impl Write, s: &Series) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, s)?;
    w.write_all(b"\n")
}

/// Writes one verdict per line.
pub fn write_verdict(w: &mut impl Write, v: &Verdict) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// Runs the detector over many series on every core, keeping their order.
pub fn detect_all(series: &[Series], opts: &crate::Options) -> Vec<Verdict> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = series.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let hs: Vec<_> = series
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|x| crate::detect(x, opts)).collect::<Vec<_>>()))
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("detector thread"))
            .collect()
    })
}
