//! `shield`: waiting for a task without passing the waiter's cancellation on.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::{Cancelled, Future, catch_cancel, gather, shield, sleep, spawn, yield_now};

// cpython: test_tasks.py BaseTaskTests.test_shield_result
#[test]
fn shield_returns_the_task_value() {
    corio::run(|| {
        let inner = spawn(|| {
            yield_now();
            42
        });
        assert_eq!(shield(&inner).unwrap(), 42);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_shield_shortcut
#[test]
fn shield_of_a_finished_task_does_not_park() {
    corio::run(|| {
        let inner = spawn(|| 42);
        yield_now();
        assert!(inner.is_done());
        assert_eq!(shield(&inner).unwrap(), 42);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_shield_exception
#[test]
fn shield_reports_a_panic_of_the_task() {
    corio::run(|| {
        let inner = spawn(|| -> u8 { panic!("expected") });
        assert_eq!(
            shield(&inner).unwrap_err().panic_message(),
            Some("expected")
        );
    });
}

// cpython: test_tasks.py BaseTaskTests.test_shield_cancel_inner
#[test]
fn shield_reports_a_cancellation_of_the_task() {
    corio::run(|| {
        let inner = spawn(|| sleep(Duration::from_secs(3600)));
        yield_now();
        inner.cancel();
        assert!(shield(&inner).unwrap_err().is_cancelled());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_shield_effect
#[test]
fn shield_cancelled_waiter_unwinds_and_the_task_goes_on() {
    corio::run(|| {
        let proof = Rc::new(Cell::new(0));
        let fut = Future::<()>::new();
        let (p, f) = (proof.clone(), fut.clone());
        let inner = spawn(move || {
            f.wait_done();
            p.set(p.get() + 1);
        });
        let p = proof.clone();
        let outer = spawn(move || {
            let _ = shield(&inner);
            p.set(p.get() + 100);
        });
        yield_now();
        outer.cancel();
        assert!(outer.join().unwrap_err().is_cancelled());
        fut.set_result(()).unwrap();
        yield_now();
        assert_eq!(proof.get(), 1);
    });
}

#[test]
fn shield_cancelled_waiter_can_wait_for_the_task_again() {
    corio::run(|| {
        let inner = spawn(|| {
            sleep(Duration::from_millis(5));
            "saved"
        });
        let outer = spawn(move || {
            assert_eq!(catch_cancel(|| shield(&inner)).unwrap_err(), Cancelled);
            assert!(!inner.is_done(), "the task was left running");
            shield(&inner).unwrap()
        });
        yield_now();
        outer.cancel();
        assert_eq!(outer.join().unwrap(), "saved");
    });
}

// cpython: test_tasks.py BaseTaskTests.test_shield_gather
#[test]
fn shield_around_a_gather_keeps_the_gather_running() {
    corio::run(|| {
        let (c1, c2) = (Future::<i32>::new(), Future::<i32>::new());
        let finished = Rc::new(Cell::new(0));
        let child = |c: &Future<i32>| {
            let (c, finished) = (c.clone(), finished.clone());
            move || {
                let v = c.wait().unwrap();
                finished.set(finished.get() + 1);
                v
            }
        };
        let parent = {
            let (a, b) = (child(&c1), child(&c2));
            spawn(move || corio::gather!(a, b))
        };
        let outer = {
            let result = Rc::new(Cell::new(None));
            let r = result.clone();
            let t = spawn(move || {
                r.set(Some(shield(&parent).is_ok()));
                parent
            });
            (t, result)
        };
        yield_now();
        outer.0.cancel();
        assert!(outer.0.join().unwrap_err().is_cancelled());
        assert!(outer.1.take().is_none());
        c1.set_result(1).unwrap();
        c2.set_result(2).unwrap();
        sleep(Duration::from_millis(1));
        // The gather was not cancelled: both children ran to the end.
        assert_eq!(finished.get(), 2);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_gather_shield
#[test]
fn gather_of_shields_cancels_the_shields_but_not_their_tasks() {
    corio::run(|| {
        let (f1, f2) = (Future::<i32>::new(), Future::<i32>::new());
        let child = |f: &Future<i32>, done: &Rc<Cell<Option<i32>>>| {
            let (f, done) = (f.clone(), done.clone());
            spawn(move || done.set(Some(f.wait().unwrap())))
        };
        let (d1, d2) = (Rc::new(Cell::new(None)), Rc::new(Cell::new(None)));
        let (child1, child2) = (child(&f1, &d1), child(&f2, &d2));
        let parent = spawn(move || {
            gather([
                spawn(move || shield(&child1).is_ok()),
                spawn(move || shield(&child2).is_ok()),
            ])
        });
        yield_now();
        yield_now();
        parent.cancel();
        assert!(parent.join().unwrap_err().is_cancelled());
        f1.set_result(1).unwrap();
        f2.set_result(2).unwrap();
        sleep(Duration::from_millis(1));
        assert_eq!((d1.get(), d2.get()), (Some(1), Some(2)));
    });
}
