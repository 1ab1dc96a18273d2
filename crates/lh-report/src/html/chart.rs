//! The memory chart of a soak or diagnose: the samples, their envelope and
//! fitted floor, the limit, the moment the program ended (an OOM kill in
//! red) and the moments snapshots were taken, as one inline SVG.

use super::esc;
use lh_model::{human_bytes, Verdict};
use std::fmt::Write;

/// What the page draws of a soak or diagnose outcome.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    /// `soak`, `diagnose` or `demo`.
    pub kind: String,
    /// The program or target, as the user named it.
    pub program: String,
    pub leak: bool,
    pub reasons: Vec<String>,
    /// (seconds since start, bytes).
    pub samples: Vec<(f64, u64)>,
    pub limit_bytes: Option<u64>,
    /// Seconds since start at which each snapshot was taken.
    pub snapshots_at: Vec<f64>,
    pub end: Option<RunEnd>,
    /// Restarts seen in the series, as seconds since start.
    pub restarts_at: Vec<f64>,
    pub trend: Option<Verdict>,
}

/// How the program ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunEnd {
    pub reason: String,
    pub oom: bool,
    pub after_seconds: f64,
}

const W: f64 = 960.0;
const H: f64 = 320.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;
/// Envelope buckets: enough for a smooth band, few enough for a small page
/// whatever the number of samples.
const BUCKETS: usize = 120;
/// Samples drawn at most; more are thinned to the bucket extremes.
const MAX_POINTS: usize = 2000;

/// Least squares line through points: (intercept, slope).
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = sxy / sxx;
    Some((my - b * mx, b))
}

