//! Signals arrive on the loop's thread: `add_signal_handler`, `remove_signal_handler` and
//! `signal::wait`. Each test uses its own real-time signal, since the tests of this file share
//! one process and a signal is broadcast to every loop that watches it.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use corio::runtime;
use corio::signal;

fn rt(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// Sends `sig` to the calling thread: the C handler has run when this returns.
fn raise(sig: i32) {
    // SAFETY: raise(3) only sends a signal to this thread.
    assert_eq!(unsafe { libc::raise(sig) }, 0);
}

/// Sleeps on the loop until `done` or a generous bound.
fn until(done: impl Fn() -> bool) {
    for _ in 0..5_000 {
        if done() {
            return;
        }
        corio::sleep(Duration::from_millis(1));
    }
    panic!("the signal never arrived");
}

// cpython: test_asyncio.test_unix_events.SelectorEventLoopSignalTests.test_add_signal_handler
#[test]
fn signal_handler_runs_on_the_loop_thread() {
    let sig = rt(1);
    corio::run(move || {
        let loop_thread = std::thread::current().id();
        let ran_on = Rc::new(Cell::new(None));
        let r = ran_on.clone();
        runtime::add_signal_handler(sig, move || r.set(Some(std::thread::current().id()))).unwrap();
        // Sent from another thread: the kernel may interrupt any thread, the handler still
        // runs on the loop's.
        std::thread::spawn(move || raise(sig)).join().unwrap();
        until(|| ran_on.get().is_some());
        assert_eq!(ran_on.get(), Some(loop_thread));
        assert!(runtime::remove_signal_handler(sig));
        assert!(!runtime::remove_signal_handler(sig), "removed already");
    });
}

static PREVIOUS_RAN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn previous_handler(_: libc::c_int) {
    PREVIOUS_RAN.fetch_add(1, Ordering::SeqCst);
}

fn install_previous(sig: i32) {
    // SAFETY: a zeroed sigaction is valid; the handler only touches an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = previous_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

// cpython: test_asyncio.test_unix_events.SelectorEventLoopSignalTests.test_remove_signal_handler
#[test]
fn remove_signal_handler_restores_the_previous_disposition() {
    let sig = rt(2);
    install_previous(sig);
    corio::run(move || {
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        runtime::add_signal_handler(sig, move || c.set(c.get() + 1)).unwrap();
        raise(sig);
        until(|| count.get() == 1);
        assert_eq!(
            PREVIOUS_RAN.load(Ordering::SeqCst),
            0,
            "replaced while watched"
        );
        assert!(runtime::remove_signal_handler(sig));
        raise(sig);
        assert_eq!(
            PREVIOUS_RAN.load(Ordering::SeqCst),
            1,
            "the old handler is back"
        );
        corio::sleep(Duration::from_millis(20));
        assert_eq!(count.get(), 1, "the removed handler does not run");
    });
}

#[test]
fn a_later_handler_replaces_the_earlier_one() {
    let sig = rt(3);
    corio::run(move || {
        let which = Rc::new(Cell::new(""));
        let w = which.clone();
        runtime::add_signal_handler(sig, move || w.set("first")).unwrap();
        let w = which.clone();
        runtime::add_signal_handler(sig, move || w.set("second")).unwrap();
        raise(sig);
        until(|| !which.get().is_empty());
        assert_eq!(which.get(), "second");
        runtime::remove_signal_handler(sig);
    });
}

#[test]
fn signal_wait_wakes_when_the_signal_arrives() {
    let sig = rt(4);
    corio::run(move || {
        let waiter = corio::spawn(move || signal::wait(sig));
        corio::sleep(Duration::from_millis(5));
        assert!(!waiter.done());
        raise(sig);
        waiter.join().unwrap().unwrap();
    });
}

#[test]
fn cancelled_signal_wait_stops_watching() {
    let sig = rt(5);
    install_previous_5(sig);
    corio::run(move || {
        let waiter = corio::spawn(move || signal::wait(sig));
        corio::sleep(Duration::from_millis(5));
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        raise(sig);
        assert_eq!(
            PREVIOUS_5.load(Ordering::SeqCst),
            1,
            "the old disposition is back"
        );
        // A new wait works after the cancelled one.
        let again = corio::spawn(move || signal::wait(sig));
        corio::sleep(Duration::from_millis(5));
        raise(sig);
        again.join().unwrap().unwrap();
        assert_eq!(
            PREVIOUS_5.load(Ordering::SeqCst),
            1,
            "the wait got the second one"
        );
    });
}

static PREVIOUS_5: AtomicUsize = AtomicUsize::new(0);

extern "C" fn previous_5(_: libc::c_int) {
    PREVIOUS_5.fetch_add(1, Ordering::SeqCst);
}

fn install_previous_5(sig: i32) {
    // SAFETY: as in `install_previous`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = previous_5 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

#[test]
fn a_signal_reaches_every_loop_that_watches_it() {
    let sig = rt(6);
    let ready = std::sync::Arc::new(std::sync::Barrier::new(3));
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                corio::run(move || {
                    let waiter = corio::spawn(move || signal::wait(sig));
                    corio::yield_now();
                    corio::to_thread(move || {
                        ready.wait();
                    })
                    .unwrap();
                    waiter.join().unwrap().unwrap();
                })
            })
        })
        .collect();
    ready.wait();
    raise(sig);
    for l in loops {
        l.join().unwrap();
    }
}

#[test]
fn uncatchable_signals_are_refused_with_a_clear_error() {
    corio::run(|| {
        for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 1000] {
            let e = runtime::add_signal_handler(sig, || {}).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(&sig.to_string()), "{e}");
        }
        let e = signal::wait(libc::SIGKILL).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn a_loop_closed_with_a_handler_restores_the_disposition() {
    let sig = rt(7);
    install_previous_7(sig);
    let lp = corio::EventLoop::new().unwrap();
    lp.add_signal_handler(sig, || {}).unwrap();
    lp.close().unwrap();
    raise(sig);
    assert_eq!(PREVIOUS_7.load(Ordering::SeqCst), 1);
}

static PREVIOUS_7: AtomicUsize = AtomicUsize::new(0);

extern "C" fn previous_7(_: libc::c_int) {
    PREVIOUS_7.fetch_add(1, Ordering::SeqCst);
}

fn install_previous_7(sig: i32) {
    // SAFETY: as in `install_previous`.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = previous_7 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(sig, &sa, std::ptr::null_mut()), 0);
    }
}

#[test]
fn a_signal_that_came_before_a_handler_was_added_does_not_reach_it() {
    let sig = rt(8);
    corio::run(move || {
        runtime::add_signal_handler(sig, || panic!("removed before the loop saw the signal"))
            .unwrap();
        raise(sig); // the C handler has written it; the loop has not read it yet
        assert!(runtime::remove_signal_handler(sig));
        let count = Rc::new(Cell::new(0));
        let c = count.clone();
        runtime::add_signal_handler(sig, move || c.set(c.get() + 1)).unwrap();
        corio::sleep(Duration::from_millis(20));
        assert_eq!(
            count.get(),
            0,
            "the earlier signal is not delivered to the new handler"
        );
        raise(sig);
        until(|| count.get() == 1);
        runtime::remove_signal_handler(sig);
    });
}
