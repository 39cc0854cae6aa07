//! `Condition`: wait, with a lock held, until another coroutine signals a change (asyncio's
//! `Condition`).

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use super::lock::{Lock, LockGuard};
use crate::error::{Cancelled, NotLocked};
use std::panic::Location;

use crate::runtime::{Site, WaitKind, WaitList, park_until_granted, wake_all, wake_first};

/// A condition variable over a [`Lock`] (asyncio's `Condition`).
///
/// A coroutine holding the lock calls [`wait`](Condition::wait) (or
/// [`wait_for`](Condition::wait_for)) to release it and park until another coroutine calls
/// [`notify`](Condition::notify) or [`notify_all`](Condition::notify_all); the waiter then
/// takes the lock again before `wait` returns. Waiters are notified in the order they began
/// waiting. Cloning gives another handle to the same condition.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// corio::run(|| {
///     let cond = corio::Condition::new();
///     let items = Rc::new(RefCell::new(Vec::new()));
///     let consumer = {
///         let (cond, items) = (cond.clone(), items.clone());
///         corio::spawn(move || {
///             let _guard = cond.acquire();
///             cond.wait_for(|| !items.borrow().is_empty()).unwrap();
///             items.borrow_mut().pop()
///         })
///     };
///     corio::yield_now();
///     {
///         let _guard = cond.acquire();
///         items.borrow_mut().push("job");
///         cond.notify(1).unwrap();
///     }
///     assert_eq!(consumer.join().unwrap(), Some("job"));
/// });
/// ```
///
/// A `Condition` belongs to one loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::Condition>();
/// ```
#[derive(Clone)]
pub struct Condition {
    inner: Rc<Inner>,
}

impl Default for Condition {
    #[track_caller]
    fn default() -> Condition {
        Condition::new()
    }
}

struct Inner {
    lock: Lock,
    waiters: RefCell<WaitList>,
    /// Where the condition was made, for the deadlock report.
    created: &'static Location<'static>,
}

impl Inner {
    /// Wakes up to `n` waiters, first come first.
    fn notify(&self, n: usize) {
        for _ in 0..n {
            if !wake_first(&self.waiters) {
                break;
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.locked())
            .field("waiters", &self.inner.waiters.borrow().len())
            .finish()
    }
}

/// `true` if an unwind with this payload may be stopped to park once more: a cancellation,
/// but not the loop's final unwind on close, and not a panic.
fn can_park_after(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Cancelled>() && !crate::runtime::current_header().is_some_and(|h| h.closing.get())
}

impl Condition {
    /// A condition with a lock of its own.
    #[track_caller]
    pub fn new() -> Condition {
        Condition::with_lock(Lock::new())
    }

    /// A condition over `lock`, shared with other users of the lock (asyncio's
    /// `Condition(lock)`).
    ///
    /// ```
    /// corio::run(|| {
    ///     let lock = corio::Lock::new();
    ///     let cond = corio::Condition::with_lock(lock.clone());
    ///     let _guard = lock.acquire();
    ///     assert!(cond.locked());
    /// });
    /// ```
    #[track_caller]
    pub fn with_lock(lock: Lock) -> Condition {
        Condition {
            inner: Rc::new(Inner {
                lock,
                waiters: RefCell::new(WaitList::new()),
                created: Location::caller(),
            }),
        }
    }

    /// The underlying lock.
    pub fn lock(&self) -> &Lock {
        &self.inner.lock
    }

    /// Takes the underlying lock, as [`Lock::acquire`].
    ///
    /// # Cancel safety
    ///
    /// As [`Lock::acquire`].
    ///
    /// # Panics
    ///
    /// As [`Lock::acquire`].
    pub fn acquire(&self) -> LockGuard<'_> {
        self.inner.lock.acquire()
    }

