//! Python leaks end to end: the sample apps of testkit/apps/python run on the
//! machine's CPython and pickle real `tracemalloc` snapshots; leakhound diffs
//! them, agrees with CPython's own `compare_to`, refuses pickles that would run
//! code, names reference cycles where the helper's JSON snapshots show them,
//! and reads what the helper serves over HTTP (through curl as well).

mod common;

use common::{json_of, leakhound, s};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use testkit::{http_ok, repo_root, start_listening};

fn apps() -> PathBuf {
    repo_root().join("testkit/apps/python")
}

fn python(args: &[&str]) -> Vec<u8> {
    let out = Command::new("python3")
        .args(args)
        .output()
        .expect("python3 (CPython 3.8+) must be installed");
    assert!(
        out.status.success(),
        "python3 {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a sample app for `steps` steps and returns its snapshots, in order.
fn run_app(name: &str, dir: &Path, steps: usize) -> Vec<PathBuf> {
    run_app_as(name, dir, steps, "pickle")
}

/// As [`run_app`], with snapshots in `format`: `pickle`, `json`, or
/// `json+cycles` (with the helper's table of cyclic garbage).
fn run_app_as(name: &str, dir: &Path, steps: usize, format: &str) -> Vec<PathBuf> {
    let app = apps().join(name);
    let args = [s(&app), s(dir), &steps.to_string(), "10", format];
    let out = String::from_utf8(python(&args)).unwrap();
    let paths: Vec<PathBuf> = out
        .lines()
        .filter_map(|l| l.strip_prefix("snapshot "))
        .map(PathBuf::from)
        .collect();
    assert_eq!(paths.len(), steps, "{name} printed: {out}");
    paths
}

/// `file:line` of the first line of a sample app that contains `text`:
/// the expected answer is read from the source, not written into the test.
fn site(app: &str, text: &str) -> String {
    let path = apps().join(app);
    let src = std::fs::read_to_string(&path).unwrap();
    let n = src.lines().position(|l| l.contains(text)).unwrap() + 1;
    format!("{}:{n}", path.display())
}

fn diff(paths: &[PathBuf], extra: &[&str]) -> Value {
    let mut args = vec!["diff", "--format", "json"];
    args.extend(extra);
    args.extend(paths.iter().map(|p| s(p)));
    json_of(&leakhound(&args))
}

#[test]
fn leaking_apps_name_the_line() {
    for (app, line) in [
        ("dict_cache.py", "_cache[key] = "),
        ("class_list.py", "Registry.items.append("),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let snaps = run_app(app, dir.path(), 3);
        let r = diff(&snaps, &[]);
        assert_eq!(r["format"], "tracemalloc");
        assert_eq!(r["snapshots"].as_array().unwrap().len(), 3);
        let want = site(app, line);
        let top = &r["suspects"][0];
        assert_eq!(top["key"], want.as_str(), "{app}: {r:#}");
        assert_eq!(top["pattern"], "unbounded-cache", "{app}");
        let hint = top["hint"].as_str().unwrap();
        assert!(hint.contains("functools.lru_cache(maxsize="), "{hint}");
        let g = &r["groups"][0];
        assert_eq!(g["key"], want.as_str());
        assert_eq!(g["monotonic"], true, "{app}: grows at every step");
        assert!(g["delta_bytes"].as_i64().unwrap() > 1 << 20);

        // The traceback grouping names the same allocating line first.
        let r = diff(&snaps, &["--by", "traceback"]);
        let key = r["suspects"][0]["key"].as_str().unwrap();
        assert!(key.starts_with(&format!("{want} <- ")), "{key}");
    }
}

/// `--redact-strings` on dict_cache.py with a third-party module from a
/// directory outside the app whose name is the secret (tracemalloc keeps no
/// string values, only where blocks were allocated). Without the flag every
/// output names that directory; with it none does, the module reads as a
/// marker and its base name, and the app's own line is still the leak.
#[test]
fn redacted_reports_hold_no_paths_outside_the_app() {
    const SECRET: &str = "LEAKHOUND-SECRET-tracemalloc";
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join(SECRET);
    std::fs::create_dir(&vendor).unwrap();
    std::fs::write(
        vendor.join("leakhound_vendor.py"),
        "TABLE = [('vendor row %d ' % i) * 20 for i in range(3000)]\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(apps().join("dict_cache.py"))
        .args([s(dir.path()), "3"])
        .env("LEAKHOUND_TEST_VENDOR", &vendor)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snaps: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("snapshot ").map(PathBuf::from))
        .collect();
    let files: Vec<&Path> = snaps.iter().map(PathBuf::as_path).collect();
    let leak = site("dict_cache.py", "_cache[key] = ");
    let (redacted, plain) = common::assert_redacted(&files, dir.path(), SECRET, &leak);
    assert_eq!(plain.holding(SECRET), ["json", "html", "pprof"]);
    let marked = format!(
        "<redacted {} bytes>/leakhound_vendor.py:1",
        vendor.as_os_str().len()
    );
    let r = redacted.report();
    assert!(
        r["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["key"] == marked.as_str()),
        "{:#}",
        r["groups"]
    );
}

fn patterns(r: &Value) -> Vec<&str> {
    r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["pattern"].as_str())
        .collect()
}

/// cycles.py leaks through reference cycles with the collector off: the
/// helper's cycle table shows the growing line's objects as cyclic garbage,
/// and leakhound names the pattern there. Without that table (a pickle) the
/// same leak is not called a cycle: there is no evidence to say so.
#[test]
fn reference_cycles_are_named_where_the_helper_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = run_app_as("cycles.py", dir.path(), 3, "json+cycles");
    let r = diff(&snaps, &[]);
    let want = site("cycles.py", "root.body = bytearray(");
    let top = &r["suspects"][0];
    assert_eq!(top["key"], want.as_str(), "{r:#}");
    assert_eq!(top["pattern"], "reference-cycle", "{r:#}");
    let hint = top["hint"].as_str().unwrap();
    assert!(
        hint.contains("cyclic garbage") && hint.contains("weakref"),
        "{hint}"
    );
    let snapshot: Value = serde_json::from_slice(&std::fs::read(&snaps[2]).unwrap()).unwrap();
    assert!(
        !snapshot["cycles"].as_array().unwrap().is_empty(),
        "the evidence"
    );

    let r = diff(&snaps, &["--by", "traceback"]);
    assert_eq!(r["suspects"][0]["pattern"], "reference-cycle", "{r:#}");

    let dir = tempfile::tempdir().unwrap();
    let pickles = run_app_as("cycles.py", dir.path(), 3, "pickle");
    let r = diff(&pickles, &[]);
    assert_eq!(r["suspects"][0]["key"], want.as_str(), "{r:#}");
    assert!(!patterns(&r).contains(&"reference-cycle"), "{r:#}");
}

/// The other sample apps, leaking or not, keep nothing through cycles: with
/// the cycle table at hand no suspect of theirs is called a cycle, and the
/// leaks keep their own pattern.
#[test]
fn apps_without_cycles_have_no_reference_cycle() {
    for (app, leak) in [
        ("dict_cache.py", true),
        ("class_list.py", true),
        ("lru_bounded.py", false),
        ("churn.py", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let snaps = run_app_as(app, dir.path(), 3, "json+cycles");
        let r = diff(&snaps, &[]);
        let p = patterns(&r);
        assert!(!p.contains(&"reference-cycle"), "{app}: {r:#}");
        if leak {
            assert_eq!(
                r["suspects"][0]["pattern"], "unbounded-cache",
                "{app}: {r:#}"
            );
        }
    }
}

#[test]
fn non_leaks_have_no_suspect() {
    for app in ["lru_bounded.py", "churn.py"] {
        let dir = tempfile::tempdir().unwrap();
        let snaps = run_app(app, dir.path(), 3);
        let r = diff(&snaps, &[]);
        assert_eq!(r["suspects"], serde_json::json!([]), "{app}: {r:#}");
        assert!(r["snapshots"][2]["total_count"].as_i64().unwrap() > 10);
    }
}

/// The report's groups carry CPython's numbers for every key type, cumulative
/// or not: size and count in the new snapshot and both diffs, for every key.
/// A real `Snapshot.dump` compressed with gzip (as a capture stored
/// compressed is) reads as the plain pickle does: the reader used to parse
/// the compressed bytes and answer "unsupported pickle protocol".
#[test]
fn gzipped_pickles_read_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = run_app("dict_cache.py", dir.path(), 2);
    let gz: Vec<PathBuf> = snaps
        .iter()
        .map(|p| {
            let out = p.with_extension("pickle.gz");
            let status = Command::new("gzip")
                .args(["-c", s(p)])
                .stdout(std::fs::File::create(&out).unwrap())
                .status()
                .expect("gzip");
            assert!(status.success());
            out
        })
        .collect();
    let (plain, zipped) = (diff(&snaps, &[]), diff(&gz, &[]));
    assert_eq!(zipped["groups"], plain["groups"]);
    assert_eq!(zipped["suspects"], plain["suspects"]);
    assert_eq!(
        zipped["suspects"][0]["key"],
        site("dict_cache.py", "_cache[key] = ")
    );
    let one = json_of(&leakhound(&["analyze", "--format", "json", s(&gz[1])]));
    assert_eq!(one["format"], "tracemalloc");
    // A cut stream is bad input, said as such.
    let whole = std::fs::read(&gz[1]).unwrap();
    let cut = testkit::write_file(dir.path(), "cut.pickle.gz", &whole[..whole.len() / 2]);
    let o = leakhound(&["analyze", s(&cut)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("gzip") && err.contains(s(&cut)), "{err}");
}

#[test]
fn diff_equals_cpython_compare_to() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = run_app("class_list.py", dir.path(), 2);
    let oracle: Value = serde_json::from_slice(&python(&[
        s(&apps().join("compare.py")),
        s(&snaps[0]),
        s(&snaps[1]),
    ]))
    .unwrap();
    for (mode, args) in [
        ("lineno", vec!["--by", "lineno"]),
        ("lineno/cumulative", vec!["--by", "lineno", "--cumulative"]),
        ("filename", vec!["--by", "filename"]),
        (
            "filename/cumulative",
            vec!["--cumulative", "--by", "filename"],
        ),
        ("traceback", vec!["--by", "traceback"]),
    ] {
        let mut args = args;
        args.extend(["--top", "1000000"]);
        let r = diff(&snaps, &args);
        let groups = r["groups"].as_array().unwrap();
        let expected = oracle[mode].as_array().unwrap();
        assert_eq!(groups.len(), expected.len(), "{mode}: number of groups");
        for e in expected {
            let frames = e[0].as_array().unwrap();
            let key = if mode.starts_with("filename") {
                frames[0][0].as_str().unwrap().to_string()
            } else {
                frames
                    .iter()
                    .rev()
                    .map(|f| format!("{}:{}", f[0].as_str().unwrap(), f[1]))
                    .collect::<Vec<_>>()
                    .join(" <- ")
            };
            let g = groups
                .iter()
                .find(|g| g["key"] == key.as_str())
                .unwrap_or_else(|| panic!("{mode}: no group {key}"));
            assert_eq!(
                [
                    &g["bytes"][1],
                    &g["delta_bytes"],
                    &g["count"][1],
                    &g["delta_count"]
                ],
                [&e[1], &e[2], &e[3], &e[4]],
                "{mode}: {key}"
            );
        }
    }
    let o = leakhound(&[
        "diff",
        "--by",
        "traceback",
        "--cumulative",
        s(&snaps[0]),
        s(&snaps[1]),
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "as CPython, no cumulative tracebacks"
    );
    let o = leakhound(&["diff", "--by", "function", s(&snaps[0]), s(&snaps[1])]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lineno, filename or traceback"));
}

#[test]
fn malicious_pickle_is_refused_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let evil = dir.path().join("evil.pickle");
    let code = format!(
        "import os, pickle\n\
         class Evil:\n    def __reduce__(self):\n        return (os.system, ('touch {m}',))\n\
         open({e:?}, 'wb').write(pickle.dumps(Evil(), 4))",
        m = s(&marker),
        e = s(&evil)
    );
    python(&["-c", &code]);
    for args in [vec!["analyze", s(&evil)], vec!["diff", s(&evil), s(&evil)]] {
        let o = leakhound(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("refusing to load: pickle calls posix.system"),
            "{err}"
        );
        assert!(err.contains(s(&evil)), "{err}");
        assert!(!marker.exists(), "leakhound ran the pickle's code");
    }
    // The pickle is live: CPython's pickle.load does run it.
    python(&[
        "-c",
        &format!("import pickle; pickle.load(open({:?}, 'rb'))", s(&evil)),
    ]);
    assert!(
        marker.exists(),
        "the test pickle should have been dangerous"
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = run_app("churn.py", dir.path(), 1).remove(0);
    let bytes = std::fs::read(&good).unwrap();
    let d = dir.path();
    let write = |name: &str, b: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    let py = |expr: &str| {
        python(&[
            "-c",
            &format!(
                "import pickle, sys, tracemalloc\ntracemalloc.start()\n\
                 sys.stdout.buffer.write({expr})"
            ),
        ])
    };
    let cases = [
        (write("truncated", &bytes[..bytes.len() / 2]), "truncated"),
        (
            write("other", &py("pickle.dumps({'a': [1, 2, 3]}, 4)")),
            "not a tracemalloc snapshot",
        ),
        (
            write(
                "proto0",
                &py("pickle.dumps(tracemalloc.take_snapshot(), 0)"),
            ),
            "protocol",
        ),
        (
            write(
                "proto1",
                &py("pickle.dumps(tracemalloc.take_snapshot(), 1)"),
            ),
            "protocol",
        ),
        (write("empty", b""), "empty"),
        (
            write("json", br#"{"tracemalloc": 1, "filenames": []}"#),
            "JSON",
        ),
    ];
    for (p, says) in &cases {
        for args in [vec!["analyze", s(p)], vec!["diff", s(&good), s(p)]] {
            let o = leakhound(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert!(err.contains(s(p)), "{args:?} must name the file: {err}");
            assert!(err.contains(says), "{args:?} must say {says:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

fn curl(url: &str, out: &Path) {
    let st = Command::new("curl")
        .args(["-sSf", "-o"])
        .arg(out)
        .arg(url)
        .status()
        .expect("curl must be installed");
    assert!(st.success(), "curl {url}");
}

#[test]
fn helper_serves_snapshots_to_curl_and_leakhound() {
    let dir = tempfile::tempdir().unwrap();
    let addr_file = dir.path().join("helper-addr");
    let mut cmd = Command::new("python3");
    cmd.arg(apps().join("served.py"))
        .env("LEAKHOUND_HELPER_ADDR", "127.0.0.1:0")
        .env("LEAKHOUND_HELPER_FRAMES", "8")
        .env("LEAKHOUND_HELPER_ADDR_FILE", &addr_file);
    let (_app, app_addr) = start_listening(cmd);
    let helper = std::fs::read_to_string(&addr_file).expect("the helper wrote its address");
    assert!(helper.starts_with("127.0.0.1:"), "{helper}");

    let summary: Value = serde_json::from_slice(&http_ok(&helper, "/debug/memory")).unwrap();
    assert_eq!(summary["traceback_limit"], 8);
    assert!(summary["traced_bytes"].as_i64().unwrap() > 0);

    let base = format!("http://{helper}/debug/memory/snapshot");
    let mut snaps = Vec::new();
    for (i, query) in ["", "?format=json&cycles=1", ""].iter().enumerate() {
        if i > 0 {
            http_ok(&app_addr, "/grow");
        }
        let p = dir.path().join(format!("s{i}"));
        curl(&format!("{base}{query}"), &p);
        snaps.push(p);
    }
    assert_eq!(std::fs::read(&snaps[0]).unwrap()[0], 0x80, "a pickle");
    assert!(std::fs::read(&snaps[1])
        .unwrap()
        .starts_with(b"{\"tracemalloc\""));
    let json: Value = serde_json::from_slice(&std::fs::read(&snaps[1]).unwrap()).unwrap();
    assert!(json["cycles"].is_array(), "cycles=1 adds the cycles table");

    let r = diff(&snaps, &[]);
    let want = site("served.py", "\"blob\": bytearray(");
    assert_eq!(r["suspects"][0]["key"], want.as_str(), "{r:#}");
    assert_eq!(r["groups"][0]["monotonic"], true);

    // The seed's endpoint: a private pickle on disk, and its path.
    let answer: Value =
        serde_json::from_slice(&http_ok(&helper, "/debug/memory/snapshot-file")).unwrap();
    let path = PathBuf::from(answer["snapshot"].as_str().unwrap());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let r = json_of(&leakhound(&["analyze", "--format", "json", s(&path)]));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(r["groups"][0]["key"], want.as_str(), "{r:#}");
}

#[test]
fn html_report_in_a_browser_names_the_leak() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = run_app("dict_cache.py", dir.path(), 3);
    let files: Vec<&Path> = snaps.iter().map(PathBuf::as_path).collect();
    let want = site("dict_cache.py", "_cache[key] = ");
    common::html_diff_names(&files, dir.path(), &want, "tracemalloc");
}
