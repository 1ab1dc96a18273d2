//! The `--format pprof` export, made of what the diff already read: pprof
//! inputs keep their stacks (the merged profile of `go tool pprof
//! -diff_base`), other formats give one frame per group.

use lh_model::{InputFormat, Report};
use lh_pprof::Profile;

/// The export as gzipped bytes. `profiles` are the pprof inputs as the
/// analysis kept them (the first and the last of a diff, or the one
/// analysed); other formats pass none.
pub fn export(report: &Report, profiles: &[Profile]) -> Result<Vec<u8>, lh_pprof::Error> {
    let diffed = report.snapshots.len() > 1;
    let profile = match (report.format, profiles) {
        (InputFormat::Pprof, [one]) => one.clone(),
        (InputFormat::Pprof, [first, .., last]) => lh_pprof::diff_profile(first, last)?,
        _ => {
            let rows: Vec<_> = report
                .groups
                .iter()
                .map(|g| {
                    let v = if diffed {
                        (g.delta_bytes, g.delta_count)
                    } else {
                        (g.bytes[0], g.count[0])
                    };
                    (g.key.clone(), v.0, v.1)
                })
                .collect();
            let name = if diffed { "delta_space" } else { "inuse_space" };
            lh_pprof::from_groups(name, &report.unit, &rows)
        }
    };
    Ok(lh_pprof::encode_gzip(&profile))
}
