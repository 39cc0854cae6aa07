//! `Future<T>`: a result slot that coroutines can wait on (asyncio's `Future`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use crate::error::{InvalidState, panic_text};
use crate::runtime::{Ticket, WaitKind, WaitList, call_soon_on, is_running_here, running_loop_id};

/// The error a future was finished with by [`Future::set_exception`]. Shared, because every
/// reader of the future sees the same one.
pub type Exception = Rc<dyn std::error::Error + 'static>;

/// Why a future has no value to give.
#[derive(Clone)]
pub enum FutureError {
    /// The future was cancelled.
    Cancelled,
    /// The future is not done yet (asyncio's `InvalidStateError` from `result()`).
    InvalidState(InvalidState),
    /// The future was finished with an exception.
    Exception(Exception),
}

impl fmt::Debug for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("Cancelled"),
            FutureError::InvalidState(e) => f.debug_tuple("InvalidState").field(e).finish(),
            FutureError::Exception(e) => f.debug_tuple("Exception").field(&e.to_string()).finish(),
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the future was cancelled"),
            FutureError::InvalidState(e) => e.fmt(f),
            FutureError::Exception(e) => write!(f, "the future failed: {e}"),
        }
    }
}

impl std::error::Error for FutureError {}

enum Outcome<T> {
    Pending,
    Value(T),
    /// Finished with a value that `take_result` moved out.
    Taken,
    Exception(Exception),
    Cancelled,
}

const NOT_DONE: InvalidState = InvalidState("the future is not done");
const TAKEN: InvalidState = InvalidState("the result was taken");

type DoneCallback<T> = Box<dyn FnOnce(&Future<T>) + 'static>;

struct Inner<T: 'static> {
    outcome: RefCell<Outcome<T>>,
    waiters: RefCell<WaitList>,
    callbacks: RefCell<Vec<(u64, DoneCallback<T>)>>,
    next_callback: Cell<u64>,
    /// Where the future was made, for the deadlock report.
    created: &'static std::panic::Location<'static>,
    /// The id of the loop it was made or first given a done callback under (0: none): where
    /// its callbacks are scheduled if it is finished while no loop runs.
    home: Cell<u64>,
}

impl<T: 'static> crate::runtime::WaitTarget for Inner<T> {
    fn describe(&self) -> crate::runtime::WaitInfo {
        crate::runtime::WaitTarget::describe(&crate::runtime::Site("future", self.created))
    }
}

/// A result that will be set later, by a callback or another coroutine (asyncio's `Future`).
/// Cloning gives another handle to the same future.
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let fut = corio::Future::new();
///     let f = fut.clone();
///     corio::runtime::call_later(Duration::from_millis(1), move || { f.set_result(7).unwrap(); });
///     assert_eq!(fut.wait().unwrap(), 7); // parks until the timer sets it
///     assert!(fut.set_result(8).is_err(), "a finished future cannot be set again");
/// });
/// ```
///
/// A `Future` belongs to its loop's thread (`!Send`); other threads reach a loop through
/// [`LoopHandle`](crate::runtime::LoopHandle).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::Future<u32>>();
/// ```
pub struct Future<T: 'static> {
    inner: Rc<Inner<T>>,
}

impl<T: 'static> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Default for Future<T> {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.inner.outcome.borrow() {
            Outcome::Pending => "pending",
            Outcome::Value(_) => "finished",
            Outcome::Taken => "taken",
            Outcome::Exception(_) => "failed",
            Outcome::Cancelled => "cancelled",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

/// Identifies a done callback, for [`Future::remove_done_callback`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

