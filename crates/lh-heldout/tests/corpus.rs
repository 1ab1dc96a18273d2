//! Tests of the held-out generator itself (not of the detector): determinism,
//! the contract format, the labels, the physics of restarts and the spec's
//! parameter ranges.

use lh_heldout::{generate, Generated, Label, RestartKind, Shape};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

const MIB: f64 = 1024.0 * 1024.0;

/// The contract's series line, strictly: no other field may appear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Strict {
    id: String,
    limit_bytes: u64,
    points: Vec<(i64, u64)>,
    #[serde(default)]
    load: Option<Vec<(i64, f64)>>,
}

fn corpus(seed: u64, count: usize) -> Vec<Generated> {
    generate(seed, count, &Shape::ALL).collect()
}

fn lines(gs: &[Generated]) -> (Vec<String>, Vec<String>) {
    gs.iter()
        .map(|g| {
            (
                serde_json::to_string(&g.series).unwrap(),
                serde_json::to_string(&g.label).unwrap(),
            )
        })
        .unzip()
}

#[test]
fn deterministic_per_seed() {
    let a = lines(&corpus(11, 40));
    let b = lines(&corpus(11, 40));
    let c = lines(&corpus(12, 40));
    assert_eq!(a, b, "same seed, same corpus");
    assert_ne!(a.0, c.0, "another seed, another corpus");
    let ids_a: HashSet<_> = corpus(11, 40).into_iter().map(|g| g.label.id).collect();
    let ids_c: HashSet<_> = corpus(12, 40).into_iter().map(|g| g.label.id).collect();
    assert!(ids_a.is_disjoint(&ids_c));
}

#[test]
fn every_shape_is_produced_in_equal_numbers() {
    let gs = corpus(5, 2 * Shape::ALL.len());
    let mut counts: HashMap<String, usize> = HashMap::new();
    for g in &gs {
        *counts.entry(g.label.shape.clone()).or_default() += 1;
    }
    for s in Shape::ALL {
        assert_eq!(counts.get(s.name()), Some(&2), "{}", s.name());
        assert_eq!(Shape::from_name(s.name()), Some(s));
    }
    // The order is shuffled: not the round robin of Shape::ALL.
    let names: Vec<&str> = gs.iter().map(|g| g.label.shape.as_str()).collect();
    let robin: Vec<&str> = Shape::ALL
        .iter()
        .chain(Shape::ALL.iter())
        .map(|s| s.name())
        .collect();
    assert_ne!(names, robin);
    let leaks = Shape::ALL.iter().filter(|s| s.is_leak()).count();
    assert!((8..=11).contains(&leaks), "about half are leaks: {leaks}");
}

#[test]
fn only_the_chosen_shapes() {
    let shapes = [Shape::CrashLoop, Shape::PageCache];
    let gs: Vec<_> = generate(3, 10, &shapes).collect();
    assert_eq!(gs.len(), 10);
    assert!(gs
        .iter()
        .all(|g| g.label.shape == "crash-loop" || g.label.shape == "page-cache"));
}

