//! `as_completed`: results in the order the tasks end.

use std::fmt;

use super::{IntoTask, park_until_any};
use crate::error::JoinError;
use crate::task::Task;

/// An iterator over the results of `tasks` in the order they end (asyncio's
/// `as_completed`). Closures are spawned at once. Each [`next`](Iterator::next) parks until
/// one more task has ended; tasks that ended while nobody was asking come out in input order.
///
/// ```
/// corio::run(|| {
///     // Each task ends after as many trips round the loop as its number, so the order does
///     // not depend on the machine's speed.
///     let order: Vec<u64> = corio::as_completed([30u64, 10, 20].map(|trips| move || {
///         for _ in 0..trips {
///             corio::yield_now();
///         }
///         trips
///     }))
///     .map(|r| r.unwrap())
///     .collect();
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
///
/// There is no timeout parameter: put one around a step with [`wait_for`](crate::wait_for),
/// then cancel or keep the [`remaining`](AsCompleted::remaining) tasks:
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let mut it = corio::as_completed([
///         corio::spawn(|| 1),
///         corio::spawn(|| { corio::sleep(Duration::from_secs(3600)); 2 }),
///     ]);
///     assert_eq!(corio::wait_for(Duration::from_secs(5), || it.next()).unwrap().unwrap().unwrap(), 1);
///     assert!(corio::wait_for(Duration::from_millis(5), || it.next()).is_err());
///     for t in it.into_remaining() { t.cancel(); }
/// });
/// ```
///
/// # Cancel safety
///
/// `next` is cancel safe: a cancelled `next` takes nothing, and the tasks keep running; the
/// next call picks up where it left off.
///
/// # Panics
///
/// When a closure cannot be spawned; `next` outside a coroutine, unless a task has ended.
pub fn as_completed<T, I>(tasks: I) -> AsCompleted<T>
where
    T: 'static,
    I: IntoIterator,
    I::Item: IntoTask<T>,
{
    AsCompleted {
        pending: tasks.into_iter().map(IntoTask::into_task).collect(),
    }
}

/// The iterator made by [`as_completed`].
pub struct AsCompleted<T: 'static> {
    /// Tasks not yet handed out, in input order.
    pending: Vec<Task<T>>,
}

impl<T: 'static> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.pending)
            .finish()
    }
}

impl<T: 'static> AsCompleted<T> {
    /// Parks until one more task has ended and returns it, done (its
    /// [`join`](Task::join) does not park); `None` when every task was handed out.
    ///
    /// ```
    /// corio::run(|| {
    ///     let slow = corio::spawn(|| { corio::yield_now(); corio::yield_now(); "slow" });
    ///     let quick = corio::spawn(|| "quick");
    ///     let mut it = corio::as_completed([slow, quick]);
    ///     let first = it.next_task().unwrap();
    ///     assert!(first.is_done());
    ///     assert_eq!(first.join().unwrap(), "quick");
    ///     assert_eq!(it.remaining().len(), 1);
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`as_completed`].
    ///
    /// # Panics
    ///
    /// Outside a coroutine, unless a task has already ended.
    pub fn next_task(&mut self) -> Option<Task<T>> {
        if self.pending.is_empty() {
            return None;
        }
        loop {
            if let Some(i) = self.pending.iter().position(|t| t.is_done()) {
                return Some(self.pending.remove(i));
            }
            park_until_any(&self.pending, "as_completed", |_| {});
        }
    }

    /// The tasks not handed out yet, in input order.
    pub fn remaining(&self) -> &[Task<T>] {
        &self.pending
    }

    /// Gives back the tasks not handed out yet, in input order.
    pub fn into_remaining(self) -> Vec<Task<T>> {
        self.pending
    }
}

impl<T: 'static> Iterator for AsCompleted<T> {
    type Item = Result<T, JoinError>;

    /// Parks until one more task has ended and returns its result.
    fn next(&mut self) -> Option<Result<T, JoinError>> {
        self.next_task().map(Task::join)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}

impl<T: 'static> ExactSizeIterator for AsCompleted<T> {}
