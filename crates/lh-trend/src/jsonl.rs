//! The `trend`/`detect` JSONL contract: one [`Series`] per line in, one
//! [`Verdict`] per line out.

use lh_model::{Series, Verdict};
use std::io::{Read, Write};
use std::sync::Mutex;

/// A line that is not a series. Carries the line number, so a user can find it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A line that is not JSON, or not a series.
    #[error("line {line}: {message}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Transparent: the caller names the file, and the cause printed once.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl lh_model::Classify for Error {
    /// A bad line is the file's fault; a failed read is classified by its cause.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::Line { .. } => lh_model::ErrorClass::Usage,
            Error::Io(e) => lh_model::Classify::class(e),
        }
    }
}

/// Parses one line; blank lines give `None`.
pub fn parse_line(line: &str, number: usize) -> Result<Option<Series>, Error> {
    parse_bytes(line.as_bytes(), number)
}

/// [`parse_line`] on bytes.
fn parse_bytes(line: &[u8], number: usize) -> Result<Option<Series>, Error> {
    let l = line.trim_ascii();
    if l.is_empty() {
        return Ok(None);
    }
    if let Some((s, len)) = Fast::new(l).series(&mut Vec::new()) {
        if len == l.len() {
            return Ok(Some(s));
        }
    }
    serde_json::from_slice(l)
        .map(Some)
        .map_err(|e| Error::Line {
            line: number,
            message: format!(
                "not a series ({e}); expected {{\"id\": …, \"limit_bytes\": …, \"points\": [[unix_seconds, bytes], …], \"load\" (optional): [[unix_seconds, value], …]}}"
            ),
        })
}

