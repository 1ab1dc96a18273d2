//! Real cgroups, real processes, real kernel OOM kills. Skips (saying why)
//! only where the machine has no writable memory cgroup.

use lh_cgroup::{Error, MemoryCgroup};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Creates a cgroup or explains the skip; any other failure fails the test.
fn cgroup(limit: u64) -> Option<MemoryCgroup> {
    match MemoryCgroup::create(limit) {
        Ok(cg) => Some(cg),
        Err(Error::Unavailable(why)) => {
            eprintln!("SKIP: {why}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn a_process_that_outgrows_its_limit_is_oom_killed_and_counted() {
    let Some(cg) = cgroup(48 << 20) else { return };
    assert_eq!(cg.limit().unwrap(), Some(48 << 20));
    assert_eq!(cg.oom_kills().unwrap(), 0);
    let mut cmd = Command::new("python3");
    cmd.args(["-c", "a = []\nwhile True: a.append(bytearray(1 << 20))"]);
    cg.enter_on_exec(&mut cmd).unwrap();
    let status = cmd.status().unwrap();
    assert_eq!(status.signal(), Some(9), "SIGKILL expected: {status:?}");
    assert_eq!(cg.oom_kills().unwrap(), 1);
    assert!(cg.stat().unwrap().contains_key("rss") || cg.stat().unwrap().contains_key("anon"));
    let path = cg.path().to_path_buf();
    drop(cg);
    assert!(!path.exists(), "cgroup left behind: {}", path.display());
}

#[test]
fn drop_kills_what_is_left_and_removes_the_cgroup() {
    let Some(cg) = cgroup(256 << 20) else { return };
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import time\nprint('ready', flush=True)\ntime.sleep(600)",
    ]);
    cg.enter_on_exec(&mut cmd).unwrap();
    let (proc, _) = testkit::spawn_ready(cmd, "ready");
    let pid = proc.pid();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    assert!(cg.usage().unwrap() > 0);
    let path = cg.path().to_path_buf();
    drop(cg);
    assert!(!path.exists());
    drop(proc); // reaps the zombie the cgroup's kill left
    assert!(!testkit::process_alive(pid));
}

#[test]
fn opened_cgroups_are_read_not_removed() {
    let own = match testkit::own_memory_cgroup() {
        Ok(p) => p,
        Err(why) => return eprintln!("SKIP: {why}"),
    };
    let cg = MemoryCgroup::open(&own).unwrap();
    assert!(cg.usage().unwrap() > 0);
    drop(cg);
    assert!(own.exists());
    assert!(MemoryCgroup::open(std::path::Path::new("/nonexistent")).is_err());
}
