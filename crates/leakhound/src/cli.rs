//! The command line: flags and help only. Work happens in the libraries.

use crate::output::Output;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "leakhound",
    version,
    about = "Finds memory leaks in Kubernetes containers and local processes, and names the line that leaks.",
    long_about = None,
    after_help = "Examples:\n  \
                  leakhound diff heap1.pb.gz heap2.pb.gz heap3.pb.gz   # what grew, and where\n  \
                  leakhound analyze --format json heap.pb.gz          # one snapshot\n\n\
                  Also runs as the kubectl plugin `kubectl leak` when installed as kubectl-leak on PATH.\n\
                  Exit codes: 0 no leak, 1 leak found (where a command says so), 2 bad input or usage, 3 environment failure."
)]
pub struct Cli {
    /// More logs on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Diff two or more snapshots of one process, given in time order.
    #[command(after_help = "Examples:\n  \
        leakhound diff heap1.pb.gz heap2.pb.gz\n  \
        leakhound diff --format json h1.pb.gz h2.pb.gz h3.pb.gz\n  \
        leakhound diff --by line --sample-index inuse_objects h1.pb.gz h2.pb.gz\n  \
        leakhound diff g1.pb.gz g2.pb.gz              # goroutine profiles: goroutine leaks\n  \
        leakhound diff --format pprof -o delta.pb.gz h1.pb.gz h2.pb.gz && go tool pprof -top delta.pb.gz\n  \
        leakhound diff --format html -o report.html h1.pb.gz h2.pb.gz h3.pb.gz")]
    Diff {
        /// Snapshot files, oldest first. The format is detected from content.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        out: Output,
        #[command(flatten)]
        opts: SnapshotOpts,
    },
    /// Analyse one snapshot: the largest groups and, where the format allows, suspects.
    #[command(after_help = "Examples:\n  \
        leakhound analyze heap.pb.gz\n  \
        leakhound analyze --by file --top 20 heap.pb.gz\n  \
        leakhound analyze --format json goroutine.pb.gz")]
    Analyze {
        /// The snapshot file. The format is detected from content.
        file: PathBuf,
        #[command(flatten)]
        out: Output,
        #[command(flatten)]
        opts: SnapshotOpts,
    },
    /// Leak verdict for one memory series: from --file, --prometheus or --cgroup.
    #[command(after_help = "Examples:\n  \
        leakhound trend --file series.jsonl\n  \
        leakhound trend --prometheus http://127.0.0.1:9090 -n shop --pod cart-7d9 --container app --range 2d\n  \
        leakhound trend --cgroup /sys/fs/cgroup/memory/mygroup --step 1s --duration 10m\n\
        Exit codes: 0 done, 1 leak (with --fail-on-leak), 2 bad input, 3 Prometheus or cgroup unreachable.")]
    Trend(crate::cmd_trend::TrendArgs),
    /// Batch leak verdicts, one per series of a JSONL file.
    #[command(
        after_help = "Example:\n  leakhound detect --file series.jsonl --format json > verdicts.jsonl"
    )]
    Detect(crate::cmd_trend::DetectArgs),
    /// Heap snapshots of a live process into -o DIR (files 0600).
    #[command(after_help = "Examples:\n  \
        leakhound capture pid:4242 --count 3 --interval 30s -o caps\n  \
        leakhound capture url:http://127.0.0.1:6060 --goroutines -o caps      # Go, net/http/pprof\n  \
        leakhound capture url:http://127.0.0.1:3000/debug/heapsnapshot -o caps\n\
        Node is reached through its inspector (opened with SIGUSR1), the JVM with jcmd.")]
    #[command(mut_arg("dir", |a| a.default_value("leakhound-captures").required(false)))]
    Capture(crate::cmd_capture::CaptureArgs),
    /// Leak test for CI: runs CMD in a memory-limited cgroup under load, and names the leak.
    #[command(after_help = "Examples:\n  \
        leakhound soak --memory-limit 128Mi --duration 60s --http-load '/work?n=5' --rps 20 -- ./server\n  \
        leakhound soak --load 'ab -n 100000 $LEAKHOUND_APP_URL/' -- node app.js\n\
        Exit codes: 0 no leak, 1 leak or OOM kill, 2 bad command, 3 no writable memory cgroup.")]
    #[command(mut_arg("dir", |a| a.default_value("leakhound-soak").required(false)))]
    Soak(crate::cmd_soak::SoakArgs),
    /// The main job on a live process: OOM history, N snapshots over --interval, diff, report.
    #[command(after_help = "Examples:\n  \
        leakhound diagnose pid:4242 --count 3 --interval 30s\n  \
        leakhound diagnose url:http://127.0.0.1:6060 --fail-on-leak --format json\n  \
        leakhound diagnose cgroup:/sys/fs/cgroup/memory/mygroup")]
    #[command(mut_arg("dir", |a| a.default_value("leakhound-diagnose").required(false)))]
    Diagnose(crate::cmd_diagnose::DiagnoseArgs),
    /// Where a container's memory is: heap, native, page cache, tmpfs, kernel; and the part that grows.
    #[command(after_help = "Examples:\n  \
        leakhound memory pid:4242\n  \
        leakhound memory cgroup:/sys/fs/cgroup/memory/mygroup --duration 1m --interval 5s\n  \
        leakhound memory pid:4242 --duration 30s --format json\n\
        Each category is read from its own source (memory.stat, smaps_rollup); the residual is shown.\n\
        Page cache is reclaimable and never a leak.")]
    Memory(crate::cmd_memory::MemoryArgs),
    /// Runs a bundled leaky Node app under soak and shows the whole diagnosis, in under 2 minutes.
    #[command(after_help = "Example:\n  cargo run --release -- demo")]
    Demo(crate::cmd_soak::DemoArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  leakhound completions bash > /etc/bash_completion.d/leakhound"
    )]
    Completions { shell: clap_complete::Shell },
}

/// How snapshots are grouped and read.
#[derive(Args, Debug)]
pub struct SnapshotOpts {
    /// Grouping: function, line or file (pprof, jemalloc, tcmalloc); lineno, filename or traceback (tracemalloc).
    #[arg(long)]
    pub by: Option<String>,
    /// jemalloc/tcmalloc: a directory holding the target's binaries and libraries, copied out
    /// of its container (DIR/usr/bin/app or DIR/app); default: their paths on this machine.
    #[arg(long, value_name = "DIR")]
    pub symbols: Option<PathBuf>,
    /// tracemalloc: count each trace in every frame of its traceback, as compare_to(cumulative=True).
    #[arg(long)]
    pub cumulative: bool,
    /// HPROF: the class histogram only, the fastest pass (no object graph, no retained sizes).
    #[arg(long)]
    pub histogram_only: bool,
    /// pprof sample type, by name (inuse_space) or position; default as go tool pprof picks it.
    #[arg(long)]
    pub sample_index: Option<String>,
    #[command(flatten)]
    pub redaction: crate::output::Redaction,
}
