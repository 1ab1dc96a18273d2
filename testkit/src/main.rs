//! `testkit cluster`: the test Kubernetes cluster, run by hand.
//!
//! ```text
//! cargo run -p testkit -- cluster --kubeconfig /tmp/k.yaml -f pods.yaml
//! kubectl --kubeconfig /tmp/k.yaml get pods
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use testkit::cluster::{kubeconfig_text, Options, TestCluster};

#[derive(Parser)]
#[command(name = "testkit", about = "Test-only tools of leakhound")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the test Kubernetes cluster (a test API server whose pods are
    /// real local processes) until interrupted, then removes every process
    /// and cgroup it made.
    Cluster {
        /// Where to write the kubeconfig once the server is ready. An
        /// existing file is overwritten only if this command wrote it.
        #[arg(long, value_name = "FILE")]
        kubeconfig: PathBuf,
        /// Manifests of Pods and Deployments to start (several per file with `---`).
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

const MARKER: &str = "# written by `testkit cluster`";

fn main() -> ExitCode {
    let Cli {
        cmd: Cmd::Cluster { kubeconfig, files },
    } = Cli::parse();
    match run(&kubeconfig, &files) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testkit cluster: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(kubeconfig: &std::path::Path, files: &[PathBuf]) -> anyhow::Result<()> {
    if let Ok(old) = std::fs::read_to_string(kubeconfig) {
        if !old.starts_with(MARKER) {
            bail!(
                "{} exists and was not written by testkit cluster: not overwriting it",
                kubeconfig.display()
            );
        }
    } else if kubeconfig.exists() {
        bail!(
            "{} exists and is not readable: not overwriting it",
            kubeconfig.display()
        );
    }
    let mut manifests = Vec::new();
    for f in files {
        manifests
            .push(std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("installing the interrupt handler")?;
    let cluster = TestCluster::start_with(Options {
        manifests,
        ..Default::default()
    })?;
    let tmp = kubeconfig.with_extension("tmp");
    std::fs::write(&tmp, kubeconfig_text(cluster.url()))?;
    std::fs::rename(&tmp, kubeconfig)?;
    println!(
        "test API server on {} (kubeconfig {}); Ctrl-C to stop",
        cluster.url(),
        kubeconfig.display()
    );
    let _ = rx.recv();
    eprintln!("stopping: removing every pod process and cgroup");
    drop(cluster);
    let _ = std::fs::remove_file(kubeconfig);
    Ok(())
}
