//! Records the real memory series of `testdata/series/` (docs/corpus.md,
//! "Real series"): sample apps of two runtimes, leaking and not, run under
//! load in memory cgroups of their own, sampled as the kubelet would, and
//! restarted after an OOM kill as Kubernetes would.
//!
//! ```text
//! cargo run --release -p leakhound --example record_series -- [OUT_DIR] [MINUTES]
//! ```
//!
//! Needs root (or a delegated memory cgroup), `go` and `node`. Takes MINUTES
//! (default 15) of real time, all apps at once; not part of CI.
//!
//! The detector judges hours and days; a recording of minutes is replayed
//! 120 times faster: one real second is two minutes of series time, and a
//! sample every 0.25 s is a sample every 30 s, Prometheus' usual step. The
//! runtimes' behaviour (GC cycles, heap growth, the kernel's OOM kill, the
//! restart) is real; only the clock is compressed.

use lh_cgroup::{MemoryCgroup, Version};
use lh_trend::corpus::Label;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Series time per real second.
const SCALE: f64 = 120.0;
/// Real time between samples (30 s of series time).
const SAMPLE: Duration = Duration::from_millis(250);
/// Series time of the first sample, as in the benchmark data.
const T0: f64 = 1_764_300_000.0;

static STOP: AtomicBool = AtomicBool::new(false);

/// One app of the set: how to start it, its load, its limit, and the truth.
struct App {
    id: &'static str,
    leak: bool,
    limit: u64,
    /// Requests per second, and the request path; `{i}` is a running number.
    rps: f64,
    path: &'static str,
    start: fn() -> Command,
}

fn apps() -> Vec<App> {
    vec![
        App {
            // 64 KiB kept per request: OOM-killed every few minutes, restarted.
            id: "real/go-leak-oom",
            leak: true,
            limit: 128 << 20,
            rps: 4.0,
            path: "/work?n=1",
            start: || Command::new(testkit::go_app("leak")),
        },
        App {
            id: "real/go-steady",
            leak: false,
            limit: 128 << 20,
            rps: 8.0,
            path: "/work?n=1",
            start: || Command::new(testkit::go_app("steady")),
        },
        App {
            // A Map that caches every response: about 2.5 KB a request.
            id: "real/node-cache-leak",
            leak: true,
            limit: 256 << 20,
            rps: 60.0,
            path: "/req?id={i}",
            start: || testkit::node_app("cache"),
        },
        App {
            id: "real/node-lru",
            leak: false,
            limit: 256 << 20,
            rps: 60.0,
            path: "/req?id={i}",
            start: || testkit::node_app("lru"),
        },
    ]
}

/// What one app's cgroup showed, in real seconds since the start.
#[derive(Default)]
struct Recording {
    t: Vec<f64>,
    usage: Vec<u64>,
    /// What the series holds: usage less inactive page cache, as cAdvisor counts it.
    working_set: Vec<u64>,
    /// memory.stat: anonymous memory, page cache, inactive page cache.
    anon: Vec<u64>,
    cache: Vec<u64>,
    inactive_file: Vec<u64>,
    ooms: Vec<f64>,
    restarts: Vec<f64>,
}

