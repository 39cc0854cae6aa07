//! [`EventLoop`]: a loop value with asyncio's loop methods, and [`run`], which most programs
//! call.

use std::io;
use std::os::fd::AsRawFd;
use std::panic::{Location, resume_unwind};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use super::builder::EventLoopBuilder;
use super::callback::{CallOnce, CallRepeat, Callable, Handle};
use super::clock::deadline_from;
use super::clock::seconds_since_epoch;
use super::core::{Core, Entered, EventAction, RunUntil, is_running_here, with_core};
use super::current::Current;
use super::exception::{ExceptionContext, ExceptionHandler};
use super::introspect::deadlock_report;
use super::loop_handle::LoopHandle;
use super::park;
use super::report;
use super::stack_stats::StackStats;
use super::step;
use super::timer_handle::TimerHandle;
use super::timers::TimerId;
use crate::error::{JoinError, RuntimeError};
use crate::reactor::Dir;

/// Under virtual time, loop iterations after which `run`'s shutdown grace is over: a cleanup
/// that keeps work ready (yields in a loop) never lets the loop sleep, and the virtual clock
/// then stands still, never reaching [`SHUTDOWN_GRACE`](super::SHUTDOWN_GRACE).
const VIRTUAL_GRACE_ITERATIONS: u32 = 10_000;

/// Runs `f` as the main coroutine of a new event loop on this thread and returns its value
/// (asyncio's `asyncio.run`).
///
/// When `f` returns, every task still alive is cancelled and run to its end (their `Drop`s
/// run), then the loop is closed, which also shuts its default thread pool down (idle
/// threads leave at once; a job still running finishes on its own, `run` does not wait). A
/// cancelled task's cleanup may still wait on timers and sockets (a `sleep`, a `drain`), as
/// under `asyncio.run`, for up to [`SHUTDOWN_GRACE`](crate::runtime::SHUTDOWN_GRACE); a task
/// still alive then is cancelled again, and one that swallows every cancellation is unwound
/// by force when the loop closes.
///
/// ```
/// let n = corio::run(|| {
///     let t = corio::spawn(|| 6 * 7);
///     t.join().unwrap()
/// });
/// assert_eq!(n, 42);
/// ```
///
/// # Panics
///
/// If a loop is already running on this thread (spawn a task instead), if `f` panics (the panic
/// is passed on), if the main coroutine is cancelled, or if it waits for something that can
/// never happen (every task parked with no timer, fd, or other thread able to wake them).
#[track_caller]
pub fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    EventLoopBuilder::new().run(f)
}

/// An event loop (asyncio's `AbstractEventLoop`).
///
/// Most programs use [`run`]; an `EventLoop` is for running a loop step by step:
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// let lp = corio::EventLoop::new()?;
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let l = log.clone();
/// lp.call_later(Duration::from_millis(1), move || l.borrow_mut().push("later"));
/// let l = log.clone();
/// lp.call_soon(move || l.borrow_mut().push("soon"));
/// lp.run_until_complete(|| corio::sleep(Duration::from_millis(5)))?;
/// assert_eq!(*log.borrow(), ["soon", "later"]);
/// lp.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Dropping the loop that [`EventLoop::new`] made closes it: coroutines still parked are
/// unwound (every `Drop` on their stacks runs) and nothing leaks.
///
/// A `EventLoop` runs on the thread that made it (`!Send`); other threads reach it through
/// [`LoopHandle`](crate::runtime::LoopHandle).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::EventLoop>();
/// ```
pub struct EventLoop {
    pub(super) core: Rc<Core>,
    /// The value made by `new`/`build` closes the loop on drop; `get_running_loop` views do not.
    pub(super) owner: bool,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .field("tasks", &self.core.task_count())
            .finish()
    }
}

/// A view of the loop running on this thread (asyncio's `get_running_loop`).
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn get_running_loop() -> EventLoop {
    // The running loop's Core sits in an Rc held by its EventLoop; a weak self-reference
    // hands out another strong one.
    with_core(|c| c.self_rc())
        .flatten()
        .map(|core| EventLoop { core, owner: false })
        .expect("corio: no running event loop on this thread")
}

