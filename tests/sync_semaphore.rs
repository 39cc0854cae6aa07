//! `Semaphore` and `BoundedSemaphore`: FIFO hand-off, no lost permit, no queue jumping.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corio::{BoundedSemaphore, Semaphore, Task, TooManyReleases, yield_now};

type Log = Rc<RefCell<Vec<String>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// A task that takes a permit, records `tag` and keeps the permit.
fn take_and_keep(sem: &Semaphore, out: &Log, tag: &str) -> Task<bool> {
    let (sem, out, tag) = (sem.clone(), out.clone(), tag.to_string());
    corio::spawn(move || {
        sem.acquire().forget();
        out.borrow_mut().push(tag);
        true
    })
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

// cpython: test_locks.py SemaphoreTests.test_initial_value_zero
#[test]
fn semaphore_with_zero_permits_is_locked() {
    let sem = Semaphore::new(0);
    assert!(sem.locked());
    assert_eq!(sem.available(), 0);
}

// cpython: test_locks.py SemaphoreTests.test_repr
#[test]
fn semaphore_debug_shows_value_and_waiters() {
    corio::run(|| {
        let sem = Semaphore::default();
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 1, waiters: 0 }");
        sem.acquire().forget();
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 0, waiters: 0 }");
        let out = log();
        let t1 = take_and_keep(&sem, &out, "a");
        let t2 = take_and_keep(&sem, &out, "b");
        yield_now();
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 0, waiters: 2 }");
        sem.release();
        sem.release();
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

// cpython: test_locks.py SemaphoreTests.test_semaphore
#[test]
fn semaphore_default_has_one_permit() {
    let sem = Semaphore::default();
    assert!(!sem.locked());
    assert_eq!(sem.available(), 1);
}

// cpython: test_locks.py SemaphoreTests.test_acquire
#[test]
fn semaphore_released_permits_go_to_waiters_in_order() {
    corio::run(|| {
        let sem = Semaphore::new(3);
        let result = log();
        sem.acquire().forget();
        sem.acquire().forget();
        assert!(!sem.locked());

        let t1 = take_and_keep(&sem, &result, "1");
        let t2 = take_and_keep(&sem, &result, "2");
        let t3 = take_and_keep(&sem, &result, "3");
        yield_now();
        assert_eq!(*result.borrow(), strings(&["1"]));
        assert!(sem.locked());
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 0, waiters: 2 }");

        let t4 = take_and_keep(&sem, &result, "4");
        sem.release();
        sem.release();
        assert_eq!(sem.available(), 0, "both permits went straight to waiters");

        yield_now();
        assert_eq!(result.borrow().len(), 3);
        assert!(sem.locked());
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 0, waiters: 1 }");
        // asyncio leaves which two of t2, t3, t4 win to a race; here the waiters win.
        assert!(t1.is_done() && t2.is_done() && t3.is_done());
        assert!(!t4.is_done());

        sem.release();
        for t in [t1, t2, t3, t4] {
            assert!(t.join().unwrap());
        }
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_cancel
#[test]
fn semaphore_acquire_cancelled_while_waiting_leaves_no_waiter() {
    corio::run(|| {
        let sem = Semaphore::new(1);
        sem.acquire().forget();
        let s = sem.clone();
        let acquire = corio::spawn(move || s.acquire().forget());
        yield_now();
        acquire.cancel();
        assert!(acquire.join().unwrap_err().is_cancelled());
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 0, waiters: 0 }");
        sem.release();
        assert_eq!(sem.available(), 1);
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_cancel_before_awoken
#[test]
fn semaphore_permit_skips_waiters_cancelled_before_they_woke() {
    corio::run(|| {
        let sem = Semaphore::new(0);
        let out = log();
        let t: Vec<_> = (1..=4)
            .map(|i| take_and_keep(&sem, &out, &i.to_string()))
            .collect();
        yield_now();

        t[0].cancel();
        t[1].cancel();
        sem.release();

        yield_now();
        yield_now();
        assert!(t[2].is_done());
        assert!(!t[3].is_done());
        assert!(t[0].is_cancelled() && t[1].is_cancelled());

        t[3].cancel();
        yield_now();
        assert!(t[3].is_cancelled());
        assert_eq!(sem.available(), 0, "the one permit is held by t3");
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_hang
#[test]
fn semaphore_permit_handed_to_a_cancelled_waiter_reaches_the_next() {
    corio::run(|| {
        let sem = Semaphore::new(0);
        let out = log();
        let t1 = take_and_keep(&sem, &out, "1");
        let t2 = take_and_keep(&sem, &out, "2");
        yield_now();

        t1.cancel();
        sem.release();
        yield_now();
        yield_now();
        assert!(sem.locked());
        assert!(t2.is_done());
        assert!(t1.is_cancelled());
        assert_eq!(*out.borrow(), strings(&["2"]));
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_no_hang
#[test]
fn semaphore_waiter_cancelled_after_its_permit_was_given_loses_no_permit() {
    corio::run(|| {
        let sem = Semaphore::new(1);
        let t2: Rc<RefCell<Option<Task<()>>>> = Rc::new(RefCell::new(None));
        let t1 = {
            let (sem, t2) = (sem.clone(), t2.clone());
            corio::spawn(move || {
                {
                    let _p = sem.acquire();
                    yield_now();
                } // the permit goes to t2 here...
                t2.borrow().as_ref().unwrap().cancel(); // ...which is cancelled before it runs
            })
        };
        *t2.borrow_mut() = Some({
            let sem = sem.clone();
            corio::spawn(move || {
                let _p = sem.acquire();
                panic!("t2 must never get past acquire");
            })
        });
        t1.join().unwrap();
        let t2 = t2.borrow_mut().take().unwrap();
        assert!(t2.join().unwrap_err().is_cancelled());
        // The permit t2 was given came back.
        assert_eq!(sem.available(), 1);
        let _p = sem.try_acquire().expect("no permit lost");
    });
}

// cpython: test_locks.py SemaphoreTests.test_release_not_acquired
#[test]
fn bounded_semaphore_release_past_its_bound_is_an_error() {
    let sem = BoundedSemaphore::default();
    assert_eq!(sem.release(), Err(TooManyReleases));
    assert_eq!(sem.available(), 1);
}

// cpython: test_locks.py SemaphoreTests.test_release_no_waiters
#[test]
fn semaphore_release_with_no_waiters_frees_a_permit() {
    corio::run(|| {
        let sem = Semaphore::default();
        sem.acquire().forget();
        assert!(sem.locked());
        sem.release();
        assert!(!sem.locked());
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_fifo_order
#[test]
fn semaphore_tasks_that_acquire_again_queue_behind_the_others() {
    corio::run(|| {
        let sem = Semaphore::new(1);
        let result = log();
        let tasks: Vec<_> = ["c1", "c2", "c3"]
            .into_iter()
            .map(|tag| {
                let (sem, result) = (sem.clone(), result.clone());
                corio::spawn(move || {
                    for round in 1..=2 {
                        let _p = sem.acquire();
                        result.borrow_mut().push(format!("{tag}_{round}"));
                        corio::sleep(std::time::Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(
            *result.borrow(),
            strings(&["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"])
        );
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_fifo_order_2
#[test]
fn semaphore_releaser_that_acquires_again_queues_behind_a_woken_waiter() {
    corio::run(|| {
        let sem = Semaphore::new(1);
        let result = log();
        let t1 = take_and_keep(&sem, &result, "1");
        let t2 = {
            let (sem, result) = (sem.clone(), result.clone());
            corio::spawn(move || {
                sem.acquire().forget();
                result.borrow_mut().push("2".into());
                sem.release();
                // t3 was handed a permit but has not run: a free permit is not ours to take.
                sem.acquire().forget();
                result.borrow_mut().push("4".into());
                true
            })
        };
        let t3 = take_and_keep(&sem, &result, "3");
        yield_now();

        sem.release();
        sem.release();
        for t in [t1, t2, t3] {
            assert!(t.join().unwrap());
        }
        assert_eq!(*result.borrow(), strings(&["1", "2", "3", "4"]));
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_fifo_order_3
#[test]
fn semaphore_cancelled_waiter_gets_no_permit_and_takes_none() {
    corio::run(|| {
        let sem = Semaphore::new(0);
        let result = log();
        let t1 = take_and_keep(&sem, &result, "1");
        let t2 = take_and_keep(&sem, &result, "2");
        let t3 = take_and_keep(&sem, &result, "3");
        yield_now();
        t1.cancel();
        yield_now();
        sem.release();
        sem.release();
        assert!(t1.join().unwrap_err().is_cancelled());
        assert!(t2.join().unwrap());
        assert!(t3.join().unwrap());
        assert_eq!(*result.borrow(), strings(&["2", "3"]));
    });
}

// cpython: test_locks.py SemaphoreTests.test_acquire_fifo_order_4
#[test]
fn semaphore_woken_waiter_lets_the_ones_queued_behind_it_go() {
    corio::run(|| {
        let sem = Semaphore::new(0);
        let result = log();
        let t4: Rc<RefCell<Option<Task<bool>>>> = Rc::new(RefCell::new(None));
        let t1 = {
            let (sem, result, t4) = (sem.clone(), result.clone(), t4.clone());
            corio::spawn(move || {
                assert_eq!(sem.available(), 0);
                sem.acquire().forget();
                // Every waiter got its permit when this one woke.
                assert_eq!(sem.available(), 0);
                // A fourth task, which must run after t3, not after t2.
                let r = result.clone();
                *t4.borrow_mut() = Some(corio::spawn(move || {
                    r.borrow_mut().push("4".into());
                    true
                }));
                result.borrow_mut().push("1".into());
                true
            })
        };
        let t2 = {
            let (sem, result) = (sem.clone(), result.clone());
            corio::spawn(move || {
                sem.release();
                sem.release();
                sem.release();
                assert_eq!(sem.available(), 2);
                assert!(sem.locked(), "t1 has not woken yet: it goes first");
                sem.acquire().forget();
                result.borrow_mut().push("2".into());
                true
            })
        };
        let t3 = {
            let (sem, result) = (sem.clone(), result.clone());
            corio::spawn(move || {
                sem.acquire().forget();
                assert!(sem.locked());
                result.borrow_mut().push("3".into());
                true
            })
        };
        yield_now();
        assert_eq!(sem.available(), 2);
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 2, waiters: 2 }");
        yield_now();
        let t4 = t4.borrow_mut().take().expect("t1 spawned t4");
        for t in [t1, t2, t3, t4] {
            assert!(t.join().unwrap());
        }
        assert_eq!(*result.borrow(), strings(&["1", "2", "3", "4"]));
    });
}

#[test]
fn semaphore_try_acquire_does_not_take_a_permit_promised_to_a_waiter() {
    corio::run(|| {
        let sem = Semaphore::new(0);
        let out = log();
        let waiter = take_and_keep(&sem, &out, "w");
        yield_now();
        sem.release();
        assert!(
            sem.try_acquire().is_none(),
            "a newcomer must not jump the line"
        );
        sem.release(); // a second, free permit: the woken waiter still goes first
        assert_eq!(sem.available(), 1);
        assert!(sem.try_acquire().is_none());
        waiter.join().unwrap();
        assert!(
            sem.try_acquire().is_some(),
            "after the waiter ran, the free permit is ours"
        );
    });
}

#[test]
fn semaphore_100_tasks_over_10_permits_never_exceed_them_and_lose_none() {
    corio::run(|| {
        let sem = Semaphore::new(10);
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                corio::spawn(move || {
                    for _ in 0..20 {
                        let _p = sem.acquire();
                        inside.set(inside.get() + 1);
                        most.set(most.get().max(inside.get()));
                        yield_now();
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for _ in 0..30 {
            yield_now();
        }
        // Cancel some midway: waiting ones, ones holding a permit, ones just handed one.
        let mut cancelled = 0;
        for (i, t) in tasks.iter().enumerate() {
            if i % 9 == 0 && t.cancel() {
                cancelled += 1;
            }
        }
        assert!(cancelled > 0);
        for t in tasks {
            let _ = t.join();
        }
        assert_eq!(most.get(), 10);
        assert_eq!(sem.available(), 10, "every permit came back");
        assert_eq!(format!("{sem:?}"), "Semaphore { value: 10, waiters: 0 }");
    });
}

#[test]
fn bounded_semaphore_permits_come_back_on_drop_and_release_after_forget() {
    corio::run(|| {
        let sem = BoundedSemaphore::new(2);
        let a = sem.acquire();
        sem.acquire().forget();
        assert!(sem.locked());
        assert!(sem.try_acquire().is_none());
        assert_eq!(sem.available(), 0, "a failed try_acquire changes nothing");
        drop(a);
        assert_eq!(sem.available(), 1);
        sem.release().unwrap();
        assert_eq!(sem.available(), 2);
        assert_eq!(sem.release(), Err(TooManyReleases));
    });
}

#[test]
fn bounded_semaphore_hands_permits_to_waiters_in_order() {
    corio::run(|| {
        let sem = BoundedSemaphore::new(1);
        sem.acquire().forget();
        let out = log();
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|tag| {
                let (sem, out) = (sem.clone(), out.clone());
                corio::spawn(move || {
                    let _p = sem.acquire();
                    out.borrow_mut().push(tag.to_string());
                    yield_now();
                })
            })
            .collect();
        yield_now();
        sem.release().unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(*out.borrow(), strings(&["a", "b"]));
        assert_eq!(sem.available(), 1);
        assert_eq!(sem.release(), Err(TooManyReleases));
    });
}
