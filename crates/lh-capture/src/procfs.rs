//! What `/proc` of this machine says about a local pid: whether it lives and
//! where it listens. The [`Local`](crate::transport::Local) transport is built
//! on this; runtime code never calls it.

use crate::{transport::Port, Error};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

pub(crate) fn proc_file(pid: u32, name: &str) -> PathBuf {
    Path::new("/proc").join(pid.to_string()).join(name)
}

/// Fails with [`Error::NoProcess`] unless `pid` is alive.
pub fn check_alive(pid: u32) -> Result<(), Error> {
    match fs::read_to_string(proc_file(pid, "stat")) {
        Ok(s)
            if !matches!(
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().next()),
                Some("Z" | "X")
            ) =>
        {
            Ok(())
        }
        _ => Err(Error::NoProcess(pid)),
    }
}

/// The TCP ports `pid` listens on, with the host to connect to from this
/// machine (a wildcard bind is reached at loopback).
pub fn listening_ports(pid: u32) -> Result<Vec<Port>, Error> {
    check_alive(pid)?;
    let fd_dir = proc_file(pid, "fd");
    let mut inodes = HashSet::new();
    for e in fs::read_dir(&fd_dir)
        .map_err(|e| Error::io(&fd_dir, e))?
        .flatten()
    {
        if let Ok(l) = fs::read_link(e.path()) {
            let l = l.to_string_lossy();
            if let Some(i) = l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                inodes.insert(i.to_string());
            }
        }
    }
    let mut out = Vec::new();
    for (file, v6) in [("net/tcp", false), ("net/tcp6", true)] {
        let text = fs::read_to_string(proc_file(pid, file)).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address st ... inode: fields 1, 3 and 9.
            if f.len() < 10 || f[3] != "0A" || !inodes.contains(f[9]) {
                continue;
            }
            if let Some(addr) = parse_hex_addr(f[1], v6).as_deref().and_then(Port::parse) {
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    Ok(out)
}

/// `0100007F:1F90` → `127.0.0.1:8080`; wildcard binds become loopback.
fn parse_hex_addr(s: &str, v6: bool) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    if !v6 {
        let n = u32::from_str_radix(ip, 16).ok()?;
        let b = n.to_le_bytes();
        let host = if n == 0 {
            "127.0.0.1".to_string()
        } else {
            format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
        };
        return Some(format!("{host}:{port}"));
    }
    let words: Vec<u32> = (0..4)
        .map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect::<Option<_>>()?;
    let mut bytes = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let ip = std::net::Ipv6Addr::from(bytes);
    if ip.is_unspecified() {
        return Some(format!("127.0.0.1:{port}"));
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(format!("{v4}:{port}"));
    }
    Some(format!("[{ip}]:{port}"))
}

/// A path as the process sees it, reachable from here even when the process
/// lives in another mount namespace (a container).
pub fn in_root(pid: u32, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap_or(path);
    proc_file(pid, "root").join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_addresses_parse() {
        assert_eq!(
            parse_hex_addr("0100007F:1F90", false).unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            parse_hex_addr("00000000:0050", false).unwrap(),
            "127.0.0.1:80"
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000000000000:0050", true).unwrap(),
            "127.0.0.1:80"
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:0050", true).unwrap(),
            "[::1]:80"
        );
        assert!(parse_hex_addr("zz:1", false).is_none());
    }
}
