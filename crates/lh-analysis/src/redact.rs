//! `--redact-strings`: the contents of the process's strings leave the
//! result, so that a report can go into a ticket outside the team.
//!
//! It runs once, on the [`Analysis`] that [`crate::diff`] and
//! [`crate::analyze`] return, before any renderer sees it: the table, the
//! JSON, the HTML page and the pprof export are all made of what is left, so
//! no renderer can forget to redact. What names the leak stays, since a
//! redacted report must still say where to look: function and class names,
//! field names, and the app's own `file:line`. Each string dropped becomes a
//! marker that says so and how long it was, `<redacted 37 bytes>`.
//!
//! What a format can hold of a program's data, and what is dropped:
//! - pprof (and the native profiles, which are pprof once symbolized):
//!   string label values (`pprof.Do(ctx, pprof.Labels("user", …))`) and the
//!   profile's comments, in the profiles kept for the export; numeric labels
//!   and the frames stay.
//! - V8 and HPROF: property names that are not identifiers, where an object
//!   is a dictionary keyed by data (`sessions["alice@example.com"]`), in
//!   retainer paths and in the hints that quote them. String values and
//!   char arrays themselves never reach a report: lh-v8 does not read
//!   string nodes' names and lh-hprof reads no primitive array's contents.
//! - tracemalloc: file paths outside the app (its home directory, a
//!   virtualenv, a vendored package), in keys, flame frames and hints. The
//!   app is the directories of the suspects' allocating lines (or, without
//!   suspects, of the largest group's): that is where the leak is, and
//!   those paths must stay for the report to name it. The file's base name
//!   is kept, being code, not data.

use crate::Analysis;
use lh_model::{InputFormat, Report};
use std::collections::HashMap;

/// The marker a dropped string becomes.
pub fn marker(s: &str) -> String {
    format!("<redacted {} bytes>", s.len())
}

/// Drops string contents from `a`, report and kept profiles alike.
pub fn redact_strings(a: &mut Analysis) {
    for p in &mut a.profiles {
        redact_profile(p);
    }
    let dropped = match a.report.format {
        InputFormat::V8 | InputFormat::Hprof => redact_paths(&mut a.report),
        InputFormat::Tracemalloc => redact_files(&mut a.report),
        InputFormat::Pprof | InputFormat::Jemalloc | InputFormat::Tcmalloc => HashMap::new(),
    };
    // Hints and notes quote keys and path steps; they lose what those lost.
    // Longest first, so that a string containing another is replaced whole.
    let mut dropped: Vec<(String, String)> = dropped.into_iter().collect();
    dropped.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let r = &mut a.report;
    let texts = r
        .suspects
        .iter_mut()
        .map(|s| &mut s.hint)
        .chain(r.details.notes.iter_mut());
    for t in texts {
        for (from, to) in &dropped {
            if t.contains(from.as_str()) {
                *t = t.replace(from.as_str(), to);
            }
        }
    }
}

