//! A bound on a test that would hang on a regression.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use super::prereq::{test_name, write_stderr_raw};

/// Aborts the whole test process, naming the test, if it is still alive `limit` after
/// [`Watchdog::start`]; dropping it (at the end of the test, or in its unwind) disarms it.
///
/// A hung test cannot be made to fail from outside its thread, and a hang would stop the
/// whole suite with no word: an abort with a message is the honest way out. Limits are
/// generous (a minute for work of a few milliseconds), so a slow machine never trips them.
pub struct Watchdog {
    _disarm: Sender<()>,
}

impl Watchdog {
    /// Arms a watchdog for the running test.
    pub fn start(limit: Duration) -> Watchdog {
        let name = test_name();
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("watchdog of {name}"))
            .spawn(move || {
                if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                    write_stderr_raw(&format!(
                        "\nWATCHDOG: {name} did not finish within {limit:?}: it hangs. \
                         Aborting the test process.\n"
                    ));
                    std::process::abort();
                }
            })
            .expect("a watchdog thread can start");
        Watchdog { _disarm: tx }
    }
}

/// The limit used by the tests in this suite: long enough for any noisy machine.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Arms a [`Watchdog`] with [`LIMIT`].
pub fn watchdog() -> Watchdog {
    Watchdog::start(LIMIT)
}
