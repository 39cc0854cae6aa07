//! `TaskGroup`: structured concurrency (asyncio's `taskgroups.py`).
//!
//! The body runs inline in the calling task (the parent). A child reports its end through a
//! token its closure owns, so the group hears of it however the child ends: by returning, by
//! unwinding, or by being cancelled before it ever ran (then the closure is dropped unrun).
//! A child that panics, or a fallible child that returns `Err`, moves its failure into the
//! group's error list, aborts the group (cancels the other children) and cancels the parent,
//! so the body stops at its next suspension point. The parent then waits for every child,
//! withdraws its own cancel request, and reports all failures together.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::rc::Rc;

use slab::Slab;

use super::{is_cancel, is_closing};
use crate::error::{Cancelled, SpawnError, TaskFailure, TaskGroupError, panic_message};
use crate::runtime::TaskRef;
use crate::runtime::Waker;
use crate::task::{Builder, Task};

/// Runs `body` with a [`TaskGroup`] to spawn children into, and returns when every child
/// has ended (asyncio's `async with TaskGroup() as tg`).
///
/// * The first child that fails — panics, or returns `Err` when spawned with
///   [`spawn_fallible`](TaskGroup::spawn_fallible) — cancels the other children and the body
///   (at its next suspension point); every failure comes back in one [`TaskGroupError`], in
///   the order the children failed. A child that is cancelled is not a failure.
/// * A panic in the body also aborts the group; it is the last entry of the error.
/// * If the parent is cancelled from elsewhere, the children are cancelled and waited for,
///   then the cancellation goes on (unless children failed: the error takes precedence, as
///   in asyncio).
/// * Otherwise the body's value comes back once all children are done, and each child's
///   [`Task`] handle holds its value ([`join`](Task::join) does not park).
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let (a, b) = corio::task_group(|tg| {
///         let a = tg.spawn(|| { corio::sleep(Duration::from_millis(2)); 40 });
///         let b = tg.spawn(|| 2);
///         (a, b)
///     })
///     .unwrap();
///     assert_eq!(a.join().unwrap() + b.join().unwrap(), 42);
///
///     let err = corio::task_group(|tg| {
///         tg.spawn(|| corio::sleep(Duration::from_secs(3600))); // cancelled by the failure
///         tg.spawn(|| { corio::yield_now(); panic!("boom") });
///         corio::sleep(Duration::from_secs(3600)); // the body is cancelled too
///     })
///     .unwrap_err();
///     assert_eq!(err.errors().len(), 1);
///     assert_eq!(err.errors()[0].panic_message(), Some("boom"));
/// });
/// ```
///
/// A child's panic payload moves into the [`TaskGroupError`]; the child's own handle, if
/// it still exists, reports the panic with its message as a `String` payload.
///
/// Children must be `'static`: an unwinding body could otherwise free what they borrow.
///
/// # Cancel safety
///
/// Cancelling the parent cancels every child; `task_group` returns (unwinds) only once they
/// have all ended.
///
/// # Panics
///
/// Outside a coroutine. A panic in the body does not propagate: it is reported in the error.
pub fn task_group<R>(body: impl FnOnce(&TaskGroup) -> R) -> Result<R, TaskGroupError> {
    let parent = crate::runtime::current_task().expect(
        "corio::task_group: called outside a coroutine; call it inside corio::run or a task",
    );
    let group = Rc::new(Group {
        base: parent.header().cancelling(),
        parent,
        children: RefCell::new(Slab::new()),
        errors: RefCell::new(Vec::new()),
        aborting: Cell::new(false),
        exiting: Cell::new(false),
        finished: Cell::new(false),
        parent_cancel_requested: Cell::new(false),
        waiter: RefCell::new(None),
    });
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        body(&TaskGroup {
            inner: group.clone(),
        })
    }));
    group.exit(outcome)
}

