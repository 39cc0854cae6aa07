//! Error types, each small and each saying what happened and what to do about it.

use std::any::Any;
use std::fmt;
use std::io;

mod group;
mod socket;

pub use group::{TaskFailure, TaskGroupError};
pub use socket::{SocketError, SocketOp, raw_os_error};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// The coroutine waited for something nothing can bring: every task was parked, with no
    /// timer, fd registration or other thread left to wake one. It was cancelled.
    Deadlock,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
            RuntimeError::Deadlock => {
                "deadlock: every task is parked and no timer, fd or other thread can wake one"
            }
        })
    }
}

impl std::error::Error for RuntimeError {}

/// [`put_nowait`](crate::Queue::put_nowait) found the queue full (asyncio's `QueueFull`).
/// The item that could not be put comes back: [`into_inner`](QueueFull::into_inner).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueFull<T>(pub T);

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is full; use put to wait for a free place")
    }
}

impl<T> std::error::Error for QueueFull<T> {}

/// [`get_nowait`](crate::Queue::get_nowait) found the queue empty (asyncio's `QueueEmpty`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is empty; use get to wait for an item")
    }
}

impl std::error::Error for QueueEmpty {}

/// The queue was shut down (asyncio's `QueueShutDown`, Python 3.13).
///
/// After [`shutdown`](crate::Queue::shutdown) every put fails with this error and gives its
/// item back ([`into_inner`](QueueShutDown::into_inner)); gets fail once the queue is empty,
/// or at once after an immediate shutdown. A failed get carries `()`.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> QueueShutDown<T> {
    /// The item that was not put (`()` for a get).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown(..)")
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue was shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}

/// Why [`put_nowait`](crate::Queue::put_nowait) did not put: the queue is full, or shut down.
/// Either way the item comes back ([`into_inner`](PutNowaitError::into_inner)).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutNowaitError<T> {
    /// No free place right now.
    Full(QueueFull<T>),
    /// The queue was shut down.
    ShutDown(QueueShutDown<T>),
}

impl<T> PutNowaitError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutNowaitError::Full(e) => e.0,
            PutNowaitError::ShutDown(e) => e.0,
        }
    }

    /// `true` if the queue was full.
    pub fn is_full(&self) -> bool {
        matches!(self, PutNowaitError::Full(_))
    }

    /// `true` if the queue was shut down.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, PutNowaitError::ShutDown(_))
    }
}

impl<T> From<QueueFull<T>> for PutNowaitError<T> {
    fn from(e: QueueFull<T>) -> Self {
        PutNowaitError::Full(e)
    }
}

impl<T> From<QueueShutDown<T>> for PutNowaitError<T> {
    fn from(e: QueueShutDown<T>) -> Self {
        PutNowaitError::ShutDown(e)
    }
}

impl<T> fmt::Debug for PutNowaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutNowaitError::Full(e) => e.fmt(f),
            PutNowaitError::ShutDown(e) => e.fmt(f),
        }
    }
}

impl<T> fmt::Display for PutNowaitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutNowaitError::Full(e) => e.fmt(f),
            PutNowaitError::ShutDown(e) => e.fmt(f),
        }
    }
}

impl<T> std::error::Error for PutNowaitError<T> {}

/// Why [`get_nowait`](crate::Queue::get_nowait) gave no item: the queue is empty, or it is
/// empty and shut down (or was shut down immediately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetNowaitError {
    /// No item right now; one may still come.
    Empty(QueueEmpty),
    /// No item, and none will ever come: the queue was shut down.
    ShutDown(QueueShutDown),
}

impl GetNowaitError {
    /// `true` if the queue is merely empty (not shut down).
    pub fn is_empty(&self) -> bool {
        matches!(self, GetNowaitError::Empty(_))
    }

    /// `true` if the queue was shut down.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, GetNowaitError::ShutDown(_))
    }
}

impl From<QueueEmpty> for GetNowaitError {
    fn from(e: QueueEmpty) -> Self {
        GetNowaitError::Empty(e)
    }
}

impl From<QueueShutDown> for GetNowaitError {
    fn from(e: QueueShutDown) -> Self {
        GetNowaitError::ShutDown(e)
    }
}

