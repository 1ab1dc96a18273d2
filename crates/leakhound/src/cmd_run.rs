//! `capture`, `soak`, `demo` and `diagnose`: leakhound's work against live
//! processes. Flags live here beside their wiring; the work is in lh-cgroup
//! (limits, usage, OOM kills) and lh-capture (snapshots), the analysis in
//! lh-analysis.

use crate::cli::OutputFormat;
use anyhow::{bail, Context, Result};
use clap::Args;
use lh_capture::{CaptureOptions, Runtime, Source};
use lh_cgroup::MemoryCgroup;
use lh_model::Report;
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set by SIGINT/SIGTERM: every wait checks it, so Ctrl-C unwinds through the
/// guards that kill the program under test and remove its cgroup.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Errors of these commands that carry their own exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("interrupted; the program under test was stopped and its cgroup removed")]
    Interrupted,
    /// The user's command or flags are wrong (exit 2).
    #[error("{0}")]
    Input(String),
}

/// The exit code for errors raised here or in lh-capture / lh-cgroup.
pub fn exit_code(e: &anyhow::Error) -> Option<u8> {
    if let Some(r) = e.downcast_ref::<RunError>() {
        return Some(match r {
            RunError::Interrupted => 130,
            RunError::Input(_) => 2,
        });
    }
    if let Some(c) = e.downcast_ref::<lh_capture::Error>() {
        return Some(match c.kind() {
            lh_capture::ErrorKind::Input => 2,
            lh_capture::ErrorKind::Environment => 3,
        });
    }
    e.downcast_ref::<lh_cgroup::Error>().map(|c| match c {
        lh_cgroup::Error::BadSize(_) => 2,
        _ => 3,
    })
}

fn install_interrupt() {
    // Fails only if a handler is already installed, which is then ours.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(RunError::Interrupted.into());
    }
    Ok(())
}

/// Waits `d`, waking for Ctrl-C.
fn pause(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_interrupt()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

/// `90s`, `500ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: use e.g. 500ms, 30s, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration {s:?}: use e.g. 500ms, 30s, 2m")),
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("bad duration {s:?}: must be above zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
}

// ---------------------------------------------------------------- capture

#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// pid:PID or url:http://HOST:PORT[/snapshot-endpoint]; or give `-- CMD…` instead.
    #[arg(required_unless_present = "cmd", conflicts_with = "cmd")]
    pub target: Option<String>,
    /// Snapshots to take.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Time between snapshots.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Directory for the snapshots (created 0700; files 0600).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "leakhound-captures"
    )]
    pub dir: PathBuf,
    /// Go: also take goroutine profiles.
    #[arg(long)]
    pub goroutines: bool,
    /// Node: take a snapshot even when the process's cgroup looks too small for it.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Start this program (tracing turned on as `soak` does), capture, then stop it.
    #[arg(last = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

/// A TARGET of the CLI contract, resolved for capture.
fn resolve(target: &str) -> Result<(Source, Option<u32>)> {
    if let Some(p) = target.strip_prefix("pid:") {
        let pid: u32 = p
            .parse()
            .map_err(|_| RunError::Input(format!("bad pid in {target:?}")))?;
        return Ok((Source::from_pid(pid)?, Some(pid)));
    }
    if let Some(u) = target.strip_prefix("url:") {
        if !u.starts_with("http://") {
            bail!(RunError::Input(format!(
                "{target:?}: only http:// URLs are supported"
            )));
        }
        return Ok((Source::from_url(u)?, None));
    }
    if target.starts_with("pod/") || target.starts_with("deploy/") {
        bail!(RunError::Input(format!(
            "{target}: Kubernetes targets are not supported by this build yet; use pid:PID or url:URL"
        )));
    }
    bail!(RunError::Input(format!(
        "bad target {target:?}: use pid:PID, url:http://HOST:PORT or cgroup:PATH"
    )))
}

/// A capture that failed because the process is gone says so, and where the
/// snapshots taken before are, rather than showing a refused connection.
fn exited_or(e: lh_capture::Error, pid: Option<u32>, done: usize, dir: &Path) -> anyhow::Error {
    match pid {
        Some(p) if lh_capture::procfs::check_alive(p).is_err() => {
            anyhow::Error::new(lh_capture::Error::NoProcess(p)).context(format!(
                "the process exited mid-capture, after {done} snapshot(s) in {}",
                dir.display()
            ))
        }
        _ => e.into(),
    }
}

