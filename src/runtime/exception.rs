//! The loop's exception handler (asyncio's `set_exception_handler`,
//! `call_exception_handler` and `default_exception_handler`): where a failure goes that no
//! caller is left to see.
//!
//! The loop goes on after each. A handler runs on the loop's thread, outside any task (as
//! asyncio calls it from the loop): it must not park, and a park there panics, which the loop
//! treats as a panicking handler.

use std::any::Any;
use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;

use super::callback::Handle;
use crate::error::{panic_message, panic_text};

/// A loop's exception handler, as [`set_exception_handler`](super::set_exception_handler) takes it and
/// [`get_exception_handler`](super::get_exception_handler) gives it back.
pub type ExceptionHandler = Rc<dyn Fn(&ExceptionContext)>;

/// The failure an [`ExceptionContext`] is about: a panic's payload, or an error a function
/// returned.
#[non_exhaustive]
pub enum Exception {
    /// The payload of a panic (what `catch_unwind` returns).
    Panic(Box<dyn Any + Send>),
    /// An error returned where nobody could receive it, such as a connection handler's `Err`.
    Error(Box<dyn Error>),
}

impl Exception {
    /// The panic's message, when it is one with a `&str` or `String` payload.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Exception::Panic(p) => panic_message(p.as_ref()),
            Exception::Error(_) => None,
        }
    }

    /// The error, when it is one; downcast it to tell kinds apart:
    ///
    /// ```
    /// use corio::runtime::Exception;
    /// let e = Exception::Error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
    /// let io = e.as_error().and_then(|e| e.downcast_ref::<std::io::Error>()).unwrap();
    /// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    /// ```
    pub fn as_error(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Exception::Error(e) => Some(e.as_ref()),
            Exception::Panic(_) => None,
        }
    }
}

/// The panic's message (`<non-string payload>` for other payloads) or the error's text.
impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exception::Panic(p) => f.write_str(panic_text(p.as_ref())),
            Exception::Error(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl fmt::Debug for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exception::Panic(_) => f.debug_tuple("Panic").field(&self.to_string()).finish(),
            Exception::Error(e) => f.debug_tuple("Error").field(e).finish(),
        }
    }
}

/// What the exception handler is told: asyncio's context dict, with a field for each key the
/// loop fills in. Only `message` is always there.
///
/// What the loop hands its handler:
///
/// | message | when | fields set |
/// |---|---|---|
/// | `Task exception was never retrieved` | a task panicked and its [`Task`](crate::Task) handle was dropped (or is dropped later) without a `join`; also a [`RemoteTask`](super::RemoteTask) | `exception` (the panic), `task`, `task_id` |
/// | `Exception in callback` | a `call_soon`/`call_later`/`call_at` callback, a reader/writer callback or a future's done callback panicked | `exception`, `handle` |
/// | `Unhandled error in connection handler` | a [`start_server`](crate::streams::start_server) handler returned `Err` (a peer that reset the connection included, as asyncio passes those too) | `exception` (the error), `task`, `task_id`, `peer_addr` |
/// | `accept failed; …` | a server's `accept` failed for want of resources, and it backs off | `exception` |
/// | `Unhandled error in exception handler` | the handler set by [`set_exception_handler`](super::set_exception_handler) panicked; given to the default handler | `exception`, `context` (what the handler was given) |
///
/// A failure reported on a thread where its loop does not run (a `Task` handle dropped
/// after its loop's run ended) goes to [`default_exception_handler`].
///
/// ```
/// let mut ctx = corio::ExceptionContext::new("cache refresh failed");
/// ctx.task = Some("refresher".into());
/// assert_eq!(ctx.to_string(), "cache refresh failed (task 'refresher')");
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub struct ExceptionContext {
    /// What happened, e.g. `Task exception was never retrieved` (asyncio's `message`).
    pub message: String,
    /// The panic or error (asyncio's `exception`).
    pub exception: Option<Exception>,
    /// The name of the task it happened in or to (asyncio's `task`/`future`).
    pub task: Option<String>,
    /// That task's id.
    pub task_id: Option<u64>,
    /// The callback that panicked (asyncio's `handle`).
    pub handle: Option<Handle>,
    /// The peer of the connection concerned, for TCP (asyncio's `peername`).
    pub peer_addr: Option<SocketAddr>,
    /// The context a panicking handler was given, when the default handler reports that
    /// panic (asyncio's `context`).
    pub context: Option<Box<ExceptionContext>>,
}

