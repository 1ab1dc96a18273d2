//! Starting the program under test with tracing turned on, without a change
//! to the program: the Node inspector on a private port; for Python,
//! tracemalloc and the helper's endpoint on a private loopback port, through
//! a `sitecustomize` on `PYTHONPATH`; for a native program on jemalloc or
//! tcmalloc, the allocator's heap profiler dumping into the run's directory
//! (glibc's malloc has none: `--preload jemalloc` puts jemalloc under it).

use crate::outdir::OutputDir;
use crate::Error;
use lh_capture::native::{self, Allocator, Dumps};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The Python helper, bundled so that an installed leakhound needs no checkout.
const PYTHON_HELPER: &str = include_str!("../../../helpers/python/leakhound_helper.py");

/// The program under test, killed (and reaped) when the run ends for any reason.
#[derive(Debug)]
pub struct Launched {
    /// The process.
    pub child: Child,
    /// Where the Python helper writes its address, when the program is Python.
    pub helper_addr_file: Option<PathBuf>,
    /// The heap dumps its allocator writes, when the program is native with a
    /// heap profiler.
    pub native_dumps: Option<Dumps>,
}

/// An allocator to run a program on instead of its own (`--preload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preload {
    /// Debian's libjemalloc, through `LD_PRELOAD`.
    Jemalloc,
}

impl Launched {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `argv` with its output in `app.log` of `out`, tracing turned on
/// (on the allocator `preload` when given); `prepare` may add to the command
/// (e.g. enter a cgroup) before it starts.
pub fn launch(
    argv: &[String],
    out: &OutputDir,
    preload: Option<Preload>,
    prepare: impl FnOnce(&mut Command) -> Result<(), Error>,
) -> Result<Launched, Error> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Input("no program to run after `--`".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    let helper_addr_file = tracing_env(&mut cmd, program, out)?;
    let native_dumps = native_env(&mut cmd, program, out, preload)?;
    let log = out.private_file("app.log")?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(&out.join("app.log"), e))?;
    cmd.stdin(Stdio::null()).stdout(log2).stderr(log);
    prepare(&mut cmd)?;
    let child = cmd.spawn().map_err(|source| Error::Start {
        program: program.clone(),
        source,
    })?;
    Ok(Launched {
        child,
        helper_addr_file,
        native_dumps,
    })
}

/// The run's sub-directory the allocator dumps into. It is run state: a
/// reused output directory loses the earlier run's dumps first.
pub(crate) const NATIVE_DUMPS: &str = "native-dumps";

/// Turns on the heap profiler of a native `program`'s allocator, dumping
/// into [`NATIVE_DUMPS`] of `out`; returns where the dumps go. A program that
/// is no ELF file (a script) or runs on glibc's malloc, not preloaded, is left
/// as it is.
fn native_env(
    cmd: &mut Command,
    program: &str,
    out: &OutputDir,
    preload: Option<Preload>,
) -> Result<Option<Dumps>, Error> {
    let exe = find_program(program);
    let linked = exe
        .as_deref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|bytes| native::allocator_of_elf(&bytes));
    let alloc = match (preload, linked) {
        (Some(Preload::Jemalloc), Some(Allocator::Tcmalloc)) => {
            return Err(Error::Input(format!(
                "--preload jemalloc: {program} is linked with tcmalloc, whose own heap profiler \
                 leakhound turns on; drop --preload"
            )))
        }
        (Some(Preload::Jemalloc), _) => {
            let lib = native::jemalloc_library()?;
            let prev = std::env::var_os("LD_PRELOAD").filter(|p| !p.is_empty());
            let mut v = lib.into_os_string();
            if let Some(p) = prev {
                v.push(":");
                v.push(p);
            }
            cmd.env("LD_PRELOAD", v);
            Allocator::Jemalloc
        }
        (None, Some(a @ (Allocator::Jemalloc | Allocator::Tcmalloc))) => a,
        (None, _) => return Ok(None),
    };
    // Absolute: the program may change its working directory, and the
    // transport reads the dumps by the path the program sees.
    let dir = out.subdir(NATIVE_DUMPS)?;
    let prefix = std::fs::canonicalize(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .join("prof");
    for (k, v) in native::profiling_env(alloc, &prefix) {
        // jemalloc reads its options left to right: the user's own stay, ours win.
        match std::env::var(k) {
            Ok(prev) if !prev.is_empty() && k.ends_with("MALLOC_CONF") => {
                cmd.env(k, format!("{prev},{v}"))
            }
            _ => cmd.env(k, v),
        };
    }
    Ok(Some(Dumps::at(alloc, &prefix)))
}

/// The file `program` names, as `execvp` finds it: a path as it is, a bare
/// name on `PATH`.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Sets the environment that turns tracing on for `program`; returns the
/// file the Python helper will write its address to.
fn tracing_env(
    cmd: &mut Command,
    program: &str,
    out: &OutputDir,
) -> Result<Option<PathBuf>, Error> {
    let base = Path::new(program)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base.starts_with("node") {
        // A private port, so parallel runs never fight over 9229.
        let prev = std::env::var("NODE_OPTIONS").unwrap_or_default();
        cmd.env(
            "NODE_OPTIONS",
            format!("{prev} --inspect=127.0.0.1:0").trim(),
        );
    }
    if !base.starts_with("python") {
        return Ok(None);
    }
    let site = out.subdir("python-helper")?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        let p = site.join(name);
        crate::outdir::private_file(&p)?
            .write_all(bytes)
            .map_err(|e| Error::io(&p, e))
    };
    write("leakhound_helper.py", PYTHON_HELPER.as_bytes())?;
    write(
        "sitecustomize.py",
        b"# Written by leakhound: tracemalloc and its snapshot endpoint, no code change.\n\
          import leakhound_helper\nleakhound_helper.start_from_env()\n",
    )?;
    let addr_file = site.join("addr");
    let path = match std::env::var_os("PYTHONPATH") {
        Some(p) if !p.is_empty() => {
            let mut v = site.clone().into_os_string();
            v.push(":");
            v.push(p);
            v
        }
        _ => site.clone().into_os_string(),
    };
    cmd.env("PYTHONPATH", path)
        .env("LEAKHOUND_HELPER_ADDR", "127.0.0.1:0")
        .env("LEAKHOUND_HELPER_ADDR_FILE", &addr_file);
    Ok(Some(addr_file))
}
