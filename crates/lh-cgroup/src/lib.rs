//! Memory cgroups for running a process under a memory limit.
//!
//! leakhound runs the program under test in a child memory cgroup of its own
//! cgroup so that the kernel, not leakhound, enforces the limit: a leak then
//! ends as it does in a container, with an OOM kill that a user can recognise.
//! Only children of our own cgroup are ever created (read from
//! `/proc/self/cgroup`), so nothing outside leakhound's subtree is touched.
//!
//! Both hierarchies are supported: v1 (`memory.limit_in_bytes`,
//! `memory.oom_control`) and v2 (`memory.max`, `memory.events`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Which cgroup hierarchy a memory cgroup lives in; their file names differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// cgroup v1, the `memory` controller's own hierarchy.
    V1,
    /// cgroup v2, the unified hierarchy.
    V2,
}

/// A cgroup failure. [`Error::Unavailable`] is the machine's (exit 3), the rest
/// carry the file they are about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No writable memory cgroup: leakhound cannot enforce a limit here.
    #[error("no writable memory cgroup: {0}")]
    Unavailable(String),
    /// A cgroup file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A cgroup file said something that does not parse.
    #[error("{path}: cannot parse {text:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it said.
        text: String,
    },
    /// A size such as `256Mi` that does not parse.
    #[error("bad size {0:?}: use bytes or a suffix such as 64Mi, 1Gi, 500M")]
    BadSize(String),
}

