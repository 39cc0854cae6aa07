//! `Lock`: FIFO hand-off, cancellation at every point of a wait, no starvation.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corio::{Future, Lock, Task, yield_now};

fn log() -> Rc<RefCell<Vec<i32>>> {
    Rc::new(RefCell::new(Vec::new()))
}

/// A task that takes the lock, records `i` and keeps the lock (asyncio's `await lock.acquire()`
/// with no release).
fn take_and_keep(lock: &Lock, out: &Rc<RefCell<Vec<i32>>>, i: i32) -> Task<bool> {
    let (lock, out) = (lock.clone(), out.clone());
    corio::spawn(move || {
        lock.acquire().forget();
        out.borrow_mut().push(i);
        true
    })
}

// cpython: test_locks.py LockTests.test_acquire
#[test]
fn lock_waiters_get_the_lock_in_arrival_order() {
    corio::run(|| {
        let lock = Lock::new();
        let result = log();
        lock.acquire().forget();

        let t1 = take_and_keep(&lock, &result, 1);
        let t2 = take_and_keep(&lock, &result, 2);
        yield_now();
        assert!(result.borrow().is_empty());

        lock.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1]);
        yield_now();
        assert_eq!(*result.borrow(), [1]);

        let t3 = take_and_keep(&lock, &result, 3);
        lock.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2]);

        lock.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2, 3]);

        for t in [t1, t2, t3] {
            assert!(t.is_done());
            assert!(t.join().unwrap());
        }
    });
}

// cpython: test_locks.py LockTests.test_acquire_cancel
#[test]
fn lock_acquire_cancelled_while_waiting_leaves_no_waiter() {
    corio::run(|| {
        let lock = Lock::new();
        lock.acquire().forget();
        let l = lock.clone();
        let task = corio::spawn(move || l.acquire().forget());
        yield_now();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 1 }");
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 0 }");
        lock.release().unwrap();
        assert!(!lock.locked(), "nobody left to hand the lock to");
    });
}

fn lockit(lock: &Lock, blocker: Option<Future<()>>) -> Task<()> {
    let lock = lock.clone();
    corio::spawn(move || {
        let _guard = lock.acquire();
        if let Some(b) = blocker {
            b.wait().unwrap();
        }
    })
}

// cpython: test_locks.py LockTests.test_cancel_race
#[test]
fn lock_waiter_cancelled_as_the_lock_is_released_passes_it_on() {
    corio::run(|| {
        let lock = Lock::new();
        let fa = Future::new();
        let ta = lockit(&lock, Some(fa.clone()));
        yield_now();
        assert!(lock.locked());
        let tb = lockit(&lock, None);
        yield_now();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 1 }");
        let tc = lockit(&lock, None);
        yield_now();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 2 }");

        // A releases as B is cancelled: the lock must reach C, not stay with B.
        fa.set_result(()).unwrap();
        tb.cancel();
        yield_now();
        assert!(ta.is_done());
        assert!(tb.is_cancelled());
        tc.join().unwrap();
        assert!(!lock.locked());
    });
}

// cpython: test_locks.py LockTests.test_cancel_release_race
#[test]
fn lock_cancel_then_release_gives_the_lock_to_exactly_one_waiter() {
    corio::run(|| {
        let lock = Lock::new();
        let lock_count = Rc::new(Cell::new(0));
        let call_count = Rc::new(Cell::new(0));
        let spawn_lockit = || {
            let (lock, lc, cc) = (lock.clone(), lock_count.clone(), call_count.clone());
            corio::spawn(move || {
                cc.set(cc.get() + 1);
                lock.acquire().forget();
                lc.set(lc.get() + 1);
            })
        };
        lock.acquire().forget();
        let t1 = spawn_lockit();
        let t2 = spawn_lockit();
        let t3 = spawn_lockit();
        yield_now();

        t1.cancel();
        lock.release().unwrap();
        assert!(t1.join().unwrap_err().is_cancelled());

        assert_eq!(lock_count.get(), 1, "only one waiter took the lock");
        assert_eq!(call_count.get(), 3);
        assert!(t2.is_done());

        t3.cancel();
        yield_now();
        assert!(t3.is_cancelled());
    });
}

