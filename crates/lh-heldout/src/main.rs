//! `lh-heldout`: writes the held-out corpus (series and labels, JSONL).
//! Never tune the detector on its output: see docs/heldout-spec.md §8.

use anyhow::{bail, Context, Result};
use clap::Parser;
use lh_heldout::{generate, Shape};
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Generate the held-out corpus of labelled container memory series.
#[derive(Parser, Debug)]
#[command(name = "lh-heldout", version)]
struct Args {
    /// Seed of the corpus; the same seed, count and shapes give the same files.
    #[arg(long)]
    seed: u64,
    /// Number of series.
    #[arg(long, default_value_t = 240)]
    count: usize,
    /// Series file to write (the `trend`/`detect` JSONL input).
    #[arg(long)]
    out_series: PathBuf,
    /// Labels file to write, one line per series id.
    #[arg(long)]
    out_labels: PathBuf,
    /// Only these shapes, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    shapes: Vec<String>,
    /// Thin each series to at most about this many points.
    #[arg(long)]
    max_points: Option<usize>,
    /// Overwrite existing output files.
    #[arg(long)]
    force: bool,
}

fn create(path: &Path, force: bool) -> Result<BufWriter<std::fs::File>> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let file = opts.open(path).with_context(|| {
        if path.exists() && !force {
            format!("{} exists (pass --force to overwrite it)", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    Ok(BufWriter::new(file))
}

fn run(args: Args) -> Result<()> {
    let shapes: Vec<Shape> = if args.shapes.is_empty() {
        Shape::ALL.to_vec()
    } else {
        args.shapes
            .iter()
            .map(|name| {
                Shape::from_name(name.trim()).with_context(|| {
                    let all: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
                    format!("unknown shape {name:?}; shapes: {}", all.join(", "))
                })
            })
            .collect::<Result<_>>()?
    };
    if args.out_series == args.out_labels {
        bail!("--out-series and --out-labels must be different files");
    }
    let mut series = create(&args.out_series, args.force)?;
    let mut labels = create(&args.out_labels, args.force)?;
    for mut g in generate(args.seed, args.count, &shapes) {
        if let Some(max) = args.max_points {
            g.thin(max);
        }
        serde_json::to_writer(&mut series, &g.series)?;
        series.write_all(b"\n")?;
        serde_json::to_writer(&mut labels, &g.label)?;
        labels.write_all(b"\n")?;
    }
    series.flush()?;
    labels.flush()?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lh-heldout: {e:#}");
            ExitCode::from(2)
        }
    }
}
