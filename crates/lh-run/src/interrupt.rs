//! Ctrl-C and SIGTERM: set a flag that every wait of the engine checks, so an
//! interrupt unwinds through the guards that kill the program under test and
//! remove its cgroup, instead of killing leakhound where it stands.

use crate::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    // Fails only if a handler is already installed, which is then ours.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// [`Error::Interrupted`] once Ctrl-C was pressed.
pub fn check() -> Result<(), Error> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Error::Interrupted);
    }
    Ok(())
}

/// Waits `d`, waking for Ctrl-C.
pub fn pause(d: Duration) -> Result<(), Error> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}
