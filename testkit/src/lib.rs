//! Test-only helpers shared by every integration test that runs real programs.
//!
//! Real processes make tests flaky when they are waited on with sleeps or left
//! behind on failure. Everything here waits on a readiness signal (a line on
//! stdout, a file) with a generous timeout, and every started process sits in a
//! [`Proc`] guard that kills it when the test ends, panics included.

pub mod browser;
pub mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Readiness waits are generous: CI machines have 2 cores and may be busy.
pub const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The repository root (where `testkit/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit has a parent")
        .to_path_buf()
}

/// A private scratch directory for build outputs shared by all tests of a run.
pub fn build_dir() -> PathBuf {
    let d = repo_root().join("target").join("testkit");
    std::fs::create_dir_all(&d).expect("create target/testkit");
    d
}

/// A child process killed (and reaped) on drop.
pub struct Proc {
    /// The process; its stdout may have been taken for `lines`.
    pub child: Child,
    /// Lines the process printed on stdout after the readiness line.
    pub lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Its host pid, to point leakhound at.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` with stdout piped and waits until it prints a line containing
/// `ready`; returns the guard and that line. Panics with what the process said
/// if it exits or times out first.
pub fn spawn_ready(mut cmd: Command, ready: &str) -> (Proc, String) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let proc = Proc { child, lines: rx };
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match proc.lines.recv_timeout(left) {
            Ok(line) if line.contains(ready) => return (proc, line),
            Ok(line) => seen.push(line),
            Err(_) => panic!("{cmd:?} did not print {ready:?} in time; it printed: {seen:?}"),
        }
    }
}

/// The `host:port` at the end of a readiness line such as `listening on 127.0.0.1:4321`.
pub fn addr_in(line: &str) -> String {
    line.split_whitespace().last().expect("a word").to_string()
}

