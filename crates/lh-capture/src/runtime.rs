//! Which runtime a target runs, told from its files through any transport.

use crate::transport::{read_text, TargetFile, Transport};
use crate::Error;
use std::io::Read;

/// The runtimes leakhound captures from; each is asked differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Go, through `net/http/pprof`.
    Go,
    /// Node, through its inspector or an endpoint.
    Node,
    /// Python, through tracemalloc (the helper or an endpoint).
    Python,
    /// A JVM, through jcmd.
    Jvm,
    /// A native program (C, C++, Rust): the heap dumps its allocator writes.
    Native,
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Runtime::Go => "go",
            Runtime::Node => "node",
            Runtime::Python => "python",
            Runtime::Jvm => "jvm",
            Runtime::Native => "native",
        })
    }
}

impl Runtime {
    /// The file suffix of this runtime's heap snapshots.
    pub fn snapshot_suffix(self) -> &'static str {
        match self {
            Runtime::Go => "-heap.pb.gz",
            Runtime::Node => ".heapsnapshot",
            Runtime::Python => "-tracemalloc.pickle",
            Runtime::Jvm => ".hprof",
            Runtime::Native => ".heap",
        }
    }
}

/// Which runtime the target runs, from its executable, command line and
/// mapped libraries. Go is recognised by the build-info magic every Go binary
/// carries, so a renamed binary is still found; any other ELF executable is
/// native (its allocator's heap dumps are what can be captured).
pub fn identify_runtime(t: &dyn Transport) -> Result<Runtime, Error> {
    t.check_alive()?;
    let maps = read_text(t, TargetFile::Proc("maps")).unwrap_or_default();
    let cmdline = read_text(t, TargetFile::Proc("cmdline"))?;
    let argv0 = cmdline.split('\0').next().unwrap_or_default().to_string();
    // The first file mapped is the executable itself.
    let exe = maps
        .lines()
        .find_map(|l| l.split_whitespace().nth(5).filter(|p| p.starts_with('/')))
        .unwrap_or(argv0.as_str())
        .to_string();
    let name = exe.rsplit('/').next().unwrap_or_default().to_lowercase();
    if maps.contains("libjvm.so") || name == "java" {
        return Ok(Runtime::Jvm);
    }
    if name.starts_with("node") || maps.contains("libnode.so") {
        return Ok(Runtime::Node);
    }
    if name.starts_with("python") || maps.contains("libpython") {
        return Ok(Runtime::Python);
    }
    if t.read_file(TargetFile::Proc("exe"))
        .is_ok_and(|mut f| is_go_binary(&mut f))
    {
        return Ok(Runtime::Go);
    }
    if t.read_file(TargetFile::Proc("exe")).is_ok_and(is_elf) {
        return Ok(Runtime::Native);
    }
    t.check_alive()?;
    Err(Error::Unsupported(format!(
        "cannot tell the runtime of {} ({argv0}, {exe}): leakhound captures from Go, Node, Python, JVM and native (ELF) processes",
        t.describe()
    )))
}

/// ELF files start with `\x7fELF`.
fn is_elf(f: Box<dyn Read + Send>) -> bool {
    let mut magic = [0u8; 4];
    f.take(4).read_exact(&mut magic).is_ok() && magic == *b"\x7fELF"
}

/// Go binaries carry `\xff Go buildinf:` in their `.go.buildinfo` section.
fn is_go_binary(f: &mut dyn Read) -> bool {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    let mut buf = vec![0u8; 1 << 20];
    let mut carry = 0usize;
    loop {
        let n = match f.read(&mut buf[carry..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let end = carry + n;
        if buf[..end].windows(MAGIC.len()).any(|w| w == MAGIC) {
            return true;
        }
        // Keep a tail so a magic split across reads is still found.
        let keep = MAGIC.len().min(end);
        buf.copy_within(end - keep..end, 0);
        carry = keep;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Local;

    #[test]
    fn our_own_process_is_native_and_a_dead_pid_is_clear() {
        assert_eq!(
            identify_runtime(&Local::process(std::process::id())).unwrap(),
            Runtime::Native
        );
        assert!(matches!(
            identify_runtime(&Local::process(u32::MAX / 2)),
            Err(Error::NoProcess(_))
        ));
    }

    #[test]
    fn the_go_magic_is_found_across_a_read_boundary() {
        let mut bin = vec![0u8; (1 << 20) - 5];
        // Built at run time: the magic as one literal would make this test
        // binary itself look like a Go program to the test beside it.
        bin.push(0xff);
        bin.extend_from_slice(b" Go");
        bin.extend_from_slice(b" buildinf:rest");
        assert!(is_go_binary(&mut bin.as_slice()));
        assert!(!is_go_binary(&mut [0u8; 100].as_slice()));
    }
}
