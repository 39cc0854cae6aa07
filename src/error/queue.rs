//! The errors of queues: full, empty, shut down, and `task_done` called too often.

use std::fmt;

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
