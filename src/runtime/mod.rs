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
pub(crate) mod core;
pub(crate) mod diag;
mod exception;
pub(crate) mod fifo;
mod handle;
pub(crate) mod io_source;
pub(crate) mod raw;
mod remote;
pub mod signal;
mod stack_stats;
pub(crate) mod task_ref;
pub(crate) mod timers;

use std::io;
use std::os::fd::AsRawFd;
use std::panic::resume_unwind;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use builder::EventLoopBuilder;
pub use exception::{
    Exception, ExceptionContext, ExceptionHandler, call_exception_handler,
    default_exception_handler, get_exception_handler, set_exception_handler,
};
pub use handle::{Handle, LoopHandle, TimerHandle};
pub use remote::RemoteTask;
pub use signal::{add_signal_handler, remove_signal_handler};
pub use stack_stats::StackStats;

use self::core::{Core, Notify, Until, is_running_here, with_core};
use self::handle::{Once, Repeat};
use crate::error::{JoinError, RuntimeError};
use crate::reactor::Dir;

/// Default usable stack size of a coroutine, in bytes: 256 KiB in release builds and 1 MiB in
/// debug builds (unoptimised code uses several times more stack). Stacks are virtual memory:
/// a parked coroutine costs only the pages it touched, typically one or two 4 KiB pages.
pub const DEFAULT_STACK_SIZE: usize = if cfg!(debug_assertions) {
    1024 * 1024
} else {
    256 * 1024
};

/// Default length, in bytes, of the guard below each coroutine stack: 64 KiB.
///
/// A write into the guard is reported as a stack overflow (task name and stack size) before
/// the process aborts. Rust code probes every page of a large frame, so any overflow of Rust
/// code hits the guard; code that does not probe (C through FFI, assembly) is caught while its
/// largest frame is smaller than the guard, where a one-page guard would let a frame over
/// 4 KiB write into the neighbouring coroutine's stack. The guard costs no memory and no extra
/// memory map, only address space; see [`EventLoopBuilder::stack_guard_size`].
pub const DEFAULT_STACK_GUARD_SIZE: usize = crate::coro::DEFAULT_GUARD_SIZE;

/// In debug mode, a task that runs this long without parking is reported.
pub const SLOW_STEP: Duration = Duration::from_millis(100);

/// How many finished coroutines' stacks a loop keeps for reuse by default.
pub const DEFAULT_MAX_POOLED_STACKS: usize = 1024;

/// How many ready tasks and callbacks a loop runs by default, while work stays ready, between
/// two non-blocking looks for I/O (the figure tokio uses for the same purpose), so busy tasks
/// do not starve I/O; see [`EventLoopBuilder::event_interval`].
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn seconds_since_epoch(t: Instant) -> f64 {
    t.saturating_duration_since(epoch()).as_secs_f64()
}

/// `true` where coroutine stacks get their guard page from `MADV_GUARD_INSTALL` (Linux
/// 6.13+): one memory map per stack, so `vm.max_map_count` does not cap the number of live
/// coroutines. `false` where the guard is an `mprotect` page (two maps per stack, about 32k
/// coroutines on a default Linux) or when `CORIO_STACK_GUARD=mprotect` forces that fallback.
pub fn stack_guard_uses_madvise() -> bool {
    crate::coro::has_madvise_guard()
}

/// Converts a [`time`] value back into an `Instant`, for [`call_at`].
pub fn instant_at(time: f64) -> Instant {
    epoch() + Duration::from_secs_f64(time.max(0.0))
}