/// Powers of ten, all exact in an f64.
const POW10: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// A parser for the one shape producers write: `{"id": "…", "limit_bytes":
/// N or null, "points": [[t, v], …]}` and an optional `"load": [[t, x], …]`, keys in any order, numbers of digits
/// with an optional fraction. The points are nearly all of a line, and serde's
/// generic path spends most of the batch's parse time on them. Anything else
/// (escapes, signs, exponents, other keys, bad syntax) gives `None`, and serde
/// parses the line instead, so results and error messages stay serde's. It
/// runs on a block of lines and finds the end of its line itself, so the
/// usual line is scanned once.
struct Fast<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Fast<'a> {
    fn new(b: &'a [u8]) -> Self {
        Fast { b, i: 0 }
    }

    /// The next byte after blanks within the line (a newline ends the line, so
    /// it is not a blank here).
    fn peek(&mut self) -> Option<u8> {
        while let Some(b' ' | b'\t' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// The series at the start of the input, and the bytes of its line
    /// (newline included). `points` is the buffer to fill; it is taken on success.
    fn series(mut self, points: &mut Vec<(f64, f64)>) -> Option<(Series, usize)> {
        points.clear();
        let (mut id, mut limit, mut seen_points, mut load) = (None, None, false, None);
        self.eat(b'{')?;
        loop {
            match self.string()? {
                "id" if id.is_none() => {
                    self.eat(b':')?;
                    id = Some(self.string()?.to_owned());
                }
                "limit_bytes" if limit.is_none() => {
                    self.eat(b':')?;
                    limit = Some(if self.peek()? == b'n' {
                        self.b[self.i..].starts_with(b"null").then(|| self.i += 4)?;
                        None
                    } else {
                        Some(self.integer()?)
                    });
                }
                "points" if !seen_points => {
                    self.eat(b':')?;
                    self.points(points)?;
                    seen_points = true;
                }
                "load" if load.is_none() => {
                    self.eat(b':')?;
                    let mut l = Vec::new();
                    self.points(&mut l)?;
                    load = Some(l);
                }
                _ => return None,
            }
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.i += 1;
        match self.peek() {
            None => {}
            Some(b'\n') => self.i += 1,
            Some(_) => return None,
        }
        seen_points.then_some(())?;
        let s = Series {
            id: id?,
            limit_bytes: limit.flatten(),
            points: std::mem::take(points),
            load,
        };
        Some((s, self.i))
    }

    /// A string without escapes or control characters (which serde rejects).
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.b[self.i..];
        let len = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.i += len + 1;
        std::str::from_utf8(&rest[..len]).ok()
    }

    fn points(&mut self, out: &mut Vec<(f64, f64)>) -> Option<()> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.eat(b'[')?;
            let t = self.number()?;
            self.eat(b',')?;
            let v = self.number()?;
            self.eat(b']')?;
            out.push((t, v));
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Digits without a superfluous leading zero, as a u64; `None` past 19
    /// digits, which might not fit (serde decides those).
    fn integer(&mut self) -> Option<u64> {
        let start = self.i;
        let n = self.digits(0);
        let len = self.i - start;
        (len > 0 && len <= 19 && !(len > 1 && self.b[start] == b'0')).then_some(n)
    }

    /// Continues `n` with the digits that follow, eight at a time while it
    /// can (digits are most of the input). Wraps on overflow: callers count digits.
    fn digits(&mut self, mut n: u64) -> u64 {
        while let Some(Ok(eight)) = self.b.get(self.i..self.i + 8).map(<[u8; 8]>::try_from) {
            let v = u64::from_le_bytes(eight);
            // Every byte in '0'..='9' (the test and the conversion are fast_float's).
            if (v.wrapping_add(0x4646_4646_4646_4646) | v.wrapping_sub(0x3030_3030_3030_3030))
                & 0x8080_8080_8080_8080
                != 0
            {
                break;
            }
            let v = v - 0x3030_3030_3030_3030;
            let v = v * 10 + (v >> 8);
            let hi = (v & 0x0000_00FF_0000_00FF).wrapping_mul(0x000F_4240_0000_0064);
            let lo = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(0x0000_2710_0000_0001);
            n = n
                .wrapping_mul(100_000_000)
                .wrapping_add(u64::from((hi.wrapping_add(lo) >> 32) as u32));
            self.i += 8;
        }
        while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
            n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
            self.i += 1;
        }
        n
    }

    /// A JSON number converted as serde_json converts it: an integer is
    /// `u64 as f64`; with a fraction, the significand (below 2^53, so exact)
    /// over a power of ten up to 10^19 (exact too): one correctly rounded
    /// division, the value serde_json gives with or without its
    /// `float_roundtrip` feature. Other numbers are left to serde.
    fn number(&mut self) -> Option<f64> {
        self.peek()?;
        let start = self.i;
        let m = self.integer()?;
        let f = if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            let from = self.i;
            let m = self.digits(m);
            // At most 19 digits in all (and the dot): no overflow.
            if self.i == from || self.i - start > 20 || m >= 1 << 53 {
                return None;
            }
            m as f64 / POW10.get(self.i - from)?
        } else {
            m as f64
        };
        (!matches!(self.b.get(self.i), Some(b'e' | b'E'))).then_some(f)
    }
}

/// Reads every series of a JSONL text, in order. Large inputs (the 10,000
/// series benchmark is about 650 MB) are parsed on every core.
pub fn parse_all(text: &str) -> Result<Vec<Series>, Error> {
    read(text.as_bytes())
}

/// Reads every series from a reader, in order, parsing on every core.
pub fn read(r: impl Read + Send) -> Result<Vec<Series>, Error> {
    let mut all = Vec::new();
    for_each_series(r, Series::clone, |s| {
        all.push(s);
        Ok(())
    })?;
    Ok(all)
}

/// Runs the detector over every series of a JSONL stream and returns the
/// verdicts in input order (see [`detect_each`] to stream them instead).
pub fn detect_reader(r: impl Read + Send, opts: &crate::Options) -> Result<Vec<Verdict>, Error> {
    let mut all = Vec::new();
    detect_each(r, opts, |v| {
        all.push(v);
        Ok(())
    })?;
    Ok(all)
}