impl lh_model::Classify for Error {
    /// A size that does not parse is the user's; a cgroup that cannot be
    /// made, read or parsed is the machine's.
    fn class(&self) -> lh_model::ErrorClass {
        match self {
            Error::BadSize(_) => lh_model::ErrorClass::Usage,
            _ => lh_model::ErrorClass::Environment,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A memory cgroup. One made by [`MemoryCgroup::create`] is owned: on drop,
/// every process left in it is killed and the directory removed, so an error
/// or Ctrl-C never leaves an orphan or a cgroup behind. One opened with
/// [`MemoryCgroup::open`] (e.g. `diagnose cgroup:PATH`) is only read.
#[derive(Debug)]
pub struct MemoryCgroup {
    path: PathBuf,
    version: Version,
    owned: bool,
}

/// Names children uniquely within this process.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// The directory of our own memory cgroup and its hierarchy version.
pub fn own_memory_cgroup() -> Result<(PathBuf, Version), Error> {
    let text =
        fs::read_to_string("/proc/self/cgroup").map_err(io_err(Path::new("/proc/self/cgroup")))?;
    own_from(&text, Path::new("/sys/fs/cgroup"))
}

/// Finds the memory cgroup in a `/proc/PID/cgroup` text: the v1 `memory`
/// controller line if there is one, else the v2 unified line.
fn own_from(text: &str, root: &Path) -> Result<(PathBuf, Version), Error> {
    let (v1, unified) = memory_dirs(text, root);
    if let Some(dir) = v1.filter(|d| d.join("memory.limit_in_bytes").exists()) {
        return Ok((dir, Version::V1));
    }
    match unified {
        Some(dir) if dir.join("cgroup.controllers").exists() => {
            let ctrls = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            if ctrls.split_whitespace().any(|c| c == "memory") {
                Ok((dir, Version::V2))
            } else {
                Err(Error::Unavailable(format!(
                    "the memory controller is not enabled for {} (cgroup v2)",
                    dir.display()
                )))
            }
        }
        _ => Err(Error::Unavailable(
            "no memory controller in /proc/self/cgroup (neither cgroup v1 `memory` nor v2)".into(),
        )),
    }
}

/// The memory cgroup directories a `/proc/PID/cgroup` text names under the
/// hierarchy root `root` (`/sys/fs/cgroup`): the v1 `memory` controller's and
/// the unified (v2) one, each if its line is there.
fn memory_dirs(text: &str, root: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let (mut v1, mut unified) = (None, None);
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(rel)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let rel = rel.trim_start_matches('/');
        if ctrls.split(',').any(|c| c == "memory") {
            v1 = Some(root.join("memory").join(rel));
        } else if ctrls.is_empty() {
            unified = Some(root.join(rel));
        }
    }
    (v1, unified)
}

impl MemoryCgroup {
    /// Creates `leakhound-<pid>-<n>` under our own memory cgroup with `limit`
    /// bytes (and no swap above it, so the limit means an OOM kill, not paging).
    pub fn create(limit: u64) -> Result<Self, Error> {
        Self::create_named("leakhound", Some(limit))
    }

    /// Creates `<prefix>-<pid>-<n>` under our own memory cgroup, limited to
    /// `limit` bytes or unlimited: an unlimited one holds a tree of children
    /// (the test cluster lays out `kubepods/<qos>/pod<UID>/<container>` in one).
    pub fn create_named(prefix: &str, limit: Option<u64>) -> Result<Self, Error> {
        let (parent, version) = own_memory_cgroup()?;
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        Self::make(&parent, &name, version, limit)
    }

    /// Creates the owned child `name` of this cgroup (ours or one we opened),
    /// limited to `limit` bytes or unlimited. Drop the children before the
    /// parent: a cgroup with children cannot be removed.
    pub fn create_child(&self, name: &str, limit: Option<u64>) -> Result<Self, Error> {
        Self::make(&self.path, name, self.version, limit)
    }

    fn make(
        parent: &Path,
        name: &str,
        version: Version,
        limit: Option<u64>,
    ) -> Result<Self, Error> {
        let path = parent.join(name);
        fs::create_dir(&path).map_err(|e| {
            Error::Unavailable(format!(
                "cannot create a child of our memory cgroup {}: {e} (run as root, or with a delegated cgroup)",
                parent.display()
            ))
        })?;
        let cg = MemoryCgroup {
            path,
            version,
            owned: true,
        };
        let Some(limit) = limit else {
            return Ok(cg);
        };
        // From here on, drop removes the directory if setting the limit fails.
        match version {
            Version::V1 => {
                cg.write("memory.limit_in_bytes", &limit.to_string())?;
                // Swap would let the process page instead of being killed; the
                // memsw file exists only with swap accounting, and is optional.
                if cg.path.join("memory.memsw.limit_in_bytes").exists() {
                    let _ = cg.write("memory.memsw.limit_in_bytes", &limit.to_string());
                }
            }
            Version::V2 => {
                cg.write("memory.max", &limit.to_string())?;
                if cg.path.join("memory.swap.max").exists() {
                    let _ = cg.write("memory.swap.max", "0");
                }
            }
        }
        Ok(cg)
    }

    /// The memory cgroup process `pid` lives in, opened to read (drop leaves
    /// it alone): `diagnose pid:PID` reads its limit, usage and OOM history.
    pub fn of_pid(pid: u32) -> Result<Self, Error> {
        let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
        let text = fs::read_to_string(&file).map_err(io_err(&file))?;
        let (v1, unified) = memory_dirs(&text, Path::new("/sys/fs/cgroup"));
        let dir = v1
            .filter(|d| d.join("memory.limit_in_bytes").exists())
            .or(unified)
            .ok_or_else(|| Error::Parse {
                path: file.clone(),
                text: text.trim().to_string(),
            })?;
        Self::open(&dir)
    }

    /// Opens an existing memory cgroup directory to read it; drop leaves it alone.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let version = if path.join("memory.limit_in_bytes").exists() {
            Version::V1
        } else if path.join("memory.max").exists() || path.join("memory.current").exists() {
            Version::V2
        } else {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::NotFound, "not a memory cgroup directory"),
            });
        };
        Ok(MemoryCgroup {
            path: path.to_path_buf(),
            version,
            owned: false,
        })
    }

    /// Its directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its hierarchy.
    pub fn version(&self) -> Version {
        self.version
    }

    fn read(&self, file: &str) -> Result<String, Error> {
        let p = self.path.join(file);
        fs::read_to_string(&p).map_err(io_err(&p))
    }

    fn write(&self, file: &str, value: &str) -> Result<(), Error> {
        let p = self.path.join(file);
        fs::write(&p, value).map_err(io_err(&p))
    }

    fn read_u64(&self, file: &str) -> Result<u64, Error> {
        let text = self.read(file)?;
        let t = text.trim();
        if t == "max" {
            return Ok(u64::MAX);
        }
        t.parse().map_err(|_| Error::Parse {
            path: self.path.join(file),
            text: t.to_string(),
        })
    }

    /// The limit in bytes, or None when unlimited.
    pub fn limit(&self) -> Result<Option<u64>, Error> {
        let v = self.read_u64(match self.version {
            Version::V1 => "memory.limit_in_bytes",
            Version::V2 => "memory.max",
        })?;
        // v1 reports "unlimited" as a page-rounded i64::MAX.
        Ok((v < (1u64 << 62)).then_some(v))
    }

    /// Memory charged to the cgroup now, in bytes (page cache included, as the kernel counts it for OOM).
    pub fn usage(&self) -> Result<u64, Error> {
        self.read_u64(match self.version {
            Version::V1 => "memory.usage_in_bytes",
            Version::V2 => "memory.current",
        })
    }

    /// `memory.stat` as key → value.
    pub fn stat(&self) -> Result<BTreeMap<String, u64>, Error> {
        Ok(parse_kv(&self.read("memory.stat")?))
    }

    /// How many processes the kernel OOM-killed in this cgroup so far.
    pub fn oom_kills(&self) -> Result<u64, Error> {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        Ok(parse_kv(&self.read(file)?)
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    /// The processes in the cgroup now.
    pub fn pids(&self) -> Result<Vec<u32>, Error> {
        Ok(self
            .read("cgroup.procs")?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect())
    }

    /// Moves a running process in.
    pub fn add(&self, pid: u32) -> Result<(), Error> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// Makes `cmd` start inside this cgroup: the child writes itself into
    /// `cgroup.procs` between fork and exec, so not one allocation of the
    /// program escapes the limit. It also dies with leakhound (PDEATHSIG), so
    /// even a SIGKILL of leakhound leaves no orphan.
    ///
    /// The one `unsafe` of the crates leakhound ships (testkit's namespace
    /// launcher is the other, test-only): `pre_exec` is unsafe by signature,
    /// and no safe API runs code between fork and exec.
    #[allow(unsafe_code)]
    pub fn enter_on_exec(&self, cmd: &mut Command) -> Result<(), Error> {
        let p = self.path.join("cgroup.procs");
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only makes raw
        // syscalls (write, prctl, getppid, kill) on memory owned by the
        // closure; it does not allocate or take locks.
        unsafe {
            cmd.pre_exec(move || {
                use std::os::fd::AsRawFd;
                let fd = file.as_raw_fd();
                // "0" means the writing process itself, in v1 and v2.
                if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::kill(0, libc::SIGKILL);
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// SIGKILLs every process in the cgroup and waits (up to `timeout`) until it is empty.
    pub fn kill_all(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            for pid in pids {
                // Gone already is what we want.
                if let Some(p) = i32::try_from(pid)
                    .ok()
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Io {
                    path: self.path.join("cgroup.procs"),
                    source: io::Error::new(io::ErrorKind::TimedOut, "processes would not die"),
                });
            }
            // Killed processes leave the cgroup when reaped; give the reaper a moment.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills what is left, then removes the directory. Called by drop; call it
    /// yourself to see the error.
    pub fn remove(&mut self) -> Result<(), Error> {
        if !self.owned {
            return Ok(());
        }
        self.owned = false;
        self.kill_all(Duration::from_secs(30))?;
        // rmdir can fail with EBUSY for a moment after the last task leaves.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match fs::remove_dir(&self.path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(io_err(&self.path)(e)),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            eprintln!("leakhound: could not remove cgroup: {e}");
        }
    }
}

/// Parses `key value` lines (memory.stat, memory.events, memory.oom_control).
fn parse_kv(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

/// Parses a size as Kubernetes writes it: `268435456`, `256Mi`, `1Gi`, `500M`, `64k`.
pub fn parse_size(s: &str) -> Result<u64, Error> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| Error::BadSize(s.into()))?;
    let mult: u64 = match unit {
        "" => 1,
        "k" | "K" => 1000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => return Err(Error::BadSize(s.into())),
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::BadSize(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_kubernetes_writes_them() {
        assert_eq!(parse_size("256Mi").unwrap(), 256 << 20);
        assert_eq!(parse_size("1Gi").unwrap(), 1 << 30);
        assert_eq!(parse_size("500M").unwrap(), 500_000_000);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["", "Mi", "12XB", "0", "-1", "99999999999999999999Gi"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_the_v1_memory_line_or_the_v2_line() {
        let dir = std::env::temp_dir().join(format!("lh-cgroup-unit-{}", std::process::id()));
        let v1 = dir.join("memory/a/b");
        fs::create_dir_all(&v1).unwrap();
        fs::write(v1.join("memory.limit_in_bytes"), "1").unwrap();
        let (p, v) = own_from("4:memory:/a/b\n0::/\n", &dir).unwrap();
        assert_eq!((p, v), (v1, Version::V1));
        let v2 = dir.join("x");
        fs::create_dir_all(&v2).unwrap();
        fs::write(v2.join("cgroup.controllers"), "cpu memory pids").unwrap();
        assert_eq!(
            own_from("0::/x\n", &dir).unwrap(),
            (v2.clone(), Version::V2)
        );
        fs::write(v2.join("cgroup.controllers"), "cpu").unwrap();
        assert!(matches!(
            own_from("0::/x\n", &dir),
            Err(Error::Unavailable(_))
        ));
        assert!(matches!(own_from("", &dir), Err(Error::Unavailable(_))));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn key_value_files_parse() {
        let m = parse_kv("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        assert_eq!(m["oom_kill"], 3);
    }
}
