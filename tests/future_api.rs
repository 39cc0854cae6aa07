//! `Future<T>`: the result slot, done callbacks and waiting (asyncio's futures.py).

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::Log;
use corio::{EventLoop, Future, FutureError};

#[derive(Debug)]
struct Oops;

impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("oops")
    }
}

impl std::error::Error for Oops {}

fn is_invalid_state<T: std::fmt::Debug>(r: Result<T, FutureError>) -> bool {
    matches!(r, Err(FutureError::InvalidState(_)))
}

// ----- the result slot -----

// cpython: test_futures.py BaseFutureTests.test_initial_state
#[test]
fn a_new_future_is_pending() {
    let f = Future::<u32>::new();
    assert!(!f.done());
    assert!(!f.cancelled());
    assert!(f.cancel());
    assert!(f.cancelled());
    assert!(f.done());
}

// cpython: test_futures.py BaseFutureTests.test_result
#[test]
fn set_result_then_result() {
    let f = Future::new();
    assert!(is_invalid_state(f.result()), "result() before done");
    f.set_result(42).unwrap();
    assert!(!f.cancelled());
    assert!(f.done());
    assert_eq!(f.result().unwrap(), 42);
    assert_eq!(f.result().unwrap(), 42, "result() can be read again");
    assert!(f.exception().unwrap().is_none());
    assert!(f.set_result(1).is_err());
    assert!(f.set_exception(Oops).is_err());
    assert!(!f.cancel());
    assert_eq!(f.result().unwrap(), 42, "the value stays");
}

// cpython: test_futures.py BaseFutureTests.test_exception
#[test]
fn set_exception_then_exception() {
    let f = Future::<u32>::new();
    assert!(is_invalid_state(f.exception()), "exception() before done");
    f.set_exception(Oops).unwrap();
    assert!(!f.cancelled());
    assert!(f.done());
    match f.result() {
        Err(FutureError::Exception(e)) => assert_eq!(e.to_string(), "oops"),
        other => panic!("expected the exception, got {other:?}"),
    }
    assert_eq!(f.exception().unwrap().unwrap().to_string(), "oops");
    assert!(f.set_result(1).is_err());
    assert!(f.set_exception(Oops).is_err());
    assert!(!f.cancel());
}

#[test]
fn set_exception_accepts_a_string() {
    let f = Future::<()>::new();
    f.set_exception("no route to host").unwrap();
    let e = f.exception().unwrap().unwrap();
    assert_eq!(e.to_string(), "no route to host");
    assert_eq!(
        f.result().unwrap_err().to_string(),
        "the future failed: no route to host"
    );
}

// cpython: test_futures.py BaseFutureTests.test_cancel
#[test]
fn cancel_makes_the_future_cancelled_and_done() {
    let f = Future::<u32>::new();
    assert!(f.cancel());
    assert!(f.cancelled());
    assert!(f.done());
    assert!(matches!(f.result(), Err(FutureError::Cancelled)));
    assert!(matches!(f.exception(), Err(FutureError::Cancelled)));
    assert!(f.set_result(1).is_err());
    assert!(f.set_exception(Oops).is_err());
    assert!(!f.cancel());
}

#[test]
fn setting_a_done_future_again_is_invalid_state() {
    let f = Future::new();
    f.set_result("first").unwrap();
    let e = f.set_result("second").unwrap_err();
    assert!(e.to_string().contains("invalid state"), "{e}");
    assert!(e.to_string().contains("already done"), "{e}");
    assert_eq!(f.result().unwrap(), "first");
}

#[test]
fn clones_share_one_slot() {
    let a = Future::new();
    let b = a.clone();
    b.set_result(5).unwrap();
    assert!(a.done());
    assert_eq!(a.result().unwrap(), 5);
    assert!(a.set_result(6).is_err());
}

#[test]
fn debug_shows_the_state() {
    let f = Future::<u8>::new();
    assert!(format!("{f:?}").contains("pending"));
    f.set_result(1).unwrap();
    assert!(format!("{f:?}").contains("finished"));
    let g = Future::<u8>::new();
    g.cancel();
    assert!(format!("{g:?}").contains("cancelled"));
}

