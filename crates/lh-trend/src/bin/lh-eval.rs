//! The evaluation harness behind bench/detector.sh.
//!
//! ```text
//! lh-eval corpus SEED PER_PATTERN CORPUS.jsonl LABELS.jsonl
//! lh-eval score CORPUS.jsonl LABELS.jsonl VERDICTS.jsonl [REAL.jsonl REAL-LABELS.jsonl]
//! lh-eval bulk N DAYS SERIES.jsonl OPENMETRICS.txt
//! lh-eval explain CORPUS.jsonl ID
//! ```
//!
//! `explain` replays one series hour by hour and prints each verdict that
//! differs from the previous one, with its reasons: how an alarm came about.
//!
//! `score` first checks that the verdicts `leakhound detect` wrote for the
//! whole series are the ones the library gives, then replays every series
//! hour by hour through leakhound and the three baselines and prints the
//! table. It exits 1 when the acceptance bar (F1 ≥ 0.95, above every
//! baseline, ≤ 1 false alarm per 1,000 container-days) is not met. A
//! second, recorded set (testdata/series) is scored the same way and shown
//! as one row, `real`; the bar is the corpus's.

use lh_trend::corpus::{self, Label};
use lh_trend::stats::Rng;
use lh_trend::{eval, jsonl, Options};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = match a.as_slice() {
        ["corpus", seed, n, out, labels] => make_corpus(seed, n, out, labels),
        ["score", c, l, v] => score(c, l, v, None),
        ["score", c, l, v, rs, rl] => score(c, l, v, Some((rs, rl))),
        ["bulk", n, days, out, om] => bulk(n, days, out, om),
        ["explain", c, id] => explain(c, id),
        _ => Err("usage: lh-eval corpus SEED PER_PATTERN CORPUS LABELS | score CORPUS LABELS VERDICTS [REAL REAL-LABELS] | bulk N DAYS SERIES OPENMETRICS".into()),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("lh-eval: {e}");
            ExitCode::from(2)
        }
    }
}

type R = Result<u8, Box<dyn std::error::Error>>;

fn make_corpus(seed: &str, n: &str, out: &str, labels: &str) -> R {
    let c = corpus::generate(seed.parse()?, n.parse()?);
    let mut w = BufWriter::new(File::create(out)?);
    let mut lw = BufWriter::new(File::create(labels)?);
    for (s, l) in &c {
        jsonl::write_series(&mut w, s)?;
        serde_json::to_writer(&mut lw, l)?;
        lw.write_all(b"\n")?;
    }
    w.flush()?;
    lw.flush()?;
    Ok(0)
}

/// The series of a JSONL file.
fn series_of(path: &str) -> Result<Vec<lh_model::Series>, Box<dyn std::error::Error>> {
    Ok(jsonl::read(File::open(path)?)?)
}

/// Series paired with the labels of a labels file; they must be as many.
fn labelled(
    series: Vec<lh_model::Series>,
    labels: &str,
) -> Result<Vec<(lh_model::Series, Label)>, Box<dyn std::error::Error>> {
    let l: Vec<Label> = BufReader::new(File::open(labels)?)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    if series.len() != l.len() {
        return Err(format!("{labels}: {} labels for {} series", l.len(), series.len()).into());
    }
    Ok(series.into_iter().zip(l).collect())
}

fn score(corpus_path: &str, labels: &str, verdicts: &str, real: Option<(&str, &str)>) -> R {
    let series = series_of(corpus_path)?;
    let opts = Options::default();
    if verdicts != "-" {
        check_verdicts(&series, verdicts, &opts)?;
    }
    let c = labelled(series, labels)?;
    let outcomes = eval::run_all(&c, 3600.0, &opts);
    let extra = match real {
        Some((rs, rl)) => {
            let r = labelled(series_of(rs)?, rl)?;
            eval::set_row("real", &r, &eval::run_all(&r, 3600.0, &opts))
        }
        None => String::new(),
    };
    print!("{}", eval::table(&c, &outcomes, &extra));
    let all = eval::overall(&c, &outcomes);
    let ours = &all[0];
    let beats = all[1..].iter().all(|b| ours.f1() > b.f1());
    let ok = ours.f1() >= 0.95 && beats && ours.fa_per_kday() <= 1.0;
    println!(
        "\nacceptance (F1 >= 0.95, above every baseline, <= 1 false alarm per 1,000 container-days): {}",
        if ok { "met" } else { "NOT met" }
    );
    Ok(if ok { 0 } else { 1 })
}

