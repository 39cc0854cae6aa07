//! `gather` and `gather!`. Each test runs under a watchdog ([`common::watchdog`]): a gather
//! that never returns fails the test after a minute instead of hanging the suite.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::{Future, JoinError, catch_cancel, gather, sleep, spawn, yield_now};

const LONG: Duration = Duration::from_secs(3600);

/// A task that waits for `fut` and returns its value (CPython's `coro(fut)` wrappers).
fn waiter(fut: &Future<i32>) -> corio::Task<i32> {
    let fut = fut.clone();
    spawn(move || fut.wait().unwrap())
}

// cpython: test_tasks.py GatherTestsBase.test_success
#[test]
fn gather_returns_results_in_input_order_not_completion_order() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let (a, b, c) = (Future::new(), Future::new(), Future::new());
        let tasks = vec![waiter(&a), waiter(&b), waiter(&c)];
        let (a2, b2, c2) = (a.clone(), b.clone(), c.clone());
        corio::runtime::call_soon(move || {
            b2.set_result(1).unwrap();
            a2.set_result(2).unwrap();
            corio::runtime::call_soon(move || c2.set_result(3).unwrap());
        });
        let results: Vec<i32> = gather(tasks).into_iter().map(Result::unwrap).collect();
        assert_eq!(results, [2, 1, 3]);
    });
}

// cpython: test_tasks.py GatherTestsBase.test_return_exceptions
#[test]
fn gather_keeps_every_result_when_some_fail() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let results = gather((0..4).map(|i| {
            move || {
                yield_now();
                match i {
                    2 => panic!("ZeroDivisionError"),
                    3 => panic!("RuntimeError"),
                    _ => i * 10,
                }
            }
        }));
        assert_eq!(results.len(), 4);
        assert_eq!(*results[0].as_ref().unwrap(), 0);
        assert_eq!(*results[1].as_ref().unwrap(), 10);
        assert_eq!(
            results[2].as_ref().unwrap_err().panic_message(),
            Some("ZeroDivisionError")
        );
        assert_eq!(
            results[3].as_ref().unwrap_err().panic_message(),
            Some("RuntimeError")
        );
    });
}

// cpython: test_tasks.py FutureGatherTests.test_result_exception_one_cancellation
#[test]
fn gather_reports_a_cancelled_child_and_cancels_nothing_else() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let slow_done = Rc::new(Cell::new(false));
        let s = slow_done.clone();
        let slow = spawn(move || {
            sleep(Duration::from_millis(5));
            s.set(true);
            "slow"
        });
        let victim = spawn(|| {
            sleep(LONG);
            "never"
        });
        let failing = spawn(|| -> &'static str { panic!("boom") });
        yield_now();
        victim.cancel();
        let results = gather([slow, victim, failing]);
        assert_eq!(*results[0].as_ref().unwrap(), "slow");
        assert!(results[1].as_ref().unwrap_err().is_cancelled());
        assert!(results[2].as_ref().unwrap_err().is_panic());
        assert!(slow_done.get(), "the failure cancelled nothing");
    });
}

// cpython: test_tasks.py CoroutineGatherTests.test_cancellation_broadcast
#[test]
fn gather_cancelled_cancels_every_child_and_waits_for_them() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let proof = Rc::new(Cell::new(0));
        let cleaned = Rc::new(Cell::new(0));
        let waiter_fut = Future::<()>::new();
        let child = |proof: Rc<Cell<i32>>, cleaned: Rc<Cell<i32>>, fut: Future<()>| {
            move || {
                if catch_cancel(|| fut.wait_done()).is_err() {
                    sleep(Duration::from_millis(2)); // cleanup that parks
                    cleaned.set(cleaned.get() + 1);
                    std::panic::resume_unwind(Box::new(corio::Cancelled));
                }
                proof.set(proof.get() + 1);
            }
        };
        let child1 = spawn(child(proof.clone(), cleaned.clone(), waiter_fut.clone()));
        let child2 = spawn(child(proof.clone(), cleaned.clone(), waiter_fut.clone()));
        let p = proof.clone();
        let outer = spawn(move || {
            gather([child1, child2]);
            p.set(p.get() + 100);
        });
        yield_now(); // the children and the gatherer park
        assert!(outer.cancel());
        assert!(outer.join().unwrap_err().is_cancelled());
        assert_eq!(
            cleaned.get(),
            2,
            "both children ended before the gather did"
        );
        // The children were parked on the future when cancelled, which cancels it (asyncio's
        // `await fut` semantics), so nothing can resume them.
        assert!(waiter_fut.cancelled());
        yield_now();
        assert_eq!(proof.get(), 0);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_gather_2
#[test]
fn gather_in_a_loop_passes_the_cancellation_on() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let t = spawn(|| {
            loop {
                gather([|| sleep(Duration::from_millis(2))]);
            }
        });
        sleep(Duration::from_millis(10));
        t.cancel();
        let err: JoinError = t.join().unwrap_err();
        assert!(err.is_cancelled());
    });
}

// cpython: test_tasks.py FutureGatherTests.test_constructor_empty_sequence_use_running_loop
#[test]
fn gather_of_nothing_is_empty() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let none: Vec<corio::Task<u8>> = Vec::new();
        assert!(gather(none).is_empty());
    });
}

#[test]
fn gather_accepts_spawned_tasks_and_closures_alike() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let spawned = spawn(|| 1);
        let mixed = gather([spawned, spawn(|| 2)]);
        assert_eq!(mixed.into_iter().map(Result::unwrap).sum::<i32>(), 3);
        let closures = gather((1..=3).map(|i| move || i));
        assert_eq!(closures.into_iter().map(Result::unwrap).sum::<i32>(), 6);
    });
}

#[test]
fn gather_macro_returns_a_tuple_of_different_types() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let t = spawn(|| String::from("spawned"));
        let (a, b, c, d) = corio::gather!(
            || 1u8,
            t,
            || -> Vec<u32> {
                yield_now();
                vec![2, 3]
            },
            || -> u8 { panic!("fourth") },
        );
        assert_eq!(a.unwrap(), 1);
        assert_eq!(b.unwrap(), "spawned");
        assert_eq!(c.unwrap(), [2, 3]);
        assert_eq!(d.unwrap_err().panic_message(), Some("fourth"));
    });
}

#[test]
fn gather_macro_cancelled_cancels_its_children() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let ended = Rc::new(Cell::new(0));
        let (e1, e2) = (ended.clone(), ended.clone());
        let outer = spawn(move || {
            corio::gather!(
                move || {
                    let _ = catch_cancel(|| sleep(LONG));
                    e1.set(e1.get() + 1);
                },
                move || {
                    let _ = catch_cancel(|| sleep(LONG));
                    e2.set(e2.get() + 1);
                    "other type"
                }
            )
        });
        yield_now();
        yield_now();
        outer.cancel();
        assert!(outer.join().unwrap_err().is_cancelled());
        assert_eq!(ended.get(), 2);
    });
}
