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
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use super::EventLoop;
use super::core::{Core, with_core};
use super::handle::{Callable, Handle};
use super::raw::{self, Header};
use crate::error::panic_message;

/// A loop's exception handler, as [`set_exception_handler`] takes it and
/// [`get_exception_handler`] gives it back.
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
            Exception::Panic(p) => {
                f.write_str(panic_message(p.as_ref()).unwrap_or("<non-string payload>"))
            }
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
/// | `Unhandled error in exception handler` | the handler set by [`set_exception_handler`] panicked; given to the default handler | `exception`, `context` (what the handler was given) |
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
        if let Some(h) = raw::current_header() {
            self.task = Some(h.display_name());
            self.task_id = Some(h.id);
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

impl EventLoop {
    /// Sets the loop's exception handler (asyncio's `loop.set_exception_handler`); `None`
    /// restores [`default_exception_handler`]. See [`set_exception_handler`].
    pub fn set_exception_handler(&self, handler: Option<ExceptionHandler>) {
        self.core.exception_handler.set(handler);
    }

    /// The handler set by [`set_exception_handler`](Self::set_exception_handler), `None` for
    /// the default one.
    pub fn get_exception_handler(&self) -> Option<ExceptionHandler> {
        self.core.exception_handler.get()
    }

    /// Hands `context` to the loop's exception handler (asyncio's
    /// `loop.call_exception_handler`). If that handler panics, the panic and `context` go
    /// to [`default_exception_handler`]; this call never panics.
    pub fn call_exception_handler(&self, context: ExceptionContext) {
        dispatch(self.core.exception_handler.get(), context);
    }
}

/// Sets the running loop's exception handler (asyncio's `loop.set_exception_handler`):
/// it receives what nobody else will, such as the panic of a task whose handle was dropped
/// unjoined, a callback's panic or a connection handler's error (see
/// [`ExceptionContext`]). `None` restores [`default_exception_handler`].
///
/// The handler runs on the loop's thread outside any task, so it must not park; if it
/// panics, the loop reports that with the default handler and goes on.
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// corio::run(|| {
///     let seen = Rc::new(RefCell::new(Vec::new()));
///     let s = seen.clone();
///     corio::set_exception_handler(Some(Rc::new(move |ctx: &corio::ExceptionContext| {
///         s.borrow_mut().push(format!("{}: {}", ctx.message, ctx.task.as_deref().unwrap_or("")));
///     })));
///     let t = corio::Builder::new().name("worker").spawn(|| panic!("boom")).unwrap();
///     drop(t); // detached: its failure goes to the handler
///     corio::yield_now();
///     assert_eq!(*seen.borrow(), ["Task exception was never retrieved: worker"]);
///     corio::set_exception_handler(None);
/// });
/// ```
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn set_exception_handler(handler: Option<ExceptionHandler>) {
    super::get_running_loop().set_exception_handler(handler)
}

/// The running loop's exception handler, `None` for the default one (asyncio's
/// `loop.get_exception_handler`).
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn get_exception_handler() -> Option<ExceptionHandler> {
    super::get_running_loop().get_exception_handler()
}

/// Hands `context` to the running loop's exception handler (asyncio's
/// `loop.call_exception_handler`), or to [`default_exception_handler`] when no loop runs on
/// this thread. Never panics: a panicking handler is reported by the default one.
///
/// ```
/// corio::run(|| {
///     let mut ctx = corio::ExceptionContext::new("a background refresh failed");
///     ctx.exception = Some(corio::runtime::Exception::Error("timed out".into()));
///     corio::call_exception_handler(ctx); // the default handler prints it on stderr
/// });
/// ```
pub fn call_exception_handler(context: ExceptionContext) {
    report(context, |_| true);
}

/// A loop's handler, `None` for the default (a field of the loop's core).
#[derive(Default)]
pub(crate) struct HandlerSlot(RefCell<Option<ExceptionHandler>>);

impl HandlerSlot {
    pub(crate) fn get(&self) -> Option<ExceptionHandler> {
        self.0.borrow().clone()
    }

    pub(crate) fn set(&self, handler: Option<ExceptionHandler>) {
        let old = self.0.replace(handler);
        drop(old); // outside the borrow: the old handler's captures may run user Drop code
    }
}

/// Calls `handler` (the default one if `None`) with `context`, outside any task. A panicking
/// handler is reported to the default handler, which never panics.
pub(crate) fn dispatch(handler: Option<ExceptionHandler>, context: ExceptionContext) {
    let _outside = raw::Current::none();
    let Some(handler) = handler else {
        return default_exception_handler(&context);
    };
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(&context))) {
        let mut outer = ExceptionContext::new("Unhandled error in exception handler");
        outer.exception = Some(Exception::Panic(p));
        outer.context = Some(Box::new(context));
        default_exception_handler(&outer);
    }
}

/// Hands `context` to the handler of the loop running on this thread if `belongs` says the
/// failure is that loop's, else to the default handler.
pub(crate) fn report(context: ExceptionContext, belongs: impl FnOnce(&Core) -> bool) {
    let handler = with_core(|c| belongs(c).then(|| c.exception_handler.get()))
        .flatten()
        .flatten();
    dispatch(handler, context);
}

/// A task's panic that no handle is left to retrieve.
#[cold]
pub(crate) fn task_unretrieved(h: &Header, payload: Box<dyn Any + Send>) {
    let mut ctx = ExceptionContext::new("Task exception was never retrieved");
    ctx.exception = Some(Exception::Panic(payload));
    ctx.task = Some(h.display_name());
    ctx.task_id = Some(h.id);
    let loop_id = h.loop_id;
    report(ctx, |c| c.id() == loop_id);
}

/// A panic in a callback the loop ran.
#[cold]
pub(crate) fn callback_panicked(core: &Core, c: &Rc<dyn Callable>, payload: Box<dyn Any + Send>) {
    let mut ctx = ExceptionContext::new("Exception in callback");
    ctx.exception = Some(Exception::Panic(payload));
    ctx.handle = Some(Handle { inner: c.clone() });
    dispatch(core.exception_handler.get(), ctx);
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