impl EventLoop {
    /// A loop with default settings; see [`EventLoopBuilder`] for others.
    ///
    /// # Errors
    ///
    /// When the poller cannot be created (out of file descriptors).
    pub fn new() -> io::Result<EventLoop> {
        EventLoopBuilder::new().build()
    }

    /// Settings for a new loop.
    pub fn builder() -> EventLoopBuilder {
        EventLoopBuilder::new()
    }

    fn begin(&self) -> Result<(Entered, Running<'_>), RuntimeError> {
        if is_running_here() {
            return Err(RuntimeError::NestedRun);
        }
        if self.core.is_closed() {
            return Err(RuntimeError::Closed);
        }
        super::builder::check_unwind();
        self.core.set_self_rc(&self.core);
        let entered = self.core.enter();
        self.core.set_running(true);
        Ok((entered, Running(&self.core)))
    }

    /// Runs `f` as a coroutine on this loop until it returns, and returns its value.
    /// Other tasks run meanwhile; those still alive afterwards stay for the next run.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NestedRun`] inside a running loop, [`RuntimeError::Closed`] on a closed
    /// loop, [`RuntimeError::StoppedBeforeComplete`] if [`stop`](Self::stop) was called before
    /// the coroutine finished, [`RuntimeError::Cancelled`] if the coroutine was cancelled,
    /// [`RuntimeError::Deadlock`] if it waits for something nothing can bring.
    ///
    /// A stop asked for before the run still lets one iteration run, as in asyncio, so the
    /// coroutine starts. A coroutine left unfinished by a stop or a deadlock stays a task of
    /// the loop; if it fails later, the failure goes to the exception handler, as an unjoined
    /// task's does.
    ///
    /// # Panics
    ///
    /// A panic in `f` is passed on to the caller.
    #[track_caller]
    pub fn run_until_complete<T, F>(&self, f: F) -> Result<T, RuntimeError>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (_entered, _running) = self.begin()?;
        let task = step::spawn_raw(
            &self.core,
            (Some("main".into()), None, Location::caller()),
            f,
        )
        .unwrap_or_else(|e| panic!("corio: cannot start the main coroutine: {e}"));
        // `task` outlives the run (reset by `_until` when the run ends, however it ends).
        let _until = RunUntilGuard::set(&self.core, RunUntil::TaskDone(task.raw().header()));
        loop {
            if task.raw().header().is_done() {
                break;
            }
            if !self.core.has_ready() && self.core.is_deadlocked() {
                let report = deadlock_report(&self.core);
                park::cancel(task.raw());
                while self.core.has_ready() {
                    self.core.run_once();
                }
                // Whatever the main coroutine does from here (it may catch the cancel and
                // fail later) is nobody's to see: report it as an orphaned task's.
                task.handle_dropped();
                return Err(RuntimeError::Deadlock(report));
            }
            // As asyncio's `run_forever` under `run_until_complete`: a stop asked for before
            // the run still lets one iteration run, so the main coroutine starts.
            self.core.run_once();
            if !task.raw().header().is_done() && self.core.take_stopping() {
                task.handle_dropped();
                return Err(RuntimeError::StoppedBeforeComplete);
            }
        }
        match task.take_result().expect("a finished task has a result") {
            Ok(v) => Ok(v),
            Err(JoinError::Cancelled) => Err(RuntimeError::Cancelled),
            Err(JoinError::Panicked(p)) => resume_unwind(p),
        }
    }

    /// Runs the loop until [`stop`](Self::stop) is called.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::NestedRun`] inside a running loop, [`RuntimeError::Closed`] on a closed
    /// loop, [`RuntimeError::Deadlock`] when nothing is left that could ever run (no ready
    /// work, no timer, no external wait, no `LoopHandle` alive): the tasks left stay parked.
    pub fn run_forever(&self) -> Result<(), RuntimeError> {
        let (_entered, _running) = self.begin()?;
        let _until = RunUntilGuard::set(&self.core, RunUntil::Stopped);
        loop {
            if !self.core.has_ready() && self.core.is_deadlocked() && !self.core.stopping.get() {
                return Err(RuntimeError::Deadlock(deadlock_report(&self.core)));
            }
            self.core.run_once();
            if self.core.take_stopping() {
                return Ok(());
            }
        }
    }

    /// Asks the loop to stop after the current iteration (asyncio's `loop.stop()`); callbacks
    /// already scheduled stay for the next run.
    pub fn stop(&self) {
        self.core.stop();
    }

    /// `true` while the loop runs.
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// `true` once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Closes the loop: pending callbacks and timers are dropped, tasks still alive are unwound
    /// (their `Drop`s run), fd registrations are removed. Closing twice does nothing.
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Running`] if called while the loop runs.
    pub fn close(&self) -> Result<(), RuntimeError> {
        if self.core.is_running() {
            return Err(RuntimeError::Running);
        }
        self.core.set_self_rc(&self.core);
        let _entered = self.core.enter();
        // Closed from a task of another loop, the drops below are still not that task's.
        let _outside = Current::none();
        self.core.close();
        self.core.clear_self_rc();
        Ok(())
    }

    /// Cancels every task still alive and runs the loop until they have ended (used by
    /// [`run`] before closing). Their cleanup may wait on timers and the outside world (a
    /// `sleep`, a `drain`) for up to [`SHUTDOWN_GRACE`](super::SHUTDOWN_GRACE), as
    /// `asyncio.run` lets it. After that, or as soon as the loop would sleep with nothing but
    /// this loop's own tasks able to end a wait, the tasks still alive are cancelled again (at
    /// every iteration once the grace is over, else each time the loop would sleep), a bounded
    /// number of times; [`close`](Self::close) unwinds by force whatever is left.
    pub(super) fn shutdown_tasks(&self) {
        let Ok((_entered, _running)) = self.begin() else {
            return;
        };
        let _until = RunUntilGuard::set(&self.core, RunUntil::NoTasks);
        let mut rounds = 0;
        for t in self.core.all_tasks() {
            park::cancel(&t);
        }
        let grace_end = deadline_from(self.core.now(), super::SHUTDOWN_GRACE);
        // Bounds the poll of a cleanup that waits on a socket by the grace's end.
        let mut grace_timer: Option<TimerHandle> = None;
        // Under virtual time, iterations end the grace too (see `VIRTUAL_GRACE_ITERATIONS`).
        let mut iterations: u32 = 0;
        let virtual_time = self.core.virtual_time.get();
        while self.core.task_count() > 0 && !self.core.is_deadlocked() && rounds < 100 {
            iterations = iterations.saturating_add(1);
            let grace_over = self.core.now() >= grace_end
                || (virtual_time && iterations > VIRTUAL_GRACE_ITERATIONS);
            if grace_over || !self.core.has_ready() {
                let own_timers = usize::from(grace_timer.is_some());
                let world_can_wake =
                    self.core.timer_count() > own_timers || !self.core.is_isolated();
                if world_can_wake && !grace_over {
                    if grace_timer.is_none() {
                        grace_timer = Some(self.call_at(grace_end, || ()));
                    }
                } else {
                    // After the grace, every iteration: a task that swallows each cancel and
                    // yields again is given up after a bounded number of rounds, and unwound
                    // by force when the loop closes.
                    rounds += 1;
                    for t in self.core.all_tasks() {
                        park::cancel(&t);
                    }
                }
            }
            self.core.run_once();
        }
        if let Some(t) = grace_timer {
            t.cancel();
        }
    }

    /// Schedules `f` to run in the next iteration (asyncio's `call_soon`). Callbacks run in
    /// the order they were scheduled; one scheduled while an iteration runs waits for the next.
    ///
    /// On a closed loop the callback is dropped at once and a warning is reported (asyncio
    /// raises `RuntimeError`): nothing would ever run it. The handle says `cancelled`.
    pub fn call_soon<F: FnOnce() + 'static>(&self, f: F) -> Handle {
        let inner = CallOnce::new_rc(f);
        if self.core.refuses_callbacks() {
            refuse(&inner, "call_soon");
        } else {
            self.core.take_injected_first();
            self.core.call_soon(inner.clone());
        }
        Handle { inner }
    }

    /// Schedules `f` to run after `delay` (asyncio's `call_later`). On a closed loop, as
    /// [`call_soon`](Self::call_soon): dropped, with a warning.
    pub fn call_later<F: FnOnce() + 'static>(&self, delay: Duration, f: F) -> TimerHandle {
        self.call_at(deadline_from(self.core.now(), delay), f)
    }

    /// Schedules `f` to run at `when` (asyncio's `call_at`). Timers fire in deadline order;
    /// equal deadlines in the order they were scheduled. On a closed loop, as
    /// [`call_soon`](Self::call_soon): dropped, with a warning.
    pub fn call_at<F: FnOnce() + 'static>(&self, when: Instant, f: F) -> TimerHandle {
        let inner = CallOnce::new_rc(f);
        if self.core.refuses_callbacks() {
            refuse(&inner, "call_at");
            return TimerHandle {
                handle: Handle { inner },
                when,
                id: TimerId::default(),
                core: Weak::new(),
            };
        }
        let id = self.core.add_timer(when, EventAction::Call(inner.clone()));
        TimerHandle {
            handle: Handle { inner },
            when,
            id,
            core: Rc::downgrade(&self.core),
        }
    }

    /// The loop's clock: monotonic seconds as `f64` (asyncio's `loop.time()`); the virtual
    /// clock under virtual time.
    pub fn time(&self) -> f64 {
        seconds_since_epoch(self.core.now())
    }

    /// Calls `f` whenever `fd` is readable (level-triggered, as asyncio's `add_reader`),
    /// replacing an earlier reader of the same fd. The fd must stay open until
    /// [`remove_reader`](Self::remove_reader).
    ///
    /// # Errors
    ///
    /// When the poller refuses the fd (a regular file, a closed fd).
    pub fn add_reader<F: Fn() + 'static>(&self, fd: &impl AsRawFd, f: F) -> io::Result<()> {
        self.watch(fd.as_raw_fd(), Dir::Read, CallRepeat::new_rc(f))
    }

    /// Calls `f` whenever `fd` is writable (asyncio's `add_writer`).
    ///
    /// # Errors
    ///
    /// As [`add_reader`](Self::add_reader).
    pub fn add_writer<F: Fn() + 'static>(&self, fd: &impl AsRawFd, f: F) -> io::Result<()> {
        self.watch(fd.as_raw_fd(), Dir::Write, CallRepeat::new_rc(f))
    }

    /// Stops watching `fd` for reading; returns whether it was watched.
    pub fn remove_reader(&self, fd: &impl AsRawFd) -> bool {
        self.unwatch(fd.as_raw_fd(), Dir::Read)
    }

    /// Stops watching `fd` for writing; returns whether it was watched.
    pub fn remove_writer(&self, fd: &impl AsRawFd) -> bool {
        self.unwatch(fd.as_raw_fd(), Dir::Write)
    }

    fn watch(&self, fd: i32, dir: Dir, cb: Rc<dyn Callable>) -> io::Result<()> {
        if self.core.is_closed() {
            return Err(io::Error::other(RuntimeError::Closed));
        }
        match self.core.reactor.watch(fd, dir, EventAction::Call(cb))? {
            Some(EventAction::Call(old)) => old.cancel(),
            // A new watch: the outside world can call it any time, an external wait.
            _ => self.core.external_begin(),
        }
        Ok(())
    }

    fn unwatch(&self, fd: i32, dir: Dir) -> bool {
        match self.core.reactor.unwatch(fd, dir) {
            Some(EventAction::Call(old)) => {
                old.cancel(); // a run already queued for this iteration must not happen
                self.core.external_end();
                true
            }
            Some(EventAction::Wake(_)) => true,
            None => false,
        }
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle::new(self.core.shared.clone())
    }

    /// Number of tasks alive on this loop.
    pub fn task_count(&self) -> usize {
        self.core.task_count()
    }

    /// Usable stack size, in bytes, of tasks spawned without their own.
    pub fn default_stack_size(&self) -> usize {
        self.core.default_stack_size()
    }

    /// Stacks of finished coroutines kept for reuse right now.
    pub fn pooled_stacks(&self) -> usize {
        self.core.pooled_stacks()
    }

    /// File descriptors registered with this loop's reactor right now: sockets, pipes,
    /// `add_reader`/`add_writer` watches, and the loop's signal pipe while a signal is
    /// watched. A socket's registration ends when it is dropped or taken out with
    /// `into_std`, so a count that does not come back down is a leak.
    ///
    /// ```
    /// corio::run(|| {
    ///     let l = corio::get_running_loop();
    ///     let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     assert_eq!(l.registered_fds(), 1);
    ///     let _std = listener.into_std();
    ///     assert_eq!(l.registered_fds(), 0);
    /// });
    /// ```
    pub fn registered_fds(&self) -> usize {
        self.core.reactor.len()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.owner && !self.core.is_running() {
            let _ = self.close();
        }
    }
}

