//! Starting a process inside a pod's namespaces: the one place with `unsafe`.
//!
//! A container on a kubelet is PID 1 of its own PID namespace, has its own
//! mount namespace (with a `/proc` of that PID namespace) and shares the
//! pod's network namespace. `exec` and ephemeral containers join some of those
//! namespaces. All of that is done here, between fork and exec, because
//! namespaces must be entered by the new process itself: the server is
//! multi-threaded, and `setns` into a mount namespace or `unshare` of a PID
//! namespace cannot be done from it.
//!
//! A new or joined PID namespace only applies to the caller's *children*, so
//! the forked child forks once more: the grandchild is the program (PID 1 of a
//! new PID namespace), and the child stays as a small shim (as containerd's is)
//! that waits for it and exits the same way, re-raising the signal that killed
//! it. The shim is what [`spawn`] returns; the program's host pid is read from
//! the shim's children.

use std::ffi::CString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{chdir, fork, getpid, pivot_root, sethostname, ForkResult, Pid};

/// What the new process enters and sets up before it runs its program.
pub struct Setup {
    /// Namespaces to join, in order: `/proc/PID/ns/*` opened beforehand, and their kind.
    pub join: Vec<(OwnedFd, CloneFlags)>,
    /// Namespaces to create (`CLONE_NEWPID`, `CLONE_NEWNS`, `CLONE_NEWNET`, ...).
    pub new: CloneFlags,
    /// `cgroup.procs` of the memory cgroup to enter, opened beforehand.
    pub cgroup: Option<std::fs::File>,
    /// A directory to make the root of the (new) mount namespace, with `pivot_root`.
    pub root: Option<PathBuf>,
    /// Mount a fresh `/proc` (of the process's PID namespace) in its (new) mount namespace.
    pub mount_proc: bool,
    /// Bring up the loopback interface (of a new network namespace).
    pub loopback_up: bool,
    /// Set the hostname (of a new UTS namespace).
    pub hostname: Option<String>,
    /// The working directory, entered last (inside `root` when there is one).
    pub cwd: Option<PathBuf>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            join: Vec::new(),
            new: CloneFlags::empty(),
            cgroup: None,
            root: None,
            mount_proc: false,
            loopback_up: false,
            hostname: None,
            cwd: None,
        }
    }
}

