//! Tasks: coroutines scheduled on the loop, with a handle to join or cancel them
//! (asyncio's `Task`).

use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::error::{Cancelled, JoinError, SpawnError};
use crate::runtime::Waker;
use crate::runtime::spawn_here;
use crate::runtime::{TaskRef, TypedRef};
use crate::runtime::{Ticket, WaitKind, WaitTarget};

/// A handle to a spawned coroutine (asyncio's `Task`).
///
/// [`join`](Task::join) parks until the task ends and gives its value back. Dropping the handle
/// does **not** cancel the task (it runs on, detached); if a detached task panics, the failure
/// goes once to the loop's exception handler ([`set_exception_handler`](crate::set_exception_handler);
/// the default prints it on stderr), like asyncio's "Task exception was never retrieved".
///
/// `Task` is `!Send`: a coroutine and its stack never leave the loop's thread.
///
/// ```compile_fail
/// fn assert_send<T: Send>(_: T) {}
/// corio::run(|| assert_send(corio::spawn(|| 1)));
/// ```
pub struct Task<T: 'static> {
    cell: TypedRef<T>,
}

impl<T: 'static> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("done", &self.is_done())
            .finish()
    }
}

impl<T: 'static> Task<T> {
    /// Parks the calling coroutine until the task ends and returns its value:
    /// `Err(JoinError::Cancelled)` if it was cancelled, `Err(JoinError::Panicked(payload))` if
    /// it panicked.
    ///
    /// ```
    /// corio::run(|| {
    ///     let t = corio::spawn(|| { corio::yield_now(); "done" });
    ///     assert_eq!(t.join().unwrap(), "done");
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As in asyncio (`await task`), cancelling the joining coroutine cancels the task, and
    /// the joiner goes on waiting for the task's outcome: the cancellation is handed to the
    /// task. If the task ends cancelled, the joiner unwinds with the cancellation; if it
    /// catches it and ends otherwise (a value after clean-up, a failure), `join` returns that
    /// outcome. A further cancel of the joiner while it waits is passed on again.
    ///
    /// ```
    /// corio::run(|| {
    ///     let outer = corio::spawn(|| {
    ///         let inner = corio::spawn(|| {
    ///             match corio::catch_cancel(|| corio::sleep(std::time::Duration::from_secs(60))) {
    ///                 Ok(()) => "slept",
    ///                 Err(_) => "cleaned up",
    ///             }
    ///         });
    ///         inner.join()
    ///     });
    ///     corio::yield_now();
    ///     corio::yield_now();
    ///     outer.cancel();
    ///     assert_eq!(outer.join().unwrap().unwrap(), "cleaned up");
    /// });
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a coroutine, unless the task has already ended.
    pub fn join(self) -> Result<T, JoinError> {
        self.wait_done_passing_cancel();
        self.cell.take_result().unwrap_or(Err(JoinError::Cancelled))
    }

    /// Parks until the task has ended; a cancel of the waiter is handed to the task (see
    /// [`join`](Self::join)). Unwinds with the waiter's cancellation only if the task ends
    /// cancelled; any other unwind (the loop closing) cancels the task and goes on at once.
    fn wait_done_passing_cancel(&self) {
        let mut first = None;
        while let Err(p) = catch_unwind(AssertUnwindSafe(|| self.wait_done(false))) {
            // A cancel the task cannot take (it ended already, woken but not yet run) or any
            // other unwind (the loop closing) goes on at once, as asyncio's `_must_cancel`.
            if !self.cancel() || !is_cancel(p.as_ref()) {
                resume_unwind(p);
            }
            first.get_or_insert(p);
        }
        if let Some(p) = first
            && self.is_cancelled()
        {
            resume_unwind(p);
        }
    }

    /// Parks until the task has ended, without taking its value.
    ///
    /// # Cancel safety
    ///
    /// With `propagate_cancel`, cancelling the waiter cancels the task too (asyncio's `await
    /// task`); without it the task is left alone (what `shield` needs).
    pub(crate) fn wait_done(&self, propagate_cancel: bool) {
        self.wait_done_as(propagate_cancel, self.cell.header());
    }

    /// [`wait_done`](Self::wait_done), with `what` describing the wait (a gather, a shield).
    pub(crate) fn wait_done_as(&self, propagate_cancel: bool, what: &dyn WaitTarget) {
        let h = self.cell.header();
        while !h.is_done() {
            let ticket = h.done_wakers.borrow_mut().push_current(WaitKind::Join);
            let guard = DoneWaiter {
                task: &self.cell,
                ticket,
                propagate_cancel,
            };
            crate::runtime::park_on(what);
            guard.disarm();
        }
    }

    /// Requests cancellation: the task's current or next suspension point unwinds with
    /// [`Cancelled`], running its `Drop`s. Returns `false` if the task already ended.
    ///
    /// ```
    /// corio::run(|| {
    ///     let t = corio::spawn(|| corio::sleep(std::time::Duration::from_secs(3600)));
    ///     corio::yield_now();
    ///     assert!(t.cancel());
    ///     assert!(t.join().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        crate::runtime::cancel(self.cell.raw())
    }

    /// `true` once the task has ended, however it ended.
    pub fn is_done(&self) -> bool {
        self.cell.header().is_done()
    }

    /// `true` if the task ended by cancellation.
    pub fn is_cancelled(&self) -> bool {
        matches!(&*self.cell.result.borrow(), Some(Err(JoinError::Cancelled)))
    }

    /// asyncio's `Task.done()`, the name [`Future::done`](crate::Future::done) has too: the
    /// same as [`is_done`](Self::is_done).
    ///
    /// ```
    /// corio::run(|| {
    ///     let t = corio::spawn(|| 1);
    ///     assert!(!t.done());
    ///     corio::yield_now(); // the task runs to its end meanwhile
    ///     assert!(t.done() && !t.cancelled());
    /// });
    /// ```
    pub fn done(&self) -> bool {
        self.is_done()
    }

    /// asyncio's `Task.cancelled()`: the same as [`is_cancelled`](Self::is_cancelled).
    pub fn cancelled(&self) -> bool {
        self.is_cancelled()
    }

    /// The task's name: the one given to [`Builder::name`], or `Task-<id>` as asyncio names them.
    pub fn name(&self) -> Cow<'_, str> {
        let h = self.cell.header();
        if h.name().is_empty() {
            Cow::Owned(h.display_name())
        } else {
            Cow::Borrowed(h.name())
        }
    }

    /// A number unique among the tasks of its loop.
    pub fn id(&self) -> u64 {
        self.cell.header().id()
    }

    /// Registers `w` to be woken when the task ends (for combinators waiting on many tasks).
    pub(crate) fn add_done_waker(&self, w: Waker) {
        self.cell
            .header()
            .done_wakers
            .borrow_mut()
            .push(WaitKind::Join, w);
    }

    /// Removes wakers registered by a waiter that stopped waiting.
    pub(crate) fn remove_done_waker(&self, w: &Waker) {
        self.cell.header().done_wakers.borrow_mut().remove_waker(w);
    }

    /// `true` if the task ended by a panic whose value is still in it (not yet taken).
    pub(crate) fn has_panicked(&self) -> bool {
        matches!(
            &*self.cell.result.borrow(),
            Some(Err(JoinError::Panicked(_)))
        )
    }

    /// The task, type-erased, for combinators that track tasks of different value types.
    pub(crate) fn raw(&self) -> TaskRef {
        self.cell.raw().clone()
    }

    /// Takes the value of an ended task.
    pub(crate) fn try_take(&self) -> Option<Result<T, JoinError>> {
        if self.is_done() {
            self.cell.take_result()
        } else {
            None
        }
    }
}