/// Runs `app` in `cg` under paced load until STOP, restarting it whenever it
/// dies; OOM kills and restarts go into `rec`.
fn run_app(app: &App, cg: &MemoryCgroup, start: Instant, rec: &Mutex<Recording>) {
    // Built once: a restart is as quick as a kubelet's.
    let template = (app.start)();
    let mut i = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        let oom_before = cg.oom_kills().unwrap_or(0);
        let mut cmd = Command::new(template.get_program());
        cmd.args(template.get_args());
        cmd.env("GOMAXPROCS", "1");
        cg.enter_on_exec(&mut cmd).expect("enter the cgroup");
        let (mut proc, addr) = testkit::start_listening(cmd);
        let mut next = Instant::now();
        loop {
            if STOP.load(Ordering::SeqCst) {
                return;
            }
            if let Ok(Some(_)) = proc.child.try_wait() {
                let at = start.elapsed().as_secs_f64();
                let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
                if cg.oom_kills().unwrap_or(0) > oom_before {
                    r.ooms.push(at);
                }
                r.restarts.push(at);
                eprintln!("{}: exited after {at:.0} s; restarting", app.id);
                break;
            }
            i += 1;
            let _ = testkit::http_get(&addr, &app.path.replace("{i}", &i.to_string()));
            next += Duration::from_secs_f64(1.0 / app.rps);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
}

/// memory.stat keys of anonymous memory, page cache and its inactive part.
fn stat_keys(v: Version) -> [&'static str; 3] {
    match v {
        Version::V1 => ["total_rss", "total_cache", "total_inactive_file"],
        Version::V2 => ["anon", "file", "inactive_file"],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(args.first().map_or("testdata/series", String::as_str));
    let minutes: f64 = args.get(1).map_or(15.0, |m| m.parse().expect("MINUTES"));
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let apps = apps();
    let cgs: Vec<MemoryCgroup> = apps
        .iter()
        .map(|a| MemoryCgroup::create(a.limit).expect("a memory cgroup (run as root)"))
        .collect();
    let recs: Vec<Arc<Mutex<Recording>>> = apps.iter().map(|_| Default::default()).collect();
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(minutes * 60.0);
    std::thread::scope(|s| {
        for ((app, cg), rec) in apps.iter().zip(&cgs).zip(&recs) {
            s.spawn(move || run_app(app, cg, start, rec));
        }
        let mut next = Instant::now();
        while Instant::now() < end && !STOP.load(Ordering::SeqCst) {
            let t = start.elapsed().as_secs_f64();
            for (cg, rec) in cgs.iter().zip(&recs) {
                // Between a death and the restart the cgroup is empty: a
                // container's series (cAdvisor's) has no samples there.
                let running = cg.pids().is_ok_and(|p| !p.is_empty());
                let (true, Ok(now), Ok(stat)) = (running, lh_sources::cgroup::read(cg), cg.stat())
                else {
                    continue;
                };
                let [a, c, i] = stat_keys(cg.version()).map(|k| stat.get(k).copied().unwrap_or(0));
                let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
                r.t.push(t);
                r.usage.push(now.usage);
                r.working_set.push(now.working_set);
                r.anon.push(a);
                r.cache.push(c);
                r.inactive_file.push(i);
            }
            next += SAMPLE;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        STOP.store(true, Ordering::SeqCst);
    });
    drop(cgs);
    write(&out, &apps, &recs).expect("write the recording");
}

/// Writes the series (of the working set), their labels and the raw samples.
fn write(out: &Path, apps: &[App], recs: &[Arc<Mutex<Recording>>]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut series = std::io::BufWriter::new(std::fs::File::create(out.join("real.jsonl"))?);
    let mut labels = std::io::BufWriter::new(std::fs::File::create(out.join("real-labels.jsonl"))?);
    let mut raw = std::io::BufWriter::new(std::fs::File::create(out.join("real-raw.jsonl"))?);
    let at = |t: f64| T0 + (t * SCALE).round();
    for (app, rec) in apps.iter().zip(recs) {
        let r = rec.lock().unwrap_or_else(|p| p.into_inner());
        let points: Vec<(f64, f64)> =
            r.t.iter()
                .zip(&r.working_set)
                .map(|(&t, &w)| (at(t), w as f64))
                .collect();
        let s = lh_model::Series {
            id: app.id.into(),
            limit_bytes: Some(app.limit),
            points,
            // The load is a steady request rate, so it would explain nothing.
            load: None,
        };
        lh_trend::jsonl::write_series(&mut series, &s)?;
        // Growth of the first run, least squares, per hour of series time.
        let first_run = r.restarts.first().map_or(s.points.len(), |&e| {
            s.points.partition_point(|p| p.0 < at(e))
        });
        let (x, y): (Vec<f64>, Vec<f64>) = s.points[..first_run]
            .iter()
            .map(|p| ((p.0 - T0) / 3600.0, p.1))
            .unzip();
        let label = Label {
            id: app.id.into(),
            pattern: app.id.trim_start_matches("real/").into(),
            leak: app.leak,
            onset: app.leak.then_some(T0),
            slope_bytes_per_hour: if app.leak {
                lh_trend::stats::ols(&x, &y).1
            } else {
                0.0
            },
            oom_at: r.ooms.first().map(|&t| at(t)),
        };
        serde_json::to_writer(&mut labels, &label)?;
        labels.write_all(b"\n")?;
        serde_json::to_writer(
            &mut raw,
            &json!({
                "id": app.id,
                "time_scale": SCALE,
                "limit_bytes": app.limit,
                "rps": app.rps,
                "path": app.path,
                "seconds": r.t,
                "usage_in_bytes": r.usage,
                "anon": r.anon,
                "cache": r.cache,
                "inactive_file": r.inactive_file,
                "oom_kills_at": r.ooms,
                "restarts_at": r.restarts,
            }),
        )?;
        raw.write_all(b"\n")?;
        eprintln!(
            "{}: {} samples, {} OOM kill(s), {} restart(s)",
            app.id,
            r.t.len(),
            r.ooms.len(),
            r.restarts.len()
        );
    }
    series.flush()?;
    labels.flush()?;
    raw.flush()
}
