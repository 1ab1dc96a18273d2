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

/// What the browser test found on a report page.
pub struct Page {
    pub suspects: Vec<String>,
    /// The flame graph frame whose own value grew most (inferno's delta).
    pub top_frame: String,
    pub frames: u64,
    pub chart_samples: u64,
    /// The classes of the chart's markers: `snapshot`, `oom`, `restart`, `ended`.
    pub chart_marks: Vec<String>,
    /// The page's DOM and its flame graph's, serialized as the browser holds them.
    pub dom: String,
}

/// Opens the HTML report at `page` in a real headless Chromium and reads
/// what it shows through the DOM; insists that the page requested nothing
/// but itself, and keeps a screenshot as `target/html-shots/NAME.png`.
pub fn browse(page: &Path, name: &str) -> Page {
    let mut b = testkit::browser::Browser::start();
    let load = b.open(page);
    let me = format!("file://{}", page.canonicalize().unwrap().display());
    let others: Vec<&String> = load.requests.iter().filter(|u| **u != me).collect();
    assert!(
        others.is_empty(),
        "the page made network requests: {others:?}"
    );
    let v = b.eval(
        r#"(() => {
            const keys = [...document.querySelectorAll('#suspects li.suspect')].map(l => l.dataset.key);
            const frame = document.getElementById('flamegraph');
            const doc = frame && frame.contentDocument;
            let top = null, best = -Infinity, frames = 0;
            if (doc) {
                for (const g of doc.querySelectorAll('#frames > g')) {
                    frames++;
                    const t = g.querySelector('title');
                    const m = t && /^(.*) \(([\d,]+) \S+, [\d.]+%; ([+-]?[\d.]+)%\)$/.exec(t.textContent);
                    if (m && Number(m[3]) > best) { best = Number(m[3]); top = m[1]; }
                }
            }
            const samples = document.querySelector('#memory-chart #samples');
            const marks = [...document.querySelectorAll('#memory-chart g')].map(g => g.getAttribute('class'));
            const dom = document.documentElement.outerHTML + (doc ? doc.documentElement.outerHTML : '');
            return {keys, top, frames, marks, dom, samples: samples ? Number(samples.dataset.count) : 0};
        })()"#,
    );
    let dir = testkit::repo_root().join("target/html-shots");
    std::fs::create_dir_all(&dir).unwrap();
    b.screenshot(&dir.join(format!("{name}.png")), 4000);
    Page {
        suspects: v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect(),
        top_frame: v["top"].as_str().unwrap_or_default().to_string(),
        frames: v["frames"].as_u64().unwrap(),
        chart_samples: v["samples"].as_u64().unwrap(),
        chart_marks: v["marks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap_or_default().to_string())
            .collect(),
        dom: v["dom"].as_str().unwrap().to_string(),
    }
}

/// `leakhound diff --format html` of `files` into `dir`, opened in the
/// browser: the first suspect is `key`, and the flame graph's frame that
/// grew most in itself is that key too.
pub fn html_diff_names(files: &[&Path], dir: &Path, key: &str, name: &str) {
    let page = dir.join("report.html");
    let mut args = vec!["diff", "--format", "html", "-o", s(&page)];
    args.extend(files.iter().map(|f| s(f)));
    let out = leakhound(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let p = browse(&page, name);
    assert_eq!(
        p.suspects.first().map(String::as_str),
        Some(key),
        "{:?}",
        p.suspects
    );
    assert!(p.frames > 1, "the flame graph has frames");
    assert_eq!(p.top_frame, key, "the frame that grew most in itself");
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

/// What `leakhound diff` writes of one set of snapshots, as raw bytes: the
/// JSON, the HTML page and the pprof export (gunzipped), each with every
/// group (`--top` trims nothing away that could hide a string).
pub struct Reports {
    pub json: Vec<u8>,
    pub html: Vec<u8>,
    pub pprof: Vec<u8>,
}

impl Reports {
    /// `leakhound diff` of `files` into `dir` in each format, with `extra`
    /// flags; the files are named after `tag`.
    pub fn of(files: &[&Path], dir: &Path, tag: &str, extra: &[&str]) -> Reports {
        let write = |format: &str, ext: &str| {
            let out = dir.join(format!("{tag}.{ext}"));
            let mut args = vec!["diff", "--top", "100000", "--format", format, "-o", s(&out)];
            args.extend(extra);
            args.extend(files.iter().map(|f| s(f)));
            let run = leakhound(&args);
            assert!(
                run.status.success(),
                "leakhound {args:?}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            std::fs::read(&out).unwrap()
        };
        let json = write("json", "json");
        let html = write("html", "html");
        let pprof = lh_pprof::gunzip(&write("pprof", "pb.gz"))
            .expect("the pprof export is gzipped")
            .into_owned();
        Reports { json, html, pprof }
    }

    /// The outputs that hold `needle`, by name.
    pub fn holding(&self, needle: &str) -> Vec<&'static str> {
        [
            ("json", &self.json),
            ("html", &self.html),
            ("pprof", &self.pprof),
        ]
        .into_iter()
        .filter(|(_, bytes)| holds(bytes, needle))
        .map(|(name, _)| name)
        .collect()
    }

    pub fn report(&self) -> Value {
        serde_json::from_slice(&self.json).expect("a JSON report")
    }
}

/// True when `needle` occurs anywhere in `bytes`.
pub fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The diff of `files` with `--redact-strings`: no output holds `secret`,
/// and the first suspect is still `key`. Returns the redacted reports, and
/// the reports without the flag, for the caller to say what those show.
pub fn assert_redacted(files: &[&Path], dir: &Path, secret: &str, key: &str) -> (Reports, Reports) {
    let plain = Reports::of(files, dir, "plain", &[]);
    let redacted = Reports::of(files, dir, "redacted", &["--redact-strings"]);
    assert_eq!(
        redacted.holding(secret),
        Vec::<&str>::new(),
        "redacted outputs holding {secret:?}"
    );
    let r = redacted.report();
    assert_eq!(r["suspects"][0]["key"], key, "{:#}", r["suspects"]);
    assert_eq!(plain.report()["suspects"][0]["key"], key);
    (redacted, plain)
}
