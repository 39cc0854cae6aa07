//! `wait_for`: a closure run inline with a deadline.

use std::cell::Cell;
use std::panic::resume_unwind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Cancelled, Timeout, catch_cancel, current_task, sleep, spawn, wait_for, yield_now};

const LONG: Duration = Duration::from_secs(3600);

/// Sets a flag when dropped: the `finally` of the ported tests.
struct Finally(Rc<Cell<bool>>);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Runs for `total`, swallowing every cancellation meanwhile (CPython's `SlowTask`).
fn slow_task(total: Duration, exited: &Cell<bool>) -> &'static str {
    let exit_at = Instant::now() + total;
    loop {
        let now = Instant::now();
        if now >= exit_at {
            break;
        }
        let _ = catch_cancel(|| sleep(exit_at - now));
    }
    exited.set(true);
    "slow"
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for
#[test]
fn wait_for_times_out_and_unwinds_the_closure() {
    corio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let u = unwound.clone();
        let t0 = Instant::now();
        let r = wait_for(Duration::from_millis(10), move || {
            let _finally = Finally(u);
            sleep(LONG);
            "done"
        });
        assert_eq!(r, Err(Timeout));
        assert!(
            unwound.get(),
            "the closure's Drops ran before wait_for returned"
        );
        assert!(t0.elapsed() < Duration::from_secs(30));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_blocking
#[test]
fn wait_for_without_a_deadline_just_runs_the_closure() {
    corio::run(|| {
        assert_eq!(wait_for(None, || "done"), Ok("done"));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_future_done
#[test]
fn wait_for_zero_returns_a_result_that_is_ready_at_once() {
    corio::run(|| {
        let fut = corio::Future::new();
        fut.set_result("done").unwrap();
        assert_eq!(wait_for(Duration::ZERO, || fut.wait().unwrap()), Ok("done"));
        assert!(fut.done());

        let task = spawn(|| 5);
        yield_now(); // the task ends
        assert_eq!(wait_for(Duration::ZERO, || task.join().unwrap()), Ok(5));

        assert_eq!(
            wait_for(Duration::ZERO, || "plain value"),
            Ok("plain value")
        );
        // No cancel request of the zero deadline is left behind.
        assert_eq!(current_task().unwrap().cancelling(), 0);
        yield_now();
        sleep(Duration::from_millis(1));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started
// asyncio never starts the coroutine; a closure cannot be known to be ready without running
// it, so it runs up to its first suspension point and nothing after it runs.
#[test]
fn wait_for_zero_stops_the_closure_at_its_first_suspension() {
    corio::run(|| {
        let started = Cell::new(false);
        let went_on = Cell::new(false);
        let r = wait_for(Duration::ZERO, || {
            started.set(true);
            yield_now();
            went_on.set(true);
        });
        assert_eq!(r, Err(Timeout));
        assert!(started.get());
        assert!(!went_on.get());
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0
#[test]
fn wait_for_zero_cancels_a_closure_that_waits_and_runs_its_cleanup() {
    corio::run(|| {
        let running = Rc::new(Cell::new(false));
        let stopped = Rc::new(Cell::new(false));
        let (r, s) = (running.clone(), stopped.clone());
        let result = wait_for(Duration::ZERO, move || {
            r.set(true);
            let _finally = Finally(s);
            sleep(Duration::from_secs(10));
            "done"
        });
        assert_eq!(result, Err(Timeout));
        assert!(running.get());
        assert!(
            stopped.get(),
            "the closure unwound before wait_for returned"
        );
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_race_condition
#[test]
fn wait_for_returns_a_result_that_arrives_before_the_deadline() {
    corio::run(|| {
        let fut = corio::Future::new();
        let f = fut.clone();
        corio::runtime::call_later(Duration::from_millis(5), move || {
            f.set_result("ok").unwrap();
        });
        let r = wait_for(Duration::from_secs(60), || fut.wait().unwrap());
        assert_eq!(r, Ok("ok"));
    });
}

#[test]
fn wait_for_returns_a_result_that_arrives_in_the_iteration_its_deadline_passes() {
    corio::run(|| {
        let fut = corio::Future::new();
        let waiter = {
            let fut = fut.clone();
            spawn(move || {
                let r = wait_for(Duration::from_millis(10), || fut.wait().unwrap());
                sleep(Duration::from_millis(1)); // no stray cancel request is left behind
                r
            })
        };
        yield_now(); // the waiter parks on the future
        let f = fut.clone();
        corio::runtime::call_soon(move || {
            // A busy iteration: the deadline passes meanwhile, and the result comes in at
            // its end. The waiter's step is queued before the deadline's callback.
            std::thread::sleep(Duration::from_millis(30));
            f.set_result(42).unwrap();
        });
        assert_eq!(waiter.join().unwrap(), Ok(42));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_cancellation_race_condition
#[test]
fn wait_for_returns_the_value_of_a_closure_that_caught_the_deadline() {
    corio::run(|| {
        let r = wait_for(Duration::from_millis(5), || {
            assert_eq!(catch_cancel(|| sleep(LONG)), Err(Cancelled));
            1
        });
        assert_eq!(r, Ok(1));
        // The deadline's request was withdrawn: it hits no later suspension point.
        let me = current_task().unwrap();
        assert_eq!(me.cancelling(), 0);
        yield_now();
        sleep(Duration::from_millis(1));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_asyncio_wait_for_timeout
#[test]
fn wait_for_returns_the_value_of_a_closure_that_outlives_its_deadline() {
    corio::run(|| {
        let exited = Cell::new(false);
        let r = wait_for(Duration::from_millis(10), || {
            slow_task(Duration::from_millis(40), &exited)
        });
        assert!(exited.get());
        assert_eq!(
            r,
            Ok("slow"),
            "it swallowed the deadline, so its value stands"
        );
        assert_eq!(current_task().unwrap().cancelling(), 0);
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_asyncio_wait_for_cancelled
#[test]
fn wait_for_cancelled_from_outside_lets_a_stubborn_closure_finish() {
    corio::run(|| {
        let exited = Rc::new(Cell::new(false));
        let e = exited.clone();
        let t = spawn(move || {
            wait_for(Duration::from_millis(500), || {
                slow_task(Duration::from_millis(40), &e)
            })
        });
        yield_now();
        t.cancel();
        let _ = t.join();
        assert!(exited.get());
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_waits_for_task_cancellation
#[test]
fn wait_for_returns_only_after_the_closure_finished_its_cleanup() {
    corio::run(|| {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let r = wait_for(Duration::from_millis(5), move || {
            let _finally = Finally(d);
            if catch_cancel(|| sleep(LONG)).is_err() {
                sleep(Duration::from_millis(2)); // cleanup that parks
                resume_unwind(Box::new(Cancelled));
            }
        });
        assert_eq!(r, Err(Timeout));
        assert!(done.get());
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_reraises_exception_during_cancellation
#[test]
fn wait_for_passes_on_a_panic_raised_while_cancelling() {
    corio::run(|| {
        let t = spawn(|| {
            wait_for(Duration::from_millis(5), || {
                let _ = catch_cancel(|| sleep(LONG));
                panic!("FooException");
            })
        });
        let err = t.join().unwrap_err();
        assert_eq!(err.panic_message(), Some("FooException"));
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_cancel_wait_for
#[test]
fn wait_for_cancelled_from_outside_is_a_cancellation_not_a_timeout() {
    corio::run(|| {
        let unwound = Rc::new(Cell::new(false));
        let u = unwound.clone();
        let t = spawn(move || {
            wait_for(Duration::from_secs(60), move || {
                let _finally = Finally(u);
                corio::Future::<()>::new().wait_done(); // never set
            })
        });
        yield_now();
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
        assert!(unwound.get());
    });
}

#[test]
fn wait_for_reports_an_outer_cancel_as_cancellation_when_the_deadline_fires_after_it() {
    corio::run(|| {
        let scope = Rc::new(std::cell::RefCell::new(None));
        let s = scope.clone();
        let t = spawn(move || {
            let deadline = Instant::now() + Duration::from_millis(10);
            let me = current_task().unwrap();
            // The outer cancel is scheduled first, so it runs first in the deadline's
            // iteration; the deadline's callback runs right after it.
            corio::runtime::call_at(deadline, move || {
                me.cancel();
            });
            corio::timeout_at(deadline, |scope| {
                *s.borrow_mut() = Some(scope.clone());
                sleep(LONG)
            })
        });
        assert!(t.join().unwrap_err().is_cancelled());
        let scope = scope.borrow_mut().take().unwrap();
        assert!(scope.expired(), "the deadline fired too");
    });
}

#[test]
fn wait_for_reports_an_outer_cancel_as_cancellation_when_the_deadline_fired_before_it() {
    corio::run(|| {
        let t = spawn(|| {
            let deadline = Instant::now() + Duration::from_millis(10);
            corio::timeout_at(deadline, |scope| {
                let me = current_task().unwrap();
                // Scheduled after the scope's own timer: the deadline has already cancelled
                // the task when this second cancel arrives.
                corio::runtime::call_at(deadline, move || {
                    me.cancel();
                });
                let r = catch_cancel(|| sleep(LONG));
                assert!(scope.expired(), "the deadline did fire");
                r.unwrap_or_else(|c| resume_unwind(Box::new(c)))
            })
        });
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_self_cancellation ("wait_for
// itself is properly cancellable even when the initial task holds up the initial
// cancellation"): the deadline's cancellation comes first and is held up, and the outer
// cancel arrives while it is; wait_for then ends in that cancellation, not a timeout. (corio's
// wait_for runs the closure inline, as asyncio 3.12's runs a coroutine, so the closure itself
// is what holds up the deadline.)
#[test]
fn wait_for_is_cancellable_while_its_closure_holds_up_the_deadline() {
    corio::run(|| {
        let deadline_caught = Rc::new(Cell::new(false));
        let outer_caught = Rc::new(Cell::new(false));
        let got_past = Rc::new(Cell::new(false));
        let (d, o, g) = (
            deadline_caught.clone(),
            outer_caught.clone(),
            got_past.clone(),
        );
        let waiter = spawn(move || {
            let r = wait_for(Duration::from_millis(10), move || {
                if catch_cancel(|| sleep(LONG)).is_err() {
                    d.set(true); // the deadline: held up
                    let _finally = Finally(o); // the outer cancel unwinds through here
                    sleep(LONG);
                }
                42
            });
            g.set(true);
            r
        });
        // Wait (on the loop's clock, with a generous bound) until the deadline has been
        // caught, so the outer cancel comes after it.
        let bound = corio::wait_for(Duration::from_secs(60), || {
            while !deadline_caught.get() {
                sleep(Duration::from_millis(1));
            }
        });
        assert!(bound.is_ok(), "the deadline never reached the closure");
        assert!(!waiter.is_done(), "the closure is holding up the deadline");
        waiter.cancel();
        let r = waiter.join();
        assert!(
            r.as_ref().is_err_and(|e| e.is_cancelled()),
            "the outer cancel ends wait_for, neither a timeout nor the value: {r:?}"
        );
        assert!(outer_caught.get(), "it unwound the held-up closure");
        assert!(!got_past.get());
    });
}

// cpython: test_waitfor.py AsyncioWaitForTest.test_wait_for_issue86296
#[test]
fn wait_for_does_not_swallow_a_later_cancellation() {
    corio::run(|| {
        let reached_end = Rc::new(Cell::new(false));
        let r = reached_end.clone();
        let t = spawn(move || {
            wait_for(Duration::from_secs(100), || ()).unwrap();
            sleep(LONG);
            r.set(true);
        });
        yield_now();
        assert!(!t.is_done());
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
        assert!(!reached_end.get());
    });
}

// cpython: test_waitfor.py test_wait_for_waits_for_task_cancellation: on the deadline the
// joined task is cancelled and waited for, so its clean-up has ended when `wait_for` returns.
#[test]
fn wait_for_a_join_returns_after_the_tasks_clean_up() {
    corio::testing::run(|| {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let inner = spawn(move || {
            let _f = Finally(d);
            if let Err(c) = catch_cancel(|| sleep(LONG)) {
                sleep(Duration::from_millis(1)); // clean-up that takes a while
                resume_unwind(Box::new(c));
            }
        });
        let r = wait_for(Duration::from_millis(1), move || inner.join());
        assert_eq!(r.map(|_| ()), Err(Timeout));
        assert!(done.get(), "the task finished its clean-up first");
    });
}

// cpython: test_waitfor.py test_wait_for_reraises_exception_during_cancellation: a task that
// fails while it handles the cancellation gives that failure, not a timeout.
#[test]
fn wait_for_a_join_gives_a_failure_raised_during_the_tasks_cancellation() {
    corio::testing::run(|| {
        let inner = spawn(|| {
            let _ = catch_cancel(|| sleep(Duration::from_millis(200)));
            panic!("FooException");
        });
        let r = wait_for(Duration::from_millis(1), move || inner.join());
        let err = r.expect("not a timeout").unwrap_err();
        assert_eq!(err.panic_message(), Some("FooException"));
    });
}
