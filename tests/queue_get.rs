//! `get` and `get_nowait`: parking on an empty queue, waking, cancellation.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::Queue;

// cpython: test_queues.py QueueGetTests.test_blocking_get
#[test]
fn get_returns_a_waiting_item_without_parking() {
    corio::run(|| {
        let q = Queue::new(0);
        q.put_nowait(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
    });
}

// cpython: test_queues.py QueueGetTests.test_get_with_putters
#[test]
fn get_wakes_a_parked_putter() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            corio::spawn(move || q.put(2))
        };
        corio::yield_now();
        assert!(!putter.is_done());
        assert_eq!(q.get().unwrap(), 1);
        putter.join().unwrap().unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
    });
}

// cpython: test_queues.py QueueGetTests.test_blocking_get_wait
#[test]
fn get_parks_until_a_timer_puts_an_item() {
    corio::run(|| {
        let q = Queue::new(0);
        let finished = Rc::new(Cell::new(false));
        let getter = {
            let (q, finished) = (q.clone(), finished.clone());
            corio::spawn(move || {
                let res = q.get().unwrap();
                finished.set(true);
                res
            })
        };
        corio::yield_now();
        assert!(!finished.get());
        let q2 = q.clone();
        corio::runtime::call_later(Duration::from_millis(10), move || {
            q2.put_nowait(1).unwrap();
        });
        assert_eq!(getter.join().unwrap(), 1);
        assert!(finished.get());
    });
}

// cpython: test_queues.py QueueGetTests.test_nonblocking_get
#[test]
fn get_nowait_returns_a_waiting_item() {
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 1);
}

// cpython: test_queues.py QueueGetTests.test_nonblocking_get_exception
#[test]
fn get_nowait_on_an_empty_queue_is_queue_empty() {
    let q = Queue::<u32>::new(0);
    let err = q.get_nowait().unwrap_err();
    assert!(err.is_empty());
    assert!(matches!(
        err,
        corio::queue::GetNowaitError::Empty(corio::queue::QueueEmpty)
    ));
}

// cpython: test_queues.py QueueGetTests.test_get_cancelled_race
#[test]
fn cancelled_getter_leaves_the_item_to_the_next_getter() {
    corio::run(|| {
        let q = Queue::new(0);
        let t1 = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        let t2 = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        corio::yield_now();
        t1.cancel();
        corio::yield_now();
        assert!(t1.is_done());
        q.put("a").unwrap();
        corio::yield_now();
        assert_eq!(t2.join().unwrap().unwrap(), "a");
        assert!(t1.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_queues.py QueueGetTests.test_get_with_waiting_putters
#[test]
fn get_takes_items_of_parked_putters_in_order() {
    corio::run(|| {
        let q = Queue::new(1);
        let a = {
            let q = q.clone();
            corio::spawn(move || q.put("a").unwrap())
        };
        let b = {
            let q = q.clone();
            corio::spawn(move || q.put("b").unwrap())
        };
        assert_eq!(q.get().unwrap(), "a");
        assert_eq!(q.get().unwrap(), "b");
        a.join().unwrap();
        b.join().unwrap();
    });
}

// cpython: test_queues.py QueueGetTests.test_why_are_getters_waiting
#[test]
fn producer_and_consumer_on_a_queue_of_one_both_finish() {
    corio::run(|| {
        let q = Queue::new(1);
        let n = 5;
        let consumer = {
            let q = q.clone();
            corio::spawn(move || (0..n).map(|_| q.get().unwrap()).collect::<Vec<_>>())
        };
        let producer = {
            let q = q.clone();
            corio::spawn(move || (0..n).for_each(|i| q.put(i).unwrap()))
        };
        producer.join().unwrap();
        assert_eq!(consumer.join().unwrap(), [0, 1, 2, 3, 4]);
    });
}

// cpython: test_queues.py QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters
#[test]
fn cancelled_getter_is_removed_from_the_waiters() {
    corio::run(|| {
        let q = Queue::<u32>::new(5);
        let getter = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        corio::yield_now();
        assert!(format!("{q:?}").contains("getters=1"), "{q:?}");
        // asyncio's test gives up through wait_for's timeout; that is a cancel.
        getter.cancel();
        assert!(getter.join().unwrap_err().is_cancelled());
        assert!(!format!("{q:?}").contains("getters"), "{q:?}");
        // The queue still works for the next getter.
        q.put_nowait(3).unwrap();
        assert_eq!(q.get().unwrap(), 3);
    });
}
