//! `shield`: wait for a task without passing the waiter's cancellation on.

use crate::error::JoinError;
use crate::runtime::AwaitTask;
use crate::task::Task;

/// Parks until `task` ends and takes its result, like [`Task::join`]; but if the waiting
/// coroutine is cancelled, the task is left running (asyncio's `shield`).
///
/// The waiter still unwinds with [`Cancelled`](crate::Cancelled) at once. It keeps its
/// handle, so it can wait for the task again, for instance after catching the cancellation:
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let saver = corio::spawn(|| { corio::sleep(Duration::from_millis(5)); "saved" });
///     let waiter = corio::spawn(move || {
///         match corio::catch_cancel(|| corio::shield(&saver)) {
///             Ok(r) => r.unwrap(),
///             Err(_cancelled) => corio::shield(&saver).unwrap(), // still running: wait again
///         }
///     });
///     corio::yield_now();
///     waiter.cancel();
///     assert_eq!(waiter.join().unwrap(), "saved");
/// });
/// ```
///
/// Once `shield` has returned, the value is taken: a later `join` of the same task gives
/// `Err(JoinError::Cancelled)`.
///
/// # Cancel safety
///
/// That is its purpose: cancelling the waiter leaves the task alone, and takes nothing.
///
/// # Panics
///
/// Outside a coroutine, unless the task has already ended.
pub fn shield<T: 'static>(task: &Task<T>) -> Result<T, JoinError> {
    task.wait_done_as(false, &AwaitTask("shield", task.raw().header()));
    task.try_take().unwrap_or(Err(JoinError::Cancelled))
}
