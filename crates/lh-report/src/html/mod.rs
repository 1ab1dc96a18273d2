//! The HTML report: one self-contained page with the verdict, the memory
//! chart (where there is a memory series), the suspects with their retainer
//! paths, a differential flame graph of the last snapshot against the
//! first, the diff table and the files it was made from.
//!
//! Self-contained means the page asks for nothing: CSS, SVG and the little
//! JavaScript are inline, no font is named that would be fetched, and a
//! Content-Security-Policy of `default-src 'none'` makes sure of it. The
//! page reads the same with JavaScript off (sorting the table is all the
//! script adds, and the flame graph's zoom), and prints.

mod chart;
mod flame;

use chart::{Run, RunEnd};
use lh_model::outcome::{EndReason, Outcome};
use lh_model::{human_bytes, Report};
use std::fmt::Write;
use std::io::Read;
use std::path::Path;

const CSS: &str = include_str!("page.css");
const JS: &str = include_str!("page.js");

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One input file as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The path as given on the command line.
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Hex sha256 of the content; `None` when the file could not be read
    /// any more (a soak's snapshot removed since).
    pub sha256: Option<String>,
}

impl FileInfo {
    /// Size and sha256 of `path`, read in blocks.
    pub fn of(path: &Path) -> FileInfo {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let mut bytes = 0u64;
        let sha256 = std::fs::File::open(path).ok().and_then(|mut f| {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        bytes += n as u64;
                        hasher.update(&buf[..n]);
                    }
                    Err(_) => return None,
                }
            }
            let d = hasher.finalize();
            Some(d.iter().fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }))
        });
        FileInfo {
            path: path.display().to_string(),
            bytes,
            sha256,
        }
    }
}

/// The page of a `diff` or `analyze`.
pub fn report(report: &Report, files: &[FileInfo], top: usize) -> String {
    page(None, Some(report), files, top)
}

/// The page of a soak or diagnose (`kind`): the verdict and memory chart of
/// the run, then the diff of its snapshots. `snapshots_at` are the seconds
/// of the run at which the snapshots were taken, where they are known.
pub fn outcome(
    o: &Outcome,
    kind: &str,
    snapshots_at: &[f64],
    files: &[FileInfo],
    top: usize,
) -> String {
    let run = Run {
        kind: kind.into(),
        program: o.runtime.clone(),
        leak: o.is_leak(),
        reasons: o.reasons.clone(),
        samples: o.samples.clone(),
        limit_bytes: Some(o.limit_bytes).filter(|l| *l > 0),
        snapshots_at: snapshots_at.to_vec(),
        end: o.ended.as_ref().map(|e| RunEnd {
            reason: e.reason.to_string(),
            oom: e.reason == EndReason::OomKilled,
            after_seconds: e.after_seconds,
        }),
        restarts_at: Vec::new(),
        trend: o.trend.clone(),
    };
    page(Some(&run), o.report.as_ref(), files, top)
}