#[test]
fn series_are_contract_jsonl_and_labels_match() {
    let gs = corpus(21, 3 * Shape::ALL.len());
    let (series, labels) = lines(&gs);
    let mut seen = HashSet::new();
    for (s, l) in series.iter().zip(&labels) {
        assert!(!s.contains('\n'));
        let strict: Strict = serde_json::from_str(s).unwrap();
        let model: lh_model::Series = serde_json::from_str(s).unwrap();
        let label: Label = serde_json::from_str(l).unwrap();
        assert_eq!(strict.id, label.id);
        assert_eq!(model.id, label.id);
        assert!(
            strict.id.starts_with("heldout/"),
            "opaque ids: {}",
            strict.id
        );
        assert!(seen.insert(strict.id.clone()), "unique ids");
        assert_eq!(model.limit_bytes, Some(strict.limit_bytes));
        assert!(strict.points.len() > 100);
        assert!(
            strict.points.windows(2).all(|w| w[0].0 < w[1].0),
            "increasing times"
        );
        // Unix seconds of 2025–2026.
        let (t0, t1) = (strict.points[0].0, strict.points.last().unwrap().0);
        assert!((1_735_689_600..1_798_761_600).contains(&t0));
        let hours = (t1 - t0) as f64 / 3600.0;
        assert!(hours <= label.history_hours + 0.01 && hours >= label.history_hours * 0.9);
        let limit = strict.limit_bytes as f64;
        for &(_, b) in &strict.points {
            assert!((b as f64) <= limit * 1.02, "{} above the limit", strict.id);
            assert_eq!(b % 4096, 0, "page-granular");
        }
        if let Some(load) = &strict.load {
            assert!(load.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(load.iter().all(|&(_, x)| x >= 0.0 && x.is_finite()));
            assert!(load[0].0 >= t0 - 60 && load.last().unwrap().0 <= t1 + 60);
        }
    }
}

#[test]
fn labels_are_consistent() {
    for g in corpus(31, 4 * Shape::ALL.len()) {
        let l = &g.label;
        let first = g.series.points[0].0;
        let last = g.series.points.last().unwrap().0;
        let shape = Shape::from_name(&l.shape).unwrap();
        assert_eq!(l.leak, shape.is_leak());
        if l.leak {
            let onset = l.onset.expect("a leak has an onset");
            assert!(onset >= first && onset < last, "{l:?}");
            let reached = l.limit_reached_at.expect("a leak reaches the limit");
            assert!(reached > onset, "{l:?}");
            let expect_days = (onset - first) as f64 / 86400.0;
            assert!((l.healthy_days - expect_days).abs() < 1e-9);
            let oom = g
                .restarts
                .iter()
                .find(|r| r.kind == RestartKind::Oom && r.t as i64 >= first - 60);
            match oom {
                Some(r) => assert!((reached - r.t as i64).abs() <= 60, "{l:?}"),
                None => assert!(reached >= last - 60, "extrapolated beyond the end: {l:?}"),
            }
            if shape == Shape::LateLeak {
                let frac = (onset - first) as f64 / (l.history_hours * 3600.0);
                assert!((0.19..=0.81).contains(&frac), "{frac}");
            } else {
                assert_eq!(onset, first);
            }
        } else {
            assert_eq!(l.onset, None);
            assert_eq!(l.limit_reached_at, None);
            assert!((l.healthy_days - l.history_hours / 24.0).abs() < 1e-9);
        }
    }
}

#[test]
fn oom_kills_only_at_the_limit_and_deploys_far_from_it() {
    let mut ooms = 0;
    let mut deploys = 0;
    let shapes = [
        Shape::CrashLoop,
        Shape::LinearLeak,
        Shape::LeakDeploys,
        Shape::Deploys,
    ];
    for g in generate(41, 80, &shapes).chain(corpus(42, 60)) {
        let limit = g.series.limit_bytes as f64;
        for r in &g.restarts {
            match r.kind {
                RestartKind::Oom => {
                    ooms += 1;
                    assert!(g.label.leak, "a healthy series is never OOM-killed");
                    assert!(r.anon >= 0.97 * limit, "killed at {:.3} L", r.anon / limit);
                    // In the series, the sample at the kill shows ≈ the limit,
                    // and the next one a fresh start well below it.
                    if let Some(i) = r
                        .sample
                        .and_then(|t| g.series.points.iter().position(|p| p.0 == t))
                    {
                        assert!(g.series.points[i].1 as f64 >= 0.96 * limit);
                        if let Some(next) = g.series.points.get(i + 1) {
                            assert!((next.1 as f64) < 0.8 * limit, "{}", g.label.id);
                        }
                    }
                }
                RestartKind::Deploy => {
                    deploys += 1;
                    assert!(
                        r.anon <= 0.85 * limit,
                        "deployed at {:.3} L",
                        r.anon / limit
                    );
                }
            }
        }
        // Nothing but an OOM kill comes near the limit with anonymous memory:
        // healthy shapes stay below 90 % unless page cache (reclaimable) fills it.
        if !g.label.leak && g.label.shape != "page-cache" {
            assert!(g
                .series
                .points
                .iter()
                .all(|p| (p.1 as f64) <= 0.9 * limit + 4096.0));
        }
    }
    assert!(ooms > 20, "{ooms}");
    assert!(deploys > 20, "{deploys}");
}

#[test]
fn crash_loops_are_killed_in_the_series() {
    for g in generate(51, 30, &[Shape::CrashLoop]) {
        let first = g.series.points[0].0 as f64;
        assert!(
            g.restarts
                .iter()
                .any(|r| r.kind == RestartKind::Oom && r.t >= first),
            "{:?}",
            g.label
        );
    }
}

/// The spec's ranges (§6, §7) over a corpus of a few hundred series.
#[test]
fn parameter_ranges() {
    let gs = corpus(61, 400);
    let mut hours = HashSet::new();
    let mut steps = HashSet::new();
    let (mut with_load, mut with_gaps, mut leaks) = (0, 0, 0);
    let mut start_hours = HashSet::new();
    let mut rates = Vec::new();
    for g in &gs {
        let p = &g.series.points;
        hours.insert(g.label.history_hours as u32);
        assert!((6.0..=168.0).contains(&g.label.history_hours));
        let limit = g.series.limit_bytes as f64;
        assert!((128.0 * MIB..=8192.0 * MIB).contains(&limit), "{limit}");
        let mut d: Vec<i64> = p.windows(2).map(|w| w[1].0 - w[0].0).collect();
        d.sort();
        let step = d[d.len() / 2];
        assert!((9..=61).contains(&step), "{step}");
        steps.insert(step / 5);
        if *d.last().unwrap() > 5 * step {
            with_gaps += 1;
        }
        with_load += g.series.load.is_some() as usize;
        leaks += g.label.leak as usize;
        start_hours.insert((p[0].0 % 86400) / 3600);
        if let Some(r) = g.leak_rate {
            assert!((0.001 * 0.999..=0.15 * 1.001).contains(&r), "{r}");
            rates.push(r);
        } else {
            assert!(!g.label.leak);
        }
    }
    for h in [6, 12, 24, 48, 72, 168] {
        assert!(hours.contains(&h), "history {h} h");
    }
    assert!(steps.len() >= 4, "steps {steps:?}");
    assert!(with_load > 100 && with_load < 300, "{with_load}");
    assert!(with_gaps > 100, "{with_gaps}");
    assert!((150..=250).contains(&leaks), "{leaks}");
    assert!(start_hours.len() == 24, "starts at every hour (UTC)");
    rates.sort_by(f64::total_cmp);
    assert!(
        rates[0] < 0.003 && *rates.last().unwrap() > 0.1,
        "{rates:?}"
    );
}

/// Leaks grow visibly (≥ 5 % of the limit within the series, spec §6): checked
/// on the series themselves for leaks from the start that are never restarted,
/// between windows a day long (the same times of day) or a tenth of the series.
#[test]
fn leaks_are_visible() {
    let shapes = [
        Shape::LinearLeak,
        Shape::Staircase,
        Shape::SlowLeak,
        Shape::TmpfsGrowth,
    ];
    let mut checked = 0;
    for g in generate(71, 60, &shapes) {
        if !g.restarts.is_empty() {
            continue;
        }
        let p = &g.series.points;
        let hours = g.label.history_hours;
        let window = if hours >= 48.0 { 24.0 / hours } else { 0.1 };
        let n = (p.len() as f64 * window) as usize;
        let mean = |s: &[(i64, u64)]| s.iter().map(|x| x.1 as f64).sum::<f64>() / s.len() as f64;
        let limit = g.series.limit_bytes as f64;
        let grow = (mean(&p[p.len() - n..]) - mean(&p[..n])) / limit;
        let expected = g.leak_rate.unwrap() * hours * (1.0 - window);
        assert!(expected >= 0.05 * (1.0 - window) * 0.999, "{:?}", g.label);
        assert!(
            grow > (0.3 * expected).max(0.01),
            "{:?} grew {grow:.3} L of {expected:.3}",
            g.label
        );
        checked += 1;
    }
    assert!(checked > 20, "{checked}");
}

#[test]
fn thinning_keeps_the_kills() {
    for mut g in generate(81, 10, &[Shape::CrashLoop]) {
        let limit = g.series.limit_bytes as f64;
        let near = |g: &Generated| {
            g.series
                .points
                .iter()
                .filter(|p| p.1 as f64 >= 0.96 * limit)
                .count()
        };
        let before = near(&g);
        g.thin(500);
        assert!(g.series.points.len() <= 520);
        assert!(near(&g) >= before.min(1));
        assert!(g.series.load.as_ref().is_none_or(|l| l.len() <= 500));
    }
}

#[test]
fn default_corpus_size_is_sane() {
    let bytes: usize = corpus(1, 240)
        .iter()
        .map(|g| serde_json::to_string(&g.series).unwrap().len() + 1)
        .sum();
    assert!(bytes < 150_000_000, "{bytes}");
}
