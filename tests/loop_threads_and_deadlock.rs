//! The loop from other threads (`LoopHandle::call_soon_threadsafe`) and deadlock detection.

mod common;

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Drops, panic_text};
use corio::runtime;
use corio::{EventLoop, Future, LoopHandle, RuntimeError};

// ----- threads -----

#[test]
fn loop_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<LoopHandle>();
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    std::thread::spawn(move || drop(h)).join().unwrap();
}

thread_local! {
    /// Reached by callbacks sent from other threads: they run on the loop's thread.
    static WAKE: RefCell<Option<Future<u32>>> = const { RefCell::new(None) };
    static ORDER: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn call_soon_threadsafe_wakes_a_loop_parked_in_the_poller() {
    // No timers and no fds: the loop blocks in the poller with no timeout, and only the
    // poller's notify can wake it.
    let v = corio::run(|| {
        let fut = Future::new();
        WAKE.with(|w| *w.borrow_mut() = Some(fut.clone()));
        let h = runtime::loop_handle();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            h.call_soon_threadsafe(|| {
                let f = WAKE.with(|w| w.borrow_mut().take()).unwrap();
                f.set_result(7).unwrap();
            })
            .unwrap();
        });
        let v = fut.wait().unwrap();
        th.join().unwrap();
        v
    });
    assert_eq!(v, 7);
}

// cpython: test_events.py EventLoopTestsMixin.test_call_soon_threadsafe
#[test]
fn call_soon_threadsafe_callbacks_from_one_thread_run_in_order() {
    let order = corio::run(|| {
        let fut = Future::new();
        WAKE.with(|w| *w.borrow_mut() = Some(fut.clone()));
        let h = runtime::loop_handle();
        let th = std::thread::spawn(move || {
            for i in 0..5 {
                h.call_soon_threadsafe(move || ORDER.with(|o| o.borrow_mut().push(i)))
                    .unwrap();
            }
            h.call_soon_threadsafe(|| {
                let f = WAKE.with(|w| w.borrow_mut().take()).unwrap();
                f.set_result(0).unwrap();
            })
            .unwrap();
        });
        fut.wait().unwrap();
        th.join().unwrap();
        ORDER.with(|o| o.borrow().clone())
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn call_soon_threadsafe_after_close_is_closed_and_drops_the_callback() {
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    assert!(!h.is_closed());
    lp.close().unwrap();
    assert!(h.is_closed());
    let dropped = Arc::new(AtomicUsize::new(0));
    let c = Count(dropped.clone());
    let r = std::thread::spawn(move || h.call_soon_threadsafe(move || drop(c)))
        .join()
        .unwrap();
    assert_eq!(r.unwrap_err(), RuntimeError::Closed);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn call_soon_threadsafe_after_the_loop_was_dropped_is_closed() {
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    drop(lp);
    assert_eq!(
        h.call_soon_threadsafe(|| {}).unwrap_err(),
        RuntimeError::Closed
    );
}

// ----- deadlock detection -----

#[test]
fn waiting_on_a_future_nobody_can_set_is_a_deadlock_error() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let g = drops.guard();
    let r = lp.run_until_complete(move || {
        let _g = g;
        Future::<u32>::new().wait()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert_eq!(drops.count(), 1, "the main coroutine was unwound");
    assert_eq!(
        lp.run_until_complete(|| 5).unwrap(),
        5,
        "the loop is usable again"
    );
}

#[test]
fn deadlock_through_a_join_is_detected() {
    let lp = EventLoop::new().unwrap();
    let inner = Future::<()>::new();
    let f = inner.clone();
    let r = lp.run_until_complete(move || {
        let t = corio::spawn(move || f.wait());
        t.join()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert_eq!(
        lp.task_count(),
        0,
        "the joined task was cancelled with the main one"
    );
    assert!(inner.cancelled());
}

#[test]
fn corio_run_on_a_deadlock_panics_with_the_deadlock_message() {
    let r = catch_unwind(AssertUnwindSafe(|| {
        corio::run(|| Future::<u8>::new().wait())
    }));
    let msg = panic_text(r.unwrap_err().as_ref());
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn a_pending_timer_is_not_a_deadlock() {
    let lp = EventLoop::new().unwrap();
    let r = lp.run_until_complete(|| {
        let fut = Future::new();
        let f = fut.clone();
        runtime::call_later(Duration::from_millis(10), move || f.set_result(3).unwrap());
        fut.wait().unwrap()
    });
    assert_eq!(r.unwrap(), 3);
}

// In asyncio, `call_soon_threadsafe` and `call_soon` go to one ready queue: called on the
// loop's own thread, their callbacks run in the order of the calls.
#[test]
fn call_soon_threadsafe_on_the_loops_thread_keeps_its_place_among_call_soons() {
    use std::cell::RefCell;
    use std::rc::Rc;
    thread_local! {
        static ORDER: RefCell<Vec<&'static str>> = const { RefCell::new(Vec::new()) };
    }
    let order = corio::run(|| {
        let h = corio::runtime::loop_handle();
        h.call_soon_threadsafe(|| ORDER.with(|o| o.borrow_mut().push("ts1")))
            .unwrap();
        let soon = Rc::new(());
        corio::runtime::call_soon(move || {
            let _keep = soon;
            ORDER.with(|o| o.borrow_mut().push("soon"));
        });
        h.call_soon_threadsafe(|| ORDER.with(|o| o.borrow_mut().push("ts2")))
            .unwrap();
        corio::yield_now();
        corio::yield_now();
        ORDER.with(|o| o.borrow().clone())
    });
    assert_eq!(order, ["ts1", "soon", "ts2"]);
}
