//! Content-based format detection: magic bytes, or the head of a JSON document.
//! The file extension is never consulted, since captured files are often renamed.

use crate::Error;
use flate2::read::MultiGzDecoder;
use lh_model::InputFormat;
use std::io::Read;
use std::path::Path;

/// How much of a file (after gunzip) is enough to tell the formats apart.
const HEAD: usize = 64 * 1024;

/// Reads the head of `path` (through gzip if compressed) and names its format.
pub fn sniff_format(path: &Path) -> Result<InputFormat, Error> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut raw = Vec::with_capacity(HEAD);
    file.take(HEAD as u64)
        .read_to_end(&mut raw)
        .map_err(|e| Error::io(path, e))?;
    if raw.is_empty() {
        return Err(Error::input(path, "the file is empty"));
    }
    let head = if lh_pprof::is_gzip(&raw) {
        // Only the head matters here, so decompress from the file, not from `raw`,
        // which may cut the stream short. A broken stream is reported by the reader.
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut out = Vec::with_capacity(HEAD);
        match MultiGzDecoder::new(file)
            .take(HEAD as u64)
            .read_to_end(&mut out)
        {
            Ok(_) => out,
            Err(e) if out.is_empty() => {
                return Err(Error::input(
                    path,
                    format!("the gzip stream is truncated or corrupt ({e})"),
                ))
            }
            Err(_) => out,
        }
    } else {
        raw
    };
    sniff_head(&head).ok_or_else(|| {
        Error::input(
            path,
            "not a recognized snapshot: expected a pprof profile, a V8 .heapsnapshot, \
             an HPROF dump or a tracemalloc snapshot (pickle or JSON)",
        )
    })
}

/// Names the format of a decompressed head, or `None` when nothing fits.
pub fn sniff_head(head: &[u8]) -> Option<InputFormat> {
    if head.starts_with(b"JAVA PROFILE 1.0.") {
        return Some(InputFormat::Hprof);
    }
    let text = head.trim_ascii_start();
    if text.starts_with(b"{") {
        let s = String::from_utf8_lossy(&text[..text.len().min(4096)]);
        if s.contains("\"snapshot\"") && s.contains("\"meta\"") {
            return Some(InputFormat::V8);
        }
        if s.contains("\"tracemalloc\"") {
            return Some(InputFormat::Tracemalloc);
        }
        return None;
    }
    // Pickles: protocol 2+ opens with PROTO; protocols 0 and 1 open with a GLOBAL
    // of the tracemalloc module, which the reader then refuses by protocol.
    if (head.len() > 1 && head[0] == 0x80 && (2..=5).contains(&head[1]))
        || head.windows(12).take(64).any(|w| w == b"ctracemalloc")
    {
        return Some(InputFormat::Tracemalloc);
    }
    looks_like_protobuf(head).then_some(InputFormat::Pprof)
}

/// pprof has no magic. A profile's first byte is the key of one of its fields
/// (1 to 15) with the wire type that field has; anything else is not a profile.
fn looks_like_protobuf(head: &[u8]) -> bool {
    let Some(&key) = head.first() else {
        return false;
    };
    let (field, wire) = (key >> 3, key & 7);
    match field {
        1..=6 | 11 | 13 => wire == 2,
        7..=10 | 12 | 14 | 15 => wire == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format() {
        assert_eq!(
            sniff_head(b"JAVA PROFILE 1.0.2\0"),
            Some(InputFormat::Hprof)
        );
        assert_eq!(
            sniff_head(b"  {\"snapshot\":{\"meta\":{}}}"),
            Some(InputFormat::V8)
        );
        assert_eq!(
            sniff_head(b"{\"tracemalloc\": 1}"),
            Some(InputFormat::Tracemalloc)
        );
        assert_eq!(sniff_head(&[0x80, 4, 0x95]), Some(InputFormat::Tracemalloc));
        assert_eq!(
            sniff_head(b"ctracemalloc\nSnapshot\n"),
            Some(InputFormat::Tracemalloc)
        );
        assert_eq!(
            sniff_head(&[0x0a, 0x04, 0x08, 0x01]),
            Some(InputFormat::Pprof)
        );
        assert_eq!(sniff_head(b"{\"a\": 1}"), None);
        assert_eq!(sniff_head(b"\x89PNG\r\n"), None);
    }
}
