//! `Lock`: mutual exclusion between coroutines (asyncio's `Lock`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::error::NotLocked;
use std::panic::Location;

use crate::runtime::current_id;
use crate::runtime::{Ticket, WaitInfo, WaitKind, WaitList, WaitTarget, Waker, park_until_granted};

/// A lock that coroutines take turns holding (asyncio's `Lock`).
///
/// [`acquire`](Lock::acquire) parks while another coroutine holds the lock and returns a
/// [`LockGuard`] that releases it when dropped. Waiters are served first come, first served:
/// [`release`](Lock::release) hands the lock straight to the longest-waiting coroutine, so a
/// coroutine that comes later — even one that never parks, like [`try_acquire`](Lock::try_acquire)
/// — cannot take it first. Like asyncio's, the lock is not owned by a task: any coroutine may
/// release it.
///
/// A [`LockGuard`] releases only the holding it was made for: once the lock has been released
/// by hand ([`release`](Lock::release)), an old guard's drop leaves the lock — and whoever
/// holds it next — alone.
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
#[derive(Clone)]
pub struct Lock {
    inner: Rc<Inner>,
}

impl Default for Lock {
    #[track_caller]
    fn default() -> Lock {
        Lock::new()
    }
}

struct Inner {
    /// The current holding's token, `0` when unlocked. A holding is the lock taken by someone
    /// (or handed to the first waiter, who has not run yet); each has its own token, so a
    /// guard can tell its own holding from a later one. Tokens of holdings taken without
    /// waiting are even ([`Inner::take`]); a hand-off's is odd, made from the waiter's ticket
    /// ([`handoff_token`]), so the waiter knows it without being told.
    /// Invariant: `waiters` is not empty only while `holder` is not `0`.
    holder: Cell<u64>,
    /// `true` from a hand-off until the waiter it went to runs (or passes it on): the
    /// releaser has let go and the new holder has not started, so a release then releases
    /// nobody's holding (asyncio's lock is unlocked in that window).
    handed: Cell<bool>,
    /// The last token [`Inner::take`] gave out.
    last_taken: Cell<u64>,
    waiters: RefCell<WaitList>,
    /// The id of the task holding the lock (meaningful while `holder` is not `0`; `0`
    /// when taken outside any task), for the deadlock report: one store, no reference.
    holder_task: Cell<u64>,
    /// Where the lock was made.
    created: &'static Location<'static>,
}

impl WaitTarget for Inner {
    fn describe(&self) -> WaitInfo {
        // A holding taken outside any task has holder_task 0, which names no live task:
        // introspection then says the lock is held by no live task.
        let held = self.holder.get() != 0;
        WaitInfo {
            created: Some(self.created),
            holder: held.then(|| self.holder_task.get()),
            ..WaitInfo::kind("lock")
        }
    }
}

/// The token of the holding handed to the waiter with ticket `seq` (odd, never `0`).
fn handoff_token(seq: Ticket) -> u64 {
    seq.get().wrapping_mul(2) | 1
}

impl Inner {
    /// Takes the free lock; returns the new holding's token.
    #[inline]
    fn take(&self) -> u64 {
        let token = self.last_taken.get().wrapping_add(2);
        self.last_taken.set(token);
        self.holder.set(token);
        self.holder_task.set(current_id());
        token
    }

    /// Gives the lock to the first waiter, or unlocks it if nobody waits.
    #[inline]
    fn unlock(&self) {
        let next = self.waiters.borrow_mut().pop_with_ticket();
        match next {
            Some((seq, waker)) => self.hand_over(seq, waker),
            None => {
                self.holder.set(0);
                self.handed.set(false);
            }
        }
    }