/// String labels and comments of a pprof profile. Their entries of the
/// string table become markers in place, so the strings leave the encoded
/// profile too; an entry that also names what stays (a function, a file, a
/// label key) is kept for that, and the label gets a new marker entry.
fn redact_profile(p: &mut lh_pprof::Profile) {
    let mut kept: std::collections::HashSet<i64> = p
        .function
        .iter()
        .flat_map(|f| [f.name, f.system_name, f.filename])
        .chain(p.mapping.iter().flat_map(|m| [m.filename, m.build_id]))
        .chain(
            p.sample_type
                .iter()
                .chain(&p.period_type)
                .flat_map(|t| [t.r#type, t.unit]),
        )
        .chain(
            p.sample
                .iter()
                .flat_map(|s| s.label.iter().flat_map(|l| [l.key, l.num_unit])),
        )
        .collect();
    kept.extend([
        p.drop_frames,
        p.keep_frames,
        p.default_sample_type,
        p.doc_url,
    ]);
    let mut markers: HashMap<i64, i64> = HashMap::new();
    let table = &mut p.string_table;
    let mut redact = |i: &mut i64| {
        if *i <= 0 || *i as usize >= table.len() {
            return;
        }
        *i = *markers.entry(*i).or_insert_with(|| {
            let m = marker(&table[*i as usize]);
            if kept.contains(i) {
                table.push(m);
                table.len() as i64 - 1
            } else {
                table[*i as usize] = m;
                *i
            }
        });
    };
    for s in &mut p.sample {
        for l in &mut s.label {
            redact(&mut l.str);
        }
    }
    for c in &mut p.comment {
        redact(c);
    }
}

/// True for a name a program's code would write (`responseCache`,
/// `_events`, `$el`): a field, not a dictionary key that came with data.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// A retainer path step `.name → Class` whose name is data, with the name
/// redacted; `None` when the step keeps its name.
fn redact_step(step: &str) -> Option<(String, String)> {
    let rest = step.strip_prefix('.')?;
    let (name, _) = rest.split_once(" → ")?;
    (!is_identifier(name)).then(|| (name.to_string(), marker(name)))
}

/// V8 and HPROF: data-keyed steps of every retainer path. Returns what was
/// dropped, as (string, marker).
fn redact_paths(r: &mut Report) -> HashMap<String, String> {
    let mut dropped = HashMap::new();
    let paths = r
        .groups
        .iter_mut()
        .filter_map(|g| g.retainer_path.as_mut())
        .chain(
            r.suspects
                .iter_mut()
                .filter_map(|s| s.retainer_path.as_mut()),
        )
        .chain(r.details.largest.iter_mut().map(|o| &mut o.retainer_path));
    for path in paths {
        for step in path.iter_mut() {
            if let Some((name, m)) = redact_step(step) {
                *step = format!(".{m}{}", &step[1 + name.len()..]);
                dropped.insert(name, m);
            }
        }
    }
    dropped
}

/// The directories of the app: those of the suspects' allocating lines, or
/// of the largest group's when there is no suspect.
fn app_dirs(r: &Report) -> Vec<String> {
    let keys: Vec<&str> = if r.suspects.is_empty() {
        r.groups.iter().take(1).map(|g| g.key.as_str()).collect()
    } else {
        r.suspects.iter().map(|s| s.key.as_str()).collect()
    };
    let mut dirs: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let site = k.split(" <- ").next()?;
            let (dir, _) = file_of(site).rsplit_once('/')?;
            Some(format!("{dir}/"))
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The file of a tracemalloc frame, `file:line` or `file`.
fn file_of(frame: &str) -> &str {
    match frame.rsplit_once(':') {
        Some((file, line)) if line.parse::<i64>().is_ok() => file,
        _ => frame,
    }
}

/// A frame with its file redacted when it is outside the app; `None` when
/// it stays (the app's own, or not a path: `<frozen …>`, `<unknown>`).
fn redact_frame(frame: &str, app: &[String]) -> Option<(String, String)> {
    let file = file_of(frame);
    if !file.contains('/') || app.iter().any(|d| file.starts_with(d.as_str())) {
        return None;
    }
    let (dir, base) = file.rsplit_once('/')?;
    Some((
        dir.to_string(),
        marker(dir) + "/" + base + &frame[file.len()..],
    ))
}

/// tracemalloc: file paths outside the app, in keys (each frame of a
/// traceback key) and flame frames. Returns what was dropped.
fn redact_files(r: &mut Report) -> HashMap<String, String> {
    let app = app_dirs(r);
    let mut dropped: HashMap<String, String> = HashMap::new();
    let mut key = |k: &mut String| {
        let frames: Vec<String> = k
            .split(" <- ")
            .map(|f| match redact_frame(f, &app) {
                Some((dir, redacted)) => {
                    dropped.insert(dir.clone(), marker(&dir));
                    redacted
                }
                None => f.to_string(),
            })
            .collect();
        *k = frames.join(" <- ");
    };
    for g in &mut r.groups {
        key(&mut g.key);
    }
    for s in &mut r.suspects {
        key(&mut s.key);
    }
    if let Some(f) = &mut r.details.flame {
        for n in &mut f.names {
            key(n);
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::{Group, Suspect};

    fn group(key: &str, path: Option<Vec<&str>>) -> Group {
        Group {
            key: key.into(),
            bytes: vec![1, 2],
            count: vec![1, 2],
            delta_bytes: 1,
            delta_count: 1,
            monotonic: false,
            retained_bytes: None,
            retainer_path: path.map(|p| p.into_iter().map(String::from).collect()),
        }
    }

    fn suspect(key: &str, hint: &str, path: Option<Vec<&str>>) -> Suspect {
        Suspect {
            key: key.into(),
            delta_bytes: 1,
            retained_bytes: None,
            retainer_path: path.map(|p| p.into_iter().map(String::from).collect()),
            pattern: None,
            hint: hint.into(),
            confidence: 0.9,
        }
    }

    fn report(format: InputFormat, groups: Vec<Group>, suspects: Vec<Suspect>) -> Analysis {
        Analysis::from(Report {
            format,
            unit: "bytes".into(),
            snapshots: vec![],
            groups,
            suspects,
            details: Default::default(),
        })
    }

    #[test]
    fn data_keys_leave_paths_and_hints_fields_stay() {
        let path = vec![
            "(GC root)",
            ".sessions → Object",
            ".alice@example.com → Session",
        ];
        let mut a = report(
            InputFormat::V8,
            vec![group("Session", Some(path.clone()))],
            vec![suspect(
                "Session",
                "'alice@example.com' holds them",
                Some(path),
            )],
        );
        redact_strings(&mut a);
        let s = &a.report.suspects[0];
        assert_eq!(s.key, "Session");
        let p = s.retainer_path.as_ref().unwrap();
        assert_eq!(p[1], ".sessions → Object");
        assert_eq!(p[2], ".<redacted 17 bytes> → Session");
        assert_eq!(s.hint, "'<redacted 17 bytes>' holds them");
        assert_eq!(a.report.groups[0].retainer_path.as_ref().unwrap()[2], p[2]);
    }

    #[test]
    fn paths_outside_the_app_leave_tracemalloc_keys() {
        let leak = "/srv/app/cache.py:12";
        let other = "/home/alice/secret/vendor/lib.py:3";
        let mut a = report(
            InputFormat::Tracemalloc,
            vec![
                group(leak, None),
                group(&format!("{other} <- {leak}"), None),
                group("<frozen importlib._bootstrap>:241", None),
            ],
            vec![suspect(leak, &format!("see {other}"), None)],
        );
        redact_strings(&mut a);
        let keys: Vec<&str> = a.report.groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                leak,
                "<redacted 25 bytes>/lib.py:3 <- /srv/app/cache.py:12",
                "<frozen importlib._bootstrap>:241"
            ]
        );
        assert_eq!(a.report.suspects[0].key, leak);
        assert_eq!(
            a.report.suspects[0].hint,
            "see <redacted 25 bytes>/lib.py:3"
        );
    }

    #[test]
    fn pprof_string_labels_and_comments_leave_the_table_shared_names_stay() {
        let mut p = lh_pprof::Profile {
            string_table: vec![
                "".into(),
                "session".into(),
                "main.track".into(),
                "alice".into(),
            ],
            comment: vec![2],
            ..Default::default()
        };
        p.function.push(lh_pprof::proto::Function {
            id: 1,
            name: 2,
            ..Default::default()
        });
        p.sample.push(lh_pprof::proto::Sample {
            location_id: vec![],
            value: vec![1],
            label: vec![
                lh_pprof::proto::Label {
                    key: 1,
                    str: 2,
                    ..Default::default()
                },
                lh_pprof::proto::Label {
                    key: 1,
                    str: 3,
                    ..Default::default()
                },
            ],
        });
        let mut a = report(InputFormat::Pprof, vec![], vec![]);
        a.profiles.push(p);
        redact_strings(&mut a);
        let p = &a.profiles[0];
        let l = &p.sample[0].label[0];
        assert_eq!(p.string(l.key), "session", "label keys are code");
        assert_eq!(p.string(l.str), "<redacted 10 bytes>");
        assert_eq!(p.string(p.comment[0]), "<redacted 10 bytes>");
        assert_eq!(p.string(2), "main.track", "the function's name stays");
        assert_eq!(p.string(p.sample[0].label[1].str), "<redacted 5 bytes>");
        assert!(
            !p.string_table.iter().any(|s| s == "alice"),
            "{:?}",
            p.string_table
        );
    }
}
