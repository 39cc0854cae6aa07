//! `Semaphore`: a counter of permits coroutines take and give back (asyncio's `Semaphore`),
//! and the engine [`BoundedSemaphore`](super::BoundedSemaphore) shares.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use std::panic::Location;

use crate::runtime::{
    Ticket, WaitInfo, WaitKind, WaitList, WaitTarget, current_id, park_until_granted,
};

/// A pool of permits (asyncio's `Semaphore`): at most `value` coroutines hold one at a time.
///
/// [`acquire`](Semaphore::acquire) takes a permit, parking while there is none, and returns a
/// [`SemaphorePermit`] that gives it back when dropped. A permit given back while coroutines
/// wait goes straight to the longest-waiting one, and a coroutine that comes later — even one
/// that never parks, like [`try_acquire`](Semaphore::try_acquire) — queues behind every
/// coroutine that was in line before it, so coroutines go on in the order they asked.
/// Cloning gives another handle to the same semaphore.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// corio::run(|| {
///     let sem = corio::Semaphore::new(2);
///     let inside = Rc::new(Cell::new(0));
///     let most = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..6)
///         .map(|_| {
///             let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
///             corio::spawn(move || {
///                 let _permit = sem.acquire();
///                 inside.set(inside.get() + 1);
///                 most.set(most.get().max(inside.get()));
///                 corio::yield_now();
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.join().unwrap();
///     }
///     assert_eq!(most.get(), 2);
///     assert_eq!(sem.available(), 2);
/// });
/// ```
///
/// A `Semaphore` belongs to one loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::Semaphore>();
/// ```
#[derive(Clone)]
pub struct Semaphore {
    pub(super) inner: Rc<Inner>,
}

pub(super) struct Inner {
    /// Free permits.
    value: Cell<usize>,
    /// Permits handed to waiters that have not run yet. While there are any, newcomers queue
    /// even if a permit is free, so coroutines go on in the order they asked (asyncio 3.13's
    /// `locked()` counts woken waiters as still waiting). Invariant: with no handed permit
    /// and a free one, nobody waits.
    handed: Cell<usize>,
    /// Most permits the semaphore can hold ([`BoundedSemaphore`](super::BoundedSemaphore)),
    /// `usize::MAX` for a plain semaphore.
    pub(super) bound: usize,
    waiters: RefCell<WaitList>,
    /// The task that took the last permit, by id (`0`: none or outside a task), for the
    /// deadlock report.
    last_taker: Cell<u64>,
    /// Where the semaphore was made.
    created: &'static Location<'static>,
}

impl WaitTarget for Inner {
    fn describe(&self) -> WaitInfo {
        let held = self.value.get() == 0 && self.last_taker.get() != 0;
        WaitInfo {
            created: Some(self.created),
            holder: held.then(|| self.last_taker.get()),
            ..WaitInfo::kind("semaphore")
        }
    }
}

impl Inner {
    #[track_caller]
    pub(super) fn new(value: usize, bound: usize) -> Inner {
        Inner {
            value: Cell::new(value),
            handed: Cell::new(0),
            bound,
            waiters: RefCell::new(WaitList::new()),
            last_taker: Cell::new(0),
            created: Location::caller(),
        }
    }

    pub(super) fn value(&self) -> usize {
        self.value.get()
    }

    /// `true` if a newcomer must queue: no free permit, or permits handed to waiters that
    /// have not run yet (they go first).
    #[inline]
    pub(super) fn locked(&self) -> bool {
        self.value.get() == 0 || self.handed.get() > 0
    }

    /// Permits free or on their way to a waiter: what a release must not push past the bound.
    pub(super) fn unheld(&self) -> usize {
        self.value.get() + self.handed.get()
    }

    /// Hands a free permit to the first waiter; `false` if nobody waits.
    fn hand_one(&self) -> bool {
        let w = self.waiters.borrow_mut().pop();
        match w {
            Some(w) => {
                self.value.set(self.value.get() - 1);
                self.handed.set(self.handed.get() + 1);
                self.last_taker.set(w.task.header().id());
                w.wake_owned();
                true
            }
            None => false,
        }
    }

    /// Hands free permits to waiters while both last (waiters that queued behind handed
    /// permits, asyncio's `finally: while self._value > 0: _wake_up_next()`).
    fn hand_out(&self) {
        while self.value.get() > 0 && self.hand_one() {}
    }