// ----- take_result -----

#[test]
fn take_result_moves_the_value_out() {
    struct NotClone(u32);
    let f = Future::new();
    assert!(is_invalid_state(f.take_result().map(|v: NotClone| v.0)));
    f.set_result(NotClone(3)).unwrap();
    assert_eq!(f.take_result().map(|v| v.0).unwrap(), 3);
}

#[test]
fn after_take_result_later_reads_are_invalid_state() {
    let f = Future::new();
    f.set_result(String::from("once")).unwrap();
    assert_eq!(f.take_result().unwrap(), "once");
    assert!(f.done());
    assert!(!f.cancelled());
    assert!(is_invalid_state(f.take_result()));
    assert!(is_invalid_state(f.result()));
    assert!(f.exception().unwrap().is_none(), "it did not fail");
    assert!(format!("{f:?}").contains("taken"));
    assert!(f.set_result(String::from("again")).is_err());
}

#[test]
fn take_result_of_a_failed_or_cancelled_future_gives_the_error() {
    let f = Future::<u8>::new();
    f.set_exception(Oops).unwrap();
    assert!(matches!(f.take_result(), Err(FutureError::Exception(_))));
    let g = Future::<u8>::new();
    g.cancel();
    assert!(matches!(g.take_result(), Err(FutureError::Cancelled)));
}

// ----- done callbacks -----

// cpython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_invoked_on_set_result
#[test]
fn done_callbacks_run_via_call_soon_in_the_order_added() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        for thing in [42, 17] {
            let b = bag.clone();
            f.add_done_callback(move |_| b.push(thing));
        }
        assert!(bag.get().is_empty());
        f.set_result("foo").unwrap();
        assert!(bag.get().is_empty(), "callbacks never run synchronously");
        corio::yield_now();
        assert_eq!(bag.get(), [42, 17]);
        assert_eq!(f.result().unwrap(), "foo");
    });
}

// cpython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_invoked_on_set_exception
#[test]
fn done_callbacks_run_on_set_exception() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::<()>::new();
        let b = bag.clone();
        f.add_done_callback(move |fut| {
            b.push(fut.exception().unwrap().unwrap().to_string());
        });
        f.set_exception(Oops).unwrap();
        corio::yield_now();
        assert_eq!(bag.get(), ["oops"]);
        assert_eq!(f.exception().unwrap().unwrap().to_string(), "oops");
    });
}

#[test]
fn done_callbacks_run_on_cancel() {
    corio::run(|| {
        let seen = Rc::new(Cell::new(false));
        let f = Future::<()>::new();
        let s = seen.clone();
        f.add_done_callback(move |fut| s.set(fut.cancelled()));
        f.cancel();
        corio::yield_now();
        assert!(seen.get());
    });
}

#[test]
fn a_done_callback_sees_the_result() {
    corio::run(|| {
        let got = Rc::new(Cell::new(0));
        let f = Future::new();
        let g = got.clone();
        f.add_done_callback(move |fut| g.set(fut.result().unwrap()));
        f.set_result(99).unwrap();
        corio::yield_now();
        assert_eq!(got.get(), 99);
    });
}

// cpython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_first_callback
#[test]
fn remove_done_callback_removes_the_first_callback() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        let ids: Vec<_> = [42, 17, 100]
            .into_iter()
            .map(|thing| {
                let b = bag.clone();
                f.add_done_callback(move |_| b.push(thing))
            })
            .collect();
        assert!(f.remove_done_callback(ids[0]));
        assert!(!f.remove_done_callback(ids[0]), "already removed");
        f.set_result("foo").unwrap();
        corio::yield_now();
        assert_eq!(bag.get(), [17, 100]);
        assert_eq!(f.result().unwrap(), "foo");
    });
}

// cpython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_first_and_second_callback
#[test]
fn remove_done_callback_removes_the_first_and_second_callbacks() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        let ids: Vec<_> = [42, 17, 100]
            .into_iter()
            .map(|thing| {
                let b = bag.clone();
                f.add_done_callback(move |_| b.push(thing))
            })
            .collect();
        assert!(f.remove_done_callback(ids[0]));
        assert!(f.remove_done_callback(ids[1]));
        assert!(bag.get().is_empty());
        f.set_result("foo").unwrap();
        corio::yield_now();
        assert_eq!(bag.get(), [100]);
        assert_eq!(f.result().unwrap(), "foo");
    });
}