/// Runs the detector over every series of a JSONL stream and hands each
/// verdict to `emit` in input order, as soon as the ones before it are out;
/// returns how many there were. Reading, parsing and judging run together
/// on every core, block by block, so neither the file nor its verdicts are
/// ever held whole in memory: a fleet of 100,000 series takes what a few
/// blocks take.
pub fn detect_each(
    r: impl Read + Send,
    opts: &crate::Options,
    emit: impl FnMut(Verdict) -> std::io::Result<()>,
) -> Result<usize, Error> {
    for_each_series(r, |s| crate::detect(s, opts), emit)
}

/// Input blocks handed to a worker: large enough that taking one (under a
/// lock) is rare, small enough that both cores get many.
const BLOCK: u64 = 4 << 20;

/// The shared reader: whole lines, in numbered blocks.
struct Feed<R> {
    r: R,
    /// The start of a line that the last block cut.
    carry: Vec<u8>,
    next_block: usize,
    /// The end of the input was read.
    done: bool,
    /// A worker met a bad line: hand out nothing more.
    stopped: bool,
}

impl<R: Read> Feed<R> {
    /// Fills `buf` with the next whole lines and gives the block's index.
    fn take(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<usize>> {
        buf.clear();
        if self.stopped {
            return Ok(None);
        }
        buf.append(&mut self.carry);
        while !self.done {
            let from = buf.len();
            if (&mut self.r).take(BLOCK).read_to_end(buf)? == 0 {
                self.done = true;
            } else if let Some(nl) = buf[from..].iter().rposition(|&c| c == b'\n') {
                self.carry.extend_from_slice(&buf[from + nl + 1..]);
                buf.truncate(from + nl + 1);
                break;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        self.next_block += 1;
        Ok(Some(self.next_block - 1))
    }
}

/// Applies `f` to every series of a JSONL stream on every core and hands
/// the results to `emit` in input order; returns how many there were. On bad
/// input the error is the one a line-by-line reader would meet first:
/// blocks before a failing one are finished and emitted, later ones are not
/// started. Workers count the lines of their blocks, so line numbers of
/// errors are settled here.
fn for_each_series<R, T, F>(
    r: R,
    f: F,
    mut emit: impl FnMut(T) -> std::io::Result<()>,
) -> Result<usize, Error>
where
    R: Read + Send,
    T: Send,
    F: Fn(&Series) -> T + Sync,
{
    let feed = Mutex::new(Feed {
        r,
        carry: Vec::new(),
        next_block: 0,
        done: false,
        stopped: false,
    });
    let stop = || feed.lock().unwrap_or_else(|p| p.into_inner()).stopped = true;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // What a worker sends: a block done as (index, lines, results), or an
    // error as (block, error with the line number within the block).
    enum Part<T> {
        Done(usize, usize, Vec<T>),
        Failed(usize, Error),
    }
    // A few blocks may wait in the channel: a worker that runs ahead waits
    // there, so memory stays a few blocks' worth however long the input.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Part<T>>(2 * threads);
    let worker = |tx: std::sync::mpsc::SyncSender<Part<T>>| {
        let (mut buf, mut points) = (Vec::new(), Vec::new());
        loop {
            let next = feed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(&mut buf);
            let block = match next {
                Ok(Some(b)) => b,
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Part::Failed(usize::MAX, e.into()));
                    return;
                }
            };
            let (mut out, mut lines, mut at) = (Vec::new(), 0, 0);
            while at < buf.len() {
                lines += 1;
                let rest = &buf[at..];
                let parsed = match Fast::new(rest).series(&mut points) {
                    Some((s, len)) => {
                        at += len;
                        Ok(Some(s))
                    }
                    None => {
                        let len = rest
                            .iter()
                            .position(|&c| c == b'\n')
                            .map_or(rest.len(), |n| n + 1);
                        at += len;
                        parse_bytes(&rest[..len], lines)
                    }
                };
                match parsed {
                    Ok(Some(s)) => {
                        out.push(f(&s));
                        points = s.points;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        stop();
                        let _ = tx.send(Part::Failed(block, e));
                        return;
                    }
                }
            }
            if tx.send(Part::Done(block, lines, out)).is_err() {
                return;
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            let tx = tx.clone();
            s.spawn(move || worker(tx));
        }
        drop(tx);
        // Blocks that arrived before their turn, the next one to emit, the
        // lines emitted so far, and the first error by input order.
        let mut waiting = std::collections::BTreeMap::new();
        let (mut next, mut lines, mut count) = (0, 0, 0);
        let mut failed: Option<(usize, Error)> = None;
        for part in rx {
            match part {
                Part::Done(b, l, out) => {
                    waiting.insert(b, (l, out));
                }
                Part::Failed(b, e) => {
                    if failed.as_ref().is_none_or(|f| b < f.0) {
                        failed = Some((b, e));
                    }
                }
            }
            while failed.as_ref().is_none_or(|f| next < f.0) {
                let Some((l, out)) = waiting.remove(&next) else {
                    break;
                };
                next += 1;
                lines += l;
                for t in out {
                    count += 1;
                    if let Err(e) = emit(t) {
                        // The output is gone (a closed pipe): stop reading.
                        stop();
                        failed.get_or_insert((0, e.into()));
                        waiting.clear();
                        break;
                    }
                }
            }
        }
        match failed {
            Some((_, mut e)) => {
                // Every block before the failing one was emitted.
                if let Error::Line { line, .. } = &mut e {
                    *line += lines;
                }
                Err(e)
            }
            None => Ok(count),
        }
    })
}

/// Writes one series per line.
pub fn write_series(w: &mut impl Write, s: &Series) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, s)?;
    w.write_all(b"\n")
}