    /// Gives a permit back: to the first waiter, or to the pool.
    pub(super) fn add_permit(&self) {
        // Never past the bound: a permit dropped after its unit was also released by hand is
        // a caller bug, and the count stays right rather than growing.
        if self.unheld() >= self.bound {
            return;
        }
        self.value.set(self.value.get() + 1);
        self.hand_one();
    }

    #[inline]
    pub(super) fn acquire(&self) {
        if self.locked() {
            self.acquire_slow();
        } else {
            self.value.set(self.value.get() - 1);
            self.last_taker.set(current_id());
        }
    }

    fn acquire_slow(&self) {
        let seq = self.waiters.borrow_mut().push_current(WaitKind::Semaphore);
        let line = AbandonGuard { inner: self, seq };
        park_until_granted(&self.waiters, seq, self);
        std::mem::forget(line);
        // A permit was handed to us; the ones that queued behind it may go now too.
        self.handed.set(self.handed.get() - 1);
        self.hand_out();
    }

    pub(super) fn try_acquire(&self) -> bool {
        if self.locked() {
            return false;
        }
        self.value.set(self.value.get() - 1);
        true
    }

    pub(super) fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.available())
            .field("waiters", &self.inner.waiters())
            .finish()
    }
}

impl Default for Semaphore {
    /// A semaphore with one permit, as asyncio's default.
    #[track_caller]
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl Semaphore {
    /// A semaphore with `value` permits (asyncio's default is 1; 0 is allowed: every
    /// acquirer parks until a [`release`](Semaphore::release)).
    #[track_caller]
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            inner: Rc::new(Inner::new(value, usize::MAX)),
        }
    }

    /// Takes a permit, parking until one is free and it is this coroutine's turn.
    ///
    /// ```
    /// corio::run(|| {
    ///     let sem = corio::Semaphore::new(1);
    ///     let permit = sem.acquire();
    ///     assert!(sem.locked());
    ///     drop(permit);
    ///     assert_eq!(sem.available(), 1);
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// A coroutine cancelled while waiting leaves the line; if a permit had already been
    /// handed to it, it passes the permit on to the next waiter (or back to the pool). No
    /// permit is lost.
    ///
    /// # Panics
    ///
    /// Outside a coroutine when no permit is free. Unwinds with
    /// [`Cancelled`](crate::Cancelled) when the task is cancelled while waiting.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.inner.acquire();
        SemaphorePermit { inner: &self.inner }
    }

    /// Takes a permit if one is free and nobody is in line for it; never parks, and never
    /// goes ahead of a parked coroutine.
    ///
    /// ```
    /// let sem = corio::Semaphore::new(1);
    /// let p = sem.try_acquire().expect("one permit");
    /// assert!(sem.try_acquire().is_none());
    /// drop(p);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.inner
            .try_acquire()
            .then(|| SemaphorePermit { inner: &self.inner })
    }

    /// Adds a permit: the first waiter gets it, or it goes back to the pool. For permits
    /// taken with [`SemaphorePermit::forget`], or to raise the count.
    ///
    /// ```
    /// let sem = corio::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn release(&self) {
        self.inner.add_permit();
    }

    /// `true` if [`acquire`](Semaphore::acquire) would park: no permit is free, or the
    /// free ones are promised to coroutines that were woken and have not run yet.
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// How many permits are free.
    pub fn available(&self) -> usize {
        self.inner.value()
    }
}

/// A waiter's place in line; dropped only when the wait is abandoned (cancelled).
struct AbandonGuard<'a> {
    inner: &'a Inner,
    seq: Ticket,
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        let inner = self.inner;
        let was_waiting = inner.waiters.borrow_mut().remove(self.seq).is_some();
        if !was_waiting {
            // A permit was handed to us as we were cancelled: put it back for the next one.
            inner.handed.set(inner.handed.get() - 1);
            inner.value.set(inner.value.get() + 1);
        }
        inner.hand_out();
    }
}

/// A permit of a [`Semaphore`] or [`BoundedSemaphore`](super::BoundedSemaphore), given back
/// when dropped (asyncio's `async with sem:`).
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    pub(super) inner: &'a Inner,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without this value; give it back later with
    /// [`Semaphore::release`] (asyncio's explicit `acquire()` / `release()` pairs).
    ///
    /// ```
    /// let sem = corio::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available(), 0);
    /// sem.release();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.inner.add_permit();
    }
}