pub(super) fn svg(r: &Run) -> String {
    let s = &r.samples;
    let t0 = s.first().map_or(0.0, |p| p.0).min(0.0);
    let mut t1 = s.last().map_or(1.0, |p| p.0);
    for t in r.snapshots_at.iter().chain(&r.restarts_at) {
        t1 = t1.max(*t);
    }
    if let Some(e) = &r.end {
        t1 = t1.max(e.after_seconds);
    }
    let t1 = if t1 > t0 { t1 } else { t0 + 1.0 };
    let peak = s.iter().map(|p| p.1).max().unwrap_or(0);
    let ymax = (peak.max(r.limit_bytes.unwrap_or(0)) as f64 * 1.05).max(1.0);
    let x = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    let y = |b: f64| TOP + (1.0 - b / ymax) * (H - TOP - BOTTOM);

    // Envelope and floor from time buckets: the band is min..max of each
    // bucket, the floor a line fitted through the bucket minima (what the
    // process keeps once garbage is collected).
    let mut buckets: Vec<Option<(f64, u64, u64)>> = vec![None; BUCKETS];
    for &(t, b) in s {
        let i = (((t - t0) / (t1 - t0)) * BUCKETS as f64) as usize;
        let e = &mut buckets[i.min(BUCKETS - 1)];
        *e = Some(match *e {
            None => (t, b, b),
            Some((tt, lo, hi)) => (tt, lo.min(b), hi.max(b)),
        });
    }
    let filled: Vec<(f64, u64, u64)> = buckets.iter().flatten().copied().collect();
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg id=\"memory-chart\" class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"memory over time\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    // Axes and gridlines: four steps of the y range, in binary units.
    for i in 0..=4 {
        let b = ymax * i as f64 / 4.0;
        let _ = write!(
            o,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            y(b),
            y(b),
            LEFT - 6.0,
            y(b) + 4.0,
            human_bytes(b as i64)
        );
    }
    for i in 0..=5 {
        let t = t0 + (t1 - t0) * i as f64 / 5.0;
        let _ = write!(
            o,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0} s</text>",
            x(t),
            H - BOTTOM + 18.0,
            t
        );
    }
    if filled.len() > 1 {
        let mut band = String::new();
        for &(t, _, hi) in &filled {
            let _ = write!(band, "{:.1},{:.1} ", x(t), y(hi as f64));
        }
        for &(t, lo, _) in filled.iter().rev() {
            let _ = write!(band, "{:.1},{:.1} ", x(t), y(lo as f64));
        }
        let _ = write!(
            o,
            "<polygon class=\"envelope\" points=\"{}\"><title>envelope: lowest to highest sample of each interval</title></polygon>",
            band.trim_end()
        );
    }
    // The samples, thinned to bucket extremes when there are many.
    let line: Vec<(f64, u64)> = if s.len() <= MAX_POINTS {
        s.clone()
    } else {
        filled
            .iter()
            .flat_map(|&(t, lo, hi)| [(t, lo), (t, hi)])
            .collect()
    };
    let mut pts = String::new();
    for &(t, b) in &line {
        let _ = write!(pts, "{:.1},{:.1} ", x(t), y(b as f64));
    }
    let _ = write!(
        o,
        "<polyline id=\"samples\" class=\"samples\" data-count=\"{}\" points=\"{}\"><title>{} memory samples</title></polyline>",
        s.len(),
        pts.trim_end(),
        s.len()
    );
    let minima: Vec<(f64, f64)> = filled.iter().map(|&(t, lo, _)| (t, lo as f64)).collect();
    if let Some((a, b)) = fit(&minima) {
        let (ta, tb) = (minima[0].0, minima[minima.len() - 1].0);
        let _ = write!(
            o,
            "<line id=\"floor\" class=\"floor\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\">\
             <title>fitted floor: {}/h</title></line>",
            x(ta),
            y(a + b * ta),
            x(tb),
            y(a + b * tb),
            human_bytes((b * 3600.0) as i64)
        );
    }
    if let Some(l) = r.limit_bytes.filter(|l| *l > 0) {
        let _ = write!(
            o,
            "<line id=\"limit\" class=\"limit\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"label limit-label\" x=\"{:.1}\" y=\"{:.1}\">limit {}</text>",
            W - RIGHT,
            y(l as f64),
            y(l as f64),
            LEFT + 4.0,
            y(l as f64) - 5.0,
            human_bytes(l as i64)
        );
    }
    let mark = |o: &mut String, class: &str, t: f64, label: &str| {
        // Near the right edge the label goes to the left of its line.
        let (lx, anchor) = if x(t) > W - 120.0 {
            (x(t) - 3.0, "end")
        } else {
            (x(t) + 3.0, "start")
        };
        let _ = write!(
            o,
            "<g class=\"{class}\"><line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{TOP}\" y2=\"{:.1}\"/>\
             <text class=\"label\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text><title>{} at {t:.1} s</title></g>",
            x(t),
            x(t),
            H - BOTTOM,
            TOP + 10.0 + if class == "snapshot" { 0.0 } else { 14.0 },
            esc(label),
            esc(label)
        );
    };
    for (i, &t) in r.snapshots_at.iter().enumerate() {
        mark(&mut o, "snapshot", t, &format!("snapshot {}", i + 1));
    }
    for &t in &r.restarts_at {
        mark(&mut o, "restart", t, "restart");
    }
    if let Some(e) = &r.end {
        let label = if e.oom { "OOM kill" } else { e.reason.as_str() };
        mark(
            &mut o,
            if e.oom { "oom" } else { "ended" },
            e.after_seconds,
            label,
        );
    }
    o.push_str("</svg>");
    let _ = write!(
        o,
        "<p class=\"legend\"><span class=\"k samples\">samples</span> <span class=\"k envelope\">envelope</span> \
         <span class=\"k floor\">fitted floor</span> <span class=\"k limit\">limit</span> \
         <span class=\"k snapshot\">snapshots</span> <span class=\"k oom\">OOM kills and restarts</span>. \
         Peak {}.</p>",
        human_bytes(peak as i64)
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_part() {
        let run = Run {
            samples: (0..5000).map(|i| (i as f64 * 0.1, 1000 + i * 10)).collect(),
            limit_bytes: Some(100_000),
            snapshots_at: vec![10.0, 200.0],
            end: Some(RunEnd {
                reason: "OOMKilled".into(),
                oom: true,
                after_seconds: 499.9,
            }),
            ..Default::default()
        };
        let svg = svg(&run);
        for id in [
            "id=\"samples\"",
            "id=\"floor\"",
            "id=\"limit\"",
            "class=\"oom\"",
        ] {
            assert!(svg.contains(id), "{id}");
        }
        assert_eq!(svg.matches("class=\"snapshot\"").count(), 2);
        // Thinned: no more points than buckets allow.
        let pts = svg
            .split("points=\"")
            .nth(2)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert!(pts.split(' ').count() <= 2 * BUCKETS + 1);
    }
}