/// Writes one verdict per line.
pub fn write_verdict(w: &mut impl Write, v: &Verdict) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, &lh_model::Versioned::new(v))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    /// The fast path must give serde's series, to the bit, or step aside.
    fn same_as_serde(line: &str) {
        let ours = parse_line(line, 1);
        let theirs = serde_json::from_str::<Series>(line.trim());
        match (ours, theirs) {
            (Ok(Some(a)), Ok(b)) => {
                assert_eq!((&a.id, a.limit_bytes), (&b.id, b.limit_bytes), "{line}");
                let bits = |p: &[(f64, f64)]| -> Vec<(u64, u64)> {
                    p.iter().map(|p| (p.0.to_bits(), p.1.to_bits())).collect()
                };
                assert_eq!(bits(&a.points), bits(&b.points), "{line}");
                assert_eq!(
                    a.load.as_deref().map(bits),
                    b.load.as_deref().map(bits),
                    "{line}"
                );
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{line}: ours {a:?}, serde {b:?}"),
        }
    }

    fn fast_takes(line: &str) -> bool {
        Fast::new(line.as_bytes())
            .series(&mut Vec::new())
            .is_some_and(|(_, len)| len == line.len())
    }

    #[test]
    fn fast_path_agrees_with_serde_on_numbers() {
        let mut rng = Rng::new(3);
        for _ in 0..20_000 {
            let digits = 1 + rng.below(19);
            let mut int: String = (0..digits)
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            if int.len() > 1 && rng.below(4) > 0 {
                int = int.trim_start_matches('0').to_string();
                if int.is_empty() {
                    int.push('0');
                }
            }
            let frac: String = (0..rng.below(23))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let num = match rng.below(4) {
                0 => int.clone(),
                1 => format!("{int}.{frac}"),
                2 => format!("{int}.0"),
                _ => format!("{}", rng.range(0.0, 1e12)),
            };
            let line = format!(r#"{{"id":"x","limit_bytes":1,"points":[[{num},{num}]]}}"#);
            same_as_serde(&line);
        }
        // Typical producer output takes the fast path.
        assert!(fast_takes(
            r#"{"id":"a/b","limit_bytes":536870912,"points":[[1764300000.0,77132118.0],[1764300030,9.5]]}"#
        ));
    }

    #[test]
    fn fast_path_agrees_with_serde_on_shapes() {
        let typical = [
            r#"{"id":"a","limit_bytes":10,"points":[[1,2],[3,4.25]]}"#,
            r#" { "points" : [ [ 1 , 2 ] ] , "id" : "a" , "limit_bytes" : null } "#,
            r#"{"id":"a","points":[]}"#,
            r#"{"id":"ü","points":[[0,0.5]]}"#,
            r#"{"id":"a","points":[[1,2]],"load":[]}"#,
            r#"{"load":[[1,20.5],[31,19]],"id":"a","points":[[1,2],[31,3]]}"#,
        ];
        for l in typical {
            assert!(fast_takes(l.trim()), "{l}");
            same_as_serde(l);
        }
        for l in [
            r#"{"id":"a\"b","points":[[1,2]]}"#,
            r#"{"id":"a","points":[[1,2]],"load":null}"#,
            r#"{"id":"a","points":[[1,2]],"load":[[1,2]],"load":[]}"#,
            r#"{"id":"a","points":[[1,2]],"load":[[1]]}"#,
            r#"{"id":"a","points":[[1e3,2E-2],[-1,-0]]}"#,
            r#"{"id":"a","points":[[1,2]],"id":"b"}"#,
            r#"{"id":"a","points":[[01,2]]}"#,
            r#"{"id":"a","points":[[1.,2]]}"#,
            r#"{"id":"a","points":[[.5,2]]}"#,
            r#"{"id":"a","points":[[1,2,3]]}"#,
            r#"{"id":"a","points":[[1,2]]} x"#,
            r#"{"id":"a","limit_bytes":5.0,"points":[]}"#,
            r#"{"id":"a","limit_bytes":-5,"points":[]}"#,
            r#"{"id":"a","limit_bytes":99999999999999999999,"points":[]}"#,
            r#"{"id":"a","points":[[18446744073709551615,99999999999999999999999]]}"#,
            r#"{"id":"a","points":[[1,NaN]]}"#,
            r#"{"limit_bytes":1,"points":[]}"#,
            r#"{"id":"a"}"#,
            r#"{"id":"a","points":[[1,2],]}"#,
            r#"["a",1,[[1,2]]]"#,
            r#"{"id":"a","points":[[1,2]]"#,
            "{\"id\":\"a\tb\",\"points\":[]}",
        ] {
            same_as_serde(l);
        }
    }

    #[test]
    fn blocks_keep_order_and_errors_name_their_line() {
        // Over three blocks, with blank lines and CRLF endings.
        let mut text = String::new();
        let mut n = 0;
        while text.len() < 3 * BLOCK as usize {
            n += 1;
            text += &format!(r#"{{"id":"s{n}","points":[[1,{n}],[2,{n}.5]]}}"#);
            text += if n % 7 == 0 { "\r\n\n" } else { "\n" };
        }
        let mut ids = Vec::new();
        let count = for_each_series(
            text.as_bytes(),
            |s| s.id.clone(),
            |id| {
                ids.push(id);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(count, n);
        assert_eq!(ids.len(), n);
        assert!(ids
            .iter()
            .enumerate()
            .all(|(i, id)| *id == format!("s{}", i + 1)));
        // A bad line near the end, and one in the first block: the first is named.
        let lines = text.lines().count();
        let late = format!("{text}oops\n");
        match read(late.as_bytes()) {
            Err(Error::Line { line, .. }) => assert_eq!(line, lines + 1),
            other => panic!("{:?}", other.map(|v| v.len())),
        }
        let early = format!("\n{{\"id\":1}}\n{late}");
        match read(early.as_bytes()) {
            Err(Error::Line { line, .. }) => assert_eq!(line, 2),
            other => panic!("{:?}", other.map(|v| v.len())),
        }
        // A series split over two lines is two bad lines, as serde reads lines.
        match read(&b"{\"id\":\"a\",\n\"points\":[]}\n"[..]) {
            Err(Error::Line { line, .. }) => assert_eq!(line, 1),
            other => panic!("{:?}", other.map(|v| v.len())),
        }
        assert!(read(&b""[..]).unwrap().is_empty());
        assert_eq!(read(&b"{\"id\":\"a\",\"points\":[]}"[..]).unwrap().len(), 1);
    }
}