fn page(run: Option<&Run>, report: Option<&Report>, files: &[FileInfo], top: usize) -> String {
    let mut o = String::with_capacity(64 << 10);
    let title = match (run, report) {
        (Some(r), _) => format!("leakhound: {} run of {}", r.kind, r.program),
        (None, Some(r)) if r.snapshots.len() > 1 => {
            format!(
                "leakhound: diff of {} {} snapshots",
                r.snapshots.len(),
                r.format
            )
        }
        (None, Some(r)) => format!("leakhound: {} snapshot", r.format),
        (None, None) => "leakhound".to_string(),
    };
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<header><h1>{}</h1>",
        esc(&title),
        esc(&title)
    );
    let _ = write!(
        o,
        "<p id=\"verdict\" class=\"verdict {}\">{}</p>",
        verdict_class(run, report),
        esc(&verdict(run, report))
    );
    if let Some(r) = run {
        if !r.reasons.is_empty() {
            o.push_str("<ul class=\"reasons\">");
            for why in &r.reasons {
                let _ = write!(o, "<li>{}</li>", esc(why));
            }
            o.push_str("</ul>");
        }
    }
    o.push_str("<nav>");
    if run.is_some_and(|r| !r.samples.is_empty()) {
        o.push_str("<a href=\"#memory\">memory</a>");
    }
    if report.is_some() {
        o.push_str(
            "<a href=\"#suspects\">suspects</a><a href=\"#flame\">flame graph</a>\
             <a href=\"#groups\">table</a>",
        );
    }
    o.push_str("<a href=\"#files\">files</a></nav></header>\n<main>");
    if let Some(r) = run.filter(|r| !r.samples.is_empty()) {
        let _ = writeln!(
            o,
            "<section id=\"memory\"><h2>Memory</h2>{}</section>",
            chart::svg(r)
        );
    }
    if let Some(rep) = report {
        suspects(&mut o, rep);
        let _ = writeln!(
            o,
            "<section id=\"flame\"><h2>Differential flame graph</h2>{}</section>",
            flame::section(rep)
        );
        groups(&mut o, rep, top);
        for n in &rep.details.notes {
            let _ = write!(o, "<p class=\"note\">Note: {}</p>", esc(n));
        }
    }
    files_section(&mut o, files);
    let _ = writeln!(
        o,
        "</main><footer>Made by leakhound {}. This page loads nothing: everything it shows is in this file.</footer>\
         <script>{JS}</script></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

fn verdict_class(run: Option<&Run>, report: Option<&Report>) -> &'static str {
    match run {
        Some(r) if r.leak => "leak",
        Some(_) => "ok",
        None if report.is_some_and(|r| r.snapshots.len() > 1 && !r.suspects.is_empty()) => "leak",
        None => "ok",
    }
}

/// The verdict in one sentence, with its confidence and, where the run has
/// a memory series with a limit, the time left to it.
fn verdict(run: Option<&Run>, report: Option<&Report>) -> String {
    let suspect = report.and_then(|r| r.suspects.first());
    let n = report.map_or(0, |r| r.snapshots.len());
    if let Some(r) = run {
        let mut s = if r.leak {
            match &r.end {
                Some(e) if e.oom => format!(
                    "Leak: the program was OOM-killed after {:.1} s",
                    e.after_seconds
                ),
                _ => "Leak: memory grows steadily".to_string(),
            }
        } else {
            "No leak found".to_string()
        };
        match &r.trend {
            Some(t) if t.verdict == lh_model::VerdictKind::InsufficientData => {
                let span =
                    r.samples.last().map_or(0.0, |p| p.0) - r.samples.first().map_or(0.0, |p| p.0);
                let _ = write!(
                    s,
                    "; too few samples for a trend verdict ({} over {})",
                    r.samples.len(),
                    duration(span)
                );
            }
            Some(t) => {
                let _ = write!(
                    s,
                    "; the trend says {} at {}/h (confidence {:.2})",
                    serde_json::to_value(t.verdict)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    human_bytes(t.slope_bytes_per_hour as i64),
                    t.confidence
                );
                match t.time_to_limit_seconds {
                    Some(ttl) if ttl < 1.0 => s.push_str(", at the limit"),
                    Some(ttl) => {
                        let _ = write!(s, ", {} to the limit", duration(ttl));
                    }
                    None => {}
                }
            }
            None => {}
        }
        if let Some(x) = suspect.filter(|_| r.leak) {
            let _ = write!(
                s,
                "; most likely {} (+{}, confidence {:.2})",
                x.key,
                human_bytes(x.delta_bytes),
                x.confidence
            );
        }
        s.push('.');
        return s;
    }
    match suspect {
        Some(x) if n > 1 => format!(
            "Most likely leak: {}, +{} over {n} snapshots (confidence {:.2}).",
            x.key,
            human_bytes(x.delta_bytes),
            x.confidence
        ),
        Some(x) => format!("Suspect: {} (confidence {:.2}).", x.key, x.confidence),
        None if n > 1 => {
            format!("No leak suspect: nothing grew steadily enough over {n} snapshots to name.")
        }
        None => "One snapshot: the largest groups below.".to_string(),
    }
}

