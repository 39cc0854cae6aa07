//! `Event`: a flag coroutines can wait for (asyncio's `Event`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

use std::panic::Location;

use crate::runtime::{Site, WaitInfo, WaitKind, WaitList, WaitTarget, park_in, wake_all};

/// A flag that coroutines can wait to see set (asyncio's `Event`).
///
/// [`set`](Event::set) wakes every coroutine waiting in [`wait`](Event::wait); while the flag
/// stays set, `wait` returns at once. [`clear`](Event::clear) makes later waits park again; a
/// waiter already woken by `set` still returns, even if the flag was cleared before it ran.
/// Cloning gives another handle to the same event.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// corio::run(|| {
///     let ready = corio::Event::new();
///     let seen = Rc::new(Cell::new(0));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let (ready, seen) = (ready.clone(), seen.clone());
///             corio::spawn(move || {
///                 ready.wait();
///                 seen.set(seen.get() + 1);
///             })
///         })
///         .collect();
///     corio::yield_now();
///     assert_eq!(seen.get(), 0, "all three wait");
///     ready.set();
///     for t in tasks {
///         t.join().unwrap();
///     }
///     assert_eq!(seen.get(), 3);
/// });
/// ```
///
/// A `Event` belongs to one loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::Event>();
/// ```
#[derive(Clone)]
pub struct Event {
    inner: Rc<Inner>,
}

impl Default for Event {
    #[track_caller]
    fn default() -> Event {
        Event::new()
    }
}

struct Inner {
    flag: Cell<bool>,
    waiters: RefCell<WaitList>,
    /// Where the event was made, for the deadlock report.
    created: &'static Location<'static>,
}

impl WaitTarget for Inner {
    fn describe(&self) -> WaitInfo {
        Site("event", self.created).describe()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.inner.waiters.borrow().len())
            .finish()
    }
}

impl Event {
    /// An event whose flag is not set. Where it is made is remembered for the deadlock
    /// report.
    #[track_caller]
    pub fn new() -> Event {
        Event {
            inner: Rc::new(Inner {
                flag: Cell::new(false),
                waiters: RefCell::new(WaitList::new()),
                created: Location::caller(),
            }),
        }
    }

    /// `true` while the flag is set.
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Sets the flag and wakes every waiting coroutine. Does nothing if it is already set.
    ///
    /// ```
    /// let ev = corio::Event::new();
    /// ev.set();
    /// assert!(ev.is_set());
    /// ```
    pub fn set(&self) {
        if !self.inner.flag.replace(true) {
            wake_all(&self.inner.waiters);
        }
    }

    /// Clears the flag: later [`wait`](Event::wait)s park until the next [`set`](Event::set).
    ///
    /// ```
    /// let ev = corio::Event::new();
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// ```
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// Parks until the flag is set; returns at once if it is set already.
    ///
    /// ```
    /// corio::run(|| {
    ///     let ev = corio::Event::new();
    ///     let e = ev.clone();
    ///     corio::runtime::call_soon(move || e.set());
    ///     ev.wait();
    ///     assert!(ev.is_set());
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// A cancelled waiter leaves the list of waiters; an event sets every waiter free, so
    /// nothing has to be passed on.
    ///
    /// # Panics
    ///
    /// Outside a coroutine, unless the flag is set. Unwinds with
    /// [`Cancelled`](crate::Cancelled) when the task is cancelled while waiting.
    pub fn wait(&self) {
        if self.inner.flag.get() {
            return;
        }
        park_in(&self.inner.waiters, WaitKind::Event, &*self.inner);
    }
}
