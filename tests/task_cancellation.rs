//! Cancelling tasks: `cancel` and `uncancel`, the unwind from the suspension point and its
//! cleanup, `catch_cancel`, a task cancelling itself, and cancellation through `join`
//! (asyncio's `Task.cancel`, tasks.py).

mod common;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use common::{Drops, Log};
use corio::{CurrentTask, Future};

const LONG: Duration = Duration::from_secs(3600);

// ----- cancellation -----

// cpython: test_tasks.py BaseTaskTests.test_cancel
#[test]
fn cancel_unwinds_from_the_suspension_point_and_runs_drops() {
    corio::run(|| {
        let drops = Drops::new();
        let after = Rc::new(Cell::new(false));
        let (g, a) = (drops.guard(), after.clone());
        let t = corio::spawn(move || {
            let _g = g;
            corio::sleep(LONG);
            a.set(true);
            12
        });
        corio::yield_now();
        assert!(t.cancel());
        assert!(!t.is_done(), "the unwind happens when the task runs next");
        let r = t.join();
        assert!(r.unwrap_err().is_cancelled());
        assert_eq!(drops.count(), 1);
        assert!(!after.get(), "code after the suspension point never ran");
    });
}

#[test]
fn cancel_before_the_task_ever_ran_skips_its_body() {
    corio::run(|| {
        let drops = Drops::new();
        let started = Rc::new(Cell::new(false));
        let (g, s) = (drops.guard(), started.clone());
        let t = corio::spawn(move || {
            let _g = g;
            s.set(true);
        });
        assert!(t.cancel());
        corio::yield_now();
        assert!(t.is_done());
        assert!(t.is_cancelled());
        assert!(!started.get(), "the body never ran");
        assert_eq!(drops.count(), 1, "its closure was dropped");
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_yield
#[test]
fn cancel_on_a_finished_task_returns_false() {
    corio::run(|| {
        let ok = corio::spawn(|| 1);
        let cancelled = corio::spawn(|| corio::sleep(LONG));
        corio::yield_now();
        assert!(cancelled.cancel());
        corio::yield_now();
        assert!(ok.is_done() && cancelled.is_done());
        assert!(!ok.cancel());
        assert!(!cancelled.cancel());
        assert!(!ok.is_cancelled());
        assert_eq!(ok.join().unwrap(), 1);
    });
}

#[test]
fn is_done_and_is_cancelled_follow_the_task() {
    corio::run(|| {
        let t = corio::spawn(|| corio::sleep(LONG));
        assert!(!t.is_done() && !t.is_cancelled());
        corio::yield_now();
        assert!(!t.is_done() && !t.is_cancelled(), "parked, not done");
        t.cancel();
        assert!(!t.is_cancelled(), "requested, not yet delivered");
        corio::yield_now();
        assert!(t.is_done() && t.is_cancelled());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_current_task
#[test]
fn a_task_cancelling_itself_unwinds_at_its_next_suspension() {
    corio::run(|| {
        let t = corio::spawn(|| {
            let me = corio::current_task().unwrap();
            assert!(me.cancel());
            assert_eq!(me.cancelling(), 1);
            corio::sleep(LONG);
            12
        });
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn uncancel_withdraws_a_pending_cancel_request() {
    corio::run(|| {
        let t = corio::spawn(|| {
            let me = corio::current_task().unwrap();
            me.cancel();
            assert_eq!(me.uncancel(), 0);
            assert_eq!(me.cancelling(), 0);
            assert_eq!(me.uncancel(), 0, "nothing left to withdraw");
            corio::sleep(Duration::from_millis(1));
            "slept"
        });
        assert_eq!(t.join().unwrap(), "slept");
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_task_catching
#[test]
fn catch_cancel_turns_a_cancel_into_a_value() {
    corio::run(|| {
        let t = corio::spawn(|| match corio::catch_cancel(|| corio::sleep(LONG)) {
            Ok(()) => 0,
            Err(corio::Cancelled) => 42,
        });
        corio::yield_now();
        t.cancel();
        assert_eq!(t.join().unwrap(), 42);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_task_ignoring
#[test]
fn catch_cancel_lets_a_task_go_on_and_a_second_cancel_works() {
    corio::run(|| {
        let log = Log::new();
        let drops = Drops::new();
        let (l, g) = (log.clone(), drops.guard());
        let t = corio::spawn(move || {
            let _g = g;
            let r = corio::catch_cancel(|| corio::sleep(LONG));
            l.push(format!("first: {}", r.is_err()));
            corio::sleep(LONG);
            l.push(String::from("unreachable"));
        });
        corio::yield_now();
        assert!(t.cancel());
        corio::yield_now();
        assert!(!t.is_done(), "the task caught the cancel and parked again");
        assert_eq!(log.get(), ["first: true"]);
        assert!(t.cancel());
        assert!(t.join().unwrap_err().is_cancelled());
        assert_eq!(log.get(), ["first: true"]);
        assert_eq!(drops.count(), 1);
    });
}

#[test]
fn catch_cancel_passes_other_panics_through() {
    corio::run(|| {
        let t = corio::spawn(|| {
            let _ = corio::catch_cancel(|| panic!("not a cancel"));
        });
        let e = t.join().unwrap_err();
        assert_eq!(e.panic_message(), Some("not a cancel"));
    });
}

// cpython: test_tasks.py BaseTaskTests.test_task_cancel_sleeping_task
#[test]
fn joining_a_task_cancelled_by_a_timer_gives_join_error_cancelled() {
    let r = corio::run(|| {
        let me = Rc::new(RefCell::new(None::<CurrentTask>));
        let m = me.clone();
        let sleeper = corio::spawn(move || {
            *m.borrow_mut() = corio::current_task();
            corio::sleep(Duration::from_secs(5000));
        });
        corio::runtime::call_later(Duration::from_millis(10), move || {
            me.borrow().as_ref().unwrap().cancel();
        });
        sleeper.join()
    });
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn cancelling_a_joiner_cancels_the_joined_task() {
    corio::run(|| {
        let inner_saw_cancel = Rc::new(Cell::new(false));
        let s = inner_saw_cancel.clone();
        let inner = corio::spawn(move || {
            let r = corio::catch_cancel(|| corio::sleep(LONG));
            s.set(r.is_err());
            if let Err(c) = r {
                std::panic::resume_unwind(Box::new(c));
            }
        });
        let inner_done = Rc::new(RefCell::new(None));
        let d = inner_done.clone();
        let outer = corio::spawn(move || {
            let r = inner.join();
            *d.borrow_mut() = Some(r.is_err());
        });
        corio::yield_now();
        corio::yield_now();
        assert!(outer.cancel());
        assert!(outer.join().unwrap_err().is_cancelled());
        assert!(inner_saw_cancel.get(), "the joined task was cancelled too");
        assert_eq!(
            *inner_done.borrow(),
            None,
            "the joiner unwound with the cancel"
        );
    });
}

// asyncio's `await task`: the joiner's cancel is handed to the task (`Task.cancel` cancels
// `_fut_waiter`) and the joiner keeps waiting for the task's outcome; a task that catches
// it and cleans up gives the joiner its value (cpython: test_waitfor.py
// test_wait_for_waits_for_task_cancellation relies on this).
#[test]
fn a_cancelled_joiner_waits_for_the_joined_tasks_clean_up_and_gets_its_outcome() {
    for cancels in [1, 2] {
        let got = corio::run(move || {
            let outer = corio::spawn(move || {
                let inner =
                    corio::spawn(move || match corio::catch_cancel(|| corio::sleep(LONG)) {
                        Ok(()) => 0,
                        Err(_) => {
                            corio::sleep(Duration::from_millis(5));
                            42
                        }
                    });
                let got = inner.join();
                (got.unwrap(), corio::current_task().unwrap().cancelling())
            });
            corio::yield_now();
            corio::yield_now();
            assert!(outer.cancel());
            if cancels == 2 {
                // A second cancel while the joiner waits is passed on again: it interrupts
                // the task's clean-up, so the task, and then the joiner, end cancelled.
                corio::yield_now();
                assert!(outer.cancel());
            }
            outer.join()
        });
        match cancels {
            1 => {
                let (v, cancelling) = got.expect("the joiner goes on with the value");
                assert_eq!(v, 42);
                assert_eq!(cancelling, 1, "the request stays counted, as in asyncio");
            }
            _ => assert!(got.unwrap_err().is_cancelled()),
        }
    }
}

// asyncio: a cancel that reaches a joiner after the joined task ended (woken, not yet run)
// cannot be handed on (`fut_waiter.cancel()` returns False), so the joiner itself unwinds.
#[test]
fn a_joiner_cancelled_after_the_task_ended_unwinds_itself() {
    corio::run(|| {
        let t = corio::spawn(|| {
            corio::yield_now();
            5
        });
        let went_on = Rc::new(Cell::new(false));
        let w = went_on.clone();
        let joiner = corio::spawn(move || {
            let v = t.join();
            w.set(true);
            v
        });
        corio::yield_now(); // the joiner parks
        corio::yield_now(); // the task ends and wakes the joiner, which has not run yet
        assert!(joiner.cancel());
        assert!(joiner.join().unwrap_err().is_cancelled());
        assert!(!went_on.get(), "the cancel was delivered, not lost");
    });
}

// cpython: test_tasks.py BaseTaskTests.test_cancel_awaited_task
#[test]
fn a_task_that_cancels_itself_then_joins_cancels_the_joined_task() {
    corio::run(|| {
        let fut = Future::<()>::new();
        let nested_saw_cancel = Rc::new(Cell::new(false));
        let (f, s) = (fut.clone(), nested_saw_cancel.clone());
        let task = corio::spawn(move || {
            let nested = corio::spawn(move || {
                let r = corio::catch_cancel(|| f.wait());
                s.set(r.is_err());
                if let Err(c) = r {
                    // Ends cancelled, as asyncio's nested task does.
                    std::panic::resume_unwind(Box::new(c));
                }
            });
            corio::yield_now();
            corio::current_task().unwrap().cancel();
            nested.join()
        });
        assert!(task.join().unwrap_err().is_cancelled());
        corio::yield_now();
        assert!(nested_saw_cancel.get());
        assert!(
            fut.cancelled(),
            "the future the nested task waited on was cancelled"
        );
    });
}

/// A cancel requested while the task runs its last stretch, with no suspension point left,
/// is not delivered: the task ends with its value. asyncio's `Task.__step` would end it
/// cancelled (`test_cancel_at_end`), but there a failure is raised and here it is often a
/// returned value (a `TaskGroupError` after an outer cancel, see the task group tests),
/// which the joiner must get.
#[test]
fn a_task_that_cancels_itself_and_returns_keeps_its_value() {
    let got = corio::run(|| {
        corio::spawn(|| {
            assert!(
                corio::current_task().unwrap().cancel(),
                "a running task can be cancelled"
            );
            5
        })
        .join()
    });
    assert_eq!(got.unwrap(), 5);
}
