//! Records the real memory series of `testdata/series/` (docs/corpus.md,
//! "Real series"): sample apps of four runtimes, leaking and not, run under
//! load in memory cgroups of their own, sampled as the kubelet would, and
//! restarted after an OOM kill (or a deploy) as Kubernetes would.
//!
//! ```text
//! cargo run --release -p leakhound --example record_series -- [OUT_DIR] [MINUTES] [ID…]
//! ```
//!
//! Needs root (or a delegated memory cgroup), `go`, `node`, `java` and
//! `python3`. Takes MINUTES (default 15) of real time, all apps at once; not
//! part of CI. Given ids (`real/jvm-leak …`), only those apps are recorded,
//! and their lines in OUT_DIR's files are replaced (or added), the others kept.
//!
//! The detector judges hours and days; a recording of minutes is replayed
//! 120 times faster: one real second is two minutes of series time, and a
//! sample every 0.25 s is a sample every 30 s, Prometheus' usual step. The
//! runtimes' behaviour (GC cycles, heap growth, the kernel's OOM kill, the
//! restart) is real; only the clock is compressed.

use lh_cgroup::{MemoryCgroup, Version};
use lh_trend::corpus::Label;
use serde_json::json;
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
/// One day of series time, in real seconds.
const DAY: f64 = 86400.0 / SCALE;

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
    /// The request rate's factor at a real second: 1 for a steady load, a
    /// day's swing for a daily one (then the rate goes into the series as its load).
    daily: bool,
    /// Restarted (a deploy) every this many real seconds, whatever its memory.
    deploy_every: Option<f64>,
}

/// A daily load: night at the start, noon half a day later, from 0.2 to 1.8
/// times the mean rate.
fn day_factor(real_s: f64) -> f64 {
    1.0 - 0.8 * (std::f64::consts::TAU * real_s / DAY).cos()
}

fn java(app: &str) -> Command {
    let mut c = Command::new("java");
    // The heap may outgrow the cgroup, so that the kernel (not the JVM) ends
    // a leak; one GC thread suits a loaded machine.
    c.args(["-Xms16m", "-Xmx1g", "-XX:+UseSerialGC", "-cp"])
        .arg(testkit::java_apps())
        .args(["ServeApp", app]);
    c
}

fn python(script: &str, arg: &str) -> Command {
    let mut c = Command::new("python3");
    c.arg(
        testkit::repo_root()
            .join("testkit/apps/python-plain")
            .join(script),
    )
    .arg(arg)
    // Freed sessions go back to the kernel (see sessions.py).
    .env("MALLOC_MMAP_THRESHOLD_", "65536");
    c
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
            daily: false,
            deploy_every: None,
        },
        App {
            id: "real/go-steady",
            leak: false,
            limit: 128 << 20,
            rps: 8.0,
            path: "/work?n=1",
            start: || Command::new(testkit::go_app("steady")),
            daily: false,
            deploy_every: None,
        },
        App {
            // A Map that caches every response: about 2.5 KB a request.
            id: "real/node-cache-leak",
            leak: true,
            limit: 256 << 20,
            rps: 60.0,
            path: "/req?id={i}",
            start: || testkit::node_app("cache"),
            daily: false,
            deploy_every: None,
        },
        App {
            id: "real/node-lru",
            leak: false,
            limit: 256 << 20,
            rps: 60.0,
            path: "/req?id={i}",
            start: || testkit::node_app("lru"),
            daily: false,
            deploy_every: None,
        },
        App {
            // 24 KiB kept per request: OOM-killed after about 8 minutes.
            id: "real/jvm-leak",
            leak: true,
            limit: 256 << 20,
            rps: 20.0,
            path: "/work?n=3",
            start: || java("leak"),
            daily: false,
            deploy_every: None,
        },
        App {
            id: "real/jvm-steady",
            leak: false,
            limit: 256 << 20,
            rps: 20.0,
            path: "/work?n=3",
            start: || java("steady"),
            daily: false,
            deploy_every: None,
        },
        App {
            // About 8 KB kept per request (eight 1 KB reports).
            id: "real/python-leak",
            leak: true,
            limit: 256 << 20,
            rps: 20.0,
            path: "/work?n=8",
            start: || python("server.py", "leak"),
            daily: false,
            deploy_every: None,
        },
        App {
            id: "real/python-steady",
            leak: false,
            limit: 256 << 20,
            rps: 20.0,
            path: "/work?n=8",
            start: || python("server.py", "steady"),
            daily: false,
            deploy_every: None,
        },
        App {
            // The same leak, deployed (restarted) every 10 h of series time:
            // no run reaches the limit.
            id: "real/python-leak-deploys",
            leak: true,
            limit: 256 << 20,
            rps: 20.0,
            path: "/work?n=8",
            start: || python("server.py", "leak"),
            daily: false,
            deploy_every: Some(10.0 * 3600.0 / SCALE),
        },
        App {
            // Sessions live 40 min of series time: memory follows a daily
            // load from 4 to 36 requests a second, and never leaks.
            id: "real/python-sessions-daily",
            leak: false,
            limit: 512 << 20,
            rps: 20.0,
            path: "/work?n=1",
            start: || python("sessions.py", "20"),
            daily: true,
            deploy_every: None,
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
    /// Requests a second at each sample, when the load is daily.
    load: Vec<f64>,
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
        let deploy_at = app
            .deploy_every
            .map(|d| Instant::now() + Duration::from_secs_f64(d));
        let mut next = Instant::now();
        loop {
            if STOP.load(Ordering::SeqCst) {
                return;
            }
            if deploy_at.is_some_and(|d| Instant::now() >= d) {
                // A deploy: the old process is stopped, a new one started.
                let _ = proc.child.kill();
                let _ = proc.child.wait();
                let at = start.elapsed().as_secs_f64();
                rec.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .restarts
                    .push(at);
                eprintln!("{}: deployed at {at:.0} s", app.id);
                break;
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
            let factor = if app.daily {
                day_factor(start.elapsed().as_secs_f64())
            } else {
                1.0
            };
            next += Duration::from_secs_f64(1.0 / (app.rps * factor));
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
    let only = &args[args.len().min(2)..];
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    let apps: Vec<App> = apps()
        .into_iter()
        .filter(|a| only.is_empty() || only.iter().any(|o| o == a.id))
        .collect();
    assert!(!apps.is_empty(), "no app of that id");
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
            for ((app, cg), rec) in apps.iter().zip(&cgs).zip(&recs) {
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
                if app.daily {
                    r.load.push(app.rps * day_factor(t));
                }
            }
            next += SAMPLE;
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        STOP.store(true, Ordering::SeqCst);
    });
    drop(cgs);
    write(&out, &apps, &recs).expect("write the recording");
}

