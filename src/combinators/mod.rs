//! Waiting on several tasks at once, and deadlines (asyncio's `tasks.py` functions,
//! `timeouts.py` and `taskgroups.py`).
//!
//! | function | what it does | asyncio |
//! |---|---|---|
//! | [`gather`], [`gather!`](crate::gather!) | every result, in input order, each a `Result` | `gather(..., return_exceptions=True)` |
//! | [`wait`] | parks until a [`ReturnWhen`] condition or a timeout; gives `(done, pending)` | `wait` |
//! | [`as_completed`] | an iterator over results in the order the tasks end | `as_completed` |
//! | [`wait_for`] | runs a closure with a deadline | `wait_for` |
//! | [`timeout`], [`timeout_at`] | a deadline scope that can be moved while it runs | `timeout`, `timeout_at` |
//! | [`shield`] | waits for a task without passing the waiter's cancellation on | `shield` |
//! | [`task_group`] | structured concurrency: children end before the group returns | `TaskGroup` |
//!
//! Where asyncio takes awaitables, these take [`Task`]s or closures ([`IntoTask`]); a closure
//! is spawned as a new task. Deadlines ([`wait_for`], [`timeout`]) run their closure inline, on
//! the caller's stack, so it may borrow locals.
//!
//! ## Cancellation
//!
//! Each function documents what happens when the coroutine waiting in it is cancelled. In
//! short: [`gather`] and [`task_group`] cancel their children and wait for them to end before
//! the cancellation goes on; [`wait`], [`as_completed`] and [`shield`] leave the tasks running.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::runtime::{WaitInfo, WaitTarget, Waker};
use crate::task::{Task, spawn};

mod as_completed;
mod gather;
mod shield;
mod task_group;
mod timeout;
mod wait;

pub use as_completed::{AsCompleted, as_completed};
pub use gather::gather;
#[doc(hidden)]
pub use gather::{__gather_tuple, GatherTuple};
pub use shield::shield;
pub use task_group::{TaskGroup, task_group};
pub use timeout::{TimeoutScope, timeout, timeout_at, wait_for};
pub use wait::{ReturnWhen, wait};

/// Something that can become a [`Task`]: a task already spawned, or a closure, which is
/// spawned on the running loop.
///
/// ```
/// use corio::combinators::IntoTask;
/// corio::run(|| {
///     let a = corio::spawn(|| 1).into_task(); // a task stays itself
///     let b = (|| 2).into_task();             // a closure is spawned
///     assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
/// });
/// ```
pub trait IntoTask<T: 'static> {
    /// The task: `self`, or `self` spawned.
    ///
    /// # Panics
    ///
    /// For a closure, as [`spawn`]: outside a running loop, or when no stack can be mapped.
    fn into_task(self) -> Task<T>;
}

impl<T: 'static> IntoTask<T> for Task<T> {
    fn into_task(self) -> Task<T> {
        self
    }
}

impl<T: 'static, F: FnOnce() -> T + 'static> IntoTask<T> for F {
    #[track_caller]
    fn into_task(self) -> Task<T> {
        spawn(self)
    }
}

/// A task seen without its value type, for waiting on and cancelling tasks of mixed types.
pub(crate) trait Child {
    fn child_cancel(&self) -> bool;
    /// Parks until the task has ended, the wait described by `what`; does not pass a
    /// cancellation of the waiter on.
    fn child_wait(&self, what: &dyn WaitTarget);
    /// The task's id, and whether it has ended.
    fn child_id(&self) -> (u64, bool);
}

impl<T: 'static> Child for Task<T> {
    fn child_cancel(&self) -> bool {
        Task::cancel(self)
    }
    fn child_wait(&self, what: &dyn WaitTarget) {
        Task::wait_done_as(self, false, what)
    }
    fn child_id(&self) -> (u64, bool) {
        (self.id(), self.is_done())
    }
}

/// A gather's wait: for every child not ended yet.
struct Gathering<'a>(&'a [&'a dyn Child]);

impl WaitTarget for Gathering<'_> {
    fn describe(&self) -> WaitInfo {
        WaitInfo {
            awaits: self
                .0
                .iter()
                .map(|c| c.child_id())
                .filter(|&(_, done)| !done)
                .map(|(id, _)| id)
                .collect(),
            ..WaitInfo::kind("gather")
        }
    }
}

pub(crate) use crate::task::{is_cancel, is_closing};

/// Waits until every child has ended. If the waiter is cancelled meanwhile, every child is
/// cancelled and waited for (as asyncio's gather does), then the cancellation goes on.
pub(crate) fn join_all_or_cancel(children: &[&dyn Child]) {
    let wait_all = || {
        for c in children {
            c.child_wait(&Gathering(children));
        }
    };
    let Err(p) = catch_unwind(AssertUnwindSafe(wait_all)) else {
        return;
    };
    for c in children {
        c.child_cancel();
    }
    if !is_cancel(p.as_ref()) {
        resume_unwind(p);
    }
    // A child may take a while to end (it may catch its cancellation and clean up); a
    // further cancellation of the waiter is passed on to the children again.
    while let Err(again) = catch_unwind(AssertUnwindSafe(wait_all)) {
        if !is_cancel(again.as_ref()) {
            resume_unwind(again);
        }
        for c in children {
            c.child_cancel();
        }
    }
    resume_unwind(p)
}

/// A wait on some tasks (a gather, a `wait`), naming those not ended yet.
struct AwaitTasks<'a, T: 'static>(&'static str, &'a [Task<T>]);

impl<T: 'static> WaitTarget for AwaitTasks<'_, T> {
    fn describe(&self) -> WaitInfo {
        WaitInfo {
            awaits: self
                .1
                .iter()
                .filter(|t| !t.is_done())
                .map(Task::id)
                .collect(),
            ..WaitInfo::kind(self.0)
        }
    }
}

/// Parks until one of `tasks` ends or the current task is otherwise woken (`extra` lets a
/// caller arm a timer with the same waker). The waker is taken off every task on the way
/// out, also when the park unwinds.
pub(crate) fn park_until_any<T: 'static>(
    tasks: &[Task<T>],
    what: &'static str,
    extra: impl FnOnce(&Waker),
) {
    struct Unregister<'a, T: 'static> {
        tasks: &'a [Task<T>],
        waker: Waker,
    }
    impl<T: 'static> Drop for Unregister<'_, T> {
        fn drop(&mut self) {
            for t in self.tasks {
                if !t.is_done() {
                    t.remove_done_waker(&self.waker);
                }
            }
        }
    }
    let waker = Waker::current();
    for t in tasks {
        if !t.is_done() {
            t.add_done_waker(waker.clone());
        }
    }
    extra(&waker);
    let _unregister = Unregister { tasks, waker };
    crate::runtime::park_on(&AwaitTasks(what, tasks));
}
