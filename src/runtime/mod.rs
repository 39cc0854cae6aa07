//! The event loop: ready queue, timers, fd callbacks, and the entry points `run`,
//! `run_until_complete` and `run_forever` (asyncio's `events.py` and `base_events.py`).
//!
//! A loop is one thread. [`run`] is what most programs call: it makes a loop, runs a closure
//! as the main coroutine, cancels what is left when it returns and closes the loop. Inside a
//! coroutine the free functions of this module ([`call_soon`], [`call_later`], [`time`], …)
//! act on the running loop; an [`EventLoop`] value offers the same as methods.
//!
//! # Time
//!
//! [`time`] is asyncio's `loop.time()`: monotonic seconds as an `f64`, counted from a fixed
//! point early in the process. Deadlines are [`std::time::Instant`]s: `call_at` takes one, and
//! [`instant_at`] converts a `time()` value into one.

mod builder;
mod callback;
mod clock;
mod core;
mod current;
mod defaults;
mod diag;
mod event_loop;
mod exception;
mod fifo;
mod here;
mod introspect;
mod io_source;
mod iteration;
mod loop_handle;
mod park;
mod remote;
mod report;
mod running;
pub mod signal;
mod slots;
mod stack_stats;
mod step;
mod task_ref;
mod timer_handle;
mod timers;
mod wait_list;
mod wait_target;
mod waker;

pub use builder::EventLoopBuilder;
pub use callback::Handle;
pub use clock::instant_at;
pub use defaults::{
    DEFAULT_EVENT_INTERVAL, DEFAULT_MAX_POOLED_STACKS, DEFAULT_STACK_GUARD_SIZE,
    DEFAULT_STACK_SIZE, SHUTDOWN_GRACE, SLOW_STEP, stack_guard_uses_madvise,
};
pub use event_loop::{EventLoop, get_running_loop, run};
pub use exception::{Exception, ExceptionContext, ExceptionHandler, default_exception_handler};
pub use introspect::{TaskInfo, TaskState};
pub use loop_handle::LoopHandle;
pub use remote::RemoteTask;
pub use running::{
    add_reader, add_writer, call_at, call_exception_handler, call_later, call_soon,
    get_exception_handler, loop_handle, now, remove_reader, remove_writer, run_per_thread,
    set_exception_handler, stop, time,
};
pub use signal::{add_signal_handler, remove_signal_handler};
pub use stack_stats::StackStats;
pub use timer_handle::TimerHandle;

// The runtime's crate-internal API: the layers above `runtime` park, wake, wait in lists,
// arm wake-up timers and wait for I/O readiness through these names only (see
// docs/ARCHITECTURE.md, "The runtime's internal API").
pub(crate) use self::callback::Callable;
pub(crate) use self::current::{current_header, current_id, current_task};
#[cfg(test)]
pub(crate) use self::here::registered_fds;
pub(crate) use self::here::{
    WakeTimer, advance_clock, at_loop_close, call_soon_on, deadline_passed_before_any_timer,
    external_wait_begin, external_wait_end, is_running_here, keep_loop_gen_spare, lend_loop_stack,
    others_durably_blocked, render_tasks, return_loop_stack, running_loop_id, spawn_here,
    take_loop_gen_spare, task_snapshot,
};
pub(crate) use self::io_source::IoSource;
pub(crate) use self::park::{
    cancel, park_external, park_in, park_on, park_until_granted, yield_now,
};
pub(crate) use self::task_ref::Waker;
pub(crate) use self::task_ref::{TaskRef, TypedRef};
pub(crate) use self::wait_list::{Ticket, WaitKind};
pub(crate) use self::wait_target::{AwaitTask, Named, Site, WaitInfo, WaitTarget};
/// The wait list every primitive parks in; by default its waiters are tasks.
pub(crate) type WaitList<W = Waker> = self::wait_list::WaitList<W>;
pub(crate) use self::clock::deadline_after;
pub(crate) use self::diag::{Level as ReportLevel, emit as emit_report};
pub(crate) use self::waker::{SendWaker, wake_all, wake_first};
pub(crate) use crate::reactor::Dir;