impl ExceptionContext {
    /// A context with this message and nothing else.
    pub fn new(message: impl Into<String>) -> ExceptionContext {
        ExceptionContext {
            message: message.into(),
            exception: None,
            task: None,
            task_id: None,
            handle: None,
            peer_addr: None,
            context: None,
        }
    }

    /// Names the running task, if any, as the one concerned.
    pub(crate) fn in_current_task(mut self) -> ExceptionContext {
        if let Some(h) = super::current::current_header() {
            self.task = Some(h.display_name());
            self.task_id = Some(h.id());
        }
        self
    }
}

/// One line: the message, then the task and peer in parentheses, then the failure (a panic
/// as `panicked: <message>`).
impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        let mut sep = " (";
        if let Some(name) = &self.task {
            write!(f, "{sep}task '{name}'")?;
            sep = ", ";
        }
        if let Some(id) = self.task_id {
            write!(f, "{sep}id {id}")?;
            sep = ", ";
        }
        if let Some(peer) = self.peer_addr {
            write!(f, "{sep}peer {peer}")?;
            sep = ", ";
        }
        if sep == ", " {
            f.write_str(")")?;
        }
        match &self.exception {
            Some(e @ Exception::Panic(_)) => write!(f, ": panicked: {e}"),
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}

/// A loop's handler, `None` for the default (a field of the loop's core).
#[derive(Default)]
pub(crate) struct HandlerCell(RefCell<Option<ExceptionHandler>>);

impl HandlerCell {
    pub(crate) fn get(&self) -> Option<ExceptionHandler> {
        self.0.borrow().clone()
    }

    pub(crate) fn set(&self, handler: Option<ExceptionHandler>) {
        let old = self.0.replace(handler);
        drop(old); // outside the borrow: the old handler's captures may run user Drop code
    }
}

/// asyncio's `default_exception_handler`: prints the context on stderr as one line,
/// `corio: <message> (task '<name>', id <id>, peer <addr>): <failure>`, and a line for each
/// context it wraps. It never panics (a failed write is dropped).
///
/// With the Cargo feature `log`, it logs through the `log` crate instead (target `corio`):
/// at `error` level, except for errors a peer causes, such as a reset connection or a
/// broken pipe, which are logged at `debug` level as asyncio's transports log them. While
/// no logger is set up (`log::max_level()` is `Off`), it prints on stderr all the same.
///
/// ```
/// let mut ctx = corio::ExceptionContext::new("something nobody will see failed");
/// ctx.exception = Some(corio::runtime::Exception::Error("disk full".into()));
/// corio::default_exception_handler(&ctx); // prints `corio: something … failed: disk full`
/// ```
pub fn default_exception_handler(context: &ExceptionContext) {
    let mut text = context.to_string();
    let mut inner = context.context.as_deref();
    while let Some(c) = inner {
        text.push_str(&format!("\n  while handling: {c}"));
        inner = c.context.as_deref();
    }
    emit(context, &text);
}

fn emit(context: &ExceptionContext, text: &str) {
    let level = if caused_by_peer(context) {
        super::diag::Level::Debug
    } else {
        super::diag::Level::Error
    };
    super::diag::emit(level, text);
}

/// `true` for an I/O error the peer caused (reset, aborted, broken pipe).
fn caused_by_peer(context: &ExceptionContext) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    context
        .exception
        .as_ref()
        .and_then(Exception::as_error)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .is_some_and(|e| matches!(e.kind(), ConnectionReset | ConnectionAborted | BrokenPipe))
}
