//! `Barrier`: a meeting point for a fixed number of coroutines (asyncio's `Barrier`, 3.11).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use crate::error::BrokenBarrier;
use std::panic::Location;

use crate::runtime::{Site, WaitKind, WaitList, park_in, wake_all};

/// Where the barrier is in its cycle (asyncio's `_BarrierState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Coroutines arrive and wait for the last one.
    Filling,
    /// The last one arrived; the others are leaving. Newcomers wait until all have left.
    Draining,
    /// `reset` was called while coroutines waited; they leave with `BrokenBarrier`.
    Resetting,
    /// `abort` was called: every wait fails until `reset`.
    Broken,
}

/// Makes `parties` coroutines wait for each other (asyncio's `Barrier`).
///
/// Each coroutine calls [`wait`](Barrier::wait); the first `parties - 1` park, and the
/// arrival of the last one lets them all go on. `wait` returns the arrival index, `0` for the
/// first to arrive up to `parties - 1` for the last, so one of them can be picked for a
/// special job. The barrier then fills again for the next round; coroutines that come while
/// the previous round is still leaving wait for that to finish.
///
/// [`abort`](Barrier::abort) breaks the barrier: waiters and later callers get
/// [`BrokenBarrier`]. [`reset`](Barrier::reset) breaks the current round only and makes
/// the barrier usable again. Cloning gives another handle to the same barrier.
///
/// ```
/// corio::run(|| {
///     let barrier = corio::Barrier::new(3);
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             corio::spawn(move || b.wait().unwrap())
///         })
///         .collect();
///     let mut indices: Vec<usize> = tasks.into_iter().map(|t| t.join().unwrap()).collect();
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
///     assert_eq!(barrier.n_waiting(), 0);
/// });
/// ```
///
/// A `Barrier` belongs to one loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::Barrier>();
/// ```
#[derive(Clone)]
pub struct Barrier {
    inner: Rc<Inner>,
}

struct Inner {
    parties: usize,
    state: Cell<State>,
    /// Coroutines inside `wait` past the entry check (arrived, not yet left).
    count: Cell<usize>,
    /// Everyone parked, for whatever reason; woken on every change of state, then each
    /// checks what it waits for (asyncio's `notify_all` on a condition).
    waiters: RefCell<WaitList>,
    /// Where the barrier was made, for the deadlock report.
    created: &'static Location<'static>,
}

impl Inner {
    /// Parks until the next change of state.
    fn park_until_change(&self) {
        park_in(
            &self.waiters,
            WaitKind::Barrier,
            &Site("barrier", self.created),
        );
    }

    fn changed(&self) {
        wake_all(&self.waiters);
    }
}

/// Counts a coroutine out of the barrier however it leaves (asyncio's `finally: _exit()`).
struct Leave<'a>(&'a Inner);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let inner = self.0;
        let count = inner.count.get() - 1;
        inner.count.set(count);
        if count == 0 {
            // The last one out ends the draining or the reset; anyone waiting to enter
            // looks again.
            if matches!(inner.state.get(), State::Draining | State::Resetting) {
                inner.state.set(State::Filling);
            }
            inner.changed();
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.inner.state.get() {
            State::Filling => "filling",
            State::Draining => "draining",
            State::Resetting => "resetting",
            State::Broken => "broken",
        };
        f.debug_struct("Barrier")
            .field("state", &state)
            .field("waiting", &self.n_waiting())
            .field("parties", &self.inner.parties)
            .finish()
    }
}

impl Barrier {
    /// A barrier for `parties` coroutines.
    ///
    /// # Panics
    ///
    /// If `parties` is 0 (asyncio's `ValueError`): a barrier nobody can pass is a bug in the
    /// program, not a condition to handle at run time.
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        assert!(
            parties > 0,
            "corio::Barrier::new: parties must be at least 1"
        );
        Barrier {
            inner: Rc::new(Inner {
                parties,
                state: Cell::new(State::Filling),
                count: Cell::new(0),
                waiters: RefCell::new(WaitList::new()),
                created: Location::caller(),
            }),
        }
    }

    /// Waits until `parties` coroutines have called `wait`, then returns this one's arrival
    /// index (`0..parties`).
    ///
    /// ```
    /// corio::run(|| {
    ///     let barrier = corio::Barrier::new(1);
    ///     assert_eq!(barrier.wait(), Ok(0), "one party: never parks");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokenBarrier`] if the barrier is aborted, or reset while this coroutine waits in
    /// it, or was aborted before.
    ///
    /// # Cancel safety
    ///
    /// A cancelled waiter leaves the barrier: it no longer counts as arrived, and the others
    /// still wait for `parties` arrivals.
    ///
    /// # Panics
    ///
    /// Outside a coroutine, when it has to park. Unwinds with
    /// [`Cancelled`](crate::Cancelled) when the task is cancelled while waiting.
    pub fn wait(&self) -> Result<usize, BrokenBarrier> {
        let inner = &*self.inner;
        // Wait while the previous round drains or resets.
        while matches!(inner.state.get(), State::Draining | State::Resetting) {
            inner.park_until_change();
        }
        if inner.state.get() == State::Broken {
            return Err(BrokenBarrier);
        }
        let index = inner.count.get();
        inner.count.set(index + 1);
        let _leave = Leave(inner);
        if index + 1 == inner.parties {
            // The last one: let everyone go.
            inner.state.set(State::Draining);
            inner.changed();
        } else {
            while inner.state.get() == State::Filling {
                inner.park_until_change();
            }
            if matches!(inner.state.get(), State::Broken | State::Resetting) {
                return Err(BrokenBarrier);
            }
        }
        Ok(index)
    }

    /// Returns the barrier to its empty, filling state. Coroutines waiting in it get
    /// [`BrokenBarrier`]; a broken (aborted) barrier becomes usable again. Never parks
    /// (asyncio's `reset` is a coroutine only to take the barrier's internal lock).
    ///
    /// ```
    /// let barrier = corio::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// barrier.reset();
    /// assert!(!barrier.is_broken());
    /// ```
    pub fn reset(&self) {
        let inner = &*self.inner;
        if inner.count.get() > 0 {
            // Those inside leave with BrokenBarrier; the last one out sets it filling.
            inner.state.set(State::Resetting);
        } else {
            inner.state.set(State::Filling);
        }
        inner.changed();
    }

    /// Breaks the barrier: every coroutine waiting in it, and every later
    /// [`wait`](Barrier::wait) until a [`reset`](Barrier::reset), gets [`BrokenBarrier`].
    /// Never parks.
    ///
    /// ```
    /// corio::run(|| {
    ///     let barrier = corio::Barrier::new(2);
    ///     barrier.abort();
    ///     assert!(barrier.wait().is_err());
    /// });
    /// ```
    pub fn abort(&self) {
        self.inner.state.set(State::Broken);
        self.inner.changed();
    }

    /// How many coroutines it takes to pass the barrier.
    pub fn parties(&self) -> usize {
        self.inner.parties
    }

    /// How many coroutines wait in the barrier for the current round to fill (0 while it
    /// drains, resets or is broken).
    pub fn n_waiting(&self) -> usize {
        match self.inner.state.get() {
            State::Filling => self.inner.count.get(),
            _ => 0,
        }
    }

    /// `true` once [`abort`](Barrier::abort)ed, until [`reset`](Barrier::reset).
    pub fn is_broken(&self) -> bool {
        self.inner.state.get() == State::Broken
    }
}