impl<T: 'static> Future<T> {
    /// A pending future.
    #[track_caller]
    pub fn new() -> Future<T> {
        Future {
            inner: Rc::new(Inner {
                outcome: RefCell::new(Outcome::Pending),
                waiters: RefCell::new(WaitList::new()),
                callbacks: RefCell::new(Vec::new()),
                next_callback: Cell::new(0),
                created: std::panic::Location::caller(),
                home: Cell::new(running_loop_id().unwrap_or(0)),
            }),
        }
    }

    fn finish(&self, outcome: Outcome<T>) -> Result<(), InvalidState> {
        {
            let mut s = self.inner.outcome.borrow_mut();
            if !matches!(*s, Outcome::Pending) {
                return Err(InvalidState("the future is already done"));
            }
            *s = outcome;
        }
        let waiters = self.inner.waiters.borrow_mut().take();
        waiters.wake_all_taken();
        let callbacks = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        for (_, cb) in callbacks {
            self.schedule_callback(cb);
        }
        Ok(())
    }

    fn schedule_callback(&self, cb: DoneCallback<T>) {
        let me = self.clone();
        let run = move || cb(&me);
        // Done callbacks run via call_soon, in the order they were added: on the running
        // loop, else on the future's own loop (its next run), as asyncio's future does.
        if is_running_here() {
            crate::runtime::call_soon(run);
            return;
        }
        let Err(run) = call_soon_on(self.inner.home.get(), run) else {
            return;
        };
        // No loop will ever run it (the future was never used under one, or that loop is
        // closed): run it now. A panic is reported, and the callbacks after it still run.
        if let Err(p) = catch_unwind(AssertUnwindSafe(run)) {
            crate::runtime::emit_report(
                crate::runtime::ReportLevel::Error,
                &format!(
                    "a done callback of a future finished outside any event loop panicked: {}",
                    panic_text(p.as_ref())
                ),
            );
            // Leaked, not dropped: a payload whose drop panics would escape here.
            std::mem::forget(p);
        }
    }

    /// Finishes the future with a value and wakes its waiters.
    ///
    /// # Errors
    ///
    /// [`InvalidState`] if the future is already done (the value is dropped).
    pub fn set_result(&self, value: T) -> Result<(), InvalidState> {
        self.finish(Outcome::Value(value))
    }

    /// Finishes the future with an error.
    ///
    /// # Errors
    ///
    /// [`InvalidState`] if the future is already done.
    pub fn set_exception<E: Into<Box<dyn std::error::Error + 'static>>>(
        &self,
        error: E,
    ) -> Result<(), InvalidState> {
        let e: Box<dyn std::error::Error> = error.into();
        self.finish(Outcome::Exception(Rc::from(e)))
    }

    /// Cancels the future: its waiters get [`FutureError::Cancelled`]. Returns `false` if it
    /// was already done.
    pub fn cancel(&self) -> bool {
        self.finish(Outcome::Cancelled).is_ok()
    }

    /// `true` once the future has a value, an exception, or was cancelled.
    pub fn done(&self) -> bool {
        !matches!(*self.inner.outcome.borrow(), Outcome::Pending)
    }

    /// `true` if the future was cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(*self.inner.outcome.borrow(), Outcome::Cancelled)
    }

    /// The exception the future was finished with, `None` if it has a value.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidState`] if it is not done, [`FutureError::Cancelled`] if it was
    /// cancelled.
    pub fn exception(&self) -> Result<Option<Exception>, FutureError> {
        match &*self.inner.outcome.borrow() {
            Outcome::Pending => Err(FutureError::InvalidState(NOT_DONE)),
            Outcome::Cancelled => Err(FutureError::Cancelled),
            Outcome::Exception(e) => Ok(Some(e.clone())),
            Outcome::Value(_) | Outcome::Taken => Ok(None),
        }
    }

    /// Runs `f` (via `call_soon`) when the future is done, or soon if it already is.
    /// Callbacks run in the order they were added.
    ///
    /// A future finished while no loop runs (between two runs) schedules its callbacks on
    /// the loop it was made or first given a callback under, which runs them in its next
    /// run, as asyncio's future does. One never used under a loop, or whose loop is closed,
    /// runs them at once; a panic in one is reported (on stderr, or through `log` with the
    /// `log` feature) and the others still run.
    pub fn add_done_callback<F: FnOnce(&Future<T>) + 'static>(&self, f: F) -> CallbackId {
        if self.inner.home.get() == 0
            && let Some(id) = running_loop_id()
        {
            self.inner.home.set(id);
        }
        let id = self.inner.next_callback.get();
        self.inner.next_callback.set(id + 1);
        if self.done() {
            self.schedule_callback(Box::new(f));
        } else {
            self.inner.callbacks.borrow_mut().push((id, Box::new(f)));
        }
        CallbackId(id)
    }

    /// Removes a done callback that has not been scheduled yet; returns whether it was found.
    pub fn remove_done_callback(&self, id: CallbackId) -> bool {
        let mut cbs = self.inner.callbacks.borrow_mut();
        let before = cbs.len();
        cbs.retain(|(i, _)| *i != id.0);
        before != cbs.len()
    }

    /// Parks the current coroutine until the future is done (asyncio's `await fut`).
    ///
    /// # Cancel safety
    ///
    /// As in asyncio, cancelling the waiting coroutine cancels the future too.
    ///
    /// # Panics
    ///
    /// Outside a coroutine, unless the future is already done.
    pub fn wait_done(&self) {
        while !self.done() {
            let ticket = self
                .inner
                .waiters
                .borrow_mut()
                .push_current(WaitKind::Future);
            let guard = AbandonGuard {
                inner: &self.inner,
                ticket,
                cancel_on_drop: true,
            };
            crate::runtime::park_on(&*self.inner);
            guard.disarm();
        }
    }

    /// Removes and returns the value of a finished future; later calls to `result` and
    /// `take_result` see [`FutureError::InvalidState`] (the future stays done, and
    /// [`exception`](Self::exception) still says it did not fail).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result), and [`FutureError::InvalidState`] once the value was taken.
    pub fn take_result(&self) -> Result<T, FutureError> {
        let mut s = self.inner.outcome.borrow_mut();
        match &*s {
            Outcome::Value(_) => {}
            Outcome::Pending => return Err(FutureError::InvalidState(NOT_DONE)),
            Outcome::Taken => return Err(FutureError::InvalidState(TAKEN)),
            Outcome::Cancelled => return Err(FutureError::Cancelled),
            Outcome::Exception(e) => return Err(FutureError::Exception(e.clone())),
        }
        match std::mem::replace(&mut *s, Outcome::Taken) {
            Outcome::Value(v) => Ok(v),
            _ => unreachable!("checked above"),
        }
    }
}