/// Bytes left in the memory cgroup of `pid`, for the V8 headroom guard.
fn room_of(pid: u32) -> Option<u64> {
    let cg = cgroup_of(pid)?;
    Some(cg.limit().ok()??.saturating_sub(cg.usage().ok()?))
}

/// A progress line on stderr for a TTY.
fn progress_printer() -> Option<impl Fn(u64)> {
    std::io::stderr().is_terminal().then_some(|n: u64| {
        eprint!("\r  writing snapshot: {}   ", mib(n));
    })
}

pub fn capture(a: CaptureArgs) -> Result<u8> {
    install_interrupt();
    if a.count == 0 {
        bail!(RunError::Input("--count must be at least 1".into()));
    }
    lh_capture::private_dir(&a.dir)?;
    // With `-- CMD`, the program is ours: started with tracing on, killed at the end.
    let mut started = None;
    let (source, pid) = match &a.target {
        Some(t) => resolve(t)?,
        None => {
            let mut cmd = Command::new(&a.cmd[0]);
            cmd.args(&a.cmd[1..]);
            let helper = tracing_env(&mut cmd, &a.cmd[0], &a.dir)?;
            let log = private_log(&a.dir.join("app.log"))?;
            cmd.stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log);
            let child = cmd
                .spawn()
                .map_err(|e| RunError::Input(format!("cannot start {:?}: {e}", a.cmd[0])))?;
            let child = started.insert(ChildGuard(child));
            eprintln!(
                "leakhound: started pid {} ({})",
                child.0.id(),
                a.cmd.join(" ")
            );
            let deadline = Instant::now() + Duration::from_secs(60);
            let (source, _) = wait_ready(&mut child.0, deadline, &a.dir, helper.as_deref(), false)?;
            (source, Some(child.0.id()))
        }
    };
    let printer = progress_printer();
    let mut files = Vec::new();
    for i in 0..a.count {
        if i > 0 {
            pause(a.interval)?;
        }
        check_interrupt()?;
        let o = CaptureOptions {
            room: pid.and_then(room_of),
            force: a.force,
            goroutines: a.goroutines,
            progress: printer.as_ref().map(|p| p as &dyn Fn(u64)),
        };
        let got = source
            .capture(&a.dir, i + 1, &o)
            .map_err(|e| exited_or(e, pid, i, &a.dir))
            .with_context(|| format!("capture {} of {}", i + 1, a.count))?;
        if printer.is_some() {
            eprintln!();
        }
        files.extend(got);
    }
    drop(started);
    let mut so = std::io::stdout().lock();
    match a.format {
        OutputFormat::Json => writeln!(
            so,
            "{}",
            json!({"runtime": source.runtime().to_string(), "files": files})
        )?,
        _ => {
            for f in &files {
                writeln!(so, "{}", f.display())?;
            }
        }
    }
    Ok(0)
}

// ---------------------------------------------------------------- soak

#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Memory limit of the cgroup the program runs in (Kubernetes notation: 256Mi, 1Gi).
    #[arg(long, default_value = "256Mi")]
    pub memory_limit: String,
    /// How long to run the program (unless it is OOM-killed first).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub duration: Duration,
    /// A load command, run with `sh -c`; $LEAKHOUND_APP_URL holds the program's address.
    #[arg(long, conflicts_with = "http_load")]
    pub load: Option<String>,
    /// GET this URL as load; a path such as /work?n=5 goes to the program's own port.
    #[arg(long)]
    pub http_load: Option<String>,
    /// Requests per second for --http-load.
    #[arg(long, default_value_t = 20)]
    pub rps: u32,
    /// How often to sample the cgroup's memory.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub sample_interval: Duration,
    /// Snapshots taken along the way, besides the first and the last.
    #[arg(long, default_value_t = 3)]
    pub captures: usize,
    /// How long the program gets to start and serve its profiles.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// Directory for snapshots, the program's log and report.json (created 0700; files 0600).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "leakhound-soak"
    )]
    pub dir: PathBuf,
    /// Node: take snapshots even when the headroom guard says the cgroup is too small.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Groups to show in the table.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Also write the HTML report (always in DIR/report.html) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The program to run, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub cmd: Vec<String>,
}

/// Kills the program under test (and reaps it) when soak ends for any reason.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The load generator: a thread or a process group, stopped on drop.
enum Load {
    None,
    Http {
        stop: Arc<AtomicBool>,
        sent: Arc<AtomicU64>,
        thread: Option<std::thread::JoinHandle<()>>,
    },
    Cmd(Child),
}

