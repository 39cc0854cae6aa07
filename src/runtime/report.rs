//! Where failures that no caller sees are reported: the loop's exception handler, set and
//! called (asyncio's `set_exception_handler`, `call_exception_handler`), and the reports
//! the loop itself makes (a task's unretrieved panic, a callback's panic).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use super::callback::{Callable, Handle};
use super::core::{Core, with_core};
use super::current::Current;
use super::exception::{Exception, ExceptionContext, ExceptionHandler, default_exception_handler};
use super::task_ref::{Header, TaskCell};

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
    ctx.task_id = Some(h.id());
    let loop_id = h.loop_id();
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
        if self.header.is_done()
            && let Some(p) = self.take_unretrieved()
        {
            task_unretrieved(&self.header, p);
        }
    }
}
