//! `Condition`: notify order, the lock taken back even when cancelled, no lost notification.

mod common;

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use corio::{Cancelled, Condition, Lock, NotLocked, Task, yield_now};

type Log = Rc<RefCell<Vec<i32>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

/// Yields until `done` holds, at most 100 times.
fn yield_until(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        yield_now();
    }
    panic!("condition not reached after 100 yields");
}

/// Takes the lock, waits once, records `i`, and keeps the lock (asyncio's `c1`..`c3` that
/// never release).
fn wait_and_keep(cond: &Condition, out: &Log, i: i32) -> Task<bool> {
    let (cond, out) = (cond.clone(), out.clone());
    corio::spawn(move || {
        cond.acquire().forget();
        cond.wait().unwrap();
        out.borrow_mut().push(i);
        true
    })
}

/// Takes the lock, waits once, records `i`, releases.
fn wait_and_release(cond: &Condition, out: &Log, i: i32) -> Task<bool> {
    let (cond, out) = (cond.clone(), out.clone());
    corio::spawn(move || {
        let _guard = cond.acquire();
        cond.wait().unwrap();
        out.borrow_mut().push(i);
        true
    })
}

// cpython: test_locks.py ConditionTests.test_wait
#[test]
fn condition_notified_waiters_take_the_lock_one_by_one_in_order() {
    corio::run(|| {
        let cond = Condition::new();
        let result = log();
        let tasks: Vec<_> = (1..=3).map(|i| wait_and_keep(&cond, &result, i)).collect();
        yield_now();
        assert!(result.borrow().is_empty());
        assert!(!cond.locked());

        cond.acquire().forget();
        cond.notify(1).unwrap();
        yield_now();
        assert!(
            result.borrow().is_empty(),
            "notified, but the lock is still held"
        );
        assert!(cond.locked());

        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1]);
        assert!(cond.locked());

        cond.notify(2).unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1]);
        assert!(cond.locked());

        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2]);
        assert!(cond.locked());

        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2, 3]);
        assert!(cond.locked());

        for t in tasks {
            assert!(t.is_done());
            assert!(t.join().unwrap());
        }
    });
}

// cpython: test_locks.py ConditionTests.test_wait_cancel
#[test]
fn condition_wait_cancelled_takes_the_lock_back_and_leaves_no_waiter() {
    corio::run(|| {
        let cond = Condition::new();
        cond.acquire().forget();
        let c = cond.clone();
        let wait = corio::spawn(move || c.wait());
        yield_now();
        assert!(!cond.locked(), "the waiter released the lock");
        wait.cancel();
        assert!(wait.join().unwrap_err().is_cancelled());
        assert_eq!(
            format!("{cond:?}"),
            "Condition { locked: true, waiters: 0 }"
        );
    });
}

// cpython: test_locks.py ConditionTests.test_wait_cancel_contested
#[test]
fn condition_wait_cancelled_while_the_lock_is_contested_still_takes_it() {
    corio::run(|| {
        let cond = Condition::new();
        cond.acquire().forget();
        assert!(cond.locked());

        let me = Rc::new(RefCell::new(None));
        let c = cond.clone();
        let m = me.clone();
        let wait_task = corio::spawn(move || {
            *m.borrow_mut() = corio::current_task();
            c.wait()
        });
        yield_now();
        assert!(!cond.locked());

        // Notify, but contest the lock before cancelling.
        cond.acquire().forget();
        assert!(cond.locked());
        cond.notify(1).unwrap();
        let target = me.borrow().clone().unwrap();
        corio::runtime::call_soon(move || {
            target.cancel();
        });
        let c = cond.clone();
        corio::runtime::call_soon(move || c.release().unwrap());

        yield_until(|| wait_task.is_done());
        // Cancelled or not, the waiter ended holding the lock.
        assert!(cond.locked());
    });
}

// cpython: test_locks.py ConditionTests.test_wait_cancel_after_notify
#[test]
fn condition_waiter_cancelled_after_notify_waits_for_the_lock_then_ends() {
    corio::run(|| {
        let cond = Condition::new();
        let waited = Rc::new(Cell::new(false));
        let (c, w) = (cond.clone(), waited.clone());
        let waiter = corio::spawn(move || {
            let _guard = c.acquire();
            w.set(true);
            c.wait().unwrap();
        });
        yield_now(); // start waiting

        cond.acquire().forget();
        cond.notify(1).unwrap();
        yield_now(); // the waiter now waits for the lock
        waiter.cancel();
        yield_now(); // the cancellation is delivered, and absorbed until the lock is back
        assert!(!waiter.is_done());
        cond.release().unwrap();
        yield_now(); // the waiter takes the lock, then the cancellation goes on

        assert!(waiter.is_cancelled());
        assert!(waited.get());
        assert!(
            !cond.locked(),
            "the waiter's guard released the lock it took back"
        );
    });
}

