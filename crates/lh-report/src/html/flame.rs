//! The differential flame graph: the last snapshot's stacks (or dominator
//! paths, or tracebacks) drawn by inferno, each frame coloured by how much
//! it grew since the first snapshot (red) or shrank (blue).
//!
//! A profile of a large heap has hundreds of thousands of stacks; a page
//! with one element per stack would not open. The stacks are folded into a
//! tree first, and every subtree below [`SHARE`] of the larger snapshot's
//! total is merged into one `(other)` frame under its parent, so that the
//! graph has at most a few thousand frames whatever the input.

use super::esc;
use lh_model::{human_bytes, Flame, FlameBy, Report};
use std::collections::HashMap;
use std::fmt::Write;

/// Pixels across the flame graph.
const WIDTH: usize = 1056;

/// Subtrees smaller than this share of the total are drawn as `(other)`.
const SHARE: f64 = 0.0005;

#[derive(Default)]
struct Node {
    name: u32,
    first: u64,
    last: u64,
    /// Values of the stacks that end here.
    self_first: u64,
    self_last: u64,
    children: HashMap<u32, usize>,
}

/// Name ids above the flame's own: the root and `(other)`.
const ROOT: u32 = u32::MAX;
const OTHER: u32 = u32::MAX - 1;

/// The folded lines, `frame;frame;… first last`, sorted as inferno wants
/// them, with small subtrees merged.
pub(super) fn folded(f: &Flame) -> Vec<String> {
    let mut nodes = vec![Node {
        name: ROOT,
        ..Default::default()
    }];
    for s in &f.stacks {
        let mut at = 0usize;
        nodes[0].first += s.first;
        nodes[0].last += s.last;
        for &fr in &s.frames {
            let next = match nodes[at].children.get(&fr) {
                Some(&i) => i,
                None => {
                    nodes.push(Node {
                        name: fr,
                        ..Default::default()
                    });
                    let i = nodes.len() - 1;
                    nodes[at].children.insert(fr, i);
                    i
                }
            };
            at = next;
            nodes[at].first += s.first;
            nodes[at].last += s.last;
        }
        nodes[at].self_first += s.first;
        nodes[at].self_last += s.last;
    }
    let min = (nodes[0].first.max(nodes[0].last) as f64 * SHARE) as u64;
    let name = |id: u32| -> &str {
        match id {
            OTHER => "(other)",
            ROOT => unreachable!("the root is never a frame"),
            i => &f.names[i as usize],
        }
    };
    let root_name = match f.by {
        FlameBy::Dominators => "(GC roots and the runtime)",
        FlameBy::Stack | FlameBy::Traceback => "(no stack)",
    };
    let mut lines = Vec::new();
    // Depth-first with an explicit stack of (node, path length).
    let mut path: Vec<String> = Vec::new();
    let mut todo: Vec<(usize, usize)> = vec![(0, 0)];
    let mut emit = |path: &[String], first: u64, last: u64| {
        if first == 0 && last == 0 {
            return;
        }
        let stack = if path.is_empty() {
            root_name.to_string()
        } else {
            path.join(";")
        };
        lines.push(format!("{stack} {first} {last}"));
    };
    while let Some((i, depth)) = todo.pop() {
        path.truncate(depth);
        if i != 0 {
            path.push(name(nodes[i].name).to_string());
        }
        let n = &nodes[i];
        let (mut of, mut ol) = (0u64, 0u64);
        let mut kids: Vec<usize> = Vec::new();
        for &c in n.children.values() {
            let k = &nodes[c];
            if k.first.max(k.last) < min {
                of += k.first;
                ol += k.last;
            } else {
                kids.push(c);
            }
        }
        emit(&path, n.self_first, n.self_last);
        if of > 0 || ol > 0 {
            path.push(name(OTHER).to_string());
            emit(&path, of, ol);
            path.pop();
        }
        let d = path.len();
        todo.extend(kids.into_iter().map(|c| (c, d)));
    }
    lines.sort_unstable();
    lines
}