// cpython: test_locks.py LockTests.test_finished_waiter_cancelled
#[test]
fn lock_handed_to_a_cancelled_waiter_goes_to_the_next() {
    corio::run(|| {
        let lock = Lock::new();
        lock.acquire().forget();
        assert!(lock.locked());

        let l = lock.clone();
        let tb = corio::spawn(move || l.acquire().forget());
        yield_now();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 1 }");

        // A second waiter comes, the first is woken and cancelled: the second must get it.
        let l = lock.clone();
        let tc = corio::spawn(move || l.acquire().forget());
        tb.cancel();
        lock.release().unwrap();
        yield_now();

        assert!(lock.locked());
        assert!(tb.is_cancelled());
        tc.join().unwrap();
        assert!(lock.locked(), "tc holds it");
    });
}

// cpython: test_locks.py LockTests.test_release_not_acquired
#[test]
fn lock_release_when_not_locked_is_an_error() {
    let lock = Lock::new();
    assert_eq!(lock.release(), Err(corio::NotLocked));
}

// cpython: test_locks.py LockTests.test_release_no_waiters
#[test]
fn lock_release_with_no_waiters_unlocks() {
    corio::run(|| {
        let lock = Lock::new();
        lock.acquire().forget();
        assert!(lock.locked());
        lock.release().unwrap();
        assert!(!lock.locked());
    });
}

// cpython: test_locks.py LockTests.test_context_manager
#[test]
fn lock_guard_releases_on_drop() {
    corio::run(|| {
        let lock = Lock::new();
        assert!(!lock.locked());
        {
            let _guard = lock.acquire();
            assert!(lock.locked());
        }
        assert!(!lock.locked());
    });
}

// cpython: test_locks.py LockTests.test_repr
#[test]
fn lock_debug_shows_state_and_waiters() {
    corio::run(|| {
        let lock = Lock::new();
        assert_eq!(format!("{lock:?}"), "Lock { locked: false, waiters: 0 }");
        let _g = lock.acquire();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 0 }");
    });
}

#[test]
fn lock_try_acquire_does_not_take_a_lock_handed_to_a_parked_waiter() {
    corio::run(|| {
        let lock = Lock::new();
        let guard = lock.acquire();
        let order = log();
        let waiter = take_and_keep(&lock, &order, 1);
        yield_now();
        drop(guard); // handed to the waiter, which has not run yet
        assert!(
            lock.try_acquire().is_none(),
            "a newcomer must not jump the line"
        );
        waiter.join().unwrap();
        assert_eq!(*order.borrow(), [1]);
        lock.release().unwrap();
        assert!(lock.try_acquire().is_some());
    });
}

#[test]
fn lock_newcomer_that_never_parked_queues_behind_parked_waiters() {
    corio::run(|| {
        let lock = Lock::new();
        let order = log();
        let guard = lock.acquire();
        let parked = take_and_keep(&lock, &order, 1);
        yield_now();
        // The newcomer is spawned before the release, so it runs before the woken waiter.
        let newcomer = take_and_keep(&lock, &order, 2);
        drop(guard);
        yield_now();
        assert_eq!(*order.borrow(), [1], "the parked waiter goes first");
        lock.release().unwrap();
        newcomer.join().unwrap();
        parked.join().unwrap();
        assert_eq!(*order.borrow(), [1, 2]);
    });
}

#[test]
fn lock_waiter_cancelled_mid_line_keeps_the_order_of_the_rest() {
    corio::run(|| {
        let lock = Lock::new();
        let order = log();
        lock.acquire().forget();
        let tasks: Vec<_> = (1..=4).map(|i| take_and_keep(&lock, &order, i)).collect();
        yield_now();
        tasks[1].cancel();
        tasks[2].cancel();
        yield_now();
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 2 }");
        for _ in 0..2 {
            lock.release().unwrap();
            yield_now();
        }
        assert_eq!(*order.borrow(), [1, 4]);
    });
}

#[test]
fn lock_held_by_a_cancelled_holder_is_released_by_its_guard() {
    corio::run(|| {
        let lock = Lock::new();
        let l = lock.clone();
        let holder = corio::spawn(move || {
            let _guard = l.acquire();
            corio::sleep(std::time::Duration::from_secs(3600));
        });
        yield_now();
        assert!(lock.locked());
        holder.cancel();
        assert!(holder.join().unwrap_err().is_cancelled());
        assert!(!lock.locked());
    });
}

#[test]
fn lock_try_acquire_works_outside_a_loop() {
    let lock = Lock::new();
    let g = lock.try_acquire().expect("free");
    assert!(lock.try_acquire().is_none());
    drop(g);
    assert!(!lock.locked());
}

