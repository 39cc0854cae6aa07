//! Where corio's own reports go: the `log` crate (target `corio`) with the Cargo feature
//! `log` and a logger set up, else one line on stderr prefixed `corio: `.
//!
//! Every report of the runtime goes through [`emit`]: failures the exception handler's
//! default reports (unretrieved task failures, server handler errors, callback panics), slow
//! steps in debug mode, signal-triggered server shutdowns, and the rare internal failures
//! (polling errors, panicking wakers).

#[cfg(feature = "log")]
use std::panic::AssertUnwindSafe;
use std::panic::catch_unwind;

/// How much a report matters, mapped onto `log::Level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// Reports `text`; never panics (a failed write or a panicking logger is dropped).
#[cfg(not(feature = "log"))]
pub(crate) fn emit(_level: Level, text: &str) {
    let _ = catch_unwind(|| eprintln!("corio: {text}"));
}

/// Reports `text`; never panics (a failed write or a panicking logger is dropped).
#[cfg(feature = "log")]
pub(crate) fn emit(level: Level, text: &str) {
    if log::max_level() == log::LevelFilter::Off {
        // No logger was set up (or every record is switched off): the report still shows.
        let _ = catch_unwind(|| eprintln!("corio: {text}"));
        return;
    }
    let level = match level {
        Level::Error => log::Level::Error,
        Level::Warn => log::Level::Warn,
        Level::Info => log::Level::Info,
        Level::Debug => log::Level::Debug,
    };
    let _ = catch_unwind(AssertUnwindSafe(
        || log::log!(target: "corio", level, "{text}"),
    ));
}

/// Debug mode: a task ran `took` without parking.
#[cold]
pub(crate) fn slow_step(task: &str, took: std::time::Duration) {
    emit(
        Level::Warn,
        &format!(
            "task '{task}' ran {} ms without parking (a blocking call or a long CPU loop stalls \
             every other coroutine; move it to a thread)",
            took.as_millis()
        ),
    );
}

/// The poller failed (the loop goes on and polls again).
#[cold]
pub(crate) fn poll_failed(e: &std::io::Error) {
    emit(Level::Error, &format!("polling for I/O failed: {e}"));
}