/// The flame graph as an SVG document made by inferno, in differential mode.
pub(super) fn svg(f: &Flame, unit: &str) -> Result<String, std::io::Error> {
    let lines = folded(f);
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = String::new();
    opts.count_name = unit.to_string();
    opts.name_type = match f.by {
        FlameBy::Stack => "Function:",
        FlameBy::Dominators => "Object:",
        FlameBy::Traceback => "Line:",
    }
    .to_string();
    opts.deterministic = true;
    // The width of the page's main column: a fixed width draws the same
    // with JavaScript off and in print.
    opts.image_width = Some(WIDTH);
    // A generic family: nothing to fetch, whatever the machine has.
    opts.font_type = "sans-serif".to_string();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut out)?;
    String::from_utf8(out).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The flame graph section: the graph in an `srcdoc` frame (its own
/// document, so that inferno's script and styles find only its SVG and
/// touch nothing else on the page), and the frames that grew most.
pub(super) fn section(r: &Report) -> String {
    let Some(f) = r.details.flame.as_ref() else {
        return "<p>This report has no stacks to draw.</p>".into();
    };
    if r.snapshots.len() < 2 {
        return "<p>One snapshot: nothing to compare.</p>".into();
    }
    let what = match f.by {
        FlameBy::Stack => "by call stack: a frame is a function, its width what the last snapshot holds from there",
        FlameBy::Dominators => "by dominator-tree path: a frame's width is what it retains in the last snapshot",
        FlameBy::Traceback => "by traceback: a frame is a file:line, its width what the last snapshot holds from there",
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<p>The last snapshot against the first, {what}. Red grew, blue shrank; click a frame to zoom \
         (with JavaScript on).</p>"
    );
    match svg(f, &r.unit) {
        Ok(svg) => {
            let height = svg
                .split("height=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .and_then(|h| h.parse::<u32>().ok())
                .unwrap_or(600);
            let _ = write!(
                o,
                "<iframe id=\"flamegraph\" title=\"differential flame graph\" style=\"height:{}px\" srcdoc=\"{}\"></iframe>",
                height + 4,
                esc(&format!("<style>body{{margin:0}}svg{{display:block}}</style>{svg}"))
            );
        }
        Err(e) => {
            let _ = write!(
                o,
                "<p>The flame graph could not be drawn: {}</p>",
                esc(&e.to_string())
            );
        }
    }
    // Readable without the graph: the frames whose own share grew most.
    let mut selfs: Vec<(i64, String)> = folded(f)
        .iter()
        .filter_map(|l| {
            let mut it = l.rsplitn(3, ' ');
            let last: i64 = it.next()?.parse().ok()?;
            let first: i64 = it.next()?.parse().ok()?;
            Some((last - first, it.next()?.to_string()))
        })
        .collect();
    selfs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    o.push_str("<table class=\"frames\"><thead><tr><th>frame (what grew in itself)</th><th>self Δ</th></tr></thead><tbody>");
    for (d, stack) in selfs.iter().filter(|s| s.0 > 0).take(10) {
        // `(other)` says little alone: name the frame it is under.
        let mut up = stack.rsplit(';');
        let leaf = match (up.next(), up.next()) {
            (Some("(other)"), Some(parent)) => format!("(other) under {parent}"),
            (Some(l), _) => l.to_string(),
            _ => stack.clone(),
        };
        let _ = write!(
            o,
            "<tr><td title=\"{}\"><code>{}</code></td><td data-v=\"{d}\">+{}</td></tr>",
            esc(&stack.replace(';', " → ")),
            esc(&leaf),
            esc(&if r.unit == "bytes" {
                human_bytes(*d)
            } else {
                d.to_string()
            })
        );
    }
    o.push_str("</tbody></table>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use lh_model::FlameStack;

    fn flame(n: usize) -> Flame {
        let mut names = vec!["main".to_string(), "leak".to_string()];
        let mut stacks = vec![FlameStack {
            frames: vec![0, 1],
            first: 1 << 20,
            last: 100 << 20,
        }];
        for i in 0..n {
            names.push(format!("f{i}"));
            stacks.push(FlameStack {
                frames: vec![0, 2 + i as u32],
                first: 10,
                last: 20,
            });
        }
        Flame {
            by: FlameBy::Stack,
            names,
            stacks,
        }
    }

    #[test]
    fn small_frames_become_other() {
        let lines = folded(&flame(100_000));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            format!("main;(other) {} {}", 10 * 100_000, 20 * 100_000)
        );
        assert_eq!(lines[1], format!("main;leak {} {}", 1 << 20, 100 << 20));
        let svg = svg(&flame(100_000), "bytes").unwrap();
        assert!(svg.contains("leak"), "{svg}");
        assert!(svg.len() < 100_000);
    }
}
