//! `wait`: park until some or all of a set of tasks have ended, or a timeout.

use std::time::Duration;

use super::{IntoTask, park_until_any};
use crate::runtime::{WakeTimer, deadline_after};
use crate::task::Task;

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReturnWhen {
    /// As soon as any task has ended.
    FirstCompleted,
    /// As soon as any task has panicked, or when all have ended. A cancelled task does not
    /// count as a failure here, as in asyncio.
    FirstException,
    /// When every task has ended.
    #[default]
    AllCompleted,
}

/// Parks until the `return_when` condition holds or `timeout` passes, then splits the tasks
/// into `(done, pending)`, each in input order (asyncio's `wait`). Closures are spawned.
///
/// Nothing is cancelled, not even on timeout: the pending tasks go on and come back to the
/// caller. A done task can be joined at once, without parking. With no tasks, both lists are
/// empty and `wait` returns at once (asyncio raises `ValueError`).
///
/// ```
/// use std::time::Duration;
/// use corio::ReturnWhen;
/// corio::run(|| {
///     let slow = corio::spawn(|| corio::sleep(Duration::from_secs(3600)));
///     let quick = corio::spawn(|| corio::yield_now());
///     let (done, pending) = corio::wait([slow, quick], ReturnWhen::FirstCompleted, None);
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     pending[0].cancel();
///     for t in done { t.join().unwrap(); } // done: joining does not park
/// });
/// ```
///
/// # Cancel safety
///
/// If the waiting coroutine is cancelled, the tasks keep running (their handles are dropped,
/// so they run on detached), as asyncio's `wait` does not cancel them either.
///
/// # Panics
///
/// Outside a coroutine, unless the condition already holds; when a closure cannot be spawned.
pub fn wait<T, I>(
    tasks: I,
    return_when: ReturnWhen,
    timeout: Option<Duration>,
) -> (Vec<Task<T>>, Vec<Task<T>>)
where
    T: 'static,
    I: IntoIterator,
    I::Item: IntoTask<T>,
{
    let tasks: Vec<Task<T>> = tasks.into_iter().map(IntoTask::into_task).collect();
    let deadline = timeout.map(deadline_after);
    // The timeout, removed from the loop when the wait ends.
    let mut timer: Option<WakeTimer> = None;
    while !satisfied(&tasks, return_when) {
        if timer.as_ref().is_some_and(|t| !t.is_pending()) {
            break;
        }
        park_until_any(&tasks, "wait", |w| {
            let Some(deadline) = deadline else { return };
            match &timer {
                Some(t) => t.rearm(w.clone()),
                None => timer = WakeTimer::start(deadline, w.clone()),
            }
        });
    }
    tasks.into_iter().partition(|t| t.is_done())
}

fn satisfied<T: 'static>(tasks: &[Task<T>], return_when: ReturnWhen) -> bool {
    match return_when {
        ReturnWhen::AllCompleted => tasks.iter().all(|t| t.is_done()),
        ReturnWhen::FirstCompleted => tasks.is_empty() || tasks.iter().any(|t| t.is_done()),
        ReturnWhen::FirstException => {
            tasks.iter().any(|t| t.has_panicked()) || tasks.iter().all(|t| t.is_done())
        }
    }
}