/// A plain HTTP/1.0 GET to a loopback server: status and body. Enough for the
/// sample apps and the helpers' endpoints, and one less moving part than a client crate.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(READY_TIMEOUT))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP header end")
        })?;
    let head = String::from_utf8_lossy(&buf[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status"))?;
    Ok((status, buf[split + 4..].to_vec()))
}

/// GETs and insists on 200, for test steps that cannot go on otherwise.
pub fn http_ok(addr: &str, path: &str) -> Vec<u8> {
    match http_get(addr, path) {
        Ok((200, body)) => body,
        Ok((code, body)) => panic!("GET {path} gave {code}: {}", String::from_utf8_lossy(&body)),
        Err(e) => panic!("GET {addr}{path}: {e}"),
    }
}

/// Serializes builds of one sample app across the tests of one binary.
static BUILD: Mutex<()> = Mutex::new(());

/// Builds the Go sample app `testkit/apps/go/<name>` (one module, shared `serve` package) with the machine's `go`
/// (Debian's golang-go) and returns the binary. Tests must fail, not skip,
/// when Go is missing: CI installs it.
pub fn go_app(name: &str) -> PathBuf {
    build_go(name, false)
}

/// [`go_app`], linked statically (`CGO_ENABLED=0`): the binary runs in a root
/// filesystem that holds nothing else, as in a distroless image.
pub fn go_static_app(name: &str) -> PathBuf {
    build_go(name, true)
}

fn build_go(name: &str, static_link: bool) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let module = repo_root().join("testkit/apps/go");
    let suffix = if static_link { "-static" } else { "" };
    let out = build_dir().join(format!("go-{name}{suffix}"));
    let tmp = build_dir().join(format!("go-{name}{suffix}.{}.tmp", std::process::id()));
    let gocache = build_dir().join("gocache");
    let mut cmd = Command::new("go");
    cmd.args(["build", "-o"])
        .arg(&tmp)
        .arg(format!("./{name}"))
        .current_dir(&module)
        .env("GOCACHE", &gocache)
        .env("GOFLAGS", "-mod=mod")
        .env("GO111MODULE", "on");
    if static_link {
        cmd.env("CGO_ENABLED", "0");
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` (apt-get install golang-go): {e}"));
    assert!(
        status.success(),
        "go build of testkit/apps/go/{name} failed"
    );
    // Rename so that a concurrent test binary never runs a half-written file.
    std::fs::rename(&tmp, &out).expect("rename built binary");
    out
}

/// The allocators a native sample app is linked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// glibc's malloc: no profiler of its own.
    Glibc,
    /// Debian's libjemalloc (profiling built in, `MALLOC_CONF=prof:true`).
    Jemalloc,
    /// gperftools' tcmalloc (`HEAPPROFILE`).
    Tcmalloc,
}

/// Builds the C sample app `testkit/apps/native/leaky.c` with the machine's `cc`
/// and debug info, as `leaky` or (with `bounded`) as its bounded twin, linked
/// with `alloc`. Tests fail, not skip, when the compiler or a library is
/// missing: CI installs libjemalloc-dev and libgoogle-perftools-dev.
pub fn native_app(bounded: bool, alloc: Allocator) -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = repo_root().join("testkit/apps/native/leaky.c");
    let name = format!(
        "native-{}-{alloc:?}",
        if bounded { "bounded" } else { "leaky" }
    )
    .to_lowercase();
    let out = build_dir().join(&name);
    let tmp = build_dir().join(format!("{name}.{}.tmp", std::process::id()));
    let mut cc = Command::new("cc");
    cc.args(["-g", "-O1", "-fno-omit-frame-pointer", "-o"])
        .arg(&tmp)
        .arg(&src);
    if bounded {
        cc.arg("-DBOUNDED");
    }
    match alloc {
        Allocator::Glibc => {}
        Allocator::Jemalloc => {
            cc.arg("-ljemalloc");
        }
        Allocator::Tcmalloc => {
            cc.arg("-ltcmalloc");
        }
    }
    let status = cc
        .status()
        .unwrap_or_else(|e| panic!("cannot run `cc` (apt-get install gcc): {e}"));
    assert!(status.success(), "cc of {} failed", src.display());
    std::fs::rename(&tmp, &out).expect("rename built binary");
    out
}

/// Builds the Rust sample app `testkit/apps/native/rust` (tikv-jemallocator with
/// profiling) in release mode with debug info, offline when its dependencies are
/// already in the registry cache. It is its own Cargo project, outside the workspace.
pub fn rust_native_app() -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo_root().join("testkit/apps/native/rust");
    let target = build_dir().join("rust-native");
    let build = |offline: bool| {
        let mut c = Command::new(env!("CARGO"));
        c.args(["build", "--release", "--locked", "--quiet"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(&dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR");
        if offline {
            c.arg("--offline");
        }
        c.status()
            .unwrap_or_else(|e| panic!("cannot run cargo for {}: {e}", dir.display()))
    };
    if !build(true).success() {
        assert!(
            build(false).success(),
            "cargo build of {} failed",
            dir.display()
        );
    }
    target.join("release/leaky-rust")
}

/// Starts a sample app binary that prints `listening on ADDR`; returns the guard and ADDR.
pub fn start_listening(mut cmd: Command) -> (Proc, String) {
    cmd.env("LISTEN", "127.0.0.1:0");
    let (p, line) = spawn_ready(cmd, "listening on ");
    let addr = addr_in(&line);
    (p, addr)
}

/// Writes bytes to a new file in `dir` and returns its path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

/// Our own memory cgroup directory (v1 `memory` controller, else the v2
/// unified one), or why there is none: tests that need one print this reason
/// when they skip, so a skip is never silent.
pub fn own_memory_cgroup() -> Result<PathBuf, String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    let mut unified = None;
    for line in text.lines() {
        let parts: Vec<&str> = line.splitn(3, ':').collect();
        if parts.len() != 3 {
            continue;
        }
        let rel = parts[2].trim_start_matches('/');
        if parts[1].split(',').any(|c| c == "memory") {
            return Ok(Path::new("/sys/fs/cgroup/memory").join(rel));
        }
        if parts[1].is_empty() {
            unified = Some(Path::new("/sys/fs/cgroup").join(rel));
        }
    }
    unified.ok_or_else(|| "no memory cgroup in /proc/self/cgroup".into())
}

/// The child cgroups named `<prefix>*` under our own memory cgroup: what a
/// test asserts is empty after leakhound (whose cgroups are
/// `leakhound-<pid>-<n>`) has finished, so a leftover cgroup fails the suite.
pub fn memory_cgroups_named(prefix: &str) -> Vec<PathBuf> {
    let Ok(own) = own_memory_cgroup() else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(own) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// True while a process with this pid exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Compiles the Java sample apps of `testkit/apps/java` with the machine's
/// `javac` (JDK 17) and returns the class directory. Tests must fail, not
/// skip, when the JDK is missing: CI installs it. Compiled once per test
/// binary: a JVM loads classes lazily, so the directory must not change under
/// an app that is running.
pub fn java_apps() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(compile_java_apps).clone()
}

fn compile_java_apps() -> PathBuf {
    let _g = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let src = repo_root().join("testkit/apps/java");
    let out = build_dir().join(format!("java-classes-{}", std::process::id()));
    let tmp = build_dir().join(format!("java-classes.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("testkit/apps/java")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "java"))
        .collect();
    files.sort();
    let status = Command::new("javac")
        .arg("-d")
        .arg(&tmp)
        .args(&files)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run `javac` (apt-get install openjdk-17-jdk-headless): {e}")
        });
    assert!(status.success(), "javac of testkit/apps/java failed");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&tmp, &out).expect("rename compiled classes");
    out
}

/// A command that runs the Node sample app `testkit/apps/node/<name>.js` with
/// the machine's `node` and `--expose-gc` (so its `/snapshot` endpoint can
/// collect garbage first). Start it with [`start_listening`]. Tests must
/// fail, not skip, when Node is missing: CI installs Node 20.
pub fn node_app(name: &str) -> Command {
    let mut cmd = Command::new("node");
    cmd.arg("--expose-gc").arg(
        repo_root()
            .join("testkit/apps/node")
            .join(format!("{name}.js")),
    );
    cmd
}

/// A real Prometheus (Debian's `prometheus` and `promtool`) serving a TSDB
/// that `promtool tsdb create-blocks-from openmetrics` built from a text the
/// test wrote. Killed, and its data removed, on drop.
pub struct Prometheus {
    proc: Proc,
    /// `host:port` on loopback.
    pub addr: String,
    dir: PathBuf,
}

impl Prometheus {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Builds a TSDB from `openmetrics` (which must end with `# EOF`) and starts
/// Prometheus over it on a free loopback port, returning once it logs that it
/// is ready. Retention is a century: the samples are older than the default
/// 15 days and would otherwise be deleted on start. Tests fail, not skip,
/// when Prometheus is missing: CI installs it.
pub fn prometheus_over(openmetrics: &str) -> Prometheus {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = build_dir().join(format!(
        "prometheus-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    let om = write_file(&dir, "series.om", openmetrics.as_bytes());
    let config = write_file(&dir, "prometheus.yml", b"global:\n  scrape_interval: 1h\n");
    let tsdb = dir.join("tsdb");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&tsdb)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `promtool` (apt-get install prometheus): {e}"));
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new("sh");
    // Prometheus logs to stderr; readiness is a log line, so merge it into stdout.
    cmd.args(["-c", "exec prometheus \"$@\" 2>&1", "prometheus"])
        .arg(format!("--storage.tsdb.path={}", tsdb.display()))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .arg("--storage.tsdb.retention.time=100y");
    let (proc, _) = spawn_ready(cmd, "Server is ready to receive web requests");
    Prometheus { proc, addr, dir }
}
