//! Deadlines: `timeout`, `timeout_at` and `wait_for` (asyncio's `timeouts.py`, and
//! `wait_for` as asyncio 3.12 builds it on top of them).
//!
//! A scope runs its closure inline, on the caller's stack. When the deadline passes, a loop
//! callback cancels the task; when the closure unwinds with that cancellation, the scope turns
//! it into [`Timeout`]. The task's cancel *count* tells the scope's own request from another
//! one: if someone else cancelled the task too, the cancellation goes on, even when the
//! deadline has also passed.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::is_cancel;
use crate::error::{InvalidState, Timeout};
use crate::runtime::TaskRef;
use crate::runtime::{Handle, TimerHandle, call_at, call_soon, deadline_after};

/// Runs `f` with a deadline `duration` from now (asyncio's `wait_for`); `Err(Timeout)` if the
/// deadline passes first. `f` runs inline and may borrow locals; at the deadline it is
/// cancelled, so its `Drop`s run before `wait_for` returns.
///
/// `None` runs `f` without a deadline. A zero duration is a deadline already past: `f` runs
/// up to its first suspension point, so a value it has at once comes back and anything that
/// would have to wait times out (asyncio 3.12's `wait_for(aw, 0)`, which returns the result
/// of a future already done and times out otherwise).
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let r = corio::wait_for(Duration::from_millis(5), || corio::sleep(Duration::from_secs(3600)));
///     assert_eq!(r, Err(corio::Timeout));
///     let r = corio::wait_for(Duration::from_secs(60), || { corio::yield_now(); 7 });
///     assert_eq!(r, Ok(7));
///     // Zero: ready at once is a value, having to wait is a timeout.
///     assert_eq!(corio::wait_for(Duration::ZERO, || 8), Ok(8));
///     assert_eq!(corio::wait_for(Duration::ZERO, corio::yield_now), Err(corio::Timeout));
/// });
/// ```
///
/// Where asyncio's `wait_for(coro, 0)` never starts a coroutine, `wait_for` here cannot know
/// whether `f` would finish without waiting until it has run it: code of `f` before its
/// first suspension point runs, code after it does not.
///
/// A value that `f` returns is returned, also when the deadline passed in the same loop
/// iteration; a cancellation of the task from elsewhere while `f` runs is passed on as a
/// cancellation, never reported as a timeout, even when the deadline passed too. See
/// [`timeout`] for the rules.
///
/// # Cancel safety
///
/// As [`timeout`].
///
/// # Panics
///
/// Outside a coroutine; a panic in `f` is passed on.
pub fn wait_for<T>(
    duration: impl Into<Option<Duration>>,
    f: impl FnOnce() -> T,
) -> Result<T, Timeout> {
    match duration.into() {
        None => Ok(f()),
        Some(d) => timeout(d, |_| f()),
    }
}

/// Runs `f` in a deadline scope that ends `duration` from now (asyncio's `timeout`); `None`
/// sets no deadline (one can be set later with [`TimeoutScope::reschedule`]).
///
/// When the deadline passes, the task is cancelled: `f` unwinds from the suspension point it
/// is parked in, running its `Drop`s, and `timeout` returns `Err(Timeout)`. The scope handed
/// to `f` can move the deadline while `f` runs; it is a cheap handle that can be cloned, kept
/// after the scope ends, and used from other tasks.
///
/// ```
/// use std::time::{Duration, Instant};
/// corio::run(|| {
///     let r = corio::timeout(Duration::from_millis(5), |scope| {
///         // Not so fast: push the deadline out, then finish in time.
///         scope.reschedule(Instant::now() + Duration::from_secs(60)).unwrap();
///         corio::sleep(Duration::from_millis(10));
///         scope.expired()
///     });
///     assert_eq!(r, Ok(false));
/// });
/// ```
///
/// Rules, as in asyncio 3.12 and later:
///
/// * the deadline's cancellation becomes `Err(Timeout)` only if no other cancellation of the
///   task was requested while the scope ran (the task's
///   [`cancelling`](crate::CurrentTask::cancelling) count is back to what it was on entry);
///   otherwise the cancellation goes on, even if the deadline passed too;
/// * a value `f` produces is returned, even in the loop iteration where the deadline
///   passes: if the task runs before the deadline's callback, the callback is withdrawn;
///   if `f` catches the deadline's cancellation and returns a value, that value is returned
///   and the scope's cancel request is withdrawn with it, so it hits no later suspension
///   point. (If the callback runs first, the task is cancelled where it parked; what it
///   waited for stays with the primitive, which is cancel safe, and the result is
///   `Err(Timeout)`, as in asyncio);
/// * a deadline already past (zero, or a past instant) fires in the next loop iteration, so
///   `f` runs up to its first suspension point: a value `f` produces without suspending is
///   returned, and the first suspension ends in `Err(Timeout)`;
/// * nested scopes work: only the scope whose deadline fired reports `Timeout`; an outer
///   scope sees its inner scopes' timeouts as plain values.
///
/// # Cancel safety
///
/// If the task is cancelled from elsewhere, `f` unwinds and the cancellation goes on; the
/// deadline's timer is removed. Whatever `f` waits on must itself be cancel safe.
///
/// # Panics
///
/// Outside a coroutine; a panic in `f` is passed on.
pub fn timeout<R>(
    duration: impl Into<Option<Duration>>,
    f: impl FnOnce(&TimeoutScope) -> R,
) -> Result<R, Timeout> {
    timeout_at(duration.into().map(deadline_after), f)
}