/// Runs `f` as the main coroutine of a new event loop on this thread and returns its value
/// (asyncio's `asyncio.run`).
///
/// When `f` returns, every task still alive is cancelled and run to its end (their `Drop`s
/// run), then the loop is closed, which also shuts its default thread pool down (idle
/// threads leave at once; a job still running finishes on its own, `run` does not wait). A task that swallows its cancellation and keeps waiting is
/// unwound by force when the loop closes.
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
    core: Rc<Core>,
    /// The value made by `new`/`build` closes the loop on drop; `get_running_loop` views do not.
    owner: bool,
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

    fn begin(&self) -> Result<(self::core::Entered, Running<'_>), RuntimeError> {
        if is_running_here() {
            return Err(RuntimeError::NestedRun);
        }
        if self.core.is_closed() {
            return Err(RuntimeError::Closed);
        }
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
    /// loop, [`RuntimeError::StoppedBeforeComplete`] if [`stop`](Self::stop) was called first,
    /// [`RuntimeError::Cancelled`] if the coroutine was cancelled, [`RuntimeError::Deadlock`]
    /// if it waits for something nothing can bring.
    ///
    /// # Panics
    ///
    /// A panic in `f` is passed on to the caller.
    pub fn run_until_complete<T, F>(&self, f: F) -> Result<T, RuntimeError>
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        let (_entered, _running) = self.begin()?;
        let task = raw::spawn_raw(&self.core, Some("main".into()), None, f)
            .unwrap_or_else(|e| panic!("corio: cannot start the main coroutine: {e}"));
        // `task` outlives the run (reset by `_until` when the run ends, however it ends).
        let _until = UntilGuard::set(&self.core, Until::TaskDone(task.raw().header()));
        loop {
            if task.raw().header().is_done() {
                break;
            }
            if self.core.take_stopping() {
                return Err(RuntimeError::StoppedBeforeComplete);
            }
            if !self.core.has_ready() && self.core.is_deadlocked() {
                raw::cancel(task.raw());
                while self.core.has_ready() {
                    self.core.run_once();
                }
                return Err(RuntimeError::Deadlock);
            }
            self.core.run_once();
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
    /// loop.
    pub fn run_forever(&self) -> Result<(), RuntimeError> {
        let (_entered, _running) = self.begin()?;
        let _until = UntilGuard::set(&self.core, Until::Stopped);
        loop {
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
        let _outside = raw::Current::none();
        self.core.close();
        self.core.clear_self_rc();
        Ok(())
    }

    /// Cancels every task still alive and runs the loop until they have ended (used by
    /// [`run`] before closing). A task that swallows its cancellation and keeps waiting is
    /// cancelled again each time the loop would sleep, a bounded number of times.
    fn shutdown_tasks(&self) {
        let Ok((_entered, _running)) = self.begin() else {
            return;
        };
        let _until = UntilGuard::set(&self.core, Until::NoTasks);
        let mut idle_rounds = 0;
        for t in self.core.all_tasks() {
            raw::cancel(&t);
        }
        while self.core.task_count() > 0 && !self.core.is_deadlocked() && idle_rounds < 100 {
            if !self.core.has_ready() {
                idle_rounds += 1;
                for t in self.core.all_tasks() {
                    raw::cancel(&t);
                }
            }
            self.core.run_once();
        }
    }

    /// Schedules `f` to run in the next iteration (asyncio's `call_soon`). Callbacks run in
    /// the order they were scheduled; one scheduled while an iteration runs waits for the next.
    pub fn call_soon<F: FnOnce() + 'static>(&self, f: F) -> Handle {
        let inner = Once::new_rc(f);
        self.core.call_soon(inner.clone());
        Handle { inner }
    }

    /// Schedules `f` to run after `delay` (asyncio's `call_later`).
    pub fn call_later<F: FnOnce() + 'static>(&self, delay: Duration, f: F) -> TimerHandle {
        self.call_at(deadline_after(delay), f)
    }

    /// Schedules `f` to run at `when` (asyncio's `call_at`). Timers fire in deadline order;
    /// equal deadlines in the order they were scheduled.
    pub fn call_at<F: FnOnce() + 'static>(&self, when: Instant, f: F) -> TimerHandle {
        let inner = Once::new_rc(f);
        let id = self.core.add_timer(when, Notify::Call(inner.clone()));
        TimerHandle {
            handle: Handle { inner },
            when,
            id,
            core: Rc::downgrade(&self.core),
        }
    }

    /// The loop's clock: monotonic seconds as `f64` (asyncio's `loop.time()`).
    pub fn time(&self) -> f64 {
        time()
    }

    /// Calls `f` whenever `fd` is readable (level-triggered, as asyncio's `add_reader`),
    /// replacing an earlier reader of the same fd. The fd must stay open until
    /// [`remove_reader`](Self::remove_reader).
    ///
    /// # Errors
    ///
    /// When the poller refuses the fd (a regular file, a closed fd).
    pub fn add_reader<F: Fn() + 'static>(&self, fd: &impl AsRawFd, f: F) -> io::Result<()> {
        self.watch(fd.as_raw_fd(), Dir::Read, Repeat::new_rc(f))
    }

    /// Calls `f` whenever `fd` is writable (asyncio's `add_writer`).
    ///
    /// # Errors
    ///
    /// As [`add_reader`](Self::add_reader).
    pub fn add_writer<F: Fn() + 'static>(&self, fd: &impl AsRawFd, f: F) -> io::Result<()> {
        self.watch(fd.as_raw_fd(), Dir::Write, Repeat::new_rc(f))
    }

    /// Stops watching `fd` for reading; returns whether it was watched.
    pub fn remove_reader(&self, fd: &impl AsRawFd) -> bool {
        self.unwatch(fd.as_raw_fd(), Dir::Read)
    }

    /// Stops watching `fd` for writing; returns whether it was watched.
    pub fn remove_writer(&self, fd: &impl AsRawFd) -> bool {
        self.unwatch(fd.as_raw_fd(), Dir::Write)
    }

    fn watch(&self, fd: i32, dir: Dir, cb: Rc<dyn handle::Callable>) -> io::Result<()> {
        if self.core.is_closed() {
            return Err(io::Error::other(RuntimeError::Closed));
        }
        if let Some(Notify::Call(old)) = self.core.reactor.watch(fd, dir, Notify::Call(cb))? {
            old.cancel();
        }
        Ok(())
    }

    fn unwatch(&self, fd: i32, dir: Dir) -> bool {
        match self.core.reactor.unwatch(fd, dir) {
            Some(Notify::Call(old)) => {
                old.cancel(); // a run already queued for this iteration must not happen
                true
            }
            Some(Notify::Wake(_)) => true,
            None => false,
        }
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.core.shared.clone(),
        }
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
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if self.owner && !self.core.is_running() {
            let _ = self.close();
        }
    }
}

