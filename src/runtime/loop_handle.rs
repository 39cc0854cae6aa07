//! The part of a loop other threads may touch, and [`LoopHandle`], their way in.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::core::with_core;
use crate::error::RuntimeError;

type Injected = Box<dyn FnOnce() + Send + 'static>;

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    pub(crate) poller: Arc<polling::Poller>,
    pub(crate) injected: Mutex<Vec<Injected>>,
    pub(crate) has_injected: AtomicBool,
    /// Set while the loop is (about to be) blocked in the poller.
    pub(crate) sleeping: AtomicBool,
    pub(crate) closed: AtomicBool,
    /// [`LoopHandle`]s alive: each lets some thread wake the loop at any time, so each counts
    /// as an external wait (see [`LoopHandle`]).
    pub(crate) handles: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(poller: Arc<polling::Poller>) -> Shared {
        Shared {
            poller,
            injected: Mutex::new(Vec::new()),
            has_injected: AtomicBool::new(false),
            sleeping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            handles: AtomicUsize::new(0),
        }
    }

    /// Posts `f` to run on the loop's thread and wakes the loop if it sleeps.
    pub(crate) fn inject(&self, f: Injected) -> Result<(), RuntimeError> {
        {
            let mut q = self.injected.lock();
            if self.closed.load(Ordering::SeqCst) {
                return Err(RuntimeError::Closed);
            }
            q.push(f);
        }
        self.has_injected.store(true, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            let _ = self.poller.notify();
        }
        Ok(())
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
///
/// # Handles and waiting
///
/// A thread holding a handle can wake the loop at any time, so while any `LoopHandle` of a
/// loop is alive (this value or a clone, on any thread, also a [`RemoteTask`]'s) the loop
/// counts it as an *external wait*: it never reports a deadlock, and under virtual time
/// ([`EventLoopBuilder::virtual_time`]) its clock does not jump, it waits in real time. Drop
/// a handle once the thread has nothing more to post. Work the loop hands to threads itself
/// (`to_thread`, a `ThreadQueue`) is counted by its own waits and takes no handle.
///
/// [`RemoteTask`]: super::RemoteTask
/// [`EventLoopBuilder::virtual_time`]: super::EventLoopBuilder::virtual_time
pub struct LoopHandle {
    pub(crate) shared: Arc<Shared>,
}

impl Clone for LoopHandle {
    fn clone(&self) -> LoopHandle {
        LoopHandle::new(self.shared.clone())
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.shared.handles.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LoopHandle {
    /// A new handle, counted.
    pub(crate) fn new(shared: Arc<Shared>) -> LoopHandle {
        shared.handles.fetch_add(1, Ordering::SeqCst);
        LoopHandle { shared }
    }

    /// Schedules `f` to run on the loop's thread, as a callback of the next iteration, and
    /// wakes the loop if it sleeps. Called on the loop's own thread while it runs, it is
    /// `call_soon`: the callback takes its place among the others in the order of the calls,
    /// as in asyncio, where both go to the same ready queue.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Closed`] if the loop was closed; `f` is dropped.
    pub fn call_soon_threadsafe<F>(&self, f: F) -> Result<(), RuntimeError>
    where
        F: FnOnce() + Send + 'static,
    {
        let on_its_thread =
            with_core(|c| Arc::ptr_eq(&c.shared, &self.shared) && !c.is_closed()).unwrap_or(false);
        if on_its_thread {
            crate::runtime::call_soon(f);
            return Ok(());
        }
        self.shared.inject(Box::new(f))
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