/// Spawns `cmd` (program, args, env and stdio already set) with `setup`.
/// Returns the shim; the program has been exec'd when this returns, since
/// std's spawn waits until every copy of its exec-error pipe is closed (the
/// shim closes its copy at once, the program at exec).
///
/// `unsafe` because `pre_exec` is, by signature: no safe API runs code between
/// fork and exec, and nix's `fork` (for the shim) is unsafe too. `setns`,
/// `unshare`, `mount` and `pivot_root` are nix's safe wrappers.
#[allow(unsafe_code)]
pub fn spawn(mut cmd: tokio::process::Command, setup: Setup) -> io::Result<tokio::process::Child> {
    let Setup {
        join,
        new,
        cgroup,
        root,
        mount_proc,
        loopback_up,
        hostname,
        cwd,
    } = setup;
    let root = root
        .map(|r| CString::new(r.as_os_str().as_bytes()))
        .transpose()?;
    let cwd = cwd
        .map(|c| CString::new(c.as_os_str().as_bytes()))
        .transpose()?;
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child of a multi-threaded
    // process, where only async-signal-safe calls are sound. Everything it
    // needs (fds, C strings) was prepared before the fork; it makes raw system
    // calls through nix (paths shorter than nix's stack buffer, so no
    // allocation), `fork`, `waitpid` and `_exit`, and takes no lock. The shim
    // branch never returns into std: it only waits and exits.
    unsafe {
        cmd.pre_exec(move || {
            die_with_parent()?;
            // The parent may have died before prctl took effect.
            if nix::unistd::getppid().as_raw() as u32 != parent {
                let _ = kill(getpid(), Signal::SIGKILL);
            }
            for (fd, kind) in &join {
                setns(fd, *kind)?;
            }
            if !new.is_empty() {
                unshare(new)?;
            }
            match fork()? {
                ForkResult::Parent { child } => shim_wait(child),
                ForkResult::Child => {}
            }
            // The shim outlives the program (it exits only after reaping
            // it), so no getppid check here; in a new PID namespace
            // getppid() is 0 anyway.
            die_with_parent()?;
            if let Some(procs) = &cgroup {
                // "0": the writing process itself.
                nix::unistd::write(procs, b"0")?;
            }
            if new.contains(CloneFlags::CLONE_NEWNS) {
                // Private first, or our mounts would propagate to the host.
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )?;
            }
            if let Some(root) = &root {
                // pivot_root (not chroot), so that a later setns into this
                // mount namespace (exec) lands in this root too.
                mount(
                    Some(root.as_c_str()),
                    root.as_c_str(),
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )?;
                chdir(root.as_c_str())?;
                pivot_root(".", ".")?;
                umount2(".", MntFlags::MNT_DETACH)?;
                chdir("/")?;
            }
            if mount_proc {
                mount(
                    Some("proc"),
                    "/proc",
                    Some("proc"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    None::<&str>,
                )?;
            }
            if loopback_up {
                set_loopback_up()?;
            }
            if let Some(h) = &hostname {
                sethostname(h)?;
            }
            if let Some(dir) = &cwd {
                chdir(dir.as_c_str())?;
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// The host pid of the program a [`spawn`]ed shim runs (its only child).
pub fn program_pid(shim: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{shim}/task/{shim}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// SIGKILL when the parent dies.
fn die_with_parent() -> io::Result<()> {
    Ok(nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?)
}

/// The shim: closes every inherited fd (so pipes see EOF when the program
/// closes them), waits for the program and ends as it ended.
///
/// `unsafe` for `close_range` and `_exit`, which neither nix nor rustix wrap
/// safely (`std::process::exit` runs atexit handlers, unsound after a fork),
/// and `setrlimit` beside them.
#[allow(unsafe_code)]
fn shim_wait(child: Pid) -> ! {
    // SAFETY (caller's): close_range, waitpid, kill and _exit are
    // async-signal-safe; nothing here allocates.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
        loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => libc::_exit(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    let no_core = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                    let _ = signal(sig, SigHandler::SigDfl);
                    let _ = kill(getpid(), sig);
                    libc::_exit(128 + sig as i32)
                }
                Err(nix::errno::Errno::EINTR) | Ok(_) => continue,
                Err(_) => libc::_exit(127),
            }
        }
    }
}

/// `ip link set lo up` in the current network namespace, with two ioctls.
///
/// `unsafe` for `SIOCGIFFLAGS`/`SIOCSIFFLAGS`, which neither nix nor rustix
/// wrap safely.
#[allow(unsafe_code)]
fn set_loopback_up() -> io::Result<()> {
    // SAFETY (caller's): socket, ioctl and close on a zeroed ifreq that lives
    // on this stack frame.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr) == 0
        };
        let err = io::Error::last_os_error();
        libc::close(fd);
        if ok {
            Ok(())
        } else {
            Err(err)
        }
    }
}

/// Opens `/proc/PID/ns/NAME` to join later.
pub fn open_ns(pid: u32, name: &str) -> io::Result<OwnedFd> {
    Ok(std::fs::File::open(format!("/proc/{pid}/ns/{name}"))?.into())
}

/// Runs `f` on a short-lived thread that has joined the network namespace
/// `netns`: a socket belongs to the namespace it was created in, so a
/// connection made there reaches the pod's own 127.0.0.1 (port-forward and
/// the proxy), while the server's threads stay in the host's namespace.
pub fn in_netns<T: Send + 'static>(
    netns: &OwnedFd,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let fd = netns.try_clone()?;
    std::thread::spawn(move || {
        setns(&fd, CloneFlags::CLONE_NEWNET)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("netns thread panicked"))?
}