/// A handle to spawn children into a running [`task_group`]. Cloning gives another handle to
/// the same group, so children can spawn siblings.
///
/// A `TaskGroup` belongs to its loop's thread (`!Send`), like its tasks.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::TaskGroup>();
/// ```
#[derive(Clone)]
pub struct TaskGroup {
    inner: Rc<Group>,
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.inner;
        f.debug_struct("TaskGroup")
            .field("children", &g.children.borrow().len())
            .field("errors", &g.errors.borrow().len())
            .field("aborting", &g.aborting.get())
            .field("finished", &g.finished.get())
            .finish()
    }
}

impl TaskGroup {
    /// Spawns `f` as a child of the group (asyncio's `TaskGroup.create_task`).
    ///
    /// ```
    /// corio::run(|| {
    ///     let t = corio::task_group(|tg| tg.spawn(|| 6 * 7)).unwrap();
    ///     assert_eq!(t.join().unwrap(), 42);
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// When [`spawn_with`](Self::spawn_with) fails: the group has finished or is shutting
    /// down, or no stack can be mapped. (A child that panics so is a failure of the group,
    /// as asyncio's `RuntimeError` from `create_task` would be.)
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_with(Builder::new(), f)
            .unwrap_or_else(|e| panic!("TaskGroup::spawn: {e}"))
    }

    /// Spawns `f` as a child with the settings of `builder` (name, stack size).
    ///
    /// ```
    /// corio::run(|| {
    ///     corio::task_group(|tg| {
    ///         let t = tg.spawn_with(corio::Builder::new().name("yolo"), || ()).unwrap();
    ///         assert_eq!(t.name(), "yolo");
    ///     })
    ///     .unwrap();
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpawnError::GroupClosed`] once the group has finished, or while it shuts down after
    /// a failure or a cancellation; otherwise as [`Builder::spawn`].
    #[track_caller]
    pub fn spawn_with<T, F>(&self, builder: Builder, f: F) -> Result<Task<T>, SpawnError>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        self.spawn_child(builder, move |token| run_child(token, f))
    }

    /// Spawns `f` as a child whose `Err` fails the group, as a panic does (asyncio's child
    /// that raises). An `Ok` value is the child's result; an `Err` moves into the group's
    /// [`TaskGroupError`] as a [`TaskFailure::Error`], cancels the other children and the
    /// body, and comes back with every other failure once all children have ended.
    ///
    /// The error type is anything that converts into `Box<dyn Error + Send + Sync>`: any
    /// error type, a `String`, or `anyhow::Error`. The child's own handle holds the `Ok`
    /// value; after an `Err` it reports [`JoinError::Cancelled`](crate::JoinError::Cancelled)
    /// (the child ended without a value, and its error is reported once, by the group).
    ///
    /// ```
    /// use std::{io, time::Duration};
    /// corio::run(|| {
    ///     let err = corio::task_group(|tg| {
    ///         let ok = tg.spawn_fallible(|| Ok::<_, io::Error>(1)); // unaffected
    ///         tg.spawn(|| corio::sleep(Duration::from_secs(3600))); // cancelled by the failure
    ///         tg.spawn_fallible(|| {
    ///             corio::yield_now();
    ///             Err::<(), _>(io::Error::new(io::ErrorKind::NotFound, "no such user"))
    ///         });
    ///         corio::sleep(Duration::from_secs(3600)); // the body is cancelled too
    ///         unreachable!("the body stops at its suspension point");
    ///     })
    ///     .unwrap_err();
    ///     let errors = err.into_errors();
    ///     assert_eq!(errors.len(), 1);
    ///     let io_err = errors[0].downcast_ref::<io::Error>().unwrap();
    ///     assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// As [`spawn`](Self::spawn).
    #[track_caller]
    pub fn spawn_fallible<T, E, F>(&self, f: F) -> Task<T>
    where
        F: FnOnce() -> Result<T, E> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: 'static,
    {
        self.spawn_fallible_with(Builder::new(), f)
            .unwrap_or_else(|e| panic!("TaskGroup::spawn_fallible: {e}"))
    }

    /// [`spawn_fallible`](Self::spawn_fallible) with the settings of `builder` (name, stack
    /// size).
    ///
    /// ```
    /// corio::run(|| {
    ///     let t = corio::task_group(|tg| {
    ///         tg.spawn_fallible_with(corio::Builder::new().name("parse"), || "42".parse::<u8>())
    ///     })
    ///     .unwrap()
    ///     .unwrap();
    ///     assert_eq!(t.name(), "parse");
    ///     assert_eq!(t.join().unwrap(), 42);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// As [`spawn_with`](Self::spawn_with).
    pub fn spawn_fallible_with<T, E, F>(
        &self,
        builder: Builder,
        f: F,
    ) -> Result<Task<T>, SpawnError>
    where
        F: FnOnce() -> Result<T, E> + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
        T: 'static,
    {
        self.spawn_child(builder, move |token| run_fallible_child(token, f))
    }

    /// Spawns `body` as a child; it gets the token that reports its end.
    #[track_caller]
    fn spawn_child<T: 'static>(
        &self,
        builder: Builder,
        body: impl FnOnce(ChildToken) -> T + 'static,
    ) -> Result<Task<T>, SpawnError> {
        let g = &self.inner;
        if g.finished.get() || g.aborting.get() {
            return Err(SpawnError::GroupClosed);
        }
        let key = g.children.borrow_mut().insert(None);
        let token = ChildToken {
            group: g.clone(),
            key,
        };
        let task = builder.spawn(move || body(token))?;
        if let Some(slot) = g.children.borrow_mut().get_mut(key) {
            *slot = Some(task.raw());
        }
        Ok(task)
    }
}

