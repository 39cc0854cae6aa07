//! `timeout` / `timeout_at` scopes.

use std::cell::{Cell, RefCell};
use std::panic::resume_unwind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{
    Cancelled, Timeout, TimeoutScope, catch_cancel, current_task, sleep, spawn, timeout,
    timeout_at, yield_now,
};

const LONG: Duration = Duration::from_secs(3600);

/// Keeps a clone of the scope for checks after it ended (asyncio's `as cm`).
fn keep(slot: &RefCell<Option<TimeoutScope>>, scope: &TimeoutScope) {
    *slot.borrow_mut() = Some(scope.clone());
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_basic
#[test]
fn timeout_expires_and_reports_it() {
    corio::run(|| {
        let cm = RefCell::new(None);
        let r = timeout(Duration::from_millis(10), |s| {
            keep(&cm, s);
            sleep(LONG)
        });
        assert_eq!(r, Err(Timeout));
        assert!(cm.borrow().as_ref().unwrap().expired());
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_at_basic
#[test]
fn timeout_at_keeps_its_deadline_and_expires() {
    corio::run(|| {
        let deadline = Instant::now() + Duration::from_millis(10);
        let cm = RefCell::new(None);
        let r = timeout_at(deadline, |s| {
            keep(&cm, s);
            sleep(LONG)
        });
        assert_eq!(r, Err(Timeout));
        let cm = cm.borrow();
        let cm = cm.as_ref().unwrap();
        assert!(cm.expired());
        assert_eq!(cm.when(), Some(deadline));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_nested_timeouts
#[test]
fn nested_timeouts_with_one_deadline_report_it_only_at_the_outer_scope() {
    corio::run(|| {
        let deadline = Instant::now() + Duration::from_millis(10);
        let (cm1, cm2) = (RefCell::new(None), RefCell::new(None));
        let cancelled = Cell::new(false);
        let r = timeout_at(deadline, |s1| {
            keep(&cm1, s1);
            let inner = catch_cancel(|| {
                timeout_at(deadline, |s2| {
                    keep(&cm2, s2);
                    sleep(LONG)
                })
            });
            // Only the topmost scope turns the cancellation into a timeout.
            assert_eq!(inner, Err(Cancelled));
            cancelled.set(true);
            resume_unwind(Box::new(Cancelled))
        });
        assert_eq!(r, Err(Timeout));
        assert!(cancelled.get());
        assert!(cm1.borrow().as_ref().unwrap().expired());
        assert!(cm2.borrow().as_ref().unwrap().expired());
    });
}

// cpython: test_timeouts.py TimeoutTests.test_waiter_cancelled
#[test]
fn timeout_unwinds_the_body_with_a_cancellation() {
    corio::run(|| {
        let mut cancelled = false;
        let r = timeout(Duration::from_millis(10), |_| {
            let r = catch_cancel(|| sleep(LONG));
            cancelled = r.is_err();
            r.unwrap_or_else(|c| resume_unwind(Box::new(c)))
        });
        assert_eq!(r, Err(Timeout));
        assert!(cancelled);
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_not_called
#[test]
fn timeout_that_does_not_fire_leaves_the_value() {
    corio::run(|| {
        let cm = RefCell::new(None);
        let r = timeout(Duration::from_secs(60), |s| {
            keep(&cm, s);
            sleep(Duration::from_millis(2));
            "value"
        });
        let t1 = Instant::now();
        assert_eq!(r, Ok("value"));
        let cm = cm.borrow();
        let cm = cm.as_ref().unwrap();
        assert!(!cm.expired());
        assert!(cm.when().unwrap() > t1);
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_disabled
#[test]
fn timeout_none_never_fires() {
    corio::run(|| {
        let cm = RefCell::new(None);
        let r = timeout(None, |s| {
            keep(&cm, s);
            sleep(Duration::from_millis(2));
        });
        assert_eq!(r, Ok(()));
        assert!(!cm.borrow().as_ref().unwrap().expired());
        assert_eq!(cm.borrow().as_ref().unwrap().when(), None);
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_at_disabled
#[test]
fn timeout_at_none_never_fires() {
    corio::run(|| {
        let r = timeout_at(None, |s| {
            sleep(Duration::from_millis(2));
            (s.expired(), s.when())
        });
        assert_eq!(r, Ok((false, None)));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_zero
#[test]
fn timeout_zero_fires_at_the_first_suspension() {
    corio::run(|| {
        let t0 = Instant::now();
        let cm = RefCell::new(None);
        let r = timeout(Duration::ZERO, |s| {
            keep(&cm, s);
            sleep(LONG)
        });
        let t1 = Instant::now();
        assert_eq!(r, Err(Timeout));
        let cm = cm.borrow();
        let cm = cm.as_ref().unwrap();
        assert!(cm.expired());
        let when = cm.when().unwrap();
        assert!(t0 <= when && when <= t1);
    });
}

#[test]
fn timeout_zero_returns_a_value_ready_at_once() {
    corio::run(|| {
        let cm = RefCell::new(None);
        let r = timeout(Duration::ZERO, |s| {
            keep(&cm, s);
            42
        });
        assert_eq!(r, Ok(42));
        assert!(!cm.borrow().as_ref().unwrap().expired());
        let past = Instant::now() - Duration::from_millis(100);
        assert_eq!(timeout_at(past, |_| "ready"), Ok("ready"));
        // The withdrawn deadline cancels nothing later.
        assert_eq!(current_task().unwrap().cancelling(), 0);
        yield_now();
        sleep(Duration::from_millis(1));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_zero_sleep_zero
#[test]
fn timeout_zero_interrupts_a_yield() {
    corio::run(|| {
        let r = timeout(Duration::ZERO, |_| yield_now());
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_in_the_past_sleep_zero
#[test]
fn timeout_at_in_the_past_interrupts_a_yield() {
    corio::run(|| {
        let past = Instant::now() - Duration::from_millis(100);
        let r = timeout_at(past, |s| {
            assert_eq!(s.when(), Some(past));
            yield_now()
        });
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_foreign_exception_passed
#[test]
fn timeout_passes_a_panic_of_the_body_on() {
    corio::run(|| {
        let cm = Rc::new(RefCell::new(None));
        let c = cm.clone();
        let t = spawn(move || {
            timeout(Duration::from_millis(10), |s| {
                keep(&c, s);
                panic!("KeyError")
            })
        });
        assert_eq!(t.join().unwrap_err().panic_message(), Some("KeyError"));
        assert!(!cm.borrow().as_ref().unwrap().expired());
    });
}

// cpython: test_timeouts.py TimeoutTests.test_foreign_exception_on_timeout
#[test]
fn timeout_passes_on_a_panic_raised_while_cancelling() {
    corio::run(|| {
        let t = spawn(|| {
            let me = current_task().unwrap();
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                timeout(Duration::from_millis(5), |_| {
                    let _ = catch_cancel(|| sleep(LONG));
                    panic!("ZeroDivisionError")
                })
            }));
            // The scope withdrew its request from the task it ran in, even though the body
            // left with a panic instead of the cancellation.
            assert_eq!(me.cancelling(), 0, "the timeout's request was withdrawn");
            resume_unwind(r.expect_err("the panic comes out of the scope"))
        });
        assert_eq!(
            t.join().unwrap_err().panic_message(),
            Some("ZeroDivisionError")
        );
    });
}

// cpython: test_timeouts.py TimeoutTests.test_foreign_cancel_doesnt_timeout_if_not_expired
#[test]
fn timeout_passes_a_cancellation_on_when_it_did_not_expire() {
    corio::run(|| {
        let cm = RefCell::new(None);
        let r = catch_cancel(|| {
            timeout(Duration::from_secs(60), |s| {
                keep(&cm, s);
                current_task().unwrap().cancel();
                sleep(LONG)
            })
        });
        assert_eq!(r, Err(Cancelled));
        assert!(!cm.borrow().as_ref().unwrap().expired());
    });
}

// cpython: test_timeouts.py TimeoutTests.test_outer_task_is_not_cancelled
#[test]
fn timeout_leaves_its_task_uncancelled() {
    corio::run(|| {
        let t = spawn(|| {
            let r = timeout(Duration::from_millis(1), |_| sleep(LONG));
            assert_eq!(r, Err(Timeout));
            yield_now(); // no request is left over
            "finished"
        });
        assert_eq!(t.join().unwrap(), "finished");
    });
}

// cpython: test_timeouts.py TimeoutTests.test_nested_timeouts_concurrent
#[test]
fn outer_timeout_fires_through_an_inner_one_that_did_not() {
    corio::run(|| {
        let r = timeout(Duration::from_millis(2), |_| {
            let inner = timeout(Duration::from_secs(60), |_| {
                std::thread::sleep(Duration::from_millis(10)); // crunch some numbers
                sleep(Duration::from_secs(1));
            });
            unreachable!("the inner scope passes the cancellation on: {inner:?}")
        });
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_nested_timeouts_loop_busy
#[test]
fn nested_timeouts_both_past_after_a_busy_loop_end_in_the_outer_timeout() {
    corio::run(|| {
        let t0 = Instant::now();
        let r = timeout(Duration::from_millis(50), |_| {
            let inner = catch_cancel(|| {
                timeout(Duration::from_millis(5), |_| {
                    std::thread::sleep(Duration::from_millis(60)); // the loop is busy
                    sleep(Duration::from_secs(1));
                })
            });
            // Both deadlines passed in one iteration: the inner scope sees two requests and
            // passes the cancellation on, as in asyncio; the outer one reports the timeout.
            assert_eq!(inner, Err(Cancelled));
            resume_unwind(Box::new(Cancelled))
        });
        assert_eq!(r, Err(Timeout));
        assert!(t0.elapsed() < Duration::from_secs(5));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_reschedule
#[test]
fn timeout_can_be_rescheduled_from_another_task() {
    corio::run(|| {
        let deadline1 = Instant::now() + Duration::from_secs(10);
        let deadline2 = deadline1 + Duration::from_secs(20);
        let fut = corio::Future::<TimeoutScope>::new();
        let f = fut.clone();
        let task = spawn(move || {
            timeout_at(deadline1, |cm| {
                f.set_result(cm.clone()).unwrap();
                sleep(Duration::from_secs(50))
            })
        });
        let cm = fut.wait().unwrap();
        assert_eq!(cm.when(), Some(deadline1));
        cm.reschedule(deadline2).unwrap();
        assert_eq!(cm.when(), Some(deadline2));
        cm.reschedule(None).unwrap();
        assert_eq!(cm.when(), None);
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(!cm.expired());
    });
}

#[test]
fn timeout_rescheduled_into_the_past_fires() {
    corio::run(|| {
        let r = timeout(Duration::from_secs(60), |s| {
            s.reschedule(Instant::now() - Duration::from_secs(1))
                .unwrap();
            sleep(LONG)
        });
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_nested_timeout_in_finally
#[test]
fn timeout_nested_in_the_cleanup_of_an_expired_one_works() {
    corio::run(|| {
        let r = timeout(Duration::from_millis(5), |_| {
            if catch_cancel(|| sleep(Duration::from_secs(1))).is_err() {
                let cleanup = timeout(Duration::from_millis(5), |_| sleep(Duration::from_secs(10)));
                assert_eq!(cleanup, Err(Timeout));
                resume_unwind(Box::new(Cancelled));
            }
        });
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_after_cancellation
#[test]
fn timeout_works_after_a_caught_cancellation() {
    corio::run(|| {
        current_task().unwrap().cancel();
        assert!(catch_cancel(|| sleep(Duration::from_secs(1))).is_err());
        let r = timeout(Duration::ZERO, |_| sleep(Duration::from_secs(1)));
        assert_eq!(r, Err(Timeout));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_cancel_in_timeout_after_cancellation
#[test]
fn timeout_after_a_caught_cancellation_passes_a_new_one_on() {
    corio::run(|| {
        current_task().unwrap().cancel();
        assert!(catch_cancel(|| sleep(Duration::from_secs(1))).is_err());
        let r = catch_cancel(|| {
            timeout(Duration::from_secs(1), |_| {
                current_task().unwrap().cancel();
                sleep(Duration::from_secs(2))
            })
        });
        assert_eq!(r, Err(Cancelled));
    });
}

// cpython: test_timeouts.py TimeoutTests.test_timeout_finished
#[test]
fn finished_timeout_cannot_be_rescheduled() {
    corio::run(|| {
        let cm = RefCell::new(None);
        timeout(Duration::from_millis(10), |s| keep(&cm, s)).unwrap();
        let cm = cm.borrow_mut().take().unwrap();
        assert!(
            cm.reschedule(Instant::now() + Duration::from_millis(20))
                .is_err()
        );
    });
}

#[test]
fn expired_timeout_cannot_be_rescheduled() {
    corio::run(|| {
        let r = timeout(Duration::from_millis(1), |s| {
            let _ = catch_cancel(|| sleep(LONG));
            s.reschedule(None)
        });
        assert!(
            r.unwrap().is_err(),
            "the body caught the deadline, so it returns its value"
        );
    });
}