    /// Hands the lock to the waiter `seq` and wakes it. Out of line, so that an uncontended
    /// release stays a few instructions with no frame to set up.
    #[inline(never)]
    fn hand_over(&self, seq: Ticket, waker: Waker) {
        self.holder.set(handoff_token(seq));
        self.handed.set(true);
        self.holder_task.set(waker.task.header().id());
        waker.wake_owned();
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
    /// An unlocked lock. Where it is made is remembered for the deadlock report.
    #[track_caller]
    pub fn new() -> Lock {
        Lock {
            inner: Rc::new(Inner {
                holder: Cell::new(0),
                handed: Cell::new(false),
                last_taken: Cell::new(0),
                waiters: RefCell::new(WaitList::new()),
                holder_task: Cell::new(0),
                created: Location::caller(),
            }),
        }
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
        let token = if self.inner.holder.get() == 0 {
            self.inner.take()
        } else {
            self.acquire_slow()
        };
        LockGuard { lock: self, token }
    }

    #[cold]
    fn acquire_slow(&self) -> u64 {
        let seq = self.inner.waiters.borrow_mut().push_current(WaitKind::Lock);
        let line = AbandonGuard {
            inner: &self.inner,
            seq,
        };
        park_until_granted(&self.inner.waiters, seq, &*self.inner);
        // The releaser handed the lock over, with the token made from our ticket.
        std::mem::forget(line);
        self.inner.handed.set(false);
        handoff_token(seq)
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
        if self.inner.holder.get() != 0 {
            return None;
        }
        let token = self.inner.take();
        Some(LockGuard { lock: self, token })
    }

    /// Releases the lock: the first waiter gets it, or it becomes unlocked. For a lock taken
    /// with [`LockGuard::forget`]; a guard releases by itself.
    ///
    /// Whatever holding is current is released, as asyncio's `release()` does. A guard whose
    /// holding was released this way no longer owns the lock: dropping it later does nothing,
    /// even if the lock has been taken again by then.
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
    /// [`NotLocked`] if the lock is not locked, or was released and handed to a waiter that
    /// has not run yet (a second release of the same holding, which asyncio reports too).
    pub fn release(&self) -> Result<(), NotLocked> {
        if !self.releasable() {
            return Err(NotLocked);
        }
        self.inner.unlock();
        Ok(())
    }

    /// `true` if [`release`](Self::release) would release a holding: the lock is held, and
    /// not just handed to a waiter that has not run yet (that waiter's holding starts when it
    /// runs; until then asyncio's lock counts as unlocked, and a second release is an error,
    /// not a release of the waiter's turn).
    pub(crate) fn releasable(&self) -> bool {
        self.inner.holder.get() != 0 && !self.inner.handed.get()
    }

    /// `true` while the lock is held (or handed to a waiter that has not run yet).
    pub fn locked(&self) -> bool {
        self.inner.holder.get() != 0
    }

    /// The current holding's token, `0` when unlocked (for [`Condition`](crate::Condition),
    /// which gives its caller's holding back after a wait).
    pub(crate) fn holding(&self) -> u64 {
        self.inner.holder.get()
    }

    /// Marks the holding the current task has just taken as the holding `token` again, so
    /// the guard made for `token` owns the lock once more.
    pub(crate) fn resume_holding(&self, token: u64) {
        debug_assert!(self.locked() && token != 0);
        self.inner.holder.set(token);
        self.inner.holder_task.set(current_id());
    }
}

/// A waiter's place in line; dropped only when the wait is abandoned (cancelled).
struct AbandonGuard<'a> {
    inner: &'a Inner,
    seq: Ticket,
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        let was_waiting = self.inner.waiters.borrow_mut().remove(self.seq).is_some();
        if !was_waiting && self.inner.holder.get() == handoff_token(self.seq) {
            // The lock was handed to us as we were cancelled: pass it on.
            self.inner.unlock();
        }
    }
}

/// Holds a [`Lock`] and releases it when dropped (asyncio's `async with lock:`).
///
/// A guard owns one *holding* of the lock, from the acquire that made it to the release.
/// Dropping it releases that holding only: if the lock was released by hand meanwhile
/// ([`Lock::release`]), the drop does nothing, so it can never free a lock another
/// coroutine has taken since.
///
/// ```
/// let lock = corio::Lock::new();
/// let old = lock.try_acquire().unwrap();
/// lock.release().unwrap(); // asyncio style, while the guard still exists
/// let new = lock.try_acquire().unwrap(); // someone else's holding
/// drop(old); // not its holding any more: nothing happens
/// assert!(lock.locked());
/// drop(new);
/// assert!(!lock.locked());
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    /// The holding this guard owns (never `0`).
    token: u64,
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
        // Released by hand already: the lock is unlocked or someone else's now.
        if self.lock.inner.holder.get() == self.token {
            self.lock.inner.unlock();
        }
    }
}