impl Drop for Load {
    fn drop(&mut self) {
        match self {
            Load::None => {}
            Load::Http { stop, thread, .. } => {
                stop.store(true, Ordering::SeqCst);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
            }
            Load::Cmd(c) => {
                // The load runs in its own process group: kill all of it.
                // SAFETY: kill(2) on the group we created; no memory shared.
                unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
                let _ = c.wait();
            }
        }
    }
}

impl Load {
    fn start(a: &SoakArgs, app: Option<&str>, dir: &Path) -> Result<Self> {
        if let Some(url) = &a.http_load {
            let url = if url.starts_with('/') {
                let app =
                    app.context("--http-load with a path needs the program to listen on a port")?;
                format!("http://{app}{url}")
            } else {
                url.clone()
            };
            let stop = Arc::new(AtomicBool::new(false));
            let sent = Arc::new(AtomicU64::new(0));
            let (s, n) = (stop.clone(), sent.clone());
            let period = Duration::from_secs_f64(1.0 / a.rps.max(1) as f64);
            let thread = std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                let mut next = Instant::now();
                while !s.load(Ordering::SeqCst) {
                    if agent.get(&url).call().is_ok() {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        next = now;
                    }
                }
            });
            return Ok(Load::Http {
                stop,
                sent,
                thread: Some(thread),
            });
        }
        if let Some(cmd) = &a.load {
            let log = private_log(&dir.join("load.log"))?;
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(cmd)
                .env(
                    "LEAKHOUND_APP_URL",
                    app.map(|a| format!("http://{a}")).unwrap_or_default(),
                )
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .process_group(0);
            return Ok(Load::Cmd(
                c.spawn()
                    .with_context(|| format!("cannot start the load {cmd:?}"))?,
            ));
        }
        Ok(Load::None)
    }

    fn requests(&self) -> Option<u64> {
        match self {
            Load::Http { sent, .. } => Some(sent.load(Ordering::Relaxed)),
            _ => None,
        }
    }
}

fn private_log(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// How the program under test ended, as Kubernetes would show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Ended {
    /// `OOMKilled`, `Killed`, `Error` or `Completed`.
    pub reason: String,
    pub exit_code: i32,
    pub after_seconds: f64,
}

impl Ended {
    fn from(status: ExitStatus, oom: bool, after: Duration) -> Self {
        let (reason, exit_code) = match (status.code(), status.signal()) {
            (_, Some(9)) if oom => ("OOMKilled", 137),
            (_, Some(sig)) => ("Killed", 128 + sig),
            (Some(0), _) => ("Completed", 0),
            (Some(c), _) => ("Error", c),
            _ => ("Error", 1),
        };
        Ended {
            reason: reason.into(),
            exit_code,
            after_seconds: (after.as_secs_f64() * 10.0).round() / 10.0,
        }
    }
}

/// What a soak saw.
#[derive(Debug, serde::Serialize)]
pub struct Outcome {
    /// `leak` or `no-leak`.
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    pub runtime: String,
    /// Set when the program ended before the soak did.
    pub ended: Option<Ended>,
    pub limit_bytes: u64,
    pub peak_bytes: u64,
    /// (seconds since start, bytes) of the cgroup's usage.
    pub samples: Vec<(f64, u64)>,
    pub snapshots: Vec<PathBuf>,
    pub requests: Option<u64>,
    /// The cgroup's last `memory.stat` before the program ended.
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    /// OOM kills the cgroup had seen before we looked (diagnose).
    pub oom_kills_before: Option<u64>,
    /// The trend detector's verdict on the memory samples.
    pub trend: Option<lh_model::Verdict>,
    pub report: Option<Report>,
}

/// The trend detector tuned for a soak: minutes of samples, not days. The
/// production defaults wait hours to rule out warm-ups and daily cycles; a
/// soak knows its program is fresh and its load flat, so a few seconds of a
/// rising floor are enough to take snapshots at once.
fn soak_trend_options() -> lh_trend::detect::Options {
    lh_trend::detect::Options {
        min_span_s: 3.0,
        min_points: 8,
        min_rise_s: 3.0,
        daily_span_s: 0.0,
        min_daily_growth: 0.01,
        ..Default::default()
    }
}

/// The live verdict over the samples so far.
fn live_trend(samples: &[(f64, u64)], limit: u64) -> lh_model::Verdict {
    let series = lh_model::Series {
        id: "soak".into(),
        limit_bytes: Some(limit),
        points: samples.iter().map(|(t, b)| (*t, *b as f64)).collect(),
        load: None,
    };
    lh_trend::detect::detect(&series, &soak_trend_options())
}