/// An error a fallible child returned, as the group keeps it.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

struct Group {
    /// The task running `task_group`, cancelled when a child fails while the body runs.
    parent: TaskRef,
    /// The parent's cancel count on entry.
    base: u32,
    /// Children not ended yet (`None` for the instant between reserving a key and spawning).
    children: RefCell<Slab<Option<TaskRef>>>,
    /// Child failures (panics, returned errors), in the order they happened.
    errors: RefCell<Vec<TaskFailure>>,
    /// The children were cancelled (a failure, a body panic, or the parent was cancelled).
    aborting: Cell<bool>,
    /// The body has ended; the parent waits for the children.
    exiting: Cell<bool>,
    /// `task_group` has returned: no new children.
    finished: Cell<bool>,
    /// The group cancelled the parent, and must withdraw that request on exit.
    parent_cancel_requested: Cell<bool>,
    /// The parent, parked until the last child ends.
    waiter: RefCell<Option<Waker>>,
}

impl crate::runtime::WaitTarget for Group {
    fn describe(&self) -> crate::runtime::WaitInfo {
        let children = self.children.borrow();
        crate::runtime::WaitInfo {
            awaits: children
                .iter()
                .filter_map(|(_, c)| c.as_ref().map(|t| t.header().id()))
                .collect(),
            ..crate::runtime::WaitInfo::kind("task group")
        }
    }
}

impl Group {
    /// Cancels every child but the one running now.
    fn abort(&self) {
        self.aborting.set(true);
        let children: Vec<TaskRef> = self
            .children
            .borrow()
            .iter()
            .filter_map(|(_, c)| c.clone())
            .collect();
        let me = crate::runtime::current_header().map(|h| h.id());
        for c in children {
            if Some(c.header().id()) != me {
                crate::runtime::cancel(&c);
            }
        }
    }

    fn child_failed(&self, error: TaskFailure) {
        self.errors.borrow_mut().push(error);
        if self.aborting.get() || self.parent_cancel_requested.get() {
            return;
        }
        self.abort();
        if !self.exiting.get() {
            // Stop the body at its next suspension point; exit() withdraws the request.
            self.parent_cancel_requested.set(true);
            crate::runtime::cancel(&self.parent);
        }
    }