#[test]
fn lock_guard_dropped_after_a_manual_release_leaves_the_next_holder_alone() {
    corio::run(|| {
        let lock = Lock::new();
        let old = lock.acquire();
        lock.release().unwrap(); // asyncio style, while the guard still exists
        let l = lock.clone();
        let holder = corio::spawn(move || {
            let _guard = l.acquire();
            yield_now();
            yield_now();
        });
        yield_now(); // the other task takes the free lock and keeps it across a yield
        assert!(lock.locked());
        drop(old);
        assert!(
            lock.locked(),
            "the old guard released another task's holding"
        );
        assert!(lock.try_acquire().is_none());
        holder.join().unwrap();
        assert!(!lock.locked());
    });
}

#[test]
fn lock_guard_dropped_after_a_manual_release_leaves_a_hand_off_alone() {
    corio::run(|| {
        let lock = Lock::new();
        let inside = Rc::new(Cell::new(0));
        let old = lock.acquire();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (l, inside) = (lock.clone(), inside.clone());
                corio::spawn(move || {
                    let _guard = l.acquire();
                    inside.set(inside.get() + 1);
                    assert_eq!(inside.get(), 1, "two holders at once");
                    yield_now();
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        yield_now(); // both park behind the old holding
        lock.release().unwrap(); // handed to the first waiter, which has not run yet
        drop(old); // must not pass the first waiter's holding on to the second
        assert_eq!(format!("{lock:?}"), "Lock { locked: true, waiters: 1 }");
        for t in tasks {
            t.join().unwrap();
        }
        assert!(!lock.locked());
    });
}

#[test]
fn lock_guard_forgotten_then_released_by_hand_lets_a_later_guard_release() {
    let lock = Lock::new();
    lock.try_acquire().unwrap().forget();
    lock.release().unwrap();
    let g = lock.try_acquire().unwrap();
    assert!(lock.locked());
    drop(g);
    assert!(!lock.locked());
}

/// A task inside the lock, for as long as it takes to yield once; counts how many are inside
/// at once.
fn enter_and_count(lock: &Lock, inside: &Rc<Cell<u32>>, most: &Rc<Cell<u32>>) -> Task<()> {
    let (lock, inside, most) = (lock.clone(), inside.clone(), most.clone());
    corio::spawn(move || {
        let _g = lock.acquire();
        inside.set(inside.get() + 1);
        most.set(most.get().max(inside.get()));
        yield_now();
        inside.set(inside.get() - 1);
    })
}

// asyncio's `Lock.release` unlocks and wakes the first waiter; a second release before that
// waiter runs raises `RuntimeError('Lock is not acquired.')`. Here the lock is handed to the
// waiter, and a second release must not pass the waiter's turn on to the next acquirer.
#[test]
fn lock_released_again_during_a_hand_off_is_an_error_and_keeps_exclusion() {
    corio::run(|| {
        let lock = Lock::new();
        let (inside, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let g = lock.acquire();
        let a = enter_and_count(&lock, &inside, &most);
        yield_now(); // `a` parks in acquire
        drop(g); // handed to `a`, which has not run yet
        assert!(lock.locked(), "held for `a`");
        assert!(
            lock.release().is_err(),
            "a second release of the same holding"
        );
        let b = enter_and_count(&lock, &inside, &most);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(most.get(), 1, "never two tasks inside at once");
        assert!(!lock.locked());
        // Once the waiter runs, the holding is its own and any task may release it.
        let c = corio::spawn({
            let lock = lock.clone();
            move || lock.acquire().forget()
        });
        c.join().unwrap();
        assert!(lock.release().is_ok());
    });
}

// asyncio's `Condition.wait` (and `notify`) on a lock that was released and not yet taken by
// its waiter raises `RuntimeError('cannot wait on un-acquired lock')`.
#[test]
fn condition_wait_and_notify_during_a_hand_off_of_its_lock_are_errors() {
    corio::run(|| {
        let cond = corio::Condition::new();
        let g = cond.acquire();
        let waiter = corio::spawn({
            let cond = cond.clone();
            move || drop(cond.acquire())
        });
        yield_now(); // the waiter parks in acquire
        drop(g); // handed to it
        assert!(
            cond.wait().is_err(),
            "the lock is the waiter's turn, not ours"
        );
        assert!(cond.notify(1).is_err(), "asyncio's notify raises there too");
        assert!(cond.notify_all().is_err());
        waiter.join().unwrap();
        assert!(!cond.locked());
    });
}