// cpython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_third_callback
#[test]
fn remove_done_callback_removes_the_third_callback() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        let ids: Vec<_> = [42, 17, 100]
            .into_iter()
            .map(|thing| {
                let b = bag.clone();
                f.add_done_callback(move |_| b.push(thing))
            })
            .collect();
        assert!(f.remove_done_callback(ids[2]));
        assert!(!f.remove_done_callback(ids[2]));
        f.set_result("foo").unwrap();
        corio::yield_now();
        assert_eq!(bag.get(), [42, 17]);
        assert_eq!(f.result().unwrap(), "foo");
    });
}

#[test]
fn remove_done_callback_after_done_finds_nothing() {
    corio::run(|| {
        let n = Rc::new(Cell::new(0));
        let f = Future::new();
        let c = n.clone();
        let id = f.add_done_callback(move |_| c.set(c.get() + 1));
        f.set_result(()).unwrap();
        assert!(!f.remove_done_callback(id), "already scheduled");
        corio::yield_now();
        assert_eq!(n.get(), 1);
    });
}

#[test]
fn a_callback_added_after_done_still_runs_soon() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        f.set_result(1).unwrap();
        let b = bag.clone();
        f.add_done_callback(move |fut| b.push(fut.result().unwrap()));
        assert!(bag.get().is_empty(), "not synchronously, even when done");
        corio::yield_now();
        assert_eq!(bag.get(), [1]);
    });
}

#[test]
fn a_panicking_done_callback_does_not_stop_the_others() {
    corio::run(|| {
        let bag = Log::new();
        let f = Future::new();
        f.add_done_callback(|_| panic!("callback failure"));
        let b = bag.clone();
        f.add_done_callback(move |_| b.push("second"));
        f.set_result(()).unwrap();
        corio::yield_now();
        assert_eq!(bag.get(), ["second"]);
    });
}

#[test]
fn outside_a_loop_done_callbacks_run_at_once() {
    let bag = Log::new();
    let f = Future::new();
    let b = bag.clone();
    f.add_done_callback(move |fut| b.push(fut.result().unwrap()));
    f.set_result(8).unwrap();
    assert_eq!(bag.get(), [8]);
}

// asyncio: `__schedule_callbacks` always goes through the future's loop (`call_soon`).
#[test]
fn done_callbacks_of_a_future_finished_between_runs_run_in_the_next_run() {
    let lp = EventLoop::new().unwrap();
    let bag = Log::new();
    let f = Future::new();
    let (f2, b) = (f.clone(), bag.clone());
    lp.run_until_complete(move || {
        f2.add_done_callback(move |fut| {
            // A callback that uses the loop works: it runs on it.
            let b = b.clone();
            let v = fut.result().unwrap();
            corio::runtime::call_soon(move || b.push(v));
        });
    })
    .unwrap();
    f.set_result(5).unwrap();
    assert!(
        bag.get().is_empty(),
        "scheduled on the future's loop, not run inline"
    );
    lp.run_until_complete(corio::yield_now).unwrap();
    assert_eq!(bag.get(), [5]);
}

#[test]
fn outside_any_loop_a_panicking_done_callback_does_not_lose_the_others() {
    let bag = Log::new();
    let f = Future::new();
    f.add_done_callback(|_| panic!("first callback"));
    let b = bag.clone();
    f.add_done_callback(move |fut| b.push(fut.result().unwrap()));
    f.set_result(9).unwrap();
    assert_eq!(bag.get(), [9]);

    // The same once the future's loop is closed: nothing will run it there.
    let lp = EventLoop::new().unwrap();
    let f = Future::new();
    let b = bag.clone();
    let f2 = f.clone();
    lp.run_until_complete(move || {
        f2.add_done_callback(move |fut| b.push(fut.result().unwrap()));
    })
    .unwrap();
    lp.close().unwrap();
    f.set_result(10).unwrap();
    assert_eq!(bag.get(), [9, 10]);
}