/// Sets what a run waits for ([`Until`]) for the length of the run, even when it panics.
struct UntilGuard<'a>(&'a Core);

impl<'a> UntilGuard<'a> {
    fn set(core: &'a Core, until: Until) -> UntilGuard<'a> {
        core.set_until(until);
        UntilGuard(core)
    }
}

impl Drop for UntilGuard<'_> {
    fn drop(&mut self) {
        self.0.set_until(Until::Stopped);
    }
}

/// Marks the loop running for the length of a run, even when the run panics.
struct Running<'a>(&'a Core);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set_running(false);
    }
}

fn deadline_after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
}

fn running() -> EventLoop {
    get_running_loop()
}

/// [`EventLoop::call_soon`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn call_soon<F: FnOnce() + 'static>(f: F) -> Handle {
    running().call_soon(f)
}

/// [`EventLoop::call_later`] on the running loop.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// corio::run(|| {
///     let fired = Rc::new(Cell::new(false));
///     let f = fired.clone();
///     corio::runtime::call_later(Duration::from_millis(1), move || f.set(true));
///     corio::sleep(Duration::from_millis(20));
///     assert!(fired.get());
/// });
/// ```
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn call_later<F: FnOnce() + 'static>(delay: Duration, f: F) -> TimerHandle {
    running().call_later(delay, f)
}

/// [`EventLoop::call_at`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn call_at<F: FnOnce() + 'static>(when: Instant, f: F) -> TimerHandle {
    running().call_at(when, f)
}

/// The loop clock: monotonic seconds as `f64` (asyncio's `loop.time()`). Works with or
/// without a running loop.
pub fn time() -> f64 {
    seconds_since_epoch(Instant::now())
}

/// [`EventLoop::add_reader`] on the running loop.
///
/// # Errors
///
/// As [`EventLoop::add_reader`].
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn add_reader<F: Fn() + 'static>(fd: &impl AsRawFd, f: F) -> io::Result<()> {
    running().add_reader(fd, f)
}

/// [`EventLoop::add_writer`] on the running loop.
///
/// # Errors
///
/// As [`EventLoop::add_reader`].
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn add_writer<F: Fn() + 'static>(fd: &impl AsRawFd, f: F) -> io::Result<()> {
    running().add_writer(fd, f)
}

/// [`EventLoop::remove_reader`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn remove_reader(fd: &impl AsRawFd) -> bool {
    running().remove_reader(fd)
}

/// [`EventLoop::remove_writer`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn remove_writer(fd: &impl AsRawFd) -> bool {
    running().remove_writer(fd)
}

/// A `Send + Sync` handle to the running loop, for other threads.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn loop_handle() -> LoopHandle {
    running().handle()
}

/// [`EventLoop::stop`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn stop() {
    running().stop()
}

/// Runs `entry(i)` as the main coroutine of its own loop on each of `threads` new OS threads,
/// and joins them: one loop per core, the way uvloop and gunicorn deployments use more than
/// one core. Loops share nothing and coroutines never move between them; servers give each
/// loop its own listener on the same port with
/// [`TcpListener::builder().reuse_port(true)`](crate::net::TcpListenerBuilder::reuse_port),
/// and the kernel spreads connections over them.
///
/// Returns each thread's result in thread order; a panic in one loop comes back as that
/// thread's `Err` and does not stop the others.
///
/// ```
/// let ids = corio::runtime::run_per_thread(2, |i| {
///     corio::sleep(std::time::Duration::from_millis(1));
///     i * 10
/// });
/// let ids: Vec<usize> = ids.into_iter().map(Result::unwrap).collect();
/// assert_eq!(ids, [0, 10]);
/// ```
pub fn run_per_thread<T, F>(threads: usize, entry: F) -> Vec<std::thread::Result<T>>
where
    F: Fn(usize) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    let entry = std::sync::Arc::new(entry);
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let entry = entry.clone();
            std::thread::Builder::new()
                .name(format!("corio-loop-{i}"))
                .spawn(move || run(move || entry(i)))
                .expect("corio::run_per_thread: cannot start a thread")
        })
        .collect();
    handles.into_iter().map(|h| h.join()).collect()
}
