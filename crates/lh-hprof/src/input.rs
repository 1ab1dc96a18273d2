//! A buffered big-endian reader that knows its byte offset and which record it
//! is in, so that every error can say where the dump went wrong.
//!
//! `read(2)` into one reused buffer rather than mmap: mapped file pages count
//! in the process's RSS, and a dump is often larger than the memory we may use.

use crate::{tag_name, Error};
use std::io::Read;

/// Where the reader is in the record structure; errors quote it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx {
    pub tag: Option<u8>,
    pub tag_at: u64,
    pub sub: Option<u8>,
    pub sub_at: u64,
}

pub(crate) struct Input<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Offset of `buf[0]` in the (decompressed) stream.
    base: u64,
    eof: bool,
    pub ctx: Ctx,
    /// Added to messages: offsets of a gzip dump count decompressed bytes.
    pub gzip: bool,
}

const CHUNK: usize = 4 << 20;

impl<R: Read> Input<R> {
    pub fn new(src: R) -> Self {
        Input {
            src,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            ctx: Ctx::default(),
            gzip: false,
        }
    }

    /// A reader of a stream whose first byte is at `offset` of the dump.
    pub fn starting_at(src: R, offset: u64) -> Self {
        Input {
            base: offset,
            ..Input::new(src)
        }
    }

    /// Offset of the next byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// An error at the current offset, in the current record.
    pub fn error(&self, message: impl Into<String>) -> Error {
        self.error_at(self.offset(), message)
    }

    pub fn error_at(&self, offset: u64, message: impl Into<String>) -> Error {
        let mut record = match self.ctx.tag {
            Some(t) => format!("record {} at byte {}", tag_name(t), self.ctx.tag_at),
            None => "file header".to_string(),
        };
        if let Some(s) = self.ctx.sub {
            record.push_str(&format!(
                ", sub-record {} at byte {}",
                crate::sub_name(s),
                self.ctx.sub_at
            ));
        }
        let mut message = message.into();
        if self.gzip {
            message.push_str(" (offsets count decompressed bytes)");
        }
        Error::Format {
            offset,
            record,
            message,
        }
    }

    /// True when the stream has no byte left (at a record boundary: a clean end).
    pub fn at_end(&mut self) -> Result<bool, Error> {
        if self.pos < self.end {
            return Ok(false);
        }
        self.fill(1)?;
        Ok(self.pos >= self.end)
    }

    /// Makes `n` contiguous bytes available, or fails as truncated.
    #[inline]
    pub fn ensure(&mut self, n: usize) -> Result<(), Error> {
        if self.end - self.pos >= n {
            return Ok(());
        }
        self.fill(n)?;
        if self.end - self.pos < n {
            return Err(self.error(format!(
                "the dump ends early: {n} more bytes needed, {} left (truncated file?)",
                self.end - self.pos
            )));
        }
        Ok(())
    }

    #[cold]
    fn fill(&mut self, n: usize) -> Result<(), Error> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.base += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n && !self.eof {
            // Grow with the data that actually arrives, never to a length a
            // corrupt record claims: a 100-byte file must not cost gigabytes.
            if self.end == self.buf.len() {
                let grown = (self.buf.len() * 2).min(n.next_power_of_two());
                self.buf.resize(grown, 0);
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::InvalidInput
                        || e.kind() == std::io::ErrorKind::InvalidData
                        || e.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    return Err(self.error(format!("the gzip stream is corrupt: {e}")))
                }
                Err(e) => return Err(Error::Io(e)),
            }
        }
        Ok(())
    }

    /// The next `n` bytes, borrowed from the buffer.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&[u8], Error> {
        self.ensure(n)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes without keeping them.
    pub fn skip(&mut self, mut n: u64) -> Result<(), Error> {
        loop {
            let have = (self.end - self.pos) as u64;
            if have >= n {
                self.pos += n as usize;
                return Ok(());
            }
            n -= have;
            self.pos = self.end;
            self.fill(1)?;
            if self.pos >= self.end {
                return Err(self.error(format!(
                    "the dump ends early: {n} more bytes needed (truncated file?)"
                )));
            }
        }
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, Error> {
        self.ensure(1)?;
        let v = self.buf[self.pos];
        self.pos += 1;
        Ok(v)
    }

    #[inline]
    pub fn u16(&mut self) -> Result<u16, Error> {
        self.ensure(2)?;
        let v = u16::from_be_bytes([self.buf[self.pos], self.buf[self.pos + 1]]);
        self.pos += 2;
        Ok(v)
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, Error> {
        self.ensure(4)?;
        let v = u32::from_be_bytes(self.buf[self.pos..self.pos + 4].try_into().unwrap());
        self.pos += 4;
        Ok(v)
    }

    #[inline]
    pub fn u64(&mut self) -> Result<u64, Error> {
        self.ensure(8)?;
        let v = u64::from_be_bytes(self.buf[self.pos..self.pos + 8].try_into().unwrap());
        self.pos += 8;
        Ok(v)
    }

    /// An identifier of the dump's size (4 or 8 bytes), widened.
    #[inline]
    pub fn id(&mut self, size: u8) -> Result<u64, Error> {
        if size == 8 {
            self.u64()
        } else {
            self.u32().map(u64::from)
        }
    }
}

/// Reads an identifier of `size` bytes from the start of `b`.
#[inline]
pub(crate) fn id_at(b: &[u8], size: u8) -> u64 {
    if size == 8 {
        u64::from_be_bytes(b[..8].try_into().unwrap())
    } else {
        u64::from(u32::from_be_bytes(b[..4].try_into().unwrap()))
    }
}