// ----- waiting -----

#[test]
fn wait_parks_until_a_timer_sets_the_future() {
    let lp = EventLoop::new().unwrap();
    let (v, waited) = lp
        .run_until_complete(|| {
            let fut = Future::new();
            let f = fut.clone();
            let t0 = Instant::now();
            corio::runtime::call_later(Duration::from_millis(20), move || {
                f.set_result(123).unwrap()
            });
            let v = fut.wait().unwrap();
            (v, t0.elapsed())
        })
        .unwrap();
    assert_eq!(v, 123);
    assert!(waited >= Duration::from_millis(20));
}

#[test]
fn wait_on_a_done_future_returns_at_once() {
    let f = Future::new();
    f.set_result(4).unwrap();
    assert_eq!(f.wait().unwrap(), 4, "no coroutine needed when done");
    corio::run(move || assert_eq!(f.wait().unwrap(), 4));
}

#[test]
fn wait_gives_the_exception_or_the_cancellation() {
    corio::run(|| {
        let failed = Future::<u8>::new();
        let cancelled = Future::<u8>::new();
        let (a, b) = (failed.clone(), cancelled.clone());
        corio::runtime::call_soon(move || {
            a.set_exception(Oops).unwrap();
            b.cancel();
        });
        match failed.wait() {
            Err(FutureError::Exception(e)) => assert_eq!(e.to_string(), "oops"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(cancelled.wait(), Err(FutureError::Cancelled)));
    });
}

#[test]
fn every_waiter_is_woken_in_the_order_it_waited() {
    let log = corio::run(|| {
        let log = Log::new();
        let fut = Future::new();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (l, f) = (log.clone(), fut.clone());
                corio::spawn(move || l.push((i, f.wait().unwrap())))
            })
            .collect();
        corio::yield_now();
        fut.set_result('x').unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, [(0, 'x'), (1, 'x'), (2, 'x'), (3, 'x')]);
}

#[test]
fn a_future_set_by_another_task_wakes_the_waiter() {
    let v = corio::run(|| {
        let fut = Future::new();
        let f = fut.clone();
        let _setter = corio::spawn(move || {
            corio::sleep(Duration::from_millis(5));
            f.set_result(String::from("from a task")).unwrap();
        });
        fut.wait().unwrap()
    });
    assert_eq!(v, "from a task");
}

// cpython: test_tasks.py BaseTaskTests.test_task_cancel_waiter_future
#[test]
fn cancelling_a_waiter_cancels_the_future() {
    corio::run(|| {
        let fut = Future::<()>::new();
        let f = fut.clone();
        let task = corio::spawn(move || f.wait());
        corio::yield_now();
        assert!(task.cancel());
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(fut.cancelled());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_both_task_and_inner_future
#[test]
fn cancelling_both_the_waiter_and_its_future_cancels_both() {
    corio::run(|| {
        let fut = Future::<u8>::new();
        let f = fut.clone();
        let task = corio::spawn(move || f.wait());
        corio::yield_now();
        fut.cancel();
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(fut.cancelled());
    });
}

#[test]
fn a_waiter_cancelled_after_the_future_was_set_leaves_the_result() {
    corio::run(|| {
        let fut = Future::new();
        let f = fut.clone();
        let task = corio::spawn(move || f.wait());
        corio::yield_now();
        fut.set_result(5).unwrap();
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(!fut.cancelled());
        assert_eq!(fut.result().unwrap(), 5);
    });
}

#[test]
fn cancelling_one_waiter_wakes_the_other_waiters_with_the_cancellation() {
    // asyncio semantics: cancelling one waiter cancels the future, so the others see the
    // cancellation rather than waiting forever.
    corio::run(|| {
        let fut = Future::<u8>::new();
        let (f1, f2) = (fut.clone(), fut.clone());
        let a = corio::spawn(move || f1.wait());
        let b = corio::spawn(move || f2.wait());
        corio::yield_now();
        a.cancel();
        assert!(a.join().unwrap_err().is_cancelled());
        assert!(matches!(b.join().unwrap(), Err(FutureError::Cancelled)));
    });
}
