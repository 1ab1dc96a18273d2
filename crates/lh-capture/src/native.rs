//! Native programs (C, C++, Rust): heap profiles that the allocator writes
//! itself. jemalloc (`MALLOC_CONF=prof:true,…`) and gperftools' tcmalloc
//! (`HEAPPROFILE=…`) dump their heap to numbered files every so many bytes
//! allocated; there is no way to ask them from outside for a dump now, so a
//! capture collects the newest dump from the target's file system, through the
//! transport, and copies it out 0600.
//!
//! Which allocator a program uses is told from its ELF file ([`allocator_of_elf`]):
//! the libraries it needs (`DT_NEEDED`) and, for a statically linked allocator
//! (tikv-jemallocator in a Rust program), its symbols.

use crate::transport::{read_bytes, read_text, TargetFile, Transport};
use crate::{Error, PrivateFile};
use object::read::elf::{Dyn, ElfFile, FileHeader};
use object::{Object, ObjectSymbol};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The allocator a native program runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// jemalloc, shared (Debian's libjemalloc) or static (tikv-jemallocator).
    Jemalloc,
    /// gperftools' tcmalloc.
    Tcmalloc,
    /// glibc's malloc, which has no heap profiler.
    Glibc,
}

impl std::fmt::Display for Allocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::Tcmalloc => "tcmalloc",
            Allocator::Glibc => "glibc malloc",
        })
    }
}

/// One dump per this many bytes allocated (2^25, 32 MiB): a few dumps a second
/// for a program under load, so that every capture of a soak finds a fresh
/// one, and few enough that dumping costs the program little.
pub const LG_DUMP_INTERVAL: u32 = 25;

