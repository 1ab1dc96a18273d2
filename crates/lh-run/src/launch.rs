//! Starting the program under test with tracing turned on, without a change
//! to the program: the Node inspector on a private port; for Python,
//! tracemalloc and the helper's endpoint on a private loopback port, through
//! a `sitecustomize` on `PYTHONPATH`.

use crate::outdir::OutputDir;
use crate::Error;
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

/// Starts `argv` with its output in `app.log` of `out`, tracing turned on;
/// `prepare` may add to the command (e.g. enter a cgroup) before it starts.
pub fn launch(
    argv: &[String],
    out: &OutputDir,
    prepare: impl FnOnce(&mut Command) -> Result<(), Error>,
) -> Result<Launched, Error> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Input("no program to run after `--`".into()))?;
    let mut cmd = Command::new(program);
    cmd.args(args);
    let helper_addr_file = tracing_env(&mut cmd, program, out)?;
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
    })
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
