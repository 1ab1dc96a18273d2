//! `trend` and `detect` end to end: verdicts on generated series, a real
//! Prometheus giving the same verdict as the file it was built from, live
//! sampling of a real process in a real memory cgroup, and every bad input
//! ending in a clear verdict or error, never a panic.

use lh_model::{Series, Verdict, VerdictKind};
use lh_trend::corpus;
use lh_trend::stats::Rng;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn leakhound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leakhound"))
        .args(args)
        .output()
        .expect("run leakhound")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_jsonl(dir: &Path, name: &str, series: &[Series]) -> PathBuf {
    let mut s = String::new();
    for x in series {
        s += &serde_json::to_string(x).unwrap();
        s.push('\n');
    }
    testkit::write_file(dir, name, s.as_bytes())
}

fn verdicts(o: &Output) -> Vec<Verdict> {
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// One generated series of `pattern`, three days long.
fn series(pattern: &str, seed: u64) -> (Series, corpus::Label) {
    corpus::one(
        pattern,
        &format!("{pattern}/{seed}"),
        &mut Rng::new(seed),
        Some(3.0),
    )
}

#[test]
fn detect_tells_leaks_from_healthy_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (i, p) in [
        "linear",
        "oom-restart",
        "go-sawtooth",
        "warmup-plateau",
        "daily-cycle",
    ]
    .iter()
    .enumerate()
    {
        all.push(series(p, 100 + i as u64));
    }
    let f = write_jsonl(
        dir.path(),
        "s.jsonl",
        &all.iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
    );
    let o = leakhound(&["detect", "--file", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = verdicts(&o);
    assert_eq!(v.len(), all.len());
    for ((s, label), v) in all.iter().zip(&v) {
        assert_eq!(v.id, s.id);
        assert_eq!(
            v.verdict == VerdictKind::Leak,
            label.leak,
            "{}: {:?}",
            s.id,
            v.reasons
        );
        assert!(!v.reasons.is_empty());
        if label.leak {
            assert!(v.slope_bytes_per_hour > 0.0 && v.confidence >= 0.5);
            assert!(v.time_to_limit_seconds.is_some());
            assert_eq!(v.limit_bytes, s.limit_bytes);
        }
    }
    // --fail-on-leak turns a found leak into exit 1.
    let o = leakhound(&["detect", "--file", f.to_str().unwrap(), "--fail-on-leak"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("linear/100"));
}

#[test]
fn trend_draws_the_series_its_trend_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = series("linear", 7);
    let f = write_jsonl(dir.path(), "one.jsonl", std::slice::from_ref(&s));
    let o = leakhound(&["trend", "--file", f.to_str().unwrap(), "--fail-on-leak"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("leak (confidence"), "{out}");
    assert!(out.contains("time to limit"), "{out}");
    let chart: Vec<&str> = out.lines().filter(|l| l.contains(" |")).collect();
    assert!(chart.len() >= 10, "{out}");
    assert!(
        chart.iter().any(|l| l.contains("=====")),
        "a limit line: {out}"
    );
    assert!(
        chart.iter().any(|l| l.contains('*')),
        "a fitted trend: {out}"
    );
    let j = leakhound(&["trend", "--file", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(j.status.code(), Some(0));
    let v: Verdict = serde_json::from_slice(&j.stdout).unwrap();
    assert_eq!(v.verdict, VerdictKind::Leak);
    assert_eq!(v.id, s.id);
}

/// Runs `trend --file` on one series written as given and returns its verdict.
fn trend_json(dir: &Path, line: &str) -> Verdict {
    let f = testkit::write_file(dir, "x.jsonl", line.as_bytes());
    let o = leakhound(&["trend", "--file", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{line}: {}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn expect_exit(args: &[&str], code: i32, says: &str) {
    let o = leakhound(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?} must say {says:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_gets_a_clear_verdict_or_error() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // An empty series and a single point: not enough to judge.
    let v = trend_json(dir, r#"{"id":"e","limit_bytes":100,"points":[]}"#);
    assert_eq!(v.verdict, VerdictKind::InsufficientData);
    assert!(
        v.reasons.iter().any(|r| r.contains("sample")),
        "{:?}",
        v.reasons
    );
    let v = trend_json(dir, r#"{"id":"one","points":[[1764300000, 5]]}"#);
    assert_eq!(v.verdict, VerdictKind::InsufficientData);

    // Unsorted and duplicate timestamps, a gap and a limit of 0: judged, and said.
    let (s, _) = series("linear", 3);
    let mut pts = s.points.clone();
    pts.reverse();
    pts.push(pts[10]);
    pts.retain(|p| !(p.0 > s.points[2000].0 && p.0 < s.points[2600].0));
    let messy = Series {
        id: "messy".into(),
        limit_bytes: Some(0),
        points: pts,
        load: None,
    };
    let v = trend_json(dir, &serde_json::to_string(&messy).unwrap());
    let all = v.reasons.join(" | ");
    assert!(all.contains("out of order"), "{all}");
    assert!(all.contains("duplicate"), "{all}");
    assert!(all.contains("limit 0"), "{all}");
    assert_eq!(v.limit_bytes, None);
    // Sorting and de-duplicating lose nothing: the same series, clean, gets the same verdict.
    let mut clean = messy.clone();
    clean.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    clean.points.dedup_by(|a, b| a.0 == b.0);
    let c = trend_json(dir, &serde_json::to_string(&clean).unwrap());
    assert_eq!(
        (v.verdict, v.slope_bytes_per_hour),
        (c.verdict, c.slope_bytes_per_hour)
    );

    // NaN is not JSON: the line is named.
    let f = testkit::write_file(
        dir,
        "nan.jsonl",
        b"\n{\"id\":\"n\",\"points\":[[1, NaN]]}\n",
    );
    expect_exit(&["detect", "--file", f.to_str().unwrap()], 2, "line 2");
    // A load that is empty is said; one that is not pairs names its line.
    let v = trend_json(dir, r#"{"id":"e","points":[[1764300000, 5]],"load":[]}"#);
    assert!(
        v.reasons
            .iter()
            .any(|r| r.contains("load: no usable samples")),
        "{:?}",
        v.reasons
    );
    let f = testkit::write_file(
        dir,
        "badload.jsonl",
        b"{\"id\":\"b\",\"points\":[],\"load\":[[1]]}\n",
    );
    expect_exit(&["detect", "--file", f.to_str().unwrap()], 2, "line 1");
    let f = testkit::write_file(dir, "junk.jsonl", b"hello\n");
    expect_exit(
        &["detect", "--file", f.to_str().unwrap()],
        2,
        "not a series",
    );
    let f = testkit::write_file(dir, "empty.jsonl", b"");
    expect_exit(&["detect", "--file", f.to_str().unwrap()], 2, "no series");
    let missing = dir.join("missing.jsonl");
    expect_exit(
        &["detect", "--file", missing.to_str().unwrap()],
        2,
        "missing.jsonl",
    );
    // `trend` judges one series.
    let two = write_jsonl(dir, "two.jsonl", &[s.clone(), s]);
    expect_exit(&["trend", "--file", two.to_str().unwrap()], 2, "2 series");
    // Usage: no source, two sources.
    expect_exit(&["trend"], 2, "required");
    expect_exit(
        &["trend", "--file", "a", "--cgroup", "b"],
        2,
        "cannot be used",
    );
}

/// Prometheus samples every 30 s: the series and its load moved onto that
/// clock from a fixed start, `n` samples long.
fn at_30s(s: &mut Series, n: usize) {
    fn retime(v: &[(f64, f64)], n: usize) -> Vec<(f64, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, p)| (1_764_300_000.0 + 30.0 * i as f64, p.1))
            .take(n)
            .collect()
    }
    s.points = retime(&s.points, n);
    s.load = s.load.as_deref().map(|l| retime(l, n));
}

/// `trend --prometheus URL -n shop --pod POD --range RANGE --end END --step
/// 30s`, then `extra`: the query every Prometheus case here makes.
fn prom_trend<'a>(
    url: &'a str,
    pod: &'a str,
    range: &'a str,
    end: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "trend",
        "--prometheus",
        url,
        "-n",
        "shop",
        "--pod",
        pod,
        "--range",
        range,
        "--end",
        end,
        "--step",
        "30s",
    ];
    args.extend_from_slice(extra);
    args
}

/// The OpenMetrics text of one container's working set, with cAdvisor's label names.
fn openmetrics(out: &mut String, ns: &str, pod: &str, container: &str, s: &Series) {
    for p in &s.points {
        let _ = writeln!(
            out,
            "container_memory_working_set_bytes{{namespace=\"{ns}\",pod=\"{pod}\",container=\"{container}\",id=\"/kubepods/{pod}/{container}\"}} {} {}",
            p.1, p.0
        );
    }
}

#[test]
fn prometheus_gives_the_verdict_of_the_file() {
    // Two pods, one leaking and one healthy, a pod with two containers, and
    // a pod whose memory follows its traffic for four days, with that traffic
    // as a request rate. Prometheus samples every 30 s; so do these series.
    let mut leak = series("linear", 11).0;
    let mut healthy = series("go-sawtooth", 12).0;
    let mut busy = corpus::one("load-ramp", "load-ramp/12", &mut Rng::new(12), Some(4.0)).0;
    at_30s(&mut leak, 2 * 2880);
    at_30s(&mut healthy, 2 * 2880);
    at_30s(&mut busy, 4 * 2880);
    let mut om = String::from("# TYPE container_memory_working_set_bytes gauge\n");
    openmetrics(&mut om, "shop", "cart", "app", &leak);
    openmetrics(&mut om, "shop", "web", "app", &healthy);
    openmetrics(&mut om, "shop", "multi", "a", &healthy);
    openmetrics(&mut om, "shop", "multi", "b", &healthy);
    openmetrics(&mut om, "shop", "api", "app", &busy);
    om += "# TYPE http_requests_per_second gauge\n";
    for (pod, s) in [("api", &busy), ("web", &busy)] {
        for p in s.load.as_deref().unwrap() {
            let _ = writeln!(
                om,
                "http_requests_per_second{{namespace=\"shop\",pod=\"{pod}\"}} {} {}",
                p.1, p.0
            );
        }
    }
    om += "# TYPE kube_pod_container_resource_limits gauge\n";
    for (pod, s) in [("cart", &leak), ("web", &healthy), ("api", &busy)] {
        for p in s.points.iter().step_by(20) {
            let _ = writeln!(
                om,
                "kube_pod_container_resource_limits{{namespace=\"shop\",pod=\"{pod}\",container=\"app\",resource=\"memory\",unit=\"byte\"}} {} {}",
                s.limit_bytes.unwrap(),
                p.0
            );
        }
    }
    om += "# EOF\n";
    let prom = testkit::prometheus_over(&om);
    let url = prom.url();
    let end = format!("{}", leak.points.last().unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    for (pod, s) in [("cart", &leak), ("web", &healthy)] {
        let o = leakhound(&prom_trend(&url, pod, "2d", &end, &["--format", "json"]));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        let from_prom: Verdict = serde_json::from_slice(&o.stdout).unwrap();
        let f = write_jsonl(
            dir.path(),
            "s.jsonl",
            &[Series {
                id: format!("shop/{pod}/app"),
                ..s.clone()
            }],
        );
        let o = leakhound(&["trend", "--file", f.to_str().unwrap(), "--format", "json"]);
        let from_file: Verdict = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(from_prom.id, from_file.id);
        assert_eq!(
            from_prom.limit_bytes, s.limit_bytes,
            "the limit from kube-state-metrics"
        );
        assert_eq!(
            from_prom.verdict, from_file.verdict,
            "{pod}: {:?} vs {:?}",
            from_prom.reasons, from_file.reasons
        );
        let rel = (from_prom.slope_bytes_per_hour - from_file.slope_bytes_per_hour).abs()
            / from_file.slope_bytes_per_hour.abs().max(1.0);
        assert!(
            rel < 0.1 || pod == "web",
            "{pod}: slopes {} vs {}",
            from_prom.slope_bytes_per_hour,
            from_file.slope_bytes_per_hour
        );
    }
    assert_eq!(
        leakhound(&prom_trend(&url, "cart", "2d", &end, &["--fail-on-leak"]))
            .status
            .code(),
        Some(1)
    );
    // Memory that follows the traffic: with the request rate as load it is
    // `no-leak`, from Prometheus as from the file; without it, a leak.
    let busy_end = format!("{}", busy.points.last().unwrap().0);
    let api = |extra: &[&'static str]| prom_trend(&url, "api", "4d", &busy_end, extra);
    let load_query = "http_requests_per_second{namespace=\"shop\",pod=\"api\"}";
    let o = leakhound(&api(&["--load-query", load_query, "--format", "json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let with_load: Verdict = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        with_load.verdict,
        VerdictKind::NoLeak,
        "{:?}",
        with_load.reasons
    );
    assert!(
        with_load
            .reasons
            .iter()
            .any(|r| r.starts_with("growth follows load (r² = ")),
        "{:?}",
        with_load.reasons
    );
    let o = leakhound(&api(&["--format", "json"]));
    let blind: Verdict = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(blind.verdict, VerdictKind::Leak, "{:?}", blind.reasons);
    let f = write_jsonl(
        dir.path(),
        "busy.jsonl",
        &[Series {
            id: "shop/api/app".into(),
            ..busy.clone()
        }],
    );
    let o = leakhound(&["trend", "--file", f.to_str().unwrap(), "--format", "json"]);
    let from_file: Verdict = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (from_file.id.as_str(), from_file.verdict, &from_file.reasons),
        (with_load.id.as_str(), with_load.verdict, &with_load.reasons),
        "--file and --prometheus judge the same samples and load alike"
    );
    let o = leakhound(&["detect", "--file", f.to_str().unwrap(), "--format", "json"]);
    assert_eq!(verdicts(&o)[0].verdict, VerdictKind::NoLeak);
    // A load query giving several series or none, and a load query without Prometheus.
    expect_exit(
        &api(&["--load-query", "http_requests_per_second"]),
        2,
        "gave 2 series; it must give one",
    );
    expect_exit(
        &api(&["--load-query", "no_such_metric"]),
        2,
        "gave no series",
    );
    expect_exit(
        &["trend", "--file", "x.jsonl", "--load-query", "up"],
        2,
        "--prometheus",
    );

    // A query matching many series, or none: input errors that say what to do.
    let args = |pod: &'static str| prom_trend(&url, pod, "2d", &end, &[]);
    expect_exit(&args("multi"), 2, "--container");
    expect_exit(&args("nosuchpod"), 2, "no memory series");
    // Prometheus answering with an error page, and Prometheus down: the environment.
    let bad = format!("{url}/not-prometheus");
    expect_exit(
        &prom_trend(&bad, "cart", "2d", &end, &[]),
        3,
        "not Prometheus' JSON",
    );
    drop(prom);
    expect_exit(
        &prom_trend(&url, "cart", "2d", &end, &[]),
        3,
        "Prometheus at",
    );
}

#[test]
fn cgroup_sampling_reads_a_real_process_in_a_real_memory_cgroup() {
    let limit = 256 << 20;
    let cg = lh_cgroup::MemoryCgroup::create(limit).expect("a writable memory cgroup");
    // A process that grows by 1 MiB every 20 ms up to 96 MiB, then holds.
    let mut cmd = Command::new("python3");
    cmd.args([
        "-c",
        "import sys,time\nb=[]\nprint('ready',flush=True)\nwhile True:\n  if len(b)<96: b.append(bytearray(1<<20))\n  time.sleep(0.02)\n",
    ]);
    cg.enter_on_exec(&mut cmd).unwrap();
    let (_p, _) = testkit::spawn_ready(cmd, "ready");
    let s = lh_sources::cgroup::sample(
        cg.path(),
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(3),
        |_| {},
    )
    .expect("sample the cgroup");
    assert_eq!(s.limit_bytes, Some(limit));
    assert!(s.points.len() >= 20, "{}", s.points.len());
    assert!(s.points.windows(2).all(|w| w[0].0 < w[1].0));
    let (first, last) = (s.points[0].1, s.points[s.points.len() - 1].1);
    assert!(
        last > first + 16.0 * 1048576.0,
        "the working set grew: {first} -> {last}"
    );
    // The CLI on the same cgroup: a verdict with the cgroup's limit (a few
    // seconds are not enough history, and it says so).
    let o = leakhound(&[
        "trend",
        "--cgroup",
        cg.path().to_str().unwrap(),
        "--step",
        "100ms",
        "--duration",
        "2s",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Verdict = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.limit_bytes, Some(limit));
    assert_eq!(v.verdict, VerdictKind::InsufficientData, "{:?}", v.reasons);
    assert!(
        v.reasons.iter().any(|r| r.contains("history")),
        "{:?}",
        v.reasons
    );
    expect_exit(
        &[
            "trend",
            "--cgroup",
            "/nonexistent/cgroup",
            "--duration",
            "1s",
        ],
        2,
        "/nonexistent/cgroup",
    );
}

/// The recorded real series (testdata/series, docs/corpus.md): sample apps
/// of four runtimes in memory cgroups, OOM kills, deploys and a daily load
/// included.
/// `detect` must give each the verdict its label says.
#[test]
fn detect_agrees_with_the_labels_of_the_recorded_real_series() {
    let dir = testkit::repo_root().join("testdata/series");
    let file = dir.join("real.jsonl");
    let o = leakhound(&[
        "detect",
        "--file",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v = verdicts(&o);
    let labels: Vec<corpus::Label> = std::fs::read_to_string(dir.join("real-labels.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), labels.len());
    assert!(labels.iter().any(|l| l.leak && l.oom_at.is_some()));
    assert!(labels.iter().any(|l| !l.leak));
    for (v, l) in v.iter().zip(&labels) {
        assert_eq!(v.id, l.id);
        assert_eq!(
            v.verdict == VerdictKind::Leak,
            l.leak,
            "{}: label leak={}, verdict {:?} {:?}",
            l.id,
            l.leak,
            v.verdict,
            v.reasons
        );
    }
}