/// Writes the series (of the working set), their labels and the raw samples:
/// in each file, the lines of the apps recorded replace theirs (or are
/// added), and the other apps' lines are kept.
fn write(out: &Path, apps: &[App], recs: &[Arc<Mutex<Recording>>]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let (mut series, mut labels, mut raw) = (Vec::new(), Vec::new(), Vec::new());
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
            // A steady request rate would explain nothing; a daily one is the load.
            load: app.daily.then(|| {
                r.t.iter()
                    .zip(&r.load)
                    .map(|(&t, &l)| (at(t), (l * 100.0).round() / 100.0))
                    .collect()
            }),
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
            history_hours: None,
            healthy_days: None,
        };
        serde_json::to_writer(&mut labels, &label)?;
        labels.push(b'\n');
        serde_json::to_writer(
            &mut raw,
            &json!({
                "id": app.id,
                "time_scale": SCALE,
                "limit_bytes": app.limit,
                "rps": app.rps,
                "daily_load": app.daily,
                "deploy_every_s": app.deploy_every,
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
        raw.push(b'\n');
        eprintln!(
            "{}: {} samples, {} OOM kill(s), {} restart(s)",
            app.id,
            r.t.len(),
            r.ooms.len(),
            r.restarts.len()
        );
    }
    let ids: Vec<&str> = apps.iter().map(|a| a.id).collect();
    for (name, new) in [
        ("real.jsonl", series),
        ("real-labels.jsonl", labels),
        ("real-raw.jsonl", raw),
    ] {
        merge(&out.join(name), &ids, &new)?;
    }
    Ok(())
}

/// Rewrites the JSONL file `path` as its lines of other ids than `ids`, then
/// `new`; through a temporary file, so that a failed write loses nothing.
fn merge(path: &Path, ids: &[&str], new: &[u8]) -> std::io::Result<()> {
    let old = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let mut text = Vec::new();
    for line in old.lines().filter(|l| !l.trim().is_empty()) {
        let id = serde_json::from_str::<serde_json::Value>(line)?["id"]
            .as_str()
            .map(str::to_owned);
        if !id.is_some_and(|i| ids.contains(&i.as_str())) {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
    }
    text.extend_from_slice(new);
    let tmp = path.with_extension("jsonl.tmp");
    std::fs::write(&tmp, &text)?;
    std::fs::rename(&tmp, path)
}