// cpython: test_locks.py ConditionTests.test_wait_unacquired
#[test]
fn condition_wait_without_the_lock_is_an_error() {
    corio::run(|| {
        let cond = Condition::new();
        assert_eq!(cond.wait(), Err(NotLocked));
    });
}

// cpython: test_locks.py ConditionTests.test_wait_for
#[test]
fn condition_wait_for_returns_once_the_predicate_holds() {
    corio::run(|| {
        let cond = Condition::new();
        let presult = Rc::new(Cell::new(false));
        let result = log();
        let t = {
            let (cond, presult, result) = (cond.clone(), presult.clone(), result.clone());
            corio::spawn(move || {
                cond.acquire().forget();
                cond.wait_for(|| presult.get()).unwrap();
                result.borrow_mut().push(1);
                cond.release().unwrap();
                true
            })
        };
        yield_now();
        assert!(result.borrow().is_empty());

        cond.acquire().forget();
        cond.notify(1).unwrap();
        cond.release().unwrap();
        yield_now();
        assert!(result.borrow().is_empty(), "woken, predicate still false");

        presult.set(true);
        cond.acquire().forget();
        cond.notify(1).unwrap();
        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1]);

        assert!(t.is_done());
        assert!(t.join().unwrap());
    });
}

// cpython: test_locks.py ConditionTests.test_wait_for_unacquired
#[test]
fn condition_wait_for_needs_the_lock_only_when_it_has_to_wait() {
    corio::run(|| {
        let cond = Condition::new();
        assert_eq!(cond.wait_for(|| true), Ok(()));
        assert_eq!(cond.wait_for(|| false), Err(NotLocked));
    });
}

// cpython: test_locks.py ConditionTests.test_notify
#[test]
fn condition_notify_wakes_that_many_waiters_in_order() {
    corio::run(|| {
        let cond = Condition::new();
        let result = log();
        let tasks: Vec<_> = (1..=3)
            .map(|i| wait_and_release(&cond, &result, i))
            .collect();
        yield_now();
        assert!(result.borrow().is_empty());

        cond.acquire().forget();
        cond.notify(1).unwrap();
        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1]);

        cond.acquire().forget();
        cond.notify(1).unwrap();
        cond.notify(2048).unwrap();
        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2, 3]);

        for t in tasks {
            assert!(t.is_done());
            assert!(t.join().unwrap());
        }
    });
}

// cpython: test_locks.py ConditionTests.test_notify_all
#[test]
fn condition_notify_all_wakes_every_waiter() {
    corio::run(|| {
        let cond = Condition::new();
        let result = log();
        let tasks: Vec<_> = (1..=2)
            .map(|i| wait_and_release(&cond, &result, i))
            .collect();
        yield_now();
        assert!(result.borrow().is_empty());

        cond.acquire().forget();
        cond.notify_all().unwrap();
        cond.release().unwrap();
        yield_now();
        assert_eq!(*result.borrow(), [1, 2]);
        for t in tasks {
            assert!(t.join().unwrap());
        }
    });
}

// cpython: test_locks.py ConditionTests.test_notify_unacquired
#[test]
fn condition_notify_without_the_lock_is_an_error() {
    let cond = Condition::new();
    assert_eq!(cond.notify(1), Err(NotLocked));
}

// cpython: test_locks.py ConditionTests.test_notify_all_unacquired
#[test]
fn condition_notify_all_without_the_lock_is_an_error() {
    let cond = Condition::new();
    assert_eq!(cond.notify_all(), Err(NotLocked));
}

