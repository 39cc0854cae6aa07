//! Where failures that no caller sees are reported: the loop's exception handler, set and
//! called (asyncio's `set_exception_handler`, `call_exception_handler`), and the reports
//! the loop itself makes (a task's unretrieved panic, a callback's panic).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use super::EventLoop;
use super::callback::{Callable, Handle};
use super::core::{Core, with_core};
use super::current::Current;
use super::exception::{Exception, ExceptionContext, ExceptionHandler, default_exception_handler};
use super::task_ref::{Header, TaskCell};

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

/// Calls `handler` (the default one if `None`) with `context`, outside any task. A panicking
/// handler is reported to the default handler, which never panics.
pub(crate) fn dispatch(handler: Option<ExceptionHandler>, context: ExceptionContext) {
    let _outside = Current::none();
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

impl<T: 'static> TaskCell<T> {
    /// Called when the last `Task<T>` handle goes away: reports a failure nobody will see.
    pub(crate) fn handle_dropped(&self) {
        self.header.handle_alive.set(false);
        if self.header.is_done() {
            if let Some(p) = self.take_unretrieved() {
                task_unretrieved(&self.header, p);
            }
        }
    }
}
