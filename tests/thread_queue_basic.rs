//! `ThreadQueue`: the coroutine side, the blocking side, the nowait calls and `close`, one
//! behaviour at a time.

use std::sync::mpsc;
use std::time::Duration;

use corio::ThreadQueue;

#[test]
fn nowait_calls_work_without_a_loop() {
    let q = ThreadQueue::new(2);
    assert!(q.empty());
    assert_eq!(q.maxsize(), 2);
    q.put_nowait(1).unwrap();
    q.put_nowait(2).unwrap();
    assert!(q.full());
    assert_eq!(q.qsize(), 2);
    let err = q.put_nowait(3).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner(), 3);
    assert_eq!(q.get_nowait().unwrap(), 1);
    assert_eq!(q.get_nowait().unwrap(), 2);
    assert!(q.get_nowait().unwrap_err().is_empty());
}

#[test]
fn an_unbounded_queue_is_never_full() {
    let q = ThreadQueue::default();
    for i in 0..10_000 {
        q.put_nowait(i).unwrap();
    }
    assert!(!q.full());
    assert_eq!(q.qsize(), 10_000);
}

#[test]
fn items_come_out_in_the_order_they_went_in() {
    corio::run(|| {
        let q = ThreadQueue::new(0);
        for i in 0..5 {
            q.put(i).unwrap();
        }
        let out: Vec<_> = (0..5).map(|_| q.get().unwrap()).collect();
        assert_eq!(out, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn a_coroutine_get_parks_until_a_thread_puts() {
    corio::run(|| {
        let q = ThreadQueue::new(0);
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let q2 = q.clone();
        let t = std::thread::spawn(move || {
            go_rx.recv().unwrap();
            q2.blocking_put("late").unwrap();
        });
        let getter = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        corio::yield_now();
        assert!(!getter.is_done(), "the getter parked on the empty queue");
        go_tx.send(()).unwrap();
        assert_eq!(getter.join().unwrap(), "late");
        t.join().unwrap();
    });
}

#[test]
fn a_coroutine_put_parks_while_full_until_a_thread_gets() {
    corio::run(|| {
        let q = ThreadQueue::new(1);
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            corio::spawn(move || q.put(2).unwrap())
        };
        corio::yield_now();
        assert!(!putter.is_done(), "the putter parked on the full queue");
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.blocking_get().unwrap());
        putter.join().unwrap();
        assert_eq!(t.join().unwrap(), 1);
        assert_eq!(q.get_nowait().unwrap(), 2);
    });
}

#[test]
fn a_blocked_thread_get_is_woken_by_a_coroutine_put() {
    let q = ThreadQueue::new(0);
    let q2 = q.clone();
    let t = std::thread::spawn(move || q2.blocking_get().unwrap());
    corio::run(move || {
        corio::sleep(Duration::from_millis(5)); // most likely the thread is blocked by now
        q.put(99).unwrap();
    });
    assert_eq!(t.join().unwrap(), 99);
}

#[test]
fn a_blocked_thread_put_is_woken_by_a_coroutine_get() {
    let q = ThreadQueue::new(1);
    q.put_nowait(0).unwrap();
    let q2 = q.clone();
    let t = std::thread::spawn(move || q2.blocking_put(1).unwrap());
    let got = corio::run(move || {
        let a = q.get().unwrap();
        let b = q.get().unwrap(); // the thread's item, put once the first was taken
        (a, b)
    });
    t.join().unwrap();
    assert_eq!(got, (0, 1));
}

#[test]
fn blocking_calls_work_between_plain_threads() {
    let q = ThreadQueue::new(4);
    let q2 = q.clone();
    let t = std::thread::spawn(move || (0..1000).map(|_| q2.blocking_get().unwrap()).sum::<u64>());
    for i in 0..1000u64 {
        q.blocking_put(i).unwrap();
    }
    assert_eq!(t.join().unwrap(), 499_500);
}

#[test]
fn close_fails_later_puts_and_gives_the_item_back() {
    let q = ThreadQueue::new(0);
    q.close();
    assert!(q.is_closed());
    assert!(q.put_nowait(1).unwrap_err().is_shutdown());
    assert_eq!(q.blocking_put(2).unwrap_err().into_inner(), 2);
    corio::run(move || assert_eq!(q.put(3).unwrap_err().into_inner(), 3));
}

#[test]
fn gets_drain_what_is_left_after_close_then_fail() {
    // cpython: test_queues.py _QueueShutdownTestMixin.test_shutdown_nonempty (immediate=False)
    let q = ThreadQueue::new(0);
    q.put_nowait('a').unwrap();
    q.put_nowait('b').unwrap();
    q.close();
    assert_eq!(q.blocking_get().unwrap(), 'a');
    corio::run(move || {
        assert_eq!(q.get().unwrap(), 'b');
        assert!(q.get().is_err());
        assert!(q.get_nowait().unwrap_err().is_shutdown());
    });
}

#[test]
fn close_wakes_parked_coroutines_and_blocked_threads() {
    let q = ThreadQueue::<u32>::new(1);
    let q_get = ThreadQueue::<u32>::new(1);
    q.put_nowait(7).unwrap(); // full: putters wait
    let (qa, qb) = (q.clone(), q_get.clone());
    let blocked_putter = std::thread::spawn(move || qa.blocking_put(8).unwrap_err().into_inner());
    let blocked_getter = std::thread::spawn(move || qb.blocking_get().is_err());
    corio::run(move || {
        let p = {
            let q = q.clone();
            corio::spawn(move || q.put(9).unwrap_err().into_inner())
        };
        let g = {
            let q = q_get.clone();
            corio::spawn(move || q.get().is_err())
        };
        corio::sleep(Duration::from_millis(5));
        q.close();
        q_get.close();
        assert_eq!(p.join().unwrap(), 9);
        assert!(g.join().unwrap());
    });
    assert_eq!(blocked_putter.join().unwrap(), 8);
    assert!(blocked_getter.join().unwrap());
}

#[test]
fn a_getter_cancelled_after_it_was_woken_passes_the_item_on() {
    // cpython: test_queues.py QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters
    corio::run(|| {
        let q = ThreadQueue::new(0);
        let a = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        let b = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        corio::yield_now(); // both park, a first
        q.put_nowait("only").unwrap(); // wakes a
        a.cancel(); // before a could run
        assert!(a.join().unwrap_err().is_cancelled());
        assert_eq!(b.join().unwrap().unwrap(), "only");
        assert!(q.empty());
    });
}

#[test]
fn a_putter_cancelled_after_it_was_woken_passes_the_place_on() {
    corio::run(|| {
        let q = ThreadQueue::new(1);
        q.put_nowait(0).unwrap();
        let a = {
            let q = q.clone();
            corio::spawn(move || q.put(1))
        };
        let b = {
            let q = q.clone();
            corio::spawn(move || q.put(2))
        };
        corio::yield_now(); // both park on the full queue, a first
        assert_eq!(q.get_nowait().unwrap(), 0); // frees a place: wakes a
        a.cancel();
        assert!(a.join().unwrap_err().is_cancelled());
        b.join().unwrap().unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(q.empty());
    });
}

#[test]
fn a_getter_cancelled_while_parked_leaves_the_wait_list() {
    // cpython: test_queues.py QueueGetTests.test_get_cancelled_race
    corio::run(|| {
        let q = ThreadQueue::new(0);
        let a = {
            let q = q.clone();
            corio::spawn(move || q.get())
        };
        corio::yield_now();
        a.cancel();
        assert!(a.join().unwrap_err().is_cancelled());
        // The one item goes to the next getter, not to the departed one.
        q.put_nowait(5).unwrap();
        assert_eq!(q.get().unwrap(), 5);
        assert!(format!("{q:?}").contains("getters: 0"));
    });
}

#[test]
fn a_put_cancelled_while_parked_does_not_put_its_item() {
    corio::run(|| {
        let q = ThreadQueue::new(1);
        q.put_nowait(1).unwrap();
        let p = {
            let q = q.clone();
            corio::spawn(move || q.put(2))
        };
        corio::yield_now();
        p.cancel();
        assert!(p.join().unwrap_err().is_cancelled());
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_nowait().unwrap(), 1);
        assert!(q.get_nowait().unwrap_err().is_empty());
    });
}

#[test]
fn a_queue_connects_coroutines_of_two_loops_on_two_threads() {
    let q = ThreadQueue::new(2);
    let q2 = q.clone();
    let other = std::thread::spawn(move || {
        corio::run(move || (0..500u32).map(|_| q2.get().unwrap()).sum::<u32>())
    });
    corio::run(move || {
        for i in 0..500u32 {
            q.put(i).unwrap();
        }
    });
    assert_eq!(other.join().unwrap(), (0..500).sum::<u32>());
}

#[test]
#[should_panic(expected = "would block the event loop's thread")]
fn blocking_get_on_the_loop_thread_panics() {
    corio::run(|| {
        let q = ThreadQueue::<u8>::new(0);
        let _ = q.blocking_get();
    });
}