    /// Takes the underlying lock if it is free, as [`Lock::try_acquire`].
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.inner.lock.try_acquire()
    }

    /// Releases the underlying lock, as [`Lock::release`].
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not locked.
    pub fn release(&self) -> Result<(), NotLocked> {
        self.inner.lock.release()
    }

    /// `true` while the underlying lock is held.
    pub fn locked(&self) -> bool {
        self.inner.lock.locked()
    }

    /// Releases the lock, parks until notified, then takes the lock again and returns. The
    /// caller's [`LockGuard`] stays valid across the call: the holding taken again is the
    /// caller's, so that guard releases it. (If the wait ends without the lock — the loop
    /// closing unwinds it — the guard leaves the lock alone.)
    ///
    /// ```
    /// corio::run(|| {
    ///     let cond = corio::Condition::new();
    ///     let c = cond.clone();
    ///     let waiter = corio::spawn(move || {
    ///         let _guard = c.acquire();
    ///         c.wait().unwrap();
    ///         assert!(c.locked(), "wait returns with the lock held");
    ///     });
    ///     corio::yield_now();
    ///     let guard = cond.acquire(); // free: the waiter released it in wait()
    ///     cond.notify(1).unwrap();
    ///     drop(guard);
    ///     waiter.join().unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not held when called, or was just released and handed to
    /// a waiter that has not run yet (see [`Lock::release`](crate::Lock::release)).
    ///
    /// # Cancel safety
    ///
    /// A cancelled waiter takes the lock again before the cancellation goes on (asyncio's
    /// "must re-acquire lock even if wait is cancelled"), so the caller's guard releases a
    /// lock it holds. Cancellations that arrive while it waits for the lock are absorbed
    /// until it has the lock; the last one then goes on. If it had already been notified, the
    /// notification is passed to the next waiter: none is lost.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub fn wait(&self) -> Result<(), NotLocked> {
        let inner = &*self.inner;
        if !inner.lock.releasable() {
            return Err(NotLocked);
        }
        // The caller's holding: given back once the lock is taken again, so the caller's
        // guard owns the lock after the wait as it did before.
        let holding = inner.lock.holding();
        let seq = inner.waiters.borrow_mut().push_current(WaitKind::Condition);
        inner
            .lock
            .release()
            .expect("the lock was checked to be locked");

        let mut unwinding = None;
        let site = Site("condition", inner.created);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| {
            park_until_granted(&inner.waiters, seq, &site)
        })) {
            unwinding = Some(p);
        }
        // Entry gone without our removing it: we were notified.
        let notified = inner.waiters.borrow_mut().remove(seq).is_none();

        // Take the lock again, even when cancelled.
        loop {
            if unwinding.as_deref().is_some_and(|p| !can_park_after(p)) {
                break;
            }
            match catch_unwind(AssertUnwindSafe(|| inner.lock.acquire().forget())) {
                Ok(()) => {
                    inner.lock.resume_holding(holding);
                    break;
                }
                Err(p) => unwinding = Some(p),
            }
        }
        if let Some(p) = unwinding {
            if notified {
                // We took a notification we cannot act on: give it to the next waiter.
                inner.notify(1);
            }
            resume_unwind(p);
        }
        Ok(())
    }

    /// Waits until `predicate` returns `true`: checks it first, then after every wake-up
    /// (asyncio's `wait_for`). The predicate runs with the lock held.
    ///
    /// ```
    /// corio::run(|| {
    ///     let cond = corio::Condition::new();
    ///     // A predicate already true returns at once, lock or not.
    ///     assert!(cond.wait_for(|| true).is_ok());
    ///     assert!(cond.wait_for(|| false).is_err(), "waiting needs the lock");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if it has to wait and the lock is not held.
    ///
    /// # Cancel safety
    ///
    /// As [`wait`](Condition::wait).
    ///
    /// # Panics
    ///
    /// As [`wait`](Condition::wait).
    pub fn wait_for<F: FnMut() -> bool>(&self, mut predicate: F) -> Result<(), NotLocked> {
        while !predicate() {
            self.wait()?;
        }
        Ok(())
    }

    /// Wakes up to `n` waiters, longest-waiting first. Each takes the lock again before its
    /// `wait` returns, so they go on one by one after the caller releases it.
    ///
    /// ```
    /// let cond = corio::Condition::new();
    /// assert!(cond.notify(1).is_err(), "notifying needs the lock");
    /// let _guard = cond.try_acquire().unwrap();
    /// assert!(cond.notify(1).is_ok(), "no waiter: nothing happens");
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not held (or only handed to a waiter that has not run).
    pub fn notify(&self, n: usize) -> Result<(), NotLocked> {
        if !self.inner.lock.releasable() {
            return Err(NotLocked);
        }
        self.inner.notify(n);
        Ok(())
    }

    /// Wakes every waiter.
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not held (or only handed to a waiter that has not run).
    pub fn notify_all(&self) -> Result<(), NotLocked> {
        if !self.inner.lock.releasable() {
            return Err(NotLocked);
        }
        wake_all(&self.inner.waiters);
        Ok(())
    }
}