/// Where Debian (and most distributions) put jemalloc's shared library, for
/// `--preload jemalloc`: multiarch first.
pub fn jemalloc_library() -> Result<PathBuf, Error> {
    let multiarch = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    let candidates = [
        multiarch.as_str(),
        "/usr/lib64",
        "/usr/lib",
        "/usr/local/lib",
    ];
    candidates
        .iter()
        .map(|d| Path::new(d).join("libjemalloc.so.2"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::ToolMissing {
            tool: "libjemalloc.so.2".into(),
            message: format!(
                "not found in {}: install it (apt-get install libjemalloc2)",
                candidates.join(", ")
            ),
        })
}

/// The allocator an ELF executable uses, or `None` when `data` is no ELF file.
/// A shared allocator is one of its needed libraries; a static one leaves its
/// entry points among the symbols (`_rjem_malloc`, `mallctl`, `tc_malloc`).
pub fn allocator_of_elf(data: &[u8]) -> Option<Allocator> {
    let file = object::File::parse(data).ok()?;
    let needed = match &file {
        object::File::Elf64(f) => needed_libraries(f),
        object::File::Elf32(f) => needed_libraries(f),
        _ => return None,
    };
    let by_library = needed.iter().find_map(|l| allocator_of_library(l));
    if by_library.is_some() {
        return by_library;
    }
    let defines = |pred: &dyn Fn(&str) -> bool| {
        file.symbols()
            .chain(file.dynamic_symbols())
            .any(|s| s.is_definition() && s.name().is_ok_and(pred))
    };
    if defines(&|n| n.starts_with("_rjem_") || n == "mallctl" || n == "je_mallctl") {
        return Some(Allocator::Jemalloc);
    }
    if defines(&|n| n == "tc_malloc") {
        return Some(Allocator::Tcmalloc);
    }
    Some(Allocator::Glibc)
}

fn needed_libraries<Elf: FileHeader<Endian = object::Endianness>>(
    f: &ElfFile<'_, Elf>,
) -> Vec<String> {
    let endian = f.endian();
    let sections = f.elf_section_table();
    let Ok(Some((dyns, link))) = sections.dynamic(endian, f.data()) else {
        return Vec::new();
    };
    let Ok(strings) = sections.strings(endian, f.data(), link) else {
        return Vec::new();
    };
    dyns.iter()
        .filter(|d| d.tag32(endian) == Some(object::elf::DT_NEEDED))
        .filter_map(|d| d.string(endian, strings).ok())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// `libjemalloc.so.2`, `/usr/lib/…/libtcmalloc.so.4` → the allocator.
fn allocator_of_library(name: &str) -> Option<Allocator> {
    let base = name.rsplit('/').next().unwrap_or(name);
    if base.starts_with("libjemalloc") {
        Some(Allocator::Jemalloc)
    } else if base.starts_with("libtcmalloc") {
        Some(Allocator::Tcmalloc)
    } else {
        None
    }
}

/// The environment that makes `alloc` dump its heap to files named
/// `PREFIX.…heap`, one per [`LG_DUMP_INTERVAL`] bytes allocated. jemalloc is
/// configured twice: Debian's build reads `MALLOC_CONF`, tikv-jemallocator's
/// prefixed build `_RJEM_MALLOC_CONF`; each ignores the other's.
pub fn profiling_env(alloc: Allocator, prefix: &Path) -> Vec<(&'static str, String)> {
    match alloc {
        Allocator::Jemalloc => {
            let conf = format!(
                "prof:true,prof_prefix:{},lg_prof_interval:{LG_DUMP_INTERVAL}",
                prefix.display()
            );
            vec![("MALLOC_CONF", conf.clone()), ("_RJEM_MALLOC_CONF", conf)]
        }
        Allocator::Tcmalloc => vec![
            ("HEAPPROFILE", prefix.display().to_string()),
            (
                "HEAP_PROFILE_ALLOCATION_INTERVAL",
                (1u64 << LG_DUMP_INTERVAL).to_string(),
            ),
        ],
        Allocator::Glibc => Vec::new(),
    }
}

/// The numbered dump files one allocator writes under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumps {
    /// Who writes them.
    pub allocator: Allocator,
    /// The directory they are written to, as the target sees it.
    pub dir: PathBuf,
    /// Their file names' start: jemalloc adds `.PID.SEQ.iN.heap`, tcmalloc `.SEQ.heap`.
    pub stem: String,
}

impl Dumps {
    /// The dumps of `prefix` (a `prof_prefix` or `HEAPPROFILE` value).
    pub fn at(allocator: Allocator, prefix: &Path) -> Self {
        Dumps {
            allocator,
            dir: prefix.parent().unwrap_or(Path::new("/")).to_path_buf(),
            stem: prefix
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }

    /// The sequence number of a dump of the process `pid`, from its file name;
    /// `None` for any other file (jemalloc's dumps of another process under
    /// the same prefix included).
    fn sequence(&self, name: &str, pid: Option<u32>) -> Option<u64> {
        let rest = name
            .strip_prefix(self.stem.as_str())?
            .strip_prefix('.')?
            .strip_suffix(".heap")?;
        match self.allocator {
            Allocator::Jemalloc => {
                let mut f = rest.split('.');
                let p = f.next()?;
                if pid.is_some_and(|pid| p != pid.to_string()) {
                    return None;
                }
                f.next()?.parse().ok()
            }
            _ => rest.parse().ok(),
        }
    }

    /// The target's dumps, oldest first, as (sequence, path); empty until the
    /// allocator has written its first.
    pub fn list(&self, t: &dyn Transport) -> Result<Vec<(u64, PathBuf)>, Error> {
        let mut v: Vec<(u64, PathBuf)> = t
            .list_dir(&self.dir)?
            .into_iter()
            .filter_map(|n| Some((self.sequence(&n, t.pid())?, self.dir.join(n))))
            .collect();
        v.sort();
        Ok(v)
    }
}

/// How long a capture waits for a dump newer than the last one it took.
const FRESH_WAIT: Duration = Duration::from_secs(10);

/// Collects the dumps of one target, newest first, each at most once.
#[derive(Debug)]
pub struct Collector {
    dumps: Dumps,
    /// Remove the dumps passed over or copied: they are ours (a program soak
    /// started writes them into the run's directory), not the user's.
    owned: bool,
    last: Mutex<Option<u64>>,
}

impl Collector {
    /// Collects `dumps`; with `owned`, every dump copied or passed over is
    /// removed from the target, so that a long soak does not fill its disk.
    pub fn new(dumps: Dumps, owned: bool) -> Self {
        Collector {
            dumps,
            owned,
            last: Mutex::new(None),
        }
    }

    /// Copies the newest dump into `dest` (0600). It waits (up to
    /// [`FRESH_WAIT`]) for one newer than the last taken; a program that has
    /// not allocated [`LG_DUMP_INTERVAL`] bytes since has a heap that the last
    /// dump still describes, and that dump is taken again.
    pub fn capture(&self, t: &dyn Transport, dest: &Path) -> Result<u64, Error> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let start = Instant::now();
        let dumps = loop {
            t.check_alive()?;
            let dumps = self.dumps.list(t)?;
            let fresh = dumps.last().is_some_and(|(s, _)| Some(*s) > *last);
            if fresh || (start.elapsed() >= FRESH_WAIT && !dumps.is_empty()) {
                break dumps;
            }
            if start.elapsed() >= FRESH_WAIT * 6 {
                return Err(Error::Unsupported(format!(
                    "{} wrote no heap dump into {} within {} s ({} dumps once per {} MiB allocated)",
                    t.describe(),
                    self.dumps.dir.display(),
                    (FRESH_WAIT * 6).as_secs(),
                    self.dumps.allocator,
                    (1u64 << LG_DUMP_INTERVAL) >> 20
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        // The newest dump may still be being written; the one before it is
        // complete, since the allocator writes one dump at a time.
        let mut taken = None;
        for (seq, path) in dumps.iter().rev().take(2) {
            let mut out = PrivateFile::create(dest)?;
            let n = t.copy_out(path, &mut out)?;
            out.finish()?;
            if is_complete(dest) {
                taken = Some((*seq, n));
                break;
            }
        }
        let Some((seq, n)) = taken else {
            let _ = std::fs::remove_file(dest);
            return Err(Error::BadAnswer {
                url: self.dumps.dir.display().to_string(),
                message: "the newest heap dumps are incomplete (no MAPPED_LIBRARIES section)"
                    .into(),
            });
        };
        *last = Some(seq);
        if self.owned {
            for (s, path) in &dumps {
                if *s <= seq {
                    t.remove_file(path)?;
                }
            }
        }
        Ok(n)
    }
}

/// Both allocators end a dump with the process's memory map, after a
/// `MAPPED_LIBRARIES:` line; a dump cut before it is still being written.
fn is_complete(path: &Path) -> bool {
    let mut text = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 30).read_to_end(&mut text))
        .is_ok()
        && text.ends_with(b"\n")
        && text.windows(18).any(|w| w == b"\nMAPPED_LIBRARIES:")
}

/// The value of `key` in a `MALLOC_CONF`-style `k:v,k:v` string.
fn conf_value<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
    conf.split(',')
        .filter_map(|kv| kv.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
}

/// Where a running native process writes its heap dumps, from its
/// environment; or, when its allocator profiles nothing, what to set.
pub fn find_dumps(t: &dyn Transport) -> Result<Dumps, Error> {
    let raw = read_bytes(t, TargetFile::Proc("environ"))?;
    let environ = String::from_utf8_lossy(&raw);
    let env = |key: &str| {
        environ
            .split('\0')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
    };
    let alloc = allocator_of(t)?;
    let prefix = match alloc {
        Allocator::Jemalloc => ["MALLOC_CONF", "_RJEM_MALLOC_CONF"]
            .into_iter()
            .filter_map(env)
            .find(|c| conf_value(c, "prof") == Some("true"))
            .map(|c| conf_value(c, "prof_prefix").unwrap_or("jeprof").to_owned()),
        Allocator::Tcmalloc => heapprofile(&raw),
        Allocator::Glibc => None,
    };
    let Some(prefix) = prefix else {
        return Err(no_profiling(t, alloc));
    };
    if !prefix.starts_with('/') {
        return Err(Error::Unsupported(format!(
            "{} ({alloc}) writes its heap dumps to {prefix:?}, relative to its working directory; \
             restart it with an absolute prefix: {}",
            t.describe(),
            suggested_env(alloc)
        )));
    }
    Ok(Dumps::at(alloc, Path::new(&prefix)))
}

/// A tcmalloc process's `HEAPPROFILE`. gperftools' profiler, once started,
/// sets the top bit of the value's first byte in its own environment, so
/// that the programs it runs do not profile into the same files; the byte is
/// read back with that bit cleared.
fn heapprofile(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"HEAPPROFILE="))
        .filter(|v| !v.is_empty())
        .map(|v| {
            let mut v = v.to_vec();
            v[0] &= 0x7f;
            String::from_utf8_lossy(&v).into_owned()
        })
}

/// The allocator of a running process: a mapped allocator library (linked or
/// `LD_PRELOAD`ed), else what its executable says.
fn allocator_of(t: &dyn Transport) -> Result<Allocator, Error> {
    let maps = read_text(t, TargetFile::Proc("maps")).unwrap_or_default();
    let mapped = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find_map(allocator_of_library);
    if let Some(a) = mapped {
        return Ok(a);
    }
    let mut exe = Vec::new();
    t.read_file(TargetFile::Proc("exe"))?
        .read_to_end(&mut exe)
        .map_err(|e| Error::io(Path::new("/proc/PID/exe"), e))?;
    Ok(allocator_of_elf(&exe).unwrap_or(Allocator::Glibc))
}

/// The environment to suggest, with a prefix anyone can write to.
fn suggested_env(alloc: Allocator) -> String {
    let prefix = Path::new("/tmp/heapdump");
    let env = profiling_env(alloc, prefix);
    // One variable says it; tikv-jemallocator's twin is named in the message.
    let (k, v) = &env[0];
    match alloc {
        Allocator::Jemalloc => format!("{k}={v} (_RJEM_MALLOC_CONF for Rust's tikv-jemallocator)"),
        _ => env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// What to tell a user whose native process has no heap profiling on.
pub fn no_profiling(t: &dyn Transport, alloc: Allocator) -> Error {
    let who = t.describe();
    Error::Unsupported(match alloc {
        Allocator::Glibc => format!(
            "native {who} runs on glibc's malloc, which has no heap profiler; restart it on jemalloc \
             with profiling: LD_PRELOAD={} {}, or run it under `leakhound soak --preload jemalloc`",
            jemalloc_library()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "libjemalloc.so.2".into()),
            suggested_env(Allocator::Jemalloc)
        ),
        _ => format!(
            "native {who} runs on {alloc} without heap profiling; restart it with {}, \
             or run it under `leakhound soak`, which turns profiling on",
            suggested_env(alloc)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_give_their_sequence() {
        let je = Dumps::at(Allocator::Jemalloc, Path::new("/run/prof"));
        assert_eq!(je.dir, Path::new("/run"));
        assert_eq!(je.sequence("prof.42.7.i7.heap", Some(42)), Some(7));
        assert_eq!(je.sequence("prof.42.7.i7.heap", Some(43)), None);
        assert_eq!(je.sequence("prof.42.8.f.heap", None), Some(8));
        assert_eq!(je.sequence("other.42.7.i7.heap", Some(42)), None);
        let tc = Dumps::at(Allocator::Tcmalloc, Path::new("/run/prof"));
        assert_eq!(tc.sequence("prof.0012.heap", Some(1)), Some(12));
        assert_eq!(tc.sequence("prof.0012.heap.tmp", Some(1)), None);
    }

    #[test]
    fn conf_values_are_found() {
        let c = "prof:true, prof_prefix:/x/y,lg_prof_interval:25";
        assert_eq!(conf_value(c, "prof"), Some("true"));
        assert_eq!(conf_value(c, "prof_prefix"), Some("/x/y"));
        assert_eq!(conf_value(c, "narenas"), None);
    }

    #[test]
    fn our_own_executable_is_on_glibc_and_garbage_is_no_elf() {
        let exe = std::fs::read("/proc/self/exe").unwrap();
        assert_eq!(allocator_of_elf(&exe), Some(Allocator::Glibc));
        assert_eq!(allocator_of_elf(b"#!/bin/sh\n"), None);
    }
}