/// [`timeout`] with an absolute deadline (asyncio's `timeout_at`); `None` sets none.
///
/// ```
/// use std::time::{Duration, Instant};
/// corio::run(|| {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     let mut scope = None;
///     let r = corio::timeout_at(deadline, |s| {
///         scope = Some(s.clone());
///         corio::sleep(Duration::from_secs(3600))
///     });
///     assert_eq!(r, Err(corio::Timeout));
///     let scope = scope.unwrap();
///     assert!(scope.expired());
///     assert_eq!(scope.when(), Some(deadline));
/// });
/// ```
///
/// # Cancel safety
///
/// As [`timeout`].
///
/// # Panics
///
/// As [`timeout`].
pub fn timeout_at<R>(
    when: impl Into<Option<Instant>>,
    f: impl FnOnce(&TimeoutScope) -> R,
) -> Result<R, Timeout> {
    let task = crate::runtime::current_task().expect(
        "corio::timeout: called outside a coroutine; call it inside corio::run or a spawned task",
    );
    let scope = TimeoutScope {
        inner: Rc::new(Scope {
            base: task.header().cancelling(),
            task,
            when: Cell::new(None),
            phase: Cell::new(Phase::Entered),
            pending: RefCell::new(None),
        }),
    };
    scope.inner.arm(&scope.inner, when.into());
    let outcome = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    scope.inner.exit(outcome)
}

/// A deadline scope made by [`timeout`] or [`timeout_at`] (asyncio's `Timeout`). Cloning gives
/// another handle to the same scope.
#[derive(Clone)]
pub struct TimeoutScope {
    inner: Rc<Scope>,
}

impl fmt::Debug for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutScope")
            .field("when", &self.inner.when.get())
            .field("phase", &self.inner.phase.get())
            .finish()
    }
}

impl TimeoutScope {
    /// The deadline, `None` if there is none.
    pub fn when(&self) -> Option<Instant> {
        self.inner.when.get()
    }

    /// `true` once the deadline has passed and the scope cancelled its task (asyncio's
    /// `expired()`); stays `true` after the scope ended.
    pub fn expired(&self) -> bool {
        matches!(self.inner.phase.get(), Phase::Expiring | Phase::Expired)
    }

    /// Moves the deadline (asyncio's `reschedule`); `None` removes it. A deadline already
    /// past fires in the next loop iteration.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// corio::run(|| {
    ///     let r = corio::timeout(None, |scope| {
    ///         assert_eq!(scope.when(), None);
    ///         scope.reschedule(Instant::now()).unwrap();
    ///         corio::sleep(Duration::from_secs(3600));
    ///     });
    ///     assert!(r.is_err());
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidState`] once the scope has expired or ended: its deadline can no longer move.
    pub fn reschedule(&self, when: impl Into<Option<Instant>>) -> Result<(), InvalidState> {
        match self.inner.phase.get() {
            Phase::Entered => {
                self.inner.arm(&self.inner, when.into());
                Ok(())
            }
            Phase::Finished => Err(InvalidState("the timeout scope has ended")),
            Phase::Expiring | Phase::Expired => Err(InvalidState(
                "the timeout scope has expired; its deadline can no longer move",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `f` runs; the deadline has not cancelled it.
    Entered,
    /// The deadline cancelled the task; `f` has not returned yet.
    Expiring,
    /// The scope ended after its deadline cancelled the task.
    Expired,
    /// The scope ended without its deadline cancelling the task.
    Finished,
}

struct Scope {
    /// The task the scope runs in, which the deadline cancels.
    task: TaskRef,
    /// The task's cancel count on entry: requests above it that are left after the scope
    /// withdrew its own came from elsewhere.
    base: u32,
    when: Cell<Option<Instant>>,
    phase: Cell<Phase>,
    /// The deadline's timer, or its callback already queued when the deadline was past.
    pending: RefCell<Option<Pending>>,
}

enum Pending {
    Timer(TimerHandle),
    Soon(Handle),
}

impl Scope {
    /// Replaces the pending timer by one for `when`.
    fn arm(&self, me: &Rc<Scope>, when: Option<Instant>) {
        self.disarm();
        self.when.set(when);
        let Some(when) = when else { return };
        let weak = Rc::downgrade(me);
        let fire = move || on_deadline(&weak);
        // Like asyncio: a deadline already past is a callback queued now, ahead of whatever
        // the task schedules next (a yield_now in `f` is then its last step).
        let pending = if when <= crate::runtime::now() {
            Pending::Soon(call_soon(fire))
        } else {
            Pending::Timer(call_at(when, fire))
        };
        *self.pending.borrow_mut() = Some(pending);
    }

    fn disarm(&self) {
        let pending = self.pending.borrow_mut().take();
        match pending {
            Some(Pending::Timer(t)) => t.cancel(),
            Some(Pending::Soon(h)) => h.cancel(),
            None => {}
        }
    }

    fn exit<R>(&self, outcome: std::thread::Result<R>) -> Result<R, Timeout> {
        self.disarm();
        if self.phase.get() != Phase::Expiring {
            self.phase.set(Phase::Finished);
            return outcome.or_else(|p| resume_unwind(p));
        }
        self.phase.set(Phase::Expired);
        // Withdraw the scope's own request from the count. Had it not been delivered yet, it
        // would be dropped with it, unless a newer request remains.
        let left = self.task.header().uncancel();
        match outcome {
            Ok(v) => Ok(v),
            Err(p) if left <= self.base && is_cancel(p.as_ref()) => Err(Timeout),
            Err(p) => resume_unwind(p),
        }
    }
}

/// The deadline's callback, on the loop's stack.
fn on_deadline(scope: &Weak<Scope>) {
    let Some(s) = scope.upgrade() else { return };
    if s.phase.get() != Phase::Entered {
        return;
    }
    drop(s.pending.borrow_mut().take()); // this callback is running: nothing left to cancel
    s.phase.set(Phase::Expiring);
    crate::runtime::cancel(&s.task);
}
