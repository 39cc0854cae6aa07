//! Closing a loop, nested runs and panicking callbacks (asyncio's `events.py` and
//! `base_events.py`).

mod common;

use std::cell::Cell;
use std::os::unix::net::UnixStream;
use std::panic::catch_unwind;
use std::rc::Rc;
use std::time::Duration;

use common::{Drops, Log, panic_text};
use corio::runtime;
use corio::{EventLoop, RuntimeError};

// ----- close -----

// cpython: test_base_events.py BaseEventLoopTests.test_close
#[test]
fn close_is_idempotent_and_a_closed_loop_cannot_run() {
    let lp = EventLoop::new().unwrap();
    assert!(!lp.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
    lp.close().unwrap();
    lp.close().unwrap();
    assert_eq!(lp.run_forever().unwrap_err(), RuntimeError::Closed);
    assert_eq!(
        lp.run_until_complete(|| 1).unwrap_err(),
        RuntimeError::Closed
    );
}

// cpython: test_events.py EventLoopTestsMixin.test_close_running_event_loop
#[test]
fn close_while_running_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let r = lp
        .run_until_complete(|| corio::get_running_loop().close())
        .unwrap();
    assert_eq!(r.unwrap_err(), RuntimeError::Running);
    assert!(!lp.is_closed());
    assert_eq!(lp.run_until_complete(|| 5).unwrap(), 5);
}

#[test]
fn close_drops_pending_callbacks_and_timers_without_running_them() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let ran = Rc::new(Cell::new(0));
    let (g, r) = (drops.guard(), ran.clone());
    let _ = lp.call_soon(move || {
        let _g = g;
        r.set(r.get() + 1);
    });
    let (g, r) = (drops.guard(), ran.clone());
    let _ = lp.call_later(Duration::from_secs(3600), move || {
        let _g = g;
        r.set(r.get() + 1);
    });
    lp.close().unwrap();
    assert_eq!(drops.count(), 2);
    assert_eq!(ran.get(), 0);
}

// cpython: test_events.py EventLoopTestsMixin.test_add_fds_after_closing
#[test]
fn add_reader_or_writer_after_close_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    lp.close().unwrap();
    assert!(lp.add_reader(&a, || {}).is_err());
    assert!(lp.add_writer(&a, || {}).is_err());
}

// cpython: test_events.py EventLoopTestsMixin.test_remove_fds_after_closing
#[test]
fn close_removes_fd_callbacks() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let drops = Drops::new();
    let g = drops.guard();
    lp.add_reader(&a, move || {
        let _ = &g;
    })
    .unwrap();
    lp.add_writer(&a, || {}).unwrap();
    lp.close().unwrap();
    assert_eq!(drops.count(), 1, "the reader callback was dropped");
    assert!(!lp.remove_reader(&a));
    assert!(!lp.remove_writer(&a));
}

// ----- nested runs -----

// cpython: test_events.py EventLoopTestsMixin.test_run_until_complete_nesting
#[test]
fn nested_run_until_complete_is_a_nested_run_error() {
    let lp = EventLoop::new().unwrap();
    let (same, other) = lp
        .run_until_complete(|| {
            let same = corio::get_running_loop().run_until_complete(|| 1);
            let other = EventLoop::new().unwrap().run_until_complete(|| 2);
            (same, other)
        })
        .unwrap();
    assert_eq!(same.unwrap_err(), RuntimeError::NestedRun);
    assert_eq!(other.unwrap_err(), RuntimeError::NestedRun);
}

#[test]
fn nested_run_forever_is_a_nested_run_error() {
    let r = corio::run(|| EventLoop::new().unwrap().run_forever());
    assert_eq!(r.unwrap_err(), RuntimeError::NestedRun);
}

#[test]
fn nested_corio_run_panics_instead_of_hanging() {
    let msg = corio::run(|| {
        let r = catch_unwind(|| corio::run(|| 1));
        panic_text(r.unwrap_err().as_ref())
    });
    assert!(msg.contains("already running"), "{msg}");
    assert!(msg.contains(&RuntimeError::NestedRun.to_string()), "{msg}");
}

// ----- panicking callbacks -----

#[test]
fn panicking_callback_does_not_stop_the_loop() {
    corio::run(|| {
        let log = Log::new();
        runtime::call_soon(|| panic!("callback failure"));
        let l = log.clone();
        runtime::call_soon(move || l.push("next callback"));
        let l = log.clone();
        runtime::call_later(Duration::from_millis(1), move || l.push("timer"));
        corio::sleep(Duration::from_millis(20));
        assert_eq!(log.get(), ["next callback", "timer"]);
    });
}

const CALLBACK_CHILD: &str = "CORIO_TEST_CALLBACK_PANIC_CHILD";

#[test]
fn child_panicking_callback() {
    if !common::is_child(CALLBACK_CHILD) {
        return;
    }
    corio::run(|| {
        runtime::call_soon(|| panic!("callback-marker-7731"));
        corio::yield_now();
        corio::yield_now();
    });
}

#[test]
fn panicking_callback_is_reported_once_on_stderr() {
    let out = common::run_child("child_panicking_callback", CALLBACK_CHILD);
    let n = common::count_lines(
        &out.stderr,
        &["corio: Exception in callback", "callback-marker-7731"],
    );
    assert_eq!(n, 1, "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
}

// cpython: test_base_events.py BaseEventLoopTests.test_close (a closed loop refuses
// `call_soon` and `call_later` with RuntimeError): corio drops the callback at once, with a
// warning, and the handle says it is cancelled.
#[test]
fn a_closed_loop_drops_new_callbacks_at_once() {
    let lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    let drops = Drops::new();
    let ran = Rc::new(Cell::new(false));
    let (g, r) = (drops.guard(), ran.clone());
    let h = lp.call_soon(move || {
        let _g = g;
        r.set(true);
    });
    assert!(h.cancelled());
    let (g, r) = (drops.guard(), ran.clone());
    let t = lp.call_later(Duration::from_millis(1), move || {
        let _g = g;
        r.set(true);
    });
    assert!(t.cancelled());
    t.cancel();
    assert_eq!(
        drops.count(),
        2,
        "both callbacks were dropped, not kept by the dead loop"
    );
    assert!(!ran.get());
    assert_eq!(lp.run_forever().unwrap_err(), RuntimeError::Closed);
}