fn explain(corpus_path: &str, id: &str) -> R {
    let series = jsonl::parse_all(&std::fs::read_to_string(corpus_path)?)?;
    let s = series
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| format!("no series {id}"))?;
    let t0 = s.points.first().map_or(0.0, |p| p.0);
    let mut prefix = s.clone();
    let mut last = None;
    let mut t = t0 + 3600.0;
    while t <= s.points.last().map_or(0.0, |p| p.0) {
        eval::history(s, t, &mut prefix);
        let v = lh_trend::detect(&prefix, &Options::default());
        if last != Some(v.verdict) {
            println!(
                "{:>5.1} h: {:?} {:?}",
                (t - t0) / 3600.0,
                v.verdict,
                v.reasons
            );
            last = Some(v.verdict);
        }
        t += 3600.0;
    }
    Ok(0)
}

/// The verdicts `leakhound detect` wrote must be the library's: the replay
/// below calls the library, and this is what makes its numbers the CLI's.
fn check_verdicts(
    series: &[lh_model::Series],
    verdicts: &str,
    opts: &Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let given: Vec<lh_model::Verdict> = BufReader::new(File::open(verdicts)?)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    if series.len() != given.len() {
        return Err("corpus and verdicts differ in length".into());
    }
    let mine = jsonl::detect_all(series, opts);
    let differ = mine
        .iter()
        .zip(&given)
        .filter(|(a, b)| a.id != b.id || a.verdict != b.verdict)
        .count();
    if differ > 0 {
        return Err(
            format!("{differ} verdicts of `leakhound detect` differ from the library's").into(),
        );
    }
    println!(
        "`leakhound detect` verdicts on the whole series agree with the library: {} of {}",
        given.len(),
        given.len()
    );
    Ok(())
}

/// The throughput data set: `n` series of `days` from the corpus patterns at
/// 30 s, as JSONL for `leakhound detect` and as OpenMetrics with cAdvisor's
/// names for `promtool tsdb create-blocks-from openmetrics`.
fn bulk(n: &str, days: &str, out: &str, om: &str) -> R {
    let (n, days): (usize, f64) = (n.parse()?, days.parse()?);
    let mut w = BufWriter::new(File::create(out)?);
    let mut o = BufWriter::new(File::create(om)?);
    writeln!(o, "# TYPE container_memory_working_set_bytes gauge")?;
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let mut rng = Rng::new(i as u64);
        let p = corpus::ORDER[i % corpus::ORDER.len()];
        let (mut s, _) = corpus::one(p, &format!("bench/pod-{i}/app"), &mut rng, Some(days));
        // Prometheus gets the memory only; leakhound must read the same samples.
        s.load = None;
        // One interval for all: the benchmark is stated at 30 s.
        let t0 = 1_764_300_000.0;
        s.points = s
            .points
            .iter()
            .step_by(1)
            .enumerate()
            .map(|(k, p)| (t0 + k as f64 * 30.0, p.1))
            .take((days * 2880.0) as usize)
            .collect();
        jsonl::write_series(&mut w, &s)?;
        all.push(s);
    }
    // OpenMetrics wants each metric family's samples grouped by series.
    for (i, s) in all.iter().enumerate() {
        for p in &s.points {
            writeln!(
                o,
                "container_memory_working_set_bytes{{namespace=\"bench\",pod=\"pod-{i}\",container=\"app\"}} {} {}",
                p.1, p.0
            )?;
        }
    }
    writeln!(o, "# EOF")?;
    w.flush()?;
    o.flush()?;
    Ok(0)
}