/// Unregisters a joiner's waker when the join is abandoned (cancelled), and passes the
/// cancellation on to the task if asked to.
struct DoneWaiter<'a, T: 'static> {
    task: &'a TypedRef<T>,
    ticket: Ticket,
    propagate_cancel: bool,
}

impl<T: 'static> DoneWaiter<'_, T> {
    /// The park returned normally: unregister without cancelling anything. (Telling the
    /// two paths apart by `std::thread::panicking()` would be wrong: that is per thread, and
    /// true all along in a loop run from a `Drop` during a panic.)
    fn disarm(mut self) {
        self.propagate_cancel = false;
    }
}

impl<T: 'static> Drop for DoneWaiter<'_, T> {
    fn drop(&mut self) {
        let h = self.task.header();
        if !h.is_done() {
            let w = h.done_wakers.borrow_mut().remove(self.ticket);
            drop(w);
            // Still armed: an unwind left the park, so the joiner was cancelled (or the
            // loop is closing).
            if self.propagate_cancel {
                crate::runtime::cancel(self.task.raw());
            }
        }
    }
}

/// `true` while the loop unwinds the current task by force (loop close): that unwind must go
/// on, without parking and without being turned into a value.
pub(crate) fn is_closing() -> bool {
    crate::runtime::current_header().is_some_and(|h| h.closing.get())
}

