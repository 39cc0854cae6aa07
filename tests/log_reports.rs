//! With the Cargo feature `log`, everything corio reports goes through the `log` crate
//! (target `corio`): unretrieved task failures and server handler errors (`error`), slow steps
//! in debug mode (`warn`), signal-triggered server shutdowns (`info`).
//! Run with `cargo test --features log --test log_reports`.

#![cfg(feature = "log")]

use std::io;
use std::time::Duration;

mod common;

use common::log_capture::{install, records_with};

/// Sleeps on the loop until a record with `marker` is there (a generous bound).
fn until_logged(marker: &str) {
    for _ in 0..5_000 {
        if !records_with(marker).is_empty() {
            return;
        }
        corio::sleep(Duration::from_millis(1));
    }
    panic!("nothing logged with {marker:?}");
}

#[test]
fn an_unretrieved_task_failure_is_logged_as_an_error() {
    install();
    corio::run(|| {
        let t = corio::Builder::new()
            .name("doomed-6001")
            .spawn(|| panic!("failure-6001"))
            .unwrap();
        corio::yield_now();
        drop(t);
    });
    let got = records_with("failure-6001");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, log::Level::Error);
    assert_eq!(got[0].1, "corio");
    assert!(got[0].2.contains("never retrieved"), "{got:?}");
    assert!(got[0].2.contains("doomed-6001"), "{got:?}");
}

#[test]
fn a_server_handler_error_is_logged_as_an_error() {
    install();
    corio::run(|| {
        let server = corio::start_server("127.0.0.1:0", |_r, _w| -> io::Result<()> {
            Err(io::Error::new(io::ErrorKind::InvalidData, "handler-6002"))
        })
        .unwrap();
        let _conn = corio::open_connection(server.local_addr().unwrap()).unwrap();
        until_logged("handler-6002");
    });
    let got = records_with("handler-6002");
    assert_eq!(got[0].0, log::Level::Error, "{got:?}");
    assert_eq!(got[0].1, "corio");
}

#[test]
fn a_slow_step_in_debug_mode_is_logged_as_a_warning() {
    install();
    corio::EventLoopBuilder::new().debug(true).run(|| {
        corio::Builder::new()
            .name("sluggard-6003")
            .spawn(|| std::thread::sleep(corio::runtime::SLOW_STEP * 2))
            .unwrap()
            .join()
            .unwrap();
    });
    let got = records_with("sluggard-6003");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, log::Level::Warn);
    assert!(got[0].2.contains("without parking"), "{got:?}");
}

#[test]
fn a_signal_triggered_shutdown_is_logged_at_info_level() {
    install();
    let summary = corio::run(|| {
        let server = corio::start_server("127.0.0.1:0", |_r, _w| ()).unwrap();
        corio::spawn(|| {
            corio::sleep(Duration::from_millis(5));
            // SAFETY: raise(3) sends SIGTERM to this thread; the server watches it now.
            unsafe { libc::raise(corio::signal::SIGTERM) };
        });
        server.serve_until_signal(Duration::from_secs(5)).unwrap()
    });
    assert_eq!(summary.signal, Some(corio::signal::SIGTERM));
    let begun = records_with("SIGTERM received");
    assert_eq!(begun.len(), 1, "{begun:?}");
    assert_eq!(begun[0].0, log::Level::Info);
    let ended = records_with("stopped by SIGTERM");
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].0, log::Level::Info);
}
