//! Error types, each small and each saying what happened and what to do about it.

use std::any::Any;
use std::fmt;
use std::io;

mod deadlock;
mod group;
mod queue;
mod socket;
mod stream;

pub use deadlock::DeadlockReport;
pub use group::{TaskFailure, TaskGroupError};
pub use queue::{
    GetNowaitError, PutNowaitError, QueueEmpty, QueueFull, QueueShutDown, TaskDoneError,
};
pub use socket::{SocketError, SocketOp, raw_os_error};
pub use stream::{IncompleteRead, LimitOverrun, ReadError};

/// The payload a cancelled coroutine unwinds with, and the error that reports a cancellation.
///
/// `Task::cancel` makes the task's current or next suspension point unwind with this value
/// (asyncio's `CancelledError`), so every `Drop` on the way runs like a `finally` block.
/// [`catch_cancel`](crate::catch_cancel) catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the coroutine was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Why [`Task::join`](crate::Task::join) did not produce the task's value.
pub enum JoinError {
    /// The task was cancelled before it returned.
    Cancelled,
    /// The task panicked; the payload is what `panic!` was given.
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    /// `true` if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// `true` if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic payload, if the task panicked; resume it with `std::panic::resume_unwind`.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            JoinError::Panicked(p) => Some(p),
            JoinError::Cancelled => None,
        }
    }

    /// The panic message, when the payload is a string (as it is for `panic!("...")`).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(p) => panic_message(p.as_ref()),
            JoinError::Cancelled => None,
        }
    }
}

/// The text of a panic payload, when it is a `&str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(|s| s.as_str())
    }
}

/// The text of a panic payload for a report: its message, or `<non-string payload>`.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    panic_message(payload).unwrap_or("<non-string payload>")
}

/// Writes `task panicked`, with the panic's message when it has one.
pub(crate) fn write_task_panicked(
    f: &mut fmt::Formatter<'_>,
    payload: &(dyn Any + Send),
) -> fmt::Result {
    match panic_message(payload) {
        Some(m) => write!(f, "task panicked: {m}"),
        None => f.write_str("task panicked"),
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("Cancelled"),
            JoinError::Panicked(p) => f
                .debug_tuple("Panicked")
                .field(&panic_text(p.as_ref()))
                .finish(),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was cancelled"),
            JoinError::Panicked(p) => write_task_panicked(f, p.as_ref()),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<Cancelled> for JoinError {
    fn from(_: Cancelled) -> Self {
        JoinError::Cancelled
    }
}

/// An operation met an object in the wrong state: setting a future that is already done,
/// reading the result of one that is not (asyncio's `InvalidStateError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidState(pub(crate) &'static str);

impl fmt::Display for InvalidState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid state: {}", self.0)
    }
}

impl std::error::Error for InvalidState {}

/// A deadline passed before the operation finished (asyncio's `TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the operation timed out")
    }
}

impl std::error::Error for Timeout {}

impl From<Timeout> for io::Error {
    fn from(_: Timeout) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, Timeout)
    }
}

/// [`Lock::release`](crate::Lock::release) on a lock that is not locked, or a
/// [`Condition`](crate::Condition) waited on or notified without its lock held (asyncio's
/// `RuntimeError('Lock is not acquired.')`). Acquire the lock first; a
/// [`LockGuard`](crate::LockGuard) releases it by itself when dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotLocked;

impl fmt::Display for NotLocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is not acquired; acquire it before releasing, waiting or notifying")
    }
}

impl std::error::Error for NotLocked {}

/// [`BoundedSemaphore::release`](crate::BoundedSemaphore::release) would raise the count above
/// its initial value (asyncio's `ValueError('BoundedSemaphore released too many times')`):
/// a unit was released that was never acquired. The count is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TooManyReleases;

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the bounded semaphore was released more times than it was acquired")
    }
}

impl std::error::Error for TooManyReleases {}

/// A [`Barrier`](crate::Barrier) was aborted, or reset while this task waited at it
/// (asyncio's `BrokenBarrierError`). An aborted barrier stays broken until
/// [`reset`](crate::Barrier::reset); after a reset, waiting again works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken: it was aborted, or reset while waiting")
    }
}

impl std::error::Error for BrokenBarrier {}

/// Why a task could not be spawned.
#[derive(Debug)]
pub enum SpawnError {
    /// No stack could be mapped for the coroutine. The message names the cause (memory, or
    /// `vm.max_map_count`) and how to raise the limit.
    Stack {
        /// Usable size of the stack that was asked for, in bytes.
        size: usize,
        /// The error the kernel gave.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// There is no event loop to spawn on: `spawn` was called outside [`run`](crate::run) and
    /// outside a running [`EventLoop`](crate::EventLoop), or the loop is closed.
    NoLoop,
    /// The [`TaskGroup`](crate::TaskGroup) takes no new children: it has finished, or it is
    /// shutting down after a failure or a cancellation.
    GroupClosed,
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::Stack { size, source, hint } => write!(
                f,
                "could not map a {size}-byte coroutine stack: {source}; {hint}"
            ),
            SpawnError::NoLoop => f.write_str(
                "no running event loop: call spawn inside corio::run or EventLoop::run_until_complete",
            ),
            SpawnError::GroupClosed => f.write_str(
                "the task group takes no new tasks: it has finished, or it is shutting down after a failure or a cancellation",
            ),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Stack { source, .. } => Some(source),
            SpawnError::NoLoop | SpawnError::GroupClosed => None,
        }
    }
}

impl From<SpawnError> for io::Error {
    fn from(e: SpawnError) -> io::Error {
        io::Error::other(e)
    }
}

/// Errors of the event loop itself (asyncio's `RuntimeError` from the loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// A loop is already running on this thread; a coroutine must not start another one.
    /// Spawn a task instead, or wait on a future.
    NestedRun,
    /// The loop is closed and cannot run or accept callbacks.
    Closed,
    /// `stop()` was called before the awaited coroutine completed.
    StoppedBeforeComplete,
    /// The operation needs a loop that is not running (`close` while it runs).
    Running,
    /// The coroutine given to `run_until_complete` was cancelled.
    Cancelled,
    /// The coroutine waited for something nothing can bring: every task was durably blocked
    /// (only another task of the loop could wake it), with no timer, external wait (socket,
    /// executor job, thread) or `LoopHandle` left to change that. It was cancelled. The
    /// report says who waits on what.
    Deadlock(DeadlockReport),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let RuntimeError::Deadlock(report) = self {
            return f.write_str(report.text());
        }
        f.write_str(match self {
            RuntimeError::NestedRun => {
                "an event loop is already running on this thread; spawn a task instead of starting another loop"
            }
            RuntimeError::Closed => "the event loop is closed",
            RuntimeError::StoppedBeforeComplete => {
                "the event loop stopped before the coroutine completed"
            }
            RuntimeError::Running => "the event loop is running; stop it first",
            RuntimeError::Cancelled => "the main coroutine was cancelled",
            RuntimeError::Deadlock(_) => unreachable!("written above"),
        })
    }
}

impl std::error::Error for RuntimeError {}