/// The leak call from a diff: a suspect grew steadily over three or more
/// snapshots (two cannot tell a leak from a warm-up). Until the live trend
/// detector is wired in, this and the OOM kill are the whole verdict.
fn steady_suspect(r: &Report, snapshots: usize) -> Option<String> {
    let s = r.suspects.first()?;
    (snapshots >= 3 && s.confidence >= 0.6).then(|| {
        format!(
            "{} grew by {}{} across {} snapshots (confidence {:.2})",
            s.key,
            mib(s.delta_bytes.max(0) as u64),
            s.retained_bytes
                .map(|r| format!(", retaining {}", mib(r)))
                .unwrap_or_default(),
            snapshots,
            s.confidence
        )
    })
}

/// The Python helper, bundled so that an installed leakhound needs no checkout.
const PYTHON_HELPER: &str = include_str!("../../../helpers/python/leakhound_helper.py");

/// Turns tracing on in the program without code changes: the Node inspector
/// on a private port; for Python, tracemalloc and the helper's endpoint on a
/// private loopback port, through a `sitecustomize` on `PYTHONPATH`. Returns
/// the file the Python helper writes its address to.
fn tracing_env(cmd: &mut Command, program: &str, dir: &Path) -> Result<Option<PathBuf>> {
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
    let site = dir.join("python-helper");
    lh_capture::private_dir(&site)?;
    private_log(&site.join("leakhound_helper.py"))?.write_all(PYTHON_HELPER.as_bytes())?;
    private_log(&site.join("sitecustomize.py"))?.write_all(
        b"# Written by leakhound soak: tracemalloc and its snapshot endpoint, no code change.\n\
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

/// Waits until the program serves what the capture needs, and finds the
/// port it serves its own traffic on (not the inspector's or the helper's).
fn wait_ready(
    child: &mut Child,
    deadline: Instant,
    dir: &Path,
    helper_addr_file: Option<&Path>,
    need_app: bool,
) -> Result<(Source, Option<String>)> {
    let pid = child.id();
    let mut last = None;
    loop {
        check_interrupt()?;
        if let Some(st) = child.try_wait()? {
            bail!(RunError::Input(format!(
                "the program exited before it was ready ({st}); its output is in {}",
                dir.join("app.log").display()
            )));
        }
        let (found, side) = match lh_capture::detect(pid) {
            Ok(Runtime::Node) => {
                let ws = lh_capture::node::find_inspector(pid)?;
                let host = ws.as_deref().and_then(|u| {
                    u.strip_prefix("ws://")
                        .and_then(|r| r.split('/').next())
                        .map(String::from)
                });
                (ws.map(|_| Source::node_inspector(pid)), host)
            }
            Ok(Runtime::Python) if helper_addr_file.is_some() => {
                match helper_addr_file.map(std::fs::read_to_string) {
                    Some(Ok(a)) if !a.trim().is_empty() => {
                        let a = a.trim().to_string();
                        let base = format!("http://{a}");
                        (Some(Source::PythonHelper { base }), Some(a))
                    }
                    _ => (None, None),
                }
            }
            Ok(_) => match Source::from_pid(pid) {
                Ok(s) => (Some(s), None),
                Err(e) => {
                    last = Some(e);
                    (None, None)
                }
            },
            Err(e) => {
                last = Some(e);
                (None, None)
            }
        };
        if let Some(source) = found {
            let addrs = lh_capture::procfs::listening_addrs(pid)?;
            let app = addrs.into_iter().find(|a| Some(a) != side.as_ref());
            if app.is_some() || !need_app {
                return Ok((source, app));
            }
        }
        if Instant::now() >= deadline {
            let why = last
                .map(|e| e.to_string())
                .unwrap_or_else(|| "it serves nothing to capture from".into());
            bail!(RunError::Input(format!(
                "the program was not ready to be profiled in time: {why}; its output is in {}",
                dir.join("app.log").display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the soak: the program under a limit, load, samples, snapshots, diff.
pub fn run_soak(a: &SoakArgs, say: &dyn Fn(&str)) -> Result<Outcome> {
    install_interrupt();
    let limit = lh_cgroup::parse_size(&a.memory_limit)?;
    lh_capture::private_dir(&a.dir)?;
    let cg = MemoryCgroup::create(limit)?;
    let oom_before = cg.oom_kills()?;

    let mut cmd = Command::new(&a.cmd[0]);
    cmd.args(&a.cmd[1..]);
    let helper_addr_file = tracing_env(&mut cmd, &a.cmd[0], &a.dir)?;
    let log = private_log(&a.dir.join("app.log"))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    cg.enter_on_exec(&mut cmd)?;
    let start = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| RunError::Input(format!("cannot start {:?}: {e}", a.cmd[0])))?;
    let mut child = ChildGuard(child);
    let pid = child.0.id();
    say(&format!(
        "started pid {pid} ({}) in cgroup {} with a {} limit",
        a.cmd.join(" "),
        cg.path().display(),
        mib(limit)
    ));

    let need_app = a.http_load.as_deref().is_some_and(|u| u.starts_with('/'));
    let (source, app) = wait_ready(
        &mut child.0,
        start + a.ready_timeout,
        &a.dir,
        helper_addr_file.as_deref(),
        need_app,
    )?;
    say(&format!(
        "{} program ready{}",
        source.runtime(),
        app.as_deref()
            .map(|x| format!(" on {x}"))
            .unwrap_or_default()
    ));

    let mut snapshots: Vec<PathBuf> = Vec::new();
    let headroom_said = std::cell::Cell::new(false);
    let take = |why: &str, snapshots: &mut Vec<PathBuf>| -> Result<()> {
        let usage = cg.usage().unwrap_or(0);
        let o = CaptureOptions {
            room: Some(limit.saturating_sub(usage)),
            force: a.force,
            goroutines: false,
            progress: None,
        };
        match source.capture(&a.dir, snapshots.len() + 1, &o) {
            Ok(files) => {
                say(&format!(
                    "snapshot {} ({why}, cgroup at {})",
                    snapshots.len() + 1,
                    mib(usage)
                ));
                snapshots.push(files[0].clone());
                Ok(())
            }
            Err(e @ lh_capture::Error::Headroom(_)) => {
                // Once is enough: the room only shrinks as the leak goes on.
                if !headroom_said.replace(true) {
                    say(&format!(
                        "snapshot skipped (said once; later ones may be too): {e}"
                    ));
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    };
    take("baseline", &mut snapshots)?;
    let load = Load::start(a, app.as_deref(), &a.dir)?;

    let every = a.duration.div_f64(a.captures as f64 + 1.0);
    let mut next_periodic = Instant::now() + every;
    // Snapshots as the limit nears: the last ones before an OOM kill are the evidence.
    let mut pressure = vec![0.5, 0.7, 0.85];
    let end = Instant::now() + a.duration;
    let mut samples = Vec::new();
    let mut peak = 0u64;
    let mut trend_said = false;
    let mut memory_stat = std::collections::BTreeMap::new();
    let mut force_now = false;
    let ended = loop {
        check_interrupt()?;
        if let Some(st) = child.0.try_wait()? {
            let oom = cg.oom_kills()? > oom_before;
            break Some(Ended::from(st, oom, start.elapsed()));
        }
        let usage = cg.usage()?;
        // memory.stat says what the usage is made of (anon heap vs page cache).
        memory_stat = cg.stat().unwrap_or_default();
        peak = peak.max(usage);
        samples.push((
            (start.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            usage,
        ));
        let now = Instant::now();
        if now >= end {
            break None;
        }
        let frac = usage as f64 / limit as f64;
        let crossed = pressure.iter().position(|p| frac >= *p);
        // The detector's first "leak" is worth a snapshot at once: the OOM
        // kill may be seconds away.
        if !trend_said && samples.len() % 4 == 0 {
            let v = live_trend(&samples, limit);
            if v.verdict == lh_model::VerdictKind::Leak {
                say(&format!("trend detector: leak ({})", v.reasons.join("; ")));
                trend_said = true;
                force_now = true;
            }
        }
        let why = if force_now {
            force_now = false;
            Some("the trend detector says leak".to_string())
        } else if let Some(i) = crossed {
            let p = pressure[i];
            pressure.retain(|q| *q > frac);
            Some(format!("memory at {:.0}% of the limit", p * 100.0))
        } else if now >= next_periodic {
            next_periodic = now + every;
            Some("periodic".to_string())
        } else {
            None
        };
        if let Some(why) = why {
            // The program may die under us mid-capture: that is the OOM kill
            // we were racing, not an error of the soak.
            if let Err(e) = take(&why, &mut snapshots) {
                if child.0.try_wait()?.is_none() && lh_capture::procfs::check_alive(pid).is_ok() {
                    return Err(e);
                }
                continue;
            }
        }
        std::thread::sleep(a.sample_interval);
    };
    if ended.is_none() {
        take("final", &mut snapshots)?;
    }
    let requests = load.requests();
    drop(load);
    drop(child);
    drop(cg);

    let report = if snapshots.len() >= 2 {
        Some(lh_analysis::diff_files(
            &snapshots,
            &lh_analysis::Options::default(),
        )?)
    } else {
        None
    };
    let mut reasons = Vec::new();
    let oom = ended.as_ref().is_some_and(|e| e.reason == "OOMKilled");
    if let Some(e) = &ended {
        reasons.push(format!(
            "the program ended after {:.1} s: {}, exit code {}",
            e.after_seconds, e.reason, e.exit_code
        ));
    }
    let suspect = report
        .as_ref()
        .and_then(|r| steady_suspect(r, snapshots.len()));
    let suspect_leak = suspect.is_some();
    reasons.extend(suspect);
    // The early "leak" only triggered a snapshot; a program warming up can
    // look like that for its first seconds. The verdict is the whole soak's.
    let trend = live_trend(&samples, limit);
    // In a soak of seconds or minutes a rising floor is also what a warm-up
    // (JIT, caches filling to their bound) looks like. Where three or more
    // heap snapshots were diffed, they are the better witness: the trend alone
    // then only adds a note, so native-memory growth is still reported.
    let heap_judged = report.is_some() && snapshots.len() >= 3;
    let trend_rose = trend.verdict == lh_model::VerdictKind::Leak;
    let trend_leak = trend_rose && !heap_judged;
    if trend_leak {
        reasons.push(format!("memory trend: {}", trend.reasons.join("; ")));
    } else if trend_rose && !suspect_leak {
        reasons.push(format!(
            "memory rose ({}), but no heap group grew steadily: a warm-up, or memory outside the heap",
            trend.reasons.first().map_or("", String::as_str)
        ));
    }
    let leak = oom || suspect_leak || trend_leak;
    if !leak && !trend_rose {
        reasons.push(
            "no group grew steadily across the snapshots, and memory did not trend up".into(),
        );
    }
    Ok(Outcome {
        verdict: if leak { "leak" } else { "no-leak" },
        reasons,
        runtime: source.runtime().to_string(),
        ended,
        limit_bytes: limit,
        peak_bytes: peak,
        samples,
        snapshots,
        requests,
        memory_stat,
        oom_kills_before: None,
        trend: Some(trend),
        report,
    })
}

/// Prints the outcome as asked and writes report.json and report.html
/// (0600) beside the snapshots, and the page to `page` too.
fn print_outcome(
    o: &Outcome,
    dir: &Path,
    format: OutputFormat,
    top: usize,
    (kind, page): (&str, Option<&Path>),
) -> Result<()> {
    let full = serde_json::to_string_pretty(o)?;
    let path = dir.join("report.json");
    let mut f = private_log(&path)?;
    f.write_all(full.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let run = lh_report::html::Run {
        kind: kind.into(),
        program: o.runtime.clone(),
        leak: o.verdict == "leak",
        reasons: o.reasons.clone(),
        samples: o.samples.clone(),
        limit_bytes: Some(o.limit_bytes).filter(|l| *l > 0),
        snapshots_at: crate::output::snapshot_times(dir, &o.snapshots, &o.samples),
        end: o.ended.as_ref().map(|e| lh_report::html::RunEnd {
            reason: e.reason.clone(),
            oom: e.reason == "OOMKilled",
            after_seconds: e.after_seconds,
        }),
        restarts_at: Vec::new(),
        trend: o.trend.clone(),
    };
    let html = dir.join("report.html");
    let pages: Vec<PathBuf> = std::iter::once(html.clone()).chain(page.map(Path::to_path_buf)).collect();
    crate::output::write_run_html(&run, o.report.as_ref(), &o.snapshots, &pages, top)?;
    let mut so = anstream::AutoStream::auto(std::io::stdout().lock());
    if format == OutputFormat::Json {
        writeln!(so, "{full}")?;
        return Ok(());
    }
    let headline = match (&o.ended, o.verdict) {
        (Some(e), _) if e.reason == "OOMKilled" => {
            format!(
                "LEAK: OOMKilled, exit code {} after {:.1} s",
                e.exit_code, e.after_seconds
            )
        }
        (_, "leak") => "LEAK: memory grows steadily".to_string(),
        _ => "no leak found".to_string(),
    };
    writeln!(so, "{headline}")?;
    writeln!(
        so,
        "{} program, limit {}, peak {}{}",
        o.runtime,
        mib(o.limit_bytes),
        mib(o.peak_bytes),
        o.requests
            .map(|r| format!(", {r} requests"))
            .unwrap_or_default()
    )?;
    for r in &o.reasons {
        writeln!(so, "  - {r}")?;
    }
    if let Some(s) = o.report.as_ref().and_then(|r| r.suspects.first()) {
        writeln!(so, "suspect: {}", s.key)?;
    }
    if let Some(r) = &o.report {
        let width = if std::io::stdout().is_terminal() {
            terminal_size::terminal_size().map_or(100, |(w, _)| w.0)
        } else {
            120
        };
        let style = lh_report::TableStyle {
            width,
            color: std::io::stdout().is_terminal(),
        };
        writeln!(so)?;
        so.write_all(lh_report::table(r, top, style).as_bytes())?;
    }
    writeln!(so, "artifacts (0600): {}", dir.display())?;
    writeln!(so, "report: {}", html.display())?;
    Ok(())
}

pub fn soak(a: SoakArgs) -> Result<u8> {
    let say = |m: &str| eprintln!("leakhound: {m}");
    let o = run_soak(&a, &say)?;
    print_outcome(&o, &a.dir, a.format, a.top, ("soak", a.report.as_deref()))?;
    Ok(if o.verdict == "leak" { 1 } else { 0 })
}

// ---------------------------------------------------------------- demo

/// The bundled leaky app: a Node server whose session cache never evicts.
/// Node is on most machines and needs no build step, so `demo` runs on a
/// fresh clone with nothing but cargo and node.
const DEMO_APP: &str = include_str!("../demo/server.js");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory for the demo's snapshots and report (default: a new one under the temp dir).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// How long to soak the demo app.
    #[arg(long, default_value = "25s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Runs the bundled app under `soak` and prints the whole diagnosis. Exits 0
/// when the leak was found and named: that is the demo working.
pub fn demo(a: DemoArgs) -> Result<u8> {
    let dir = a.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("leakhound-demo-{}", std::process::id()))
    });
    lh_capture::private_dir(&dir)?;
    let app = dir.join("server.js");
    private_log(&app)?
        .write_all(DEMO_APP.as_bytes())
        .with_context(|| format!("cannot write {}", app.display()))?;
    eprintln!(
        "leakhound demo: soaking a Node server with a leaky session cache ({}) for {:.0} s; snapshots come through the inspector",
        app.display(),
        a.duration.as_secs_f64()
    );
    let args = SoakArgs {
        // Room for the leak and for V8's snapshots (about twice the heap each).
        memory_limit: "512Mi".into(),
        duration: a.duration,
        load: None,
        http_load: Some("/work?n=10".into()),
        rps: 20,
        sample_interval: Duration::from_millis(250),
        captures: 3,
        ready_timeout: Duration::from_secs(30),
        dir: dir.clone(),
        force: false,
        format: a.format,
        top: 10,
        report: None,
        cmd: vec!["node".into(), app.to_string_lossy().into_owned()],
    };
    let say = |m: &str| eprintln!("leakhound: {m}");
    let o = run_soak(&args, &say).map_err(|e| {
        if e.downcast_ref::<RunError>()
            .is_some_and(|r| matches!(r, RunError::Input(_)))
        {
            e.context("the demo needs `node` (Node.js 18 or later) on PATH")
        } else {
            e
        }
    })?;
    print_outcome(&o, &dir, a.format, 10, ("demo", None))?;
    if o.verdict != "leak" {
        bail!(
            "the demo's leak was not found; the snapshots and report.json are in {}",
            dir.display()
        );
    }
    Ok(0)
}

// ---------------------------------------------------------------- diagnose

#[derive(Args, Debug)]
pub struct DiagnoseArgs {
    /// pid:PID, url:http://HOST:PORT[/snapshot-endpoint] or cgroup:PATH.
    pub target: String,
    /// Snapshots to take.
    #[arg(long, default_value_t = 3)]
    pub count: usize,
    /// Time between snapshots.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Directory for snapshots and report.json (created 0700; files 0600).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        default_value = "leakhound-diagnose"
    )]
    pub dir: PathBuf,
    /// Exit 1 when a leak is found.
    #[arg(long)]
    pub fail_on_leak: bool,
    /// Node: take snapshots even when the headroom guard says the cgroup is too small.
    #[arg(long)]
    pub force: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[arg(long, default_value_t = 15)]
    pub top: usize,
    /// Also write the HTML report (always in DIR/report.html) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// The memory cgroup a pid lives in.
fn cgroup_of(pid: u32) -> Option<MemoryCgroup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let v1 = text.lines().find_map(|l| {
        let mut p = l.splitn(3, ':');
        let (_, c, r) = (p.next()?, p.next()?, p.next()?);
        c.split(',').any(|c| c == "memory").then(|| r.to_string())
    });
    let dir = match v1 {
        Some(r) => Path::new("/sys/fs/cgroup/memory").join(r.trim_start_matches('/')),
        None => {
            let r = text.lines().find_map(|l| l.strip_prefix("0::"))?;
            Path::new("/sys/fs/cgroup").join(r.trim_start_matches('/'))
        }
    };
    MemoryCgroup::open(&dir).ok()
}

/// Resolves a diagnose target to a capture source, its pid and its cgroup.
fn resolve_diagnose(target: &str) -> Result<(Source, Option<u32>, Option<MemoryCgroup>)> {
    if let Some(p) = target.strip_prefix("cgroup:") {
        let cg = MemoryCgroup::open(Path::new(p))
            .map_err(|e| RunError::Input(format!("{target}: {e}")))?;
        let mut last = None;
        for pid in cg.pids()? {
            match Source::from_pid(pid) {
                Ok(s) => return Ok((s, Some(pid), Some(cg))),
                Err(e) => last = Some(e),
            }
        }
        bail!(RunError::Input(format!(
            "{target}: no process in it that leakhound can capture from{}",
            last.map(|e| format!(" ({e})")).unwrap_or_default()
        )));
    }
    let (source, pid) = resolve(target)?;
    let cg = pid.and_then(cgroup_of);
    Ok((source, pid, cg))
}

pub fn diagnose(a: DiagnoseArgs) -> Result<u8> {
    install_interrupt();
    if a.count < 2 {
        bail!(RunError::Input("--count must be at least 2 to diff".into()));
    }
    let (source, pid, cg) = resolve_diagnose(&a.target)?;
    lh_capture::private_dir(&a.dir)?;
    let oom_before = cg.as_ref().and_then(|c| c.oom_kills().ok());
    let limit = cg.as_ref().and_then(|c| c.limit().ok().flatten());
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut peak = 0;
    let mut snapshots = Vec::new();
    for i in 0..a.count {
        if i > 0 {
            pause(a.interval)?;
        }
        let usage = cg.as_ref().and_then(|c| c.usage().ok());
        if let Some(u) = usage {
            peak = peak.max(u);
            samples.push(((start.elapsed().as_secs_f64() * 100.0).round() / 100.0, u));
        }
        let o = CaptureOptions {
            room: limit.zip(usage).map(|(l, u)| l.saturating_sub(u)),
            force: a.force,
            goroutines: false,
            progress: None,
        };
        let files = source
            .capture(&a.dir, i + 1, &o)
            .map_err(|e| exited_or(e, pid, i, &a.dir))
            .with_context(|| format!("snapshot {} of {}", i + 1, a.count))?;
        eprintln!("leakhound: snapshot {} of {}", i + 1, a.count);
        snapshots.push(files[0].clone());
    }
    let report = lh_analysis::diff_files(&snapshots, &lh_analysis::Options::default())?;
    let mut reasons = Vec::new();
    if let Some(k) = oom_before.filter(|k| *k > 0) {
        reasons.push(format!("its cgroup has seen {k} OOM kill(s) before"));
    }
    if let Some(p) = pid {
        if lh_capture::procfs::check_alive(p).is_err() {
            reasons.push(format!("process {p} exited during the diagnosis"));
        }
    }
    let suspect = steady_suspect(&report, snapshots.len());
    let leak = suspect.is_some();
    reasons.extend(suspect);
    if !leak {
        reasons.push("no group grew steadily across the snapshots".into());
    }
    let o = Outcome {
        verdict: if leak { "leak" } else { "no-leak" },
        reasons,
        runtime: source.runtime().to_string(),
        ended: None,
        limit_bytes: limit.unwrap_or(0),
        peak_bytes: peak,
        samples,
        snapshots,
        requests: None,
        memory_stat: cg.as_ref().and_then(|c| c.stat().ok()).unwrap_or_default(),
        oom_kills_before: oom_before,
        trend: None,
        report: Some(report),
    };
    print_outcome(&o, &a.dir, a.format, a.top, ("diagnose", a.report.as_deref()))?;
    Ok(if leak && a.fail_on_leak { 1 } else { 0 })
}
