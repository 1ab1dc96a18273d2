//! How a run reports as it goes: lines worth keeping (`started pid N`,
//! `snapshot 2 (periodic)`) and a progress bar that only a terminal shows.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// What the engine tells its front end while it works.
pub trait Progress: Sync {
    /// A line worth keeping in a log: printed whether or not stderr is a terminal.
    fn say(&self, line: &str);
    /// Where the run is: `done` of `total` units (seconds of a soak,
    /// snapshots of a capture), and what it is doing.
    fn step(&self, done: u64, total: u64, what: &str);
    /// Bytes of the snapshot being written so far.
    fn bytes(&self, n: u64);
    /// The run is over: the bar goes away.
    fn done(&self) {}
}

/// Lines to stderr as `leakhound: …`; a bar too when stderr is a terminal,
/// and nothing of it otherwise (a CI log keeps only the lines).
#[derive(Debug)]
pub struct Terminal {
    bar: Option<ProgressBar>,
}

impl Terminal {
    /// For the command `name` (`soak`, `capture`, `diagnose`).
    pub fn stderr(name: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}")
                    .expect("a fixed template parses")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Terminal { bar }
    }
}

impl Progress for Terminal {
    fn say(&self, line: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("leakhound: {line}")),
            None => eprintln!("leakhound: {line}"),
        }
    }

    fn step(&self, done: u64, total: u64, what: &str) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(done);
            b.set_message(what.to_string());
        }
    }

    fn bytes(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_message(format!("writing snapshot: {}", crate::mib(n)));
        }
    }

    fn done(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.done();
    }
}

/// Says nothing at all (library callers and tests).
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn say(&self, _: &str) {}
    fn step(&self, _: u64, _: u64, _: &str) {}
    fn bytes(&self, _: u64) {}
}
