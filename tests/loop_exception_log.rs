//! With the Cargo feature `log`, the default exception handler reports through the `log`
//! crate: `error` for failures, `debug` for I/O errors a peer causes.
//! Run with `cargo test --features log --test loop_exception_log`.

#![cfg(feature = "log")]

use std::io;

use corio::ExceptionContext;
use corio::runtime::{self, Exception};

mod common;

use common::log_capture::{install, records_with};

#[test]
fn a_callback_panic_is_logged_as_an_error_with_target_corio() {
    install();
    corio::run(|| {
        runtime::call_soon(|| panic!("logged-5001"));
        corio::yield_now();
        corio::yield_now();
    });
    let got = records_with("logged-5001");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, log::Level::Error);
    assert_eq!(got[0].1, "corio");
    assert_eq!(got[0].2, "Exception in callback: panicked: logged-5001");
}

#[test]
fn an_error_the_peer_caused_is_logged_at_debug_level() {
    install();
    for (kind, marker, level) in [
        (
            io::ErrorKind::ConnectionReset,
            "reset-5002",
            log::Level::Debug,
        ),
        (io::ErrorKind::BrokenPipe, "pipe-5003", log::Level::Debug),
        (io::ErrorKind::InvalidData, "data-5004", log::Level::Error),
    ] {
        let mut ctx = ExceptionContext::new("Unhandled error in connection handler");
        ctx.exception = Some(Exception::Error(Box::new(io::Error::new(kind, marker))));
        corio::default_exception_handler(&ctx);
        let got = records_with(marker);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, level, "{kind:?}");
    }
}
