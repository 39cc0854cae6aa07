//! `put` and `put_nowait`: parking on a full queue, waking, cancellation.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::Queue;

// cpython: test_queues.py QueuePutTests.test_blocking_put
#[test]
fn put_on_an_unbounded_queue_never_parks() {
    corio::run(|| {
        let q = Queue::new(0);
        q.put(1).unwrap();
        assert_eq!(q.get().unwrap(), 1);
    });
}

// cpython: test_queues.py QueuePutTests.test_blocking_put_wait
#[test]
fn put_parks_until_a_timer_frees_a_place() {
    corio::run(|| {
        let q = Queue::new(1);
        let finished = Rc::new(Cell::new(false));
        let q2 = q.clone();
        corio::runtime::call_later(Duration::from_millis(10), move || {
            q2.get_nowait().unwrap();
        });
        let putter = {
            let (q, finished) = (q.clone(), finished.clone());
            corio::spawn(move || {
                q.put(1).unwrap();
                q.put(2).unwrap();
                finished.set(true);
            })
        };
        corio::yield_now();
        assert!(!finished.get());
        putter.join().unwrap();
        assert!(finished.get());
        assert_eq!(q.get_nowait().unwrap(), 2);
    });
}

// cpython: test_queues.py QueuePutTests.test_nonblocking_put
#[test]
fn put_nowait_then_get_nowait_round_trips() {
    let q = Queue::new(0);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait().unwrap(), 1);
}

// cpython: test_queues.py QueuePutTests.test_nonblocking_put_exception
#[test]
fn put_nowait_on_a_full_queue_is_queue_full_and_gives_the_item_back() {
    let q = Queue::new(1);
    q.put_nowait(1).unwrap();
    match q.put_nowait(2) {
        Err(corio::queue::PutNowaitError::Full(full)) => assert_eq!(full.into_inner(), 2),
        other => panic!("expected QueueFull, got {other:?}"),
    }
}

// cpython: test_queues.py QueuePutTests.test_get_cancel_drop_one_pending_reader
#[test]
fn cancelled_reader_does_not_drop_the_item_it_was_handed() {
    corio::run(|| {
        let q = Queue::new(0);
        let reader = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        corio::yield_now();
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        reader.cancel();
        assert!(reader.join().unwrap_err().is_cancelled());
        // Try again: if this gets 2, item 1 was dropped.
        let reader = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        assert_eq!(reader.join().unwrap(), 1);
    });
}

// cpython: test_queues.py QueuePutTests.test_get_cancel_drop_many_pending_readers
#[test]
fn cancelled_reader_among_many_passes_its_item_on() {
    corio::run(|| {
        let q = Queue::new(0);
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                corio::spawn(move || q.get().unwrap())
            })
            .collect();
        corio::yield_now();
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        let mut readers = readers.into_iter();
        let reader1 = readers.next().unwrap();
        reader1.cancel();
        assert!(reader1.join().unwrap_err().is_cancelled());
        let mut got: Vec<i32> = readers.map(|r| r.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

// cpython: test_queues.py QueuePutTests.test_put_cancel_drop
#[test]
fn cancelled_writer_granted_a_place_leaves_it_free() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait(1).unwrap();
        // Putting a second item has to park (qsize == 1).
        let writer = {
            let q = q.clone();
            corio::spawn(move || q.put(2).unwrap())
        };
        corio::yield_now();
        assert_eq!(q.get_nowait().unwrap(), 1);
        writer.cancel();
        assert!(writer.join().unwrap_err().is_cancelled());
        // Try again.
        let writer = {
            let q = q.clone();
            corio::spawn(move || q.put(2).unwrap())
        };
        writer.join().unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert_eq!(q.qsize(), 0);
    });
}

// cpython: test_queues.py QueuePutTests.test_put_cancelled
#[test]
fn put_task_finishes_when_a_getter_takes_its_item() {
    corio::run(|| {
        let q = Queue::new(0);
        let t = {
            let q = q.clone();
            corio::spawn(move || {
                q.put(1).unwrap();
                true
            })
        };
        assert_eq!(q.get().unwrap(), 1);
        assert!(t.is_done());
        assert!(t.join().unwrap());
    });
}

// cpython: test_queues.py QueuePutTests.test_put_cancelled_race
#[test]
fn cancelled_putter_does_not_take_the_place_of_the_next() {
    corio::run(|| {
        let q = Queue::new(1);
        let spawn_put = |item: &'static str| {
            let q = q.clone();
            corio::spawn(move || q.put(item).unwrap())
        };
        let put_a = spawn_put("a");
        let put_b = spawn_put("b");
        let put_c = spawn_put("X");
        corio::yield_now();
        assert!(put_a.is_done());
        assert!(!put_b.is_done());
        put_c.cancel();
        corio::yield_now();
        assert!(put_c.is_done());
        assert_eq!(q.get_nowait().unwrap(), "a");
        corio::yield_now();
        assert_eq!(q.get_nowait().unwrap(), "b");
        put_b.join().unwrap();
        put_a.join().unwrap();
        assert!(put_c.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_queues.py QueuePutTests.test_put_with_waiting_getters
#[test]
fn put_reaches_a_parked_getter() {
    corio::run(|| {
        let q = Queue::new(0);
        let t = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        corio::yield_now();
        q.put("a").unwrap();
        assert_eq!(t.join().unwrap(), "a");
    });
}

// cpython: test_queues.py QueuePutTests.test_why_are_putters_waiting
#[test]
fn every_parked_putter_gets_in_once_places_are_freed() {
    corio::run(|| {
        let q = Queue::new(2);
        let getter = {
            let q = q.clone();
            corio::spawn(move || {
                corio::yield_now();
                let n = q.qsize();
                for _ in 0..n {
                    q.get_nowait().unwrap();
                }
                n
            })
        };
        let putters: Vec<_> = (0..4)
            .map(|i| {
                let q = q.clone();
                corio::spawn(move || q.put(i).unwrap())
            })
            .collect();
        assert_eq!(getter.join().unwrap(), 2);
        for p in putters {
            p.join().unwrap();
        }
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert_eq!(q.get_nowait().unwrap(), 3);
    });
}

// cpython: test_queues.py QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters
#[test]
fn cancelled_putter_is_removed_from_the_waiters() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait(1).unwrap();
        let put_task = {
            let q = q.clone();
            corio::spawn(move || q.put(1))
        };
        corio::yield_now();
        assert!(format!("{q:?}").contains("putters=1"), "{q:?}");
        put_task.cancel();
        assert!(put_task.join().unwrap_err().is_cancelled());
        assert!(!format!("{q:?}").contains("putters"), "{q:?}");
    });
}

// cpython: test_queues.py QueuePutTests.test_cancelled_put_silence_value_error_exception
#[test]
fn putter_cancelled_after_get_nowait_woke_it_ends_cancelled() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait(1).unwrap();
        let put_task = {
            let q = q.clone();
            corio::spawn(move || q.put(1))
        };
        corio::yield_now();
        // get_nowait wakes the putter and grants it the freed place...
        q.get_nowait().unwrap();
        // ...but it is cancelled before it resumes.
        put_task.cancel();
        assert!(put_task.join().unwrap_err().is_cancelled());
        assert!(q.empty());
        assert!(
            !q.full(),
            "the place granted to the cancelled putter is free again"
        );
    });
}