/// `true` if an unwind payload is a cancellation that a join or a combinator may stop and
/// act upon (not the loop's closing unwind).
pub(crate) fn is_cancel(p: &(dyn std::any::Any + Send)) -> bool {
    p.is::<Cancelled>() && !is_closing()
}

impl<T: 'static> Drop for Task<T> {
    fn drop(&mut self) {
        self.cell.handle_dropped();
    }
}

/// Spawns `f` as a new task on the running loop (asyncio's `create_task`). Tasks run in FIFO
/// order of readiness; this one runs after the current coroutine parks or yields.
///
/// ```
/// corio::run(|| {
///     let a = corio::spawn(|| 1);
///     let b = corio::spawn(|| 2);
///     assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
/// });
/// ```
///
/// # Panics
///
/// Outside a running loop, or when no stack can be mapped; [`Builder::spawn`] returns those
/// as errors instead.
#[track_caller]
pub fn spawn<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|e| panic!("corio::spawn: {e}"))
}

/// Task settings: name and stack size.
///
/// ```
/// corio::run(|| {
///     let t = corio::Builder::new().name("worker").stack_size(64 * 1024).spawn(|| 5).unwrap();
///     assert_eq!(t.name(), "worker");
///     assert_eq!(t.join().unwrap(), 5);
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default settings: no name (`Task-<id>`), the loop's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown in reports and by [`Task::name`]).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes, rounded up to whole pages (at least 16 KiB). See
    /// [`DEFAULT_STACK_SIZE`](crate::runtime::DEFAULT_STACK_SIZE) for the default.
    ///
    /// Leave some room below the deepest point at which the task parks: a parking task may
    /// resume the next ready task from its own stack (about half a KiB in release builds,
    /// more in debug builds; see docs/ARCHITECTURE.md, "Hand-off"). An overflow is reported
    /// with the task's name, never a silent crash.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Spawns `f` on the running loop.
    ///
    /// # Errors
    ///
    /// [`SpawnError::NoLoop`] outside a running loop; [`SpawnError::Stack`] when the stack
    /// cannot be mapped (out of memory, or `vm.max_map_count` reached) — the message says which
    /// limit to raise, and the loop keeps running.
    #[track_caller]
    pub fn spawn<T, F>(self, f: F) -> Result<Task<T>, SpawnError>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let cell = spawn_here((self.name, self.stack_size), f)?;
        Ok(Task { cell })
    }
}

/// The running task, as seen from inside it (asyncio's `current_task()`).
#[derive(Clone)]
pub struct CurrentTask {
    raw: TaskRef,
}

impl fmt::Debug for CurrentTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentTask")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish()
    }
}

impl CurrentTask {
    /// The task's id.
    pub fn id(&self) -> u64 {
        self.raw.header().id()
    }

    /// The task's name (`Task-<id>` if none was given; the main coroutine is `main`).
    pub fn name(&self) -> String {
        self.raw.header().display_name()
    }

    /// Requests cancellation of this task: its next suspension point unwinds.
    ///
    /// A task that returns before suspending again ends with its value: the request is not
    /// delivered. (asyncio ends such a task cancelled; here a failure is often a returned
    /// value, such as a [`TaskGroupError`](crate::TaskGroupError), which its joiner must get.)
    pub fn cancel(&self) -> bool {
        crate::runtime::cancel(&self.raw)
    }

    /// How many cancellations were requested and not withdrawn by
    /// [`uncancel`](Self::uncancel) (asyncio's `Task.cancelling()`). Delivering a cancellation
    /// does not lower the count: a task that caught one with [`catch_cancel`] still reports it.
    ///
    /// ```
    /// corio::run(|| {
    ///     let me = corio::current_task().unwrap();
    ///     assert_eq!(me.cancelling(), 0);
    ///     me.cancel();
    ///     assert!(corio::catch_cancel(corio::yield_now).is_err());
    ///     assert_eq!(me.cancelling(), 1, "delivered, still counted");
    ///     assert_eq!(me.uncancel(), 0);
    /// });
    /// ```
    pub fn cancelling(&self) -> u32 {
        self.raw.header().cancelling()
    }

