//! `Event`: set wakes every waiter, clear does not take a wake-up back, cancel unlinks.

use std::cell::RefCell;
use std::rc::Rc;

use corio::{Event, yield_now};

fn waiter(ev: &Event, out: &Rc<RefCell<Vec<i32>>>, i: i32) -> corio::Task<()> {
    let (ev, out) = (ev.clone(), out.clone());
    corio::spawn(move || {
        ev.wait();
        out.borrow_mut().push(i);
    })
}

// cpython: test_locks.py EventTests.test_repr
#[test]
fn event_debug_shows_flag_and_waiters() {
    corio::run(|| {
        let ev = Event::new();
        assert_eq!(format!("{ev:?}"), "Event { set: false, waiters: 0 }");
        let e = ev.clone();
        let t = corio::spawn(move || e.wait());
        yield_now();
        assert_eq!(format!("{ev:?}"), "Event { set: false, waiters: 1 }");
        ev.set();
        assert_eq!(format!("{ev:?}"), "Event { set: true, waiters: 0 }");
        t.join().unwrap();
    });
}

// cpython: test_locks.py EventTests.test_wait
#[test]
fn event_set_wakes_every_waiter_in_order() {
    corio::run(|| {
        let ev = Event::new();
        assert!(!ev.is_set());
        let result = Rc::new(RefCell::new(Vec::new()));
        let t1 = waiter(&ev, &result, 1);
        let t2 = waiter(&ev, &result, 2);
        yield_now();
        assert!(result.borrow().is_empty());

        // t3 has not started: it runs first and finds the flag set; t1, t2 follow.
        let t3 = waiter(&ev, &result, 3);
        ev.set();
        yield_now();
        assert_eq!(*result.borrow(), [3, 1, 2]);
        for t in [t1, t2, t3] {
            assert!(t.is_done());
            t.join().unwrap();
        }
    });
}

// cpython: test_locks.py EventTests.test_wait_on_set
#[test]
fn event_wait_on_a_set_event_returns_at_once() {
    corio::run(|| {
        let ev = Event::new();
        ev.set();
        ev.wait();
        assert!(ev.is_set());
    });
}

// cpython: test_locks.py EventTests.test_wait_cancel
#[test]
fn event_wait_cancelled_leaves_no_waiter() {
    corio::run(|| {
        let ev = Event::new();
        let e = ev.clone();
        let wait = corio::spawn(move || e.wait());
        yield_now();
        assert_eq!(format!("{ev:?}"), "Event { set: false, waiters: 1 }");
        wait.cancel();
        assert!(wait.join().unwrap_err().is_cancelled());
        assert_eq!(format!("{ev:?}"), "Event { set: false, waiters: 0 }");
    });
}

// cpython: test_locks.py EventTests.test_clear
#[test]
fn event_clear_resets_the_flag() {
    let ev = Event::new();
    assert!(!ev.is_set());
    ev.set();
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
}

// cpython: test_locks.py EventTests.test_clear_with_waiters
#[test]
fn event_clear_after_set_does_not_take_the_wakeup_back() {
    corio::run(|| {
        let ev = Event::new();
        let result = Rc::new(RefCell::new(Vec::new()));
        let t = waiter(&ev, &result, 1);
        yield_now();
        assert!(result.borrow().is_empty());

        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        ev.set();
        ev.set();
        assert_eq!(format!("{ev:?}"), "Event { set: true, waiters: 0 }");

        yield_now();
        assert_eq!(*result.borrow(), [1]);
        assert!(t.is_done());
        t.join().unwrap();
    });
}

#[test]
fn event_waiter_woken_then_cleared_still_returns() {
    corio::run(|| {
        let ev = Event::new();
        let result = Rc::new(RefCell::new(Vec::new()));
        let t = waiter(&ev, &result, 1);
        yield_now();
        ev.set();
        ev.clear();
        t.join().unwrap();
        assert_eq!(*result.borrow(), [1]);
        assert!(!ev.is_set());
    });
}

#[test]
fn event_waiter_cancelled_after_set_does_not_stop_the_others() {
    corio::run(|| {
        let ev = Event::new();
        let result = Rc::new(RefCell::new(Vec::new()));
        let t1 = waiter(&ev, &result, 1);
        let t2 = waiter(&ev, &result, 2);
        yield_now();
        ev.set();
        t1.cancel();
        assert!(t1.join().unwrap_err().is_cancelled());
        t2.join().unwrap();
        assert_eq!(*result.borrow(), [2]);
    });
}

#[test]
fn event_ping_pong_between_two_tasks_alternates() {
    corio::run(|| {
        let (ping, pong) = (Event::new(), Event::new());
        let trace = Rc::new(RefCell::new(Vec::new()));
        let other = {
            let (ping, pong, trace) = (ping.clone(), pong.clone(), trace.clone());
            corio::spawn(move || {
                for i in 0..3 {
                    ping.wait();
                    ping.clear();
                    trace.borrow_mut().push(format!("pong{i}"));
                    pong.set();
                }
            })
        };
        for i in 0..3 {
            trace.borrow_mut().push(format!("ping{i}"));
            ping.set();
            pong.wait();
            pong.clear();
        }
        other.join().unwrap();
        assert_eq!(
            *trace.borrow(),
            ["ping0", "pong0", "ping1", "pong1", "ping2", "pong2"]
        );
    });
}
