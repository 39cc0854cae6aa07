//! The failures of a task group: one [`TaskFailure`] per failed member, and all of them
//! together in a [`TaskGroupError`] (asyncio's `ExceptionGroup`).

use std::any::Any;
use std::error::Error;
use std::fmt;

use super::{panic_message, panic_text, write_task_panicked};

/// An error a fallible task group child returned, as the group keeps it.
type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// One failure in a [`task_group`](crate::task_group) (one exception of asyncio's
/// `ExceptionGroup`): a child or the body that panicked, or a child spawned with
/// [`spawn_fallible`](crate::TaskGroup::spawn_fallible) that returned `Err`.
///
/// ```
/// use std::io;
/// corio::run(|| {
///     let err = corio::task_group(|tg| {
///         tg.spawn_fallible(|| Err::<(), _>(io::Error::other("disk full")));
///     })
///     .unwrap_err();
///     let failure = &err.errors()[0];
///     assert!(failure.is_error() && !failure.is_panic());
///     assert_eq!(failure.downcast_ref::<io::Error>().unwrap().to_string(), "disk full");
///     assert_eq!(failure.to_string(), "task failed: disk full");
/// });
/// ```
pub enum TaskFailure {
    /// A child or the body panicked; the payload is what `panic!` was given.
    Panicked(Box<dyn Any + Send + 'static>),
    /// A child spawned with [`spawn_fallible`](crate::TaskGroup::spawn_fallible) returned
    /// this error.
    Error(BoxError),
}

impl TaskFailure {
    /// `true` if a child or the body panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskFailure::Panicked(_))
    }

    /// `true` if a fallible child returned an error.
    pub fn is_error(&self) -> bool {
        matches!(self, TaskFailure::Error(_))
    }

    /// The panic message, when it panicked with a string (as `panic!("...")` does).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            TaskFailure::Panicked(p) => panic_message(p.as_ref()),
            TaskFailure::Error(_) => None,
        }
    }

    /// The panic payload, if it panicked; resume it with `std::panic::resume_unwind`.
    pub fn into_panic(self) -> Option<Box<dyn Any + Send + 'static>> {
        match self {
            TaskFailure::Panicked(p) => Some(p),
            TaskFailure::Error(_) => None,
        }
    }

    /// The error a fallible child returned.
    pub fn error(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        match self {
            TaskFailure::Error(e) => Some(e.as_ref()),
            TaskFailure::Panicked(_) => None,
        }
    }

    /// Takes out the error a fallible child returned.
    pub fn into_error(self) -> Option<Box<dyn Error + Send + Sync + 'static>> {
        match self {
            TaskFailure::Error(e) => Some(e),
            TaskFailure::Panicked(_) => None,
        }
    }

    /// The returned error as the type `E`, if it is one (asyncio's `except* E`).
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.error().and_then(|e| e.downcast_ref::<E>())
    }
}

impl fmt::Debug for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Panicked(p) => f
                .debug_tuple("Panicked")
                .field(&panic_text(p.as_ref()))
                .finish(),
            TaskFailure::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Panicked(p) => write_task_panicked(f, p.as_ref()),
            TaskFailure::Error(e) => write!(f, "task failed: {e}"),
        }
    }
}

impl Error for TaskFailure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            TaskFailure::Error(e) => Some(e.as_ref()),
            TaskFailure::Panicked(_) => None,
        }
    }
}

/// The failures of a [`task_group`](crate::task_group) (asyncio's `ExceptionGroup` from a
/// `TaskGroup`): every child that panicked or, spawned with
/// [`spawn_fallible`](crate::TaskGroup::spawn_fallible), returned `Err`, in the order they
/// failed, then the body's own panic if it panicked.
///
/// ```
/// corio::run(|| {
///     let err = corio::task_group(|tg| {
///         tg.spawn(|| std::panic::panic_any(7u32));
///     })
///     .unwrap_err();
///     assert_eq!(err.errors().len(), 1);
///     assert!(err.errors()[0].is_panic());
///     // The original payload, e.g. for std::panic::resume_unwind:
///     let payload = err.into_errors().remove(0).into_panic().unwrap();
///     assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
/// });
/// ```
pub struct TaskGroupError {
    errors: Vec<TaskFailure>,
}

impl TaskGroupError {
    pub(crate) fn new(errors: Vec<TaskFailure>) -> TaskGroupError {
        TaskGroupError { errors }
    }

    /// Every failure, in the order they happened (the body's last).
    pub fn errors(&self) -> &[TaskFailure] {
        &self.errors
    }

    /// Takes the failures out.
    pub fn into_errors(self) -> Vec<TaskFailure> {
        self.errors
    }
}

impl fmt::Debug for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("errors", &self.errors)
            .finish()
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.as_slice() {
            [] => f.write_str("a task group failed"),
            [one] => write!(f, "a task in a task group failed: {one}"),
            [first, rest @ ..] => write!(
                f,
                "{} tasks in a task group failed; the first: {first}",
                rest.len() + 1
            ),
        }
    }
}

impl Error for TaskGroupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors.first().map(|e| e as &(dyn Error + 'static))
    }
}