    /// Withdraws one cancellation request (asyncio's `Task.uncancel()`) and returns how many
    /// are left. If a request is still waiting to be delivered and no request newer than the
    /// last delivered one is left, it is withdrawn too: the next suspension point does not
    /// unwind.
    ///
    /// ```
    /// corio::run(|| {
    ///     let me = corio::current_task().unwrap();
    ///     me.cancel();
    ///     assert_eq!(me.uncancel(), 0);
    ///     corio::yield_now(); // the request was withdrawn: no unwind
    /// });
    /// ```
    pub fn uncancel(&self) -> u32 {
        self.raw.header().uncancel()
    }
}

/// The task running now, or `None` on the loop's own stack (in a callback) or outside a loop.
///
/// ```
/// corio::run(|| {
///     assert_eq!(corio::current_task().unwrap().name(), "main");
/// });
/// assert!(corio::current_task().is_none());
/// ```
pub fn current_task() -> Option<CurrentTask> {
    crate::runtime::current_task().map(|raw| CurrentTask { raw })
}

/// Runs `f`, catching a cancellation that unwinds out of it (asyncio's `except
/// CancelledError`). Other panics pass through.
///
/// The task goes on after a caught cancellation, as in asyncio; a later `cancel` works again.
/// When the loop is closing and unwinds every coroutine by force, that unwind cannot be caught
/// here: `catch_cancel` passes it on.
///
/// A plain `std::panic::catch_unwind` around a parking call also stops a cancellation (it
/// catches the [`Cancelled`] payload like any panic) — resume it with `resume_unwind` if you
/// do not mean to swallow it. The loop's final unwind on close is not stopped by that either.
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let t = corio::spawn(|| {
///         let r = corio::catch_cancel(|| corio::sleep(Duration::from_secs(3600)));
///         assert!(r.is_err());
///         "cleaned up"
///     });
///     corio::yield_now();
///     t.cancel();
///     assert_eq!(t.join().unwrap(), "cleaned up");
/// });
/// ```
pub fn catch_cancel<R, F: FnOnce() -> R>(f: F) -> Result<R, Cancelled> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) => {
            let closing = crate::runtime::current_header().is_some_and(|h| h.closing.get());
            if p.is::<Cancelled>() && !closing {
                Err(Cancelled)
            } else {
                resume_unwind(p)
            }
        }
    }
}

pub use crate::runtime::{TaskInfo, TaskState};

/// Every live task of the running loop with what it waits on and who awaits it, in spawn
/// order (a debugging aid; empty outside a loop). [`dump_tasks`] renders it as a tree.
///
/// ```
/// corio::run(|| {
///     let t = corio::Builder::new().name("sleeper")
///         .spawn(|| corio::sleep(std::time::Duration::from_secs(60))).unwrap();
///     corio::yield_now();
///     let all = corio::task::tasks();
///     let s = all.iter().find(|i| i.name == "sleeper").unwrap();
///     assert_eq!(s.waiting_on, "sleep");
///     assert_eq!(s.state, corio::task::TaskState::Parked);
///     assert!(!s.external, "only a timer ends a sleep");
///     t.cancel();
/// });
/// ```
pub fn tasks() -> Vec<TaskInfo> {
    crate::runtime::task_snapshot()
}

/// The running loop's tasks as an indented tree of who awaits whom (asyncio's `pstree`):
/// one line per task with its name, id, spawn site and what it waits on; a task waiting for
/// others (a join, a gather, a `wait`, a task group) is followed by them, one level deeper.
/// In debug mode (`CORIO_DEBUG=1`) each parked task's line is followed by the backtrace of
/// where it parked. The deadlock report is this text.
///
/// ```
/// corio::run(|| {
///     let child = corio::Builder::new().name("child")
///         .spawn(|| corio::sleep(std::time::Duration::from_secs(1))).unwrap();
///     let parent = corio::Builder::new().name("parent").spawn(move || child.join()).unwrap();
///     corio::yield_now();
///     let tree = corio::dump_tasks();
///     let parent_line = tree.lines().position(|l| l.starts_with("task 'parent'")).unwrap();
///     assert!(tree.lines().nth(parent_line + 1).unwrap().starts_with("  task 'child'"));
///     parent.cancel();
/// });
/// ```
pub fn dump_tasks() -> String {
    crate::runtime::render_tasks(&tasks())
}
