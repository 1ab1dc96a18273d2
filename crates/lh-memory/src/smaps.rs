//! A process's side of a breakdown: `/proc/PID/smaps_rollup`.
//!
//! The proportional lines (`Pss_Anon`, `Pss_File`, `Pss_Shmem`) split a page
//! shared by N processes N ways, so summing them over the cgroup's processes
//! counts each page once (a forked worker's copy-on-write pages are not
//! counted twice, as RSS would).

use lh_model::breakdown::ProcessMemory;

/// Reads a `smaps_rollup` text (sizes in kB) into `pid`'s figures.
/// Kernels before 5.13 have no `Pss_Anon`/`Pss_File`/`Pss_Shmem`; there the
/// non-proportional `Anonymous` stands in for anonymous memory.
pub fn parse(pid: u32, name: &str, text: &str) -> Option<ProcessMemory> {
    let mut p = ProcessMemory {
        pid,
        name: name.to_string(),
        rss_bytes: 0,
        anonymous_bytes: 0,
        file_bytes: 0,
        shared_bytes: 0,
        swap_bytes: 0,
    };
    let (mut seen, mut anonymous, mut pss_anon) = (false, 0, None);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let Some(kb) = rest
            .trim()
            .strip_suffix("kB")
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            continue;
        };
        let b = kb * 1024;
        seen = true;
        match key {
            "Rss" => p.rss_bytes = b,
            "Pss_Anon" => pss_anon = Some(b),
            "Anonymous" => anonymous = b,
            "Pss_File" => p.file_bytes = b,
            "Pss_Shmem" => p.shared_bytes = b,
            "Swap" => p.swap_bytes = b,
            _ => {}
        }
    }
    p.anonymous_bytes = pss_anon.unwrap_or(anonymous);
    seen.then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_proportional_lines() {
        let text = "56250d8ab000-7fffcd046000 ---p 00000000 00:00 0      [rollup]\n\
Rss:                1612 kB\nPss:                 182 kB\nPss_Dirty:           116 kB\n\
Pss_Anon:            116 kB\nPss_File:             66 kB\nPss_Shmem:             8 kB\n\
Shared_Clean:       1456 kB\nAnonymous:           200 kB\nSwap:                  4 kB\n";
        let p = parse(7, "app", text).unwrap();
        assert_eq!(p.rss_bytes, 1612 * 1024);
        assert_eq!(p.anonymous_bytes, 116 * 1024);
        assert_eq!(p.file_bytes, 66 * 1024);
        assert_eq!(p.shared_bytes, 8 * 1024);
        assert_eq!(p.swap_bytes, 4 * 1024);
    }

    #[test]
    fn old_kernels_fall_back_to_anonymous() {
        let p = parse(7, "app", "Rss: 10 kB\nAnonymous: 6 kB\n").unwrap();
        assert_eq!(p.anonymous_bytes, 6 * 1024);
        assert!(parse(7, "app", "").is_none());
    }
}
