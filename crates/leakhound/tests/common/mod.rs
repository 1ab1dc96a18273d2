//! Helpers every integration test of the binary shares. Each test file is its
//! own crate and uses only some of them.
#![allow(dead_code)]

pub mod schema;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Runs the leakhound binary under test, colours off, and collects its output.
pub fn leakhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run leakhound")
}

/// The JSON report on stdout of a run that must have succeeded.
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "leakhound failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// Runs the binary with stdin, stdout and stderr on a pseudo-terminal of 100
/// columns (python3's `pty`, which the tests need anyway), as a user's shell
/// would: what a terminal is shown (progress, refusals) is tested for real.
/// Returns the exit code and everything the terminal received.
pub fn on_terminal(args: &[&str]) -> (Option<i32>, String) {
    const PTY: &str = r#"
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
_, st = os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
sys.exit(os.waitstatus_to_exitcode(st))
"#;
    let o = Command::new("python3")
        .args(["-c", PTY, env!("CARGO_BIN_EXE_leakhound")])
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run python3 for a pseudo-terminal");
    assert!(
        o.stderr.is_empty(),
        "the pty helper failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}