// cpython: test_locks.py ConditionTests.test_repr
#[test]
fn condition_debug_shows_lock_state_and_waiters() {
    corio::run(|| {
        let cond = Condition::new();
        assert_eq!(
            format!("{cond:?}"),
            "Condition { locked: false, waiters: 0 }"
        );
        cond.acquire().forget();
        assert_eq!(
            format!("{cond:?}"),
            "Condition { locked: true, waiters: 0 }"
        );
        let result = log();
        let t1 = wait_and_release(&cond, &result, 1);
        let t2 = wait_and_release(&cond, &result, 2);
        cond.release().unwrap();
        yield_now();
        assert_eq!(
            format!("{cond:?}"),
            "Condition { locked: false, waiters: 2 }"
        );
        cond.acquire().forget();
        cond.notify_all().unwrap();
        cond.release().unwrap();
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

// cpython: test_locks.py ConditionTests.test_context_manager
#[test]
fn condition_guard_releases_the_lock() {
    corio::run(|| {
        let cond = Condition::new();
        assert!(!cond.locked());
        {
            let _g = cond.acquire();
            assert!(cond.locked());
        }
        assert!(!cond.locked());
    });
}

// cpython: test_locks.py ConditionTests.test_explicit_lock
#[test]
fn condition_over_an_explicit_lock_shares_its_state() {
    corio::run(|| {
        let check = |lock: Lock, cond: Condition| {
            assert!(!lock.locked() && !cond.locked());
            {
                let _g = cond.acquire();
                assert!(lock.locked() && cond.locked());
            }
            assert!(!lock.locked() && !cond.locked());
            {
                let _g = lock.acquire();
                assert!(lock.locked() && cond.locked());
            }
            assert!(!lock.locked() && !cond.locked());
        };
        let lock = Lock::new();
        check(lock.clone(), Condition::with_lock(lock));
        let cond = Condition::new();
        check(cond.lock().clone(), cond);
    });
}

/// Checks that `payload`, caught from a parking call, is the cancellation itself (a
/// [`Cancelled`], not a panic or another payload in its place), that the one request made is
/// still counted, and re-raises it unchanged, so the task ends cancelled (CPython checks that
/// the very exception instance comes out: `assertIs(err.exception, raised)`).
fn assert_unmodified_cancellation(payload: Box<dyn Any + Send>) -> ! {
    assert!(
        payload.is::<Cancelled>(),
        "the payload is not the cancellation: {:?}",
        common::panic_text(&*payload)
    );
    assert_eq!(
        corio::current_task().unwrap().cancelling(),
        1,
        "one request, counted once"
    );
    resume_unwind(payload)
}

// cpython: test_locks.py ConditionTests.test_cancelled_error_wakeup
#[test]
fn condition_cancelled_while_waiting_unwinds_with_the_lock_held() {
    corio::run(|| {
        let cond = Condition::new();
        let c = cond.clone();
        let task = corio::spawn(move || {
            let _guard = c.acquire();
            let payload = catch_unwind(AssertUnwindSafe(|| c.wait_for(|| false)))
                .expect_err("the cancellation comes out of wait_for");
            assert!(c.locked(), "with the lock taken back");
            assert_unmodified_cancellation(payload)
        });
        yield_now();
        task.cancel();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(!cond.locked());
    });
}

// cpython: test_locks.py ConditionTests.test_cancelled_error_re_aquire
#[test]
fn condition_cancelled_while_taking_the_lock_back_unwinds_with_the_lock_held() {
    corio::run(|| {
        let cond = Condition::new();
        let wake = Rc::new(Cell::new(false));
        let (c, w) = (cond.clone(), wake.clone());
        let task = corio::spawn(move || {
            let _guard = c.acquire();
            let payload = catch_unwind(AssertUnwindSafe(|| c.wait_for(|| w.get())))
                .expect_err("the cancellation comes out of wait_for");
            assert!(c.locked(), "with the lock taken back");
            assert_unmodified_cancellation(payload)
        });
        yield_now();
        cond.acquire().forget();
        wake.set(true);
        cond.notify(1).unwrap();
        yield_now(); // the task now waits for the lock
        task.cancel();
        cond.release().unwrap();
        assert!(task.join().unwrap_err().is_cancelled());
        assert!(!cond.locked());
    });
}

/// A consumer that takes one unit of `state` per wake-up and ends when `state` goes negative.
fn consumer(cond: &Condition, state: &Rc<Cell<i32>>) -> Task<()> {
    let (cond, state) = (cond.clone(), state.clone());
    corio::spawn(move || {
        let _guard = cond.acquire();
        loop {
            cond.wait_for(|| state.get() != 0).unwrap();
            if state.get() < 0 {
                return;
            }
            state.set(state.get() - 1);
        }
    })
}

// cpython: test_locks.py ConditionTests.test_cancelled_wakeup
#[test]
fn condition_waiter_cancelled_as_it_is_notified_passes_the_notification_on() {
    corio::run(|| {
        let cond = Condition::new();
        let state = Rc::new(Cell::new(0));
        let c0 = consumer(&cond, &state);
        let c1 = consumer(&cond, &state);
        yield_now();
        {
            let _guard = cond.acquire();
            state.set(1);
            cond.notify(1).unwrap();
            // Cancel the notified one before it runs.
            c0.cancel();
        }
        yield_until(|| state.get() == 0);
        assert!(c0.is_cancelled());

        {
            let _guard = cond.acquire();
            state.set(-1);
            cond.notify_all().unwrap();
        }
        c1.join().unwrap();
    });
}

// cpython: test_locks.py ConditionTests.test_cancelled_wakeup_relock
#[test]
fn condition_waiter_cancelled_while_taking_the_lock_back_passes_the_notification_on() {
    corio::run(|| {
        let cond = Condition::new();
        let state = Rc::new(Cell::new(0));
        let c0 = consumer(&cond, &state);
        let c1 = consumer(&cond, &state);
        yield_now();
        {
            let _guard = cond.acquire();
            state.set(1);
            cond.notify(1).unwrap();
            yield_now(); // c0 wakes and waits for the lock
            c0.cancel();
        }
        yield_until(|| state.get() == 0);
        assert!(c0.is_cancelled());

        {
            let _guard = cond.acquire();
            state.set(-1);
            cond.notify_all().unwrap();
        }
        c1.join().unwrap();
    });
}

#[test]
fn condition_cancelled_waiter_that_was_not_notified_takes_no_notification() {
    corio::run(|| {
        let cond = Condition::new();
        let result = log();
        let t1 = wait_and_release(&cond, &result, 1);
        let t2 = wait_and_release(&cond, &result, 2);
        let t3 = wait_and_release(&cond, &result, 3);
        yield_now();
        t1.cancel();
        assert!(t1.join().unwrap_err().is_cancelled());
        {
            let _g = cond.acquire();
            cond.notify(1).unwrap();
        }
        t2.join().unwrap();
        yield_now();
        assert_eq!(
            *result.borrow(),
            [2],
            "exactly one notification, to the first live waiter"
        );
        assert_eq!(
            format!("{cond:?}"),
            "Condition { locked: false, waiters: 1 }"
        );
        {
            let _g = cond.acquire();
            cond.notify(1).unwrap();
        }
        t3.join().unwrap();
    });
}

#[test]
fn condition_waiter_left_at_shutdown_does_not_hang_the_loop() {
    let unwound = Rc::new(Cell::new(0));
    let u = unwound.clone();
    corio::run(move || {
        let cond = Condition::new();
        for _ in 0..2 {
            let (c, u) = (cond.clone(), u.clone());
            corio::spawn(move || {
                struct Count(Rc<Cell<i32>>);
                impl Drop for Count {
                    fn drop(&mut self) {
                        self.0.set(self.0.get() + 1);
                    }
                }
                let _count = Count(u);
                let _guard = c.acquire();
                c.wait().unwrap();
            });
        }
        yield_now();
        // Take the lock and never give it back: at shutdown the cancelled waiters cannot
        // take it again, and the loop's final unwind must still end them.
        cond.acquire().forget();
        cond.notify_all().unwrap();
    });
    assert_eq!(unwound.get(), 2);
}

#[test]
fn condition_guard_releases_the_lock_after_a_wait() {
    corio::run(|| {
        let cond = Condition::new();
        let c = cond.clone();
        let waiter = corio::spawn(move || {
            let _guard = c.acquire();
            c.wait().unwrap();
            assert!(c.locked());
        });
        yield_now();
        {
            let _g = cond.acquire();
            cond.notify(1).unwrap();
        }
        waiter.join().unwrap();
        assert!(
            !cond.locked(),
            "the waiter's guard owns the lock it took back"
        );
    });
}

#[test]
fn condition_waiter_unwound_at_loop_close_leaves_the_next_holder_alone() {
    let cond = Condition::new();
    let lp = corio::EventLoop::new().unwrap();
    let c = cond.clone();
    lp.run_until_complete(move || {
        let w = c.clone();
        let _waiter = corio::spawn(move || {
            let _guard = w.acquire();
            let _ = w.wait();
        });
        yield_now(); // the waiter released the lock in wait()
        c.acquire().forget(); // and the main coroutine keeps it
    })
    .unwrap();
    // The waiter unwinds without taking the lock back: its guard must not release the
    // main coroutine's holding.
    drop(lp);
    assert!(cond.locked());
}