/// Drops a callback given to a closed loop, with a warning (asyncio raises there).
#[cold]
fn refuse(callback: &Rc<dyn Callable>, what: &str) {
    callback.cancel();
    super::diag::emit(
        super::diag::Level::Warn,
        &format!("{what} on a closed event loop: the callback is dropped, nothing would run it"),
    );
}

/// Sets what a run waits for ([`RunUntil`]) for the length of the run, even when it panics.
struct RunUntilGuard<'a>(&'a Core);

impl<'a> RunUntilGuard<'a> {
    fn set(core: &'a Core, until: RunUntil) -> RunUntilGuard<'a> {
        core.set_until(until);
        RunUntilGuard(core)
    }
}

impl Drop for RunUntilGuard<'_> {
    fn drop(&mut self) {
        self.0.set_until(RunUntil::Stopped);
    }
}

/// Marks the loop running for the length of a run, even when the run panics.
struct Running<'a>(&'a Core);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set_running(false);
        // A stop asked for during a run ends with that run (asyncio's `_run_forever_cleanup`
        // clears `_stopping`): one that came as `run_until_complete`'s coroutine finished
        // must not stop the next run. A stop asked for between runs still stops the next one.
        self.0.take_stopping();
    }
}

impl EventLoop {
    /// The loop's stack figures: stacks lent to live tasks, pooled for reuse, and waiting to
    /// be unmapped. Inside a coroutine, reach the loop with
    /// [`get_running_loop`].
    ///
    /// ```
    /// let lp = corio::EventLoop::builder().max_pooled_stacks(4).build().unwrap();
    /// let during = lp
    ///     .run_until_complete(|| {
    ///         let tasks: Vec<_> = (0..10).map(|i| corio::spawn(move || i)).collect();
    ///         let during = corio::get_running_loop().stack_stats();
    ///         for t in tasks {
    ///             t.join().unwrap();
    ///         }
    ///         during
    ///     })
    ///     .unwrap();
    /// assert_eq!(during.in_use, 11, "ten tasks and the main coroutine");
    /// let after = lp.stack_stats();
    /// assert_eq!(after.in_use, 0);
    /// assert_eq!(after.pooled, 4, "the pool keeps its bound");
    /// ```
    pub fn stack_stats(&self) -> StackStats {
        self.core.stack_stats()
    }
}

impl EventLoop {
    /// Sets the loop's exception handler (asyncio's `loop.set_exception_handler`); `None`
    /// restores [`default_exception_handler`](super::default_exception_handler). See [`set_exception_handler`](super::set_exception_handler).
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
    /// to [`default_exception_handler`](super::default_exception_handler); this call never panics.
    pub fn call_exception_handler(&self, context: ExceptionContext) {
        report::dispatch(self.core.exception_handler.get(), context);
    }
}
