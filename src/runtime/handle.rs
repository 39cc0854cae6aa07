//! Callback handles (`Handle`, `TimerHandle`) and the thread-safe `LoopHandle`.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::core::Core;
use super::timers::TimerId;
use crate::error::RuntimeError;

/// A scheduled callback, type-erased. One allocation holds the closure and its flag.
pub(crate) trait Callable {
    /// Runs the callback unless cancelled. One-shot callbacks run at most once.
    fn call(&self);
    fn cancel(&self);
    fn cancelled(&self) -> bool;
}

/// A one-shot callback (`call_soon`, `call_later`).
pub(crate) struct Once<F> {
    cancelled: Cell<bool>,
    f: Cell<Option<F>>,
}

impl<F: FnOnce() + 'static> Once<F> {
    pub(crate) fn new_rc(f: F) -> Rc<dyn Callable> {
        Rc::new(Once {
            cancelled: Cell::new(false),
            f: Cell::new(Some(f)),
        })
    }
}

impl<F: FnOnce()> Callable for Once<F> {
    fn call(&self) {
        if !self.cancelled.get() {
            if let Some(f) = self.f.take() {
                f()
            }
        }
    }
    fn cancel(&self) {
        self.cancelled.set(true);
        drop(self.f.take());
    }
    fn cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

/// A callback that may run many times (`add_reader`, `add_writer`).
pub(crate) struct Repeat<F> {
    cancelled: Cell<bool>,
    f: F,
}

impl<F: Fn() + 'static> Repeat<F> {
    pub(crate) fn new_rc(f: F) -> Rc<dyn Callable> {
        Rc::new(Repeat {
            cancelled: Cell::new(false),
            f,
        })
    }
}

impl<F: Fn()> Callable for Repeat<F> {
    fn call(&self) {
        if !self.cancelled.get() {
            (self.f)()
        }
    }
    fn cancel(&self) {
        self.cancelled.set(true);
    }
    fn cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

/// A callback scheduled with `call_soon` (asyncio's `Handle`). Cancelling it before it runs
/// means it never runs; cancelling afterwards does nothing.
///
/// A `Handle` belongs to its loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::runtime::Handle>();
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<dyn Callable>,
}

impl Handle {
    /// Cancels the callback if it has not run yet.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// `true` once [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled with `call_later` or `call_at` (asyncio's `TimerHandle`).
///
/// A `TimerHandle` belongs to its loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::runtime::TimerHandle>();
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) handle: Handle,
    pub(crate) when: std::time::Instant,
    pub(crate) id: TimerId,
    pub(crate) core: Weak<Core>,
}

impl TimerHandle {
    /// Cancels the callback if it has not run yet; the timer is removed from the loop at once.
    pub fn cancel(&self) {
        self.handle.cancel();
        if let Some(core) = self.core.upgrade() {
            core.cancel_timer(self.id);
        }
    }

    /// `true` once [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// When the callback is due, on the loop's monotonic clock.
    pub fn when(&self) -> std::time::Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

type Injected = Box<dyn FnOnce() + Send + 'static>;

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    pub(crate) poller: Arc<polling::Poller>,
    pub(crate) injected: Mutex<Vec<Injected>>,
    pub(crate) has_injected: AtomicBool,
    /// Set while the loop is (about to be) blocked in the poller.
    pub(crate) sleeping: AtomicBool,
    pub(crate) closed: AtomicBool,
}

impl Shared {
    pub(crate) fn new(poller: Arc<polling::Poller>) -> Shared {
        Shared {
            poller,
            injected: Mutex::new(Vec::new()),
            has_injected: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn take_injected(&self) -> Vec<Injected> {
        // A plain load first: the common case (nothing injected) costs no atomic write.
        if !self.has_injected.load(Ordering::Relaxed)
            || !self.has_injected.swap(false, Ordering::SeqCst)
        {
            return Vec::new();
        }
        std::mem::take(&mut *self.injected.lock())
    }
}

/// A `Send + Sync` handle to a loop, for other threads: schedule a callback on the loop with
/// [`call_soon_threadsafe`](Self::call_soon_threadsafe), which wakes the loop if it is
/// blocked in the poller.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
///
/// let got = corio::run(|| {
///     let handle = corio::runtime::loop_handle();
///     let slot = Arc::new(AtomicU32::new(0));
///     let s = slot.clone();
///     std::thread::spawn(move || {
///         let answer = 6 * 7; // blocking work, off the loop
///         // Runs on the loop's thread, in its next iteration.
///         handle.call_soon_threadsafe(move || s.store(answer, Ordering::SeqCst)).unwrap();
///     });
///     while slot.load(Ordering::SeqCst) == 0 {
///         corio::sleep(Duration::from_millis(1));
///     }
///     slot.load(Ordering::SeqCst)
/// });
/// assert_eq!(got, 42);
/// ```
///
/// To run a coroutine and get its value back on another thread, see `LoopHandle::spawn`.
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) shared: Arc<Shared>,
}

impl LoopHandle {
    /// Schedules `f` to run on the loop's thread, as a callback of the next iteration, and
    /// wakes the loop if it sleeps.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Closed`] if the loop was closed; `f` is dropped.
    pub fn call_soon_threadsafe<F>(&self, f: F) -> Result<(), RuntimeError>
    where
        F: FnOnce() + Send + 'static,
    {
        let s = &*self.shared;
        {
            let mut q = s.injected.lock();
            if s.closed.load(Ordering::SeqCst) {
                return Err(RuntimeError::Closed);
            }
            q.push(Box::new(f));
        }
        s.has_injected.store(true, Ordering::SeqCst);
        if s.sleeping.load(Ordering::SeqCst) {
            let _ = s.poller.notify();
        }
        Ok(())
    }

    /// `true` once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}