impl<T: Clone + 'static> Future<T> {
    /// The value of a finished future.
    ///
    /// # Errors
    ///
    /// [`FutureError::InvalidState`] if it is not done (or its value was taken with
    /// [`take_result`](Self::take_result)), [`FutureError::Cancelled`] if it was cancelled,
    /// [`FutureError::Exception`] if it failed.
    pub fn result(&self) -> Result<T, FutureError> {
        match &*self.inner.outcome.borrow() {
            Outcome::Pending => Err(FutureError::InvalidState(NOT_DONE)),
            Outcome::Taken => Err(FutureError::InvalidState(TAKEN)),
            Outcome::Cancelled => Err(FutureError::Cancelled),
            Outcome::Exception(e) => Err(FutureError::Exception(e.clone())),
            Outcome::Value(v) => Ok(v.clone()),
        }
    }

    /// Parks until the future is done, then returns [`result`](Self::result).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result); `InvalidState` only if the value was taken.
    ///
    /// # Cancel safety
    ///
    /// As [`wait_done`](Self::wait_done).
    ///
    /// # Panics
    ///
    /// Outside a coroutine, unless the future is already done.
    pub fn wait(&self) -> Result<T, FutureError> {
        self.wait_done();
        self.result()
    }
}

/// Takes a waiter off the future's list when its park returns or unwinds; on an unwind,
/// cancels the future.
struct AbandonGuard<'a, T: 'static> {
    inner: &'a Rc<Inner<T>>,
    ticket: Ticket,
    /// Cleared when the park returns normally; see [`disarm`](Self::disarm).
    cancel_on_drop: bool,
}

impl<T: 'static> AbandonGuard<'_, T> {
    /// The park returned normally: drop the waker without cancelling the future. (Not
    /// `std::thread::panicking()`: that is per thread, and true all along in a loop run from
    /// a `Drop` during a panic.)
    fn disarm(mut self) {
        self.cancel_on_drop = false;
    }
}

impl<T: 'static> Drop for AbandonGuard<'_, T> {
    fn drop(&mut self) {
        let w = self.inner.waiters.borrow_mut().remove(self.ticket);
        drop(w);
        // Still armed: an unwind left the park, so the waiter was cancelled (or the loop is
        // closing): as in asyncio, cancel the future.
        if self.cancel_on_drop {
            let fut = Future {
                inner: self.inner.clone(),
            };
            fut.cancel();
        }
    }
}
