//! The free functions that act on the loop running on this thread (asyncio's module-level
//! shortcuts to `get_running_loop()`), and `run_per_thread`.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::callback::Handle;
use super::clock::seconds_since_epoch;
use super::event_loop::{EventLoop, get_running_loop, run};
use super::exception::{ExceptionContext, ExceptionHandler};
use super::loop_handle::LoopHandle;
use super::report;
use super::timer_handle::TimerHandle;

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
/// without a running loop; under virtual time it is the loop's virtual clock.
pub fn time() -> f64 {
    seconds_since_epoch(now())
}

/// The loop clock as an [`Instant`], for [`sleep_until`](crate::sleep_until) and
/// [`call_at`]: the real `Instant::now()`, or under virtual time
/// ([`EventLoopBuilder::virtual_time`](super::EventLoopBuilder::virtual_time)) the loop's
/// virtual clock. Outside a loop, the real clock.
///
/// ```
/// use std::time::Duration;
/// corio::testing::run(|| {
///     let t0 = corio::runtime::now();
///     corio::sleep(Duration::from_secs(3600)); // an hour, in no time
///     assert_eq!(corio::runtime::now() - t0, Duration::from_secs(3600));
/// });
/// ```
pub fn now() -> Instant {
    super::core::with_core(|c| c.now()).unwrap_or_else(Instant::now)
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

/// Sets the running loop's exception handler (asyncio's `loop.set_exception_handler`):
/// it receives what nobody else will, such as the panic of a task whose handle was dropped
/// unjoined, a callback's panic or a connection handler's error (see
/// [`ExceptionContext`]). `None` restores [`default_exception_handler`](super::default_exception_handler).
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
    get_running_loop().set_exception_handler(handler)
}

/// The running loop's exception handler, `None` for the default one (asyncio's
/// `loop.get_exception_handler`).
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn get_exception_handler() -> Option<ExceptionHandler> {
    get_running_loop().get_exception_handler()
}

/// Hands `context` to the running loop's exception handler (asyncio's
/// `loop.call_exception_handler`), or to [`default_exception_handler`](super::default_exception_handler) when no loop runs on
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
    report::report(context, |_| true);
}