    fn exit<R>(&self, outcome: std::thread::Result<R>) -> Result<R, TaskGroupError> {
        self.exiting.set(true);
        let mut propagate_cancel = false;
        let mut body_error = None;
        let value = match outcome {
            Ok(v) => Some(v),
            Err(p) if is_closing() => self.give_up(p),
            Err(p) => {
                if p.is::<Cancelled>() {
                    propagate_cancel = true;
                } else {
                    body_error = Some(TaskFailure::Panicked(p));
                }
                if !self.aborting.get() {
                    self.abort();
                }
                None
            }
        };
        while !self.children.borrow().is_empty() {
            *self.waiter.borrow_mut() = Some(Waker::current());
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| crate::runtime::park_on(self))) {
                if !is_cancel(p.as_ref()) {
                    self.give_up(p);
                }
                // The parent is cancelled from elsewhere while it waits for the children.
                if !self.aborting.get() {
                    propagate_cancel = true;
                    self.abort();
                }
            }
        }
        *self.waiter.borrow_mut() = None;
        self.finished.set(true);
        if self.parent_cancel_requested.get() && self.parent.header().uncancel() <= self.base {
            // The body's cancellation was the group's own doing.
            propagate_cancel = false;
        }
        let mut errors = std::mem::take(&mut *self.errors.borrow_mut());
        errors.extend(body_error);
        if !errors.is_empty() {
            // The failures take precedence over a cancellation of the parent from outside the
            // group (an enclosing group or scope, a caller), but that cancellation must not be
            // lost: withdrawn and requested again, as asyncio 3.13 does (gh-116720), it is
            // pending once more, with the same count, for the parent's next suspension point.
            // Otherwise an enclosing group whose child failed would wait for a body that never
            // learns it was cancelled.
            let h = self.parent.header();
            if h.cancelling() > 0 {
                h.uncancel();
                crate::runtime::cancel(&self.parent);
            }
            return Err(TaskGroupError::new(errors));
        }
        match value {
            Some(v) if !propagate_cancel => Ok(v),
            _ => resume_unwind(Box::new(Cancelled)),
        }
    }

    /// The loop is unwinding the parent by force: no parking, no value; just let go.
    fn give_up(&self, p: Box<dyn std::any::Any + Send>) -> ! {
        self.finished.set(true);
        self.abort();
        *self.waiter.borrow_mut() = None;
        resume_unwind(p)
    }
}

/// Owned by a child's closure; its drop tells the group the child has ended.
struct ChildToken {
    group: Rc<Group>,
    key: usize,
}

impl Drop for ChildToken {
    fn drop(&mut self) {
        let g = &self.group;
        let removed = g.children.borrow_mut().try_remove(self.key);
        drop(removed);
        if g.children.borrow().is_empty() {
            let waiter = g.waiter.borrow_mut().take();
            if let Some(w) = waiter {
                w.wake();
            }
        }
    }
}

impl ChildToken {
    /// The child unwound with `p`: a cancellation goes on; a panic moves into the group.
    fn unwound(self, p: Box<dyn std::any::Any + Send>) -> ! {
        if p.is::<Cancelled>() || is_closing() {
            resume_unwind(p);
        }
        let message = panic_message(p.as_ref()).map(str::to_owned);
        self.group.child_failed(TaskFailure::Panicked(p));
        let handle_alive = crate::runtime::current_header().is_some_and(|h| h.handle_alive.get());
        drop(self);
        if handle_alive {
            // The payload went to the group; the handle still learns that (and why) it panicked.
            resume_unwind(Box::new(message.unwrap_or_else(|| {
                "a task group child panicked (payload moved to the TaskGroupError)".to_owned()
            })))
        } else {
            // Nobody can look at this task's result: end it quietly, the group reports the panic.
            resume_unwind(Box::new(Cancelled))
        }
    }

    /// A fallible child returned `error`: it moves into the group, and the child ends
    /// without a value (its handle reports a cancellation; the group reports the error).
    fn returned_error(self, error: BoxError) -> ! {
        self.group.child_failed(TaskFailure::Error(error));
        drop(self);
        resume_unwind(Box::new(Cancelled))
    }
}

/// A child's body: runs `f`, and hands a panic to the group.
fn run_child<T>(token: ChildToken, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(p) => token.unwound(p),
    }
}

/// A fallible child's body: runs `f`, and hands an `Err` or a panic to the group.
fn run_fallible_child<T, E>(token: ChildToken, f: impl FnOnce() -> Result<T, E>) -> T
where
    E: Into<BoxError>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => token.returned_error(e.into()),
        Err(p) => token.unwound(p),
    }
}