/// `4 min 10 s`, `2.5 h`, `3.1 d`.
fn duration(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// Paths longer than this are folded behind their first and last steps.
const SHORT_PATH: usize = 6;

fn suspects(o: &mut String, r: &Report) {
    o.push_str("<section id=\"suspects\"><h2>Suspects</h2>");
    if r.suspects.is_empty() {
        o.push_str("<p>No suspect.</p></section>\n");
        return;
    }
    let sized = r.unit == "bytes";
    o.push_str("<ol class=\"suspects\">");
    for s in &r.suspects {
        let _ = write!(
            o,
            "<li class=\"suspect\" data-key=\"{}\"><div class=\"head\"><code class=\"key\">{}</code> \
             <span class=\"growth\">+{}</span>",
            esc(&s.key),
            esc(&s.key),
            esc(&value(s.delta_bytes, sized))
        );
        if let Some(ret) = s.retained_bytes {
            let _ = write!(
                o,
                " <span class=\"retained\">retaining {}</span>",
                human_bytes(ret as i64)
            );
        }
        if let Some(p) = s.pattern {
            let _ = write!(o, " <span class=\"pattern\">{p}</span>");
        }
        let _ = write!(
            o,
            " <span class=\"confidence\">confidence {:.2}</span></div>",
            s.confidence
        );
        if let Some(path) = &s.retainer_path {
            retainer_path(o, path);
        }
        if !s.hint.is_empty() {
            let _ = write!(o, "<p class=\"hint\">{}</p>", esc(&s.hint));
        }
        o.push_str("</li>");
    }
    o.push_str("</ol></section>\n");
}

/// A retainer path as a chain of steps, each with the field it goes
/// through: short ones inline, long ones behind a summary of both ends.
fn retainer_path(o: &mut String, path: &[String]) {
    let chain = |o: &mut String| {
        o.push_str("<ol class=\"path\">");
        for step in path {
            // Steps read `.field → Class`: the field in its own colour.
            match step.split_once(" → ") {
                Some((edge, to)) => {
                    let _ = write!(
                        o,
                        "<li><span class=\"edge\">{}</span> <span class=\"node\">{}</span></li>",
                        esc(edge),
                        esc(to)
                    );
                }
                None => {
                    let _ = write!(o, "<li><span class=\"node\">{}</span></li>", esc(step));
                }
            }
        }
        o.push_str("</ol>");
    };
    if path.len() <= SHORT_PATH {
        o.push_str("<div class=\"held\">held by:");
        chain(o);
        o.push_str("</div>");
    } else {
        let _ = write!(
            o,
            "<details class=\"held\"><summary>held by a path of {} steps: {} → … → {}</summary>",
            path.len(),
            esc(&path[0]),
            esc(&path[path.len() - 1])
        );
        chain(o);
        o.push_str("</details>");
    }
}

fn value(v: i64, sized: bool) -> String {
    if sized {
        human_bytes(v)
    } else {
        v.to_string()
    }
}

/// The table of the terminal report, with the same columns, sortable: each
/// cell carries its number in `data-v`.
fn groups(o: &mut String, r: &Report, top: usize) {
    let n = r.snapshots.len();
    let sized = r.unit == "bytes";
    let has_retained = r.groups.iter().any(|g| g.retained_bytes.is_some());
    o.push_str("<section id=\"groups\"><h2>Groups</h2>");
    let _ = write!(
        o,
        "<p class=\"totals\">{} {} snapshot{} ({}), total {}</p>",
        r.format,
        n,
        if n == 1 { "" } else { "s" },
        esc(&r.unit),
        r.snapshots
            .iter()
            .map(|s| value(s.total_bytes, sized))
            .collect::<Vec<_>>()
            .join(" → ")
    );
    o.push_str("<table class=\"sortable\"><thead><tr><th data-t=\"s\">key</th>");
    let cols: &[&str] = if n == 1 {
        &[if sized { "size" } else { "value" }, "count"]
    } else {
        &["first", "last", "delta", "Δcount", "monotonic"]
    };
    for c in cols {
        let _ = write!(o, "<th>{c}</th>");
    }
    if has_retained {
        o.push_str("<th>retained</th>");
    }
    o.push_str("</tr></thead><tbody>");
    let cell = |o: &mut String, v: i64, text: String| {
        let _ = write!(o, "<td data-v=\"{v}\">{}</td>", esc(&text));
    };
    for g in r.groups.iter().take(top) {
        let _ = write!(o, "<tr><td><code>{}</code></td>", esc(&g.key));
        if n == 1 {
            cell(o, g.bytes[0], value(g.bytes[0], sized));
            cell(o, g.count[0], g.count[0].to_string());
        } else {
            let sign = if g.delta_bytes > 0 { "+" } else { "" };
            cell(o, g.bytes[0], value(g.bytes[0], sized));
            cell(o, g.bytes[n - 1], value(g.bytes[n - 1], sized));
            cell(
                o,
                g.delta_bytes,
                format!("{sign}{}", value(g.delta_bytes, sized)),
            );
            let csign = if g.delta_count > 0 { "+" } else { "" };
            cell(o, g.delta_count, format!("{csign}{}", g.delta_count));
            cell(
                o,
                g.monotonic as i64,
                if g.monotonic { "yes" } else { "" }.into(),
            );
        }
        if has_retained {
            let v = g.retained_bytes.unwrap_or(0);
            cell(
                o,
                v as i64,
                g.retained_bytes
                    .map(|r| human_bytes(r as i64))
                    .unwrap_or_default(),
            );
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    if r.groups.len() > top {
        let _ = write!(
            o,
            "<p class=\"more\">{} more groups; <code>--top N</code> shows more.</p>",
            r.groups.len() - top
        );
    }
    o.push_str("</section>\n");
}

fn files_section(o: &mut String, files: &[FileInfo]) {
    if files.is_empty() {
        return;
    }
    o.push_str(
        "<section id=\"files\"><h2>Made from</h2><table class=\"files\"><thead><tr>\
         <th>file</th><th>size</th><th>sha256</th></tr></thead><tbody>",
    );
    for f in files {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td data-v=\"{}\">{}</td><td><code class=\"sha\">{}</code></td></tr>",
            esc(&f.path),
            f.bytes,
            human_bytes(f.bytes as i64),
            f.sha256.as_deref().unwrap_or("(unreadable)")
        );
    }
    o.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::{Group, InputFormat, SnapshotInfo, Suspect};

    fn sample() -> Report {
        Report {
            format: InputFormat::V8,
            unit: "bytes".into(),
            snapshots: vec![SnapshotInfo::default(), SnapshotInfo::default()],
            groups: vec![Group {
                key: "<Session>".into(),
                bytes: vec![0, 3 << 20],
                count: vec![0, 3],
                delta_bytes: 3 << 20,
                delta_count: 3,
                monotonic: true,
                retained_bytes: Some(4 << 20),
                retainer_path: None,
            }],
            suspects: vec![Suspect {
                key: "<Session>".into(),
                delta_bytes: 3 << 20,
                retained_bytes: Some(4 << 20),
                retainer_path: Some(
                    (0..9)
                        .map(|i| format!(".f{i} → C{i}"))
                        .chain(["(GC root)".to_string()])
                        .collect(),
                ),
                pattern: None,
                hint: "a & b".into(),
                confidence: 0.9,
            }],
            details: Default::default(),
        }
    }

    #[test]
    fn escapes_and_folds_long_paths() {
        let page = report(&sample(), &[], 10);
        assert!(page.contains("<code class=\"key\">&lt;Session&gt;</code>"));
        assert!(!page.contains("<Session>"));
        assert!(page.contains("a &amp; b"));
        assert!(page.contains("<details class=\"held\"><summary>held by a path of 10 steps"));
        assert!(page.contains("Most likely leak: &lt;Session&gt;, +3.0 MiB over 2 snapshots"));
        // Nothing that a browser would fetch.
        for needle in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!page.contains(needle), "{needle}");
        }
    }

    #[test]
    fn hashes_files() {
        let dir = std::env::temp_dir().join(format!("lh-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("abc");
        std::fs::write(&p, b"abc").unwrap();
        let f = FileInfo::of(&p);
        assert_eq!(f.bytes, 3);
        assert_eq!(
            f.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
