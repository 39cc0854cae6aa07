//! `Lock`: mutual exclusion between coroutines (asyncio's `Lock`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use super::waiters::{WaitList, park_until_granted, wake_first};
use crate::error::NotLocked;

/// A lock that coroutines take turns holding (asyncio's `Lock`).
///
/// [`acquire`](Lock::acquire) parks while another coroutine holds the lock and returns a
/// [`LockGuard`] that releases it when dropped. Waiters are served first come, first served:
/// [`release`](Lock::release) hands the lock straight to the longest-waiting coroutine, so a
/// coroutine that comes later — even one that never parks, like [`try_acquire`](Lock::try_acquire)
/// — cannot take it first. Like asyncio's, the lock is not owned by a task: any coroutine may
/// release it.
///
/// Cloning gives another handle to the same lock. A `Lock` belongs to one loop's thread:
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// assert_send(corio::Lock::new());
/// ```
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// corio::run(|| {
///     let lock = corio::Lock::new();
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let tasks: Vec<_> = (0..3)
///         .map(|i| {
///             let (lock, log) = (lock.clone(), log.clone());
///             corio::spawn(move || {
///                 let _guard = lock.acquire();
///                 log.borrow_mut().push(i);
///                 corio::yield_now(); // others run meanwhile, but wait for the lock
///                 log.borrow_mut().push(i);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.join().unwrap();
///     }
///     assert_eq!(*log.borrow(), [0, 0, 1, 1, 2, 2]);
///     assert!(!lock.locked());
/// });
/// ```
#[derive(Clone, Default)]
pub struct Lock {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Held by someone, or handed to the first waiter who has not run yet.
    /// Invariant: `waiters` is not empty only while `locked` is set.
    locked: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Inner {
    /// Gives the lock to the first waiter, or unlocks it if nobody waits.
    fn unlock(&self) {
        if !wake_first(&self.waiters) {
            self.locked.set(false);
        }
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("waiters", &self.inner.waiters.borrow().len())
            .finish()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Takes the lock, parking until it is this coroutine's turn. The lock is released when
    /// the guard is dropped (or with [`LockGuard::forget`] and [`release`](Lock::release)).
    ///
    /// ```
    /// corio::run(|| {
    ///     let lock = corio::Lock::new();
    ///     {
    ///         let _guard = lock.acquire();
    ///         assert!(lock.locked());
    ///     }
    ///     assert!(!lock.locked());
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// A coroutine cancelled while waiting leaves the line; if the lock had already been
    /// handed to it, it passes the lock on to the next waiter (or unlocks it). No lock is
    /// ever left owned by a dead waiter.
    ///
    /// # Panics
    ///
    /// Outside a coroutine when the lock is taken (an unlocked lock is taken without
    /// parking anywhere). Unwinds with [`Cancelled`](crate::Cancelled) when the task is
    /// cancelled while waiting.
    pub fn acquire(&self) -> LockGuard<'_> {
        if !self.inner.locked.get() {
            self.inner.locked.set(true);
        } else {
            self.acquire_slow();
        }
        LockGuard { lock: self }
    }

    fn acquire_slow(&self) {
        let seq = self.inner.waiters.borrow_mut().push_current();
        let line = InLine {
            inner: &self.inner,
            seq,
        };
        park_until_granted(&self.inner.waiters, seq, "lock");
        // The releaser handed the lock over: `locked` stayed set for us.
        std::mem::forget(line);
    }

    /// Takes the lock if it is free and nobody waits for it; never parks.
    ///
    /// ```
    /// let lock = corio::Lock::new();
    /// let guard = lock.try_acquire().expect("free");
    /// assert!(lock.try_acquire().is_none());
    /// drop(guard);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        if self.inner.locked.get() {
            return None;
        }
        self.inner.locked.set(true);
        Some(LockGuard { lock: self })
    }

    /// Releases the lock: the first waiter gets it, or it becomes unlocked. For a lock taken
    /// with [`LockGuard::forget`]; a guard releases by itself.
    ///
    /// ```
    /// corio::run(|| {
    ///     let lock = corio::Lock::new();
    ///     lock.acquire().forget(); // asyncio style: acquire() ... release()
    ///     assert!(lock.locked());
    ///     lock.release().unwrap();
    ///     assert!(lock.release().is_err(), "not locked any more");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`NotLocked`] if the lock is not locked.
    pub fn release(&self) -> Result<(), NotLocked> {
        if !self.inner.locked.get() {
            return Err(NotLocked);
        }
        self.inner.unlock();
        Ok(())
    }

    /// `true` while the lock is held (or handed to a waiter that has not run yet).
    pub fn locked(&self) -> bool {
        self.inner.locked.get()
    }
}

/// A waiter's place in line; dropped only when the wait is abandoned (cancelled).
struct InLine<'a> {
    inner: &'a Inner,
    seq: u64,
}

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let was_waiting = self.inner.waiters.borrow_mut().remove(self.seq);
        if !was_waiting {
            // The lock was handed to us as we were cancelled: pass it on.
            self.inner.unlock();
        }
    }
}

/// Holds a [`Lock`] and releases it when dropped (asyncio's `async with lock:`).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl LockGuard<'_> {
    /// Keeps the lock locked without the guard; release it later with
    /// [`Lock::release`] (asyncio's explicit `acquire()` / `release()` pairs).
    ///
    /// ```
    /// let lock = corio::Lock::new();
    /// lock.try_acquire().unwrap().forget();
    /// assert!(lock.locked());
    /// lock.release().unwrap();
    /// assert!(!lock.locked());
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Released by hand already (a bug in the caller): nothing left to give back.
        if self.lock.inner.locked.get() {
            self.lock.inner.unlock();
        }
    }
}
