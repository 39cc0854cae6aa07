//! Callbacks the loop runs (`call_soon`, timers, fd watches) and their public [`Handle`].

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// A scheduled callback, type-erased. One allocation holds the closure and its flag.
pub(crate) trait Callable {
    /// Runs the callback unless cancelled. One-shot callbacks run at most once.
    fn call(&self);
    fn cancel(&self);
    fn cancelled(&self) -> bool;
}

/// A one-shot callback (`call_soon`, `call_later`).
pub(crate) struct CallOnce<F> {
    cancelled: Cell<bool>,
    f: Cell<Option<F>>,
}

impl<F: FnOnce() + 'static> CallOnce<F> {
    pub(crate) fn new_rc(f: F) -> Rc<dyn Callable> {
        Rc::new(CallOnce {
            cancelled: Cell::new(false),
            f: Cell::new(Some(f)),
        })
    }
}

impl<F: FnOnce()> Callable for CallOnce<F> {
    fn call(&self) {
        if !self.cancelled.get()
            && let Some(f) = self.f.take()
        {
            f()
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
pub(crate) struct CallRepeat<F> {
    cancelled: Cell<bool>,
    f: F,
}

impl<F: Fn() + 'static> CallRepeat<F> {
    pub(crate) fn new_rc(f: F) -> Rc<dyn Callable> {
        Rc::new(CallRepeat {
            cancelled: Cell::new(false),
            f,
        })
    }
}

impl<F: Fn()> Callable for CallRepeat<F> {
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