impl fmt::Display for GetNowaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetNowaitError::Empty(e) => e.fmt(f),
            GetNowaitError::ShutDown(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GetNowaitError {}

/// [`task_done`](crate::Queue::task_done) was called more times than items were put
/// (asyncio raises `ValueError` here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done called more times than items were put into the queue")
    }
}

impl std::error::Error for TaskDoneError {}

/// [`StreamReader::readexactly`](crate::streams::StreamReader::readexactly) or
/// [`readuntil`](crate::streams::StreamReader::readuntil) met the end of the stream first
/// (asyncio's `IncompleteReadError`). The bytes that did arrive are given back in `partial`;
/// the reader's buffer is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncompleteRead {
    /// Everything read before the end of the stream.
    pub partial: Vec<u8>,
    /// How many bytes were asked for; `None` for `readuntil`, which waited for a separator.
    pub expected: Option<usize>,
}

impl IncompleteRead {
    /// The bytes read before the end of the stream.
    pub fn into_partial(self) -> Vec<u8> {
        self.partial
    }
}

impl fmt::Display for IncompleteRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.expected {
            Some(n) => write!(
                f,
                "{} bytes read on a total of {n} expected bytes",
                self.partial.len()
            ),
            None => write!(
                f,
                "{} bytes read on a total of undefined expected bytes",
                self.partial.len()
            ),
        }
    }
}

impl std::error::Error for IncompleteRead {}

/// [`StreamReader::readuntil`](crate::streams::StreamReader::readuntil) would have to buffer
/// more than the reader's limit (asyncio's `LimitOverrunError`). The data stays in the
/// reader's buffer: read `consumed` bytes of it with `read` or `readexactly` to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOverrun {
    /// How many bytes of the buffer are to be consumed: up to the separator if it was found,
    /// otherwise what was searched without finding it.
    pub consumed: usize,
    /// Whether the separator was found (past the limit) or not (the buffer outgrew the limit).
    pub found: bool,
}

impl fmt::Display for LimitOverrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.found {
            write!(
                f,
                "separator is found, but chunk is longer than limit ({} bytes); raise it with set_limit",
                self.consumed
            )
        } else {
            write!(
                f,
                "separator is not found, and chunk exceeds the limit ({} bytes searched); raise it with set_limit",
                self.consumed
            )
        }
    }
}

impl std::error::Error for LimitOverrun {}

/// Why a [`StreamReader`](crate::streams::StreamReader) read failed: the socket's error, the
/// end of the stream before the data asked for, or a separator past the limit.
///
/// Converts into [`io::Error`] (kinds `UnexpectedEof` and `InvalidData` for the last two,
/// with the typed error inside), so `?` works in functions returning `io::Result`.
#[derive(Debug)]
pub enum ReadError {
    /// The socket failed (`ConnectionReset`, ...).
    Io(io::Error),
    /// The stream ended first; the bytes read are inside.
    IncompleteRead(IncompleteRead),
    /// The separator was not within the limit; the bytes stay in the reader's buffer.
    LimitOverrun(LimitOverrun),
}

impl ReadError {
    /// The bytes read before the end of the stream, for [`ReadError::IncompleteRead`].
    pub fn partial(&self) -> Option<&[u8]> {
        match self {
            ReadError::IncompleteRead(e) => Some(&e.partial),
            _ => None,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::IncompleteRead(e) => e.fmt(f),
            ReadError::LimitOverrun(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io(e) => Some(e),
            ReadError::IncompleteRead(e) => Some(e),
            ReadError::LimitOverrun(e) => Some(e),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

impl From<IncompleteRead> for ReadError {
    fn from(e: IncompleteRead) -> ReadError {
        ReadError::IncompleteRead(e)
    }
}

impl From<LimitOverrun> for ReadError {
    fn from(e: LimitOverrun) -> ReadError {
        ReadError::LimitOverrun(e)
    }
}

impl From<ReadError> for io::Error {
    fn from(e: ReadError) -> io::Error {
        match e {
            ReadError::Io(e) => e,
            ReadError::IncompleteRead(e) => io::Error::new(io::ErrorKind::UnexpectedEof, e),
            ReadError::LimitOverrun(e) => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
