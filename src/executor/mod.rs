//! Blocking work on a thread pool (asyncio's `run_in_executor` and `to_thread`).
//!
//! A coroutine must never block its thread: a blocking syscall, a long computation or a call
//! into a library that blocks stalls every coroutine of the loop. [`to_thread`] (or
//! [`run_in_executor`], the same call under asyncio's older name) runs such a function on a
//! thread of the loop's [`Executor`] and parks only the calling coroutine until the value is
//! back; the loop runs the other coroutines meanwhile.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! corio::run(|| {
//!     let ticker = corio::spawn(|| {
//!         let mut ticks = 0;
//!         for _ in 0..3 {
//!             corio::sleep(Duration::from_millis(1));
//!             ticks += 1;
//!         }
//!         ticks
//!     });
//!     // A blocking call: the ticker goes on while this coroutine waits.
//!     let n = corio::to_thread(|| {
//!         std::thread::sleep(Duration::from_millis(20));
//!         6 * 7
//!     })
//!     .unwrap();
//!     assert_eq!(n, 42);
//!     assert_eq!(ticker.join().unwrap(), 3);
//! });
//! ```
//!
//! # The pool
//!
//! Each loop has a default executor, made the first time it is used: at most
//! [`default_max_threads`] threads (`min(32, available_parallelism + 4)`, the figure Python's
//! `ThreadPoolExecutor` uses), started one by one as work arrives, each leaving after
//! [`DEFAULT_IDLE_TIMEOUT`] without work. Jobs wait in a FIFO while every thread is busy. A
//! thread that runs out of jobs looks for a new one for 20 µs before it sleeps: a coroutine
//! that calls `to_thread` again at once then costs no thread wake-up, which is what makes a
//! round trip take about 2 µs instead of the 25–30 µs two wake-ups cost on a small virtual
//! machine (`cargo bench --bench threads`, case `executor`).
//! [`set_default_executor`] puts another [`Executor`] in its place (asyncio's
//! `loop.set_default_executor`); [`Executor::run`] uses a given one.
//!
//! # Panics and cancellation
//!
//! A panic in the function comes back as [`JoinError::Panicked`]; the thread and the pool go
//! on. Cancelling the waiting coroutine while the function waits in the queue means it never
//! runs (as asyncio's pool skips a cancelled future's work). Once it runs, a thread cannot be
//! interrupted: the function runs to its end on its thread and its value is dropped there. If
//! it panics after its caller was cancelled, nobody can see the panic any more, so it is
//! reported on stderr (as a task's "exception was never retrieved").
//!
//! # Shutdown
//!
//! When a loop closes ([`corio::run`](crate::run) returning, an [`EventLoop`](crate::EventLoop)
//! dropped or closed), its default executor is shut down: idle threads leave at once, busy
//! threads finish their job (and any job still queued) and then leave. The loop does not wait
//! for them, so a long job never holds up `run`'s return; its value is dropped. Work still
//! running when the process exits is cut short, as Rust ends every thread at the end of `main`.

use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use crate::error::JoinError;
use crate::runtime::{at_loop_close, running_loop_id};

/// How long a pool thread waits for work before it leaves, unless set with
/// [`ExecutorBuilder::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a worker that ran out of jobs looks for a new one before it sleeps.
const SPIN: Duration = Duration::from_micros(20);

/// The default bound on a pool's threads: `min(32, available_parallelism + 4)`, as Python's
/// `ThreadPoolExecutor` picks it (enough threads for I/O-bound work on a small machine, and
/// not hundreds on a large one).
///
/// ```
/// let n = corio::executor::default_max_threads();
/// assert!((5..=32).contains(&n));
/// ```
pub fn default_max_threads() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

/// A job: runs on a pool thread and calls [`Pool::job_done`] once its work is done, before
/// it hands the value back (so the thread counts as free by the time the caller can submit
/// again). Dropped unrun, it fails its caller instead.
mod pool;
mod result_cell;

use self::pool::{Job, Pool, Refused};
use self::result_cell::{CellState, Completion, Failure, ResultCell};

/// A bounded pool of threads for blocking work (asyncio's `ThreadPoolExecutor` as used by
/// `run_in_executor`).
///
/// `Executor` is a cheap, cloneable, `Send + Sync` handle: clones share one pool. Threads are
/// started lazily, one per job while every thread is busy, up to
/// [`max_threads`](Self::max_threads); an idle thread leaves after its
/// [idle timeout](ExecutorBuilder::idle_timeout).
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let pool = corio::executor::Executor::builder()
///     .max_threads(2)
///     .idle_timeout(Duration::from_secs(1))
///     .build();
/// assert_eq!(pool.threads(), 0); // nothing started yet
/// let sum = corio::run({
///     let pool = pool.clone();
///     move || pool.run(|| (1..=10u32).sum::<u32>()).unwrap()
/// });
/// assert_eq!(sum, 55);
/// pool.shutdown();
/// ```
#[derive(Clone)]
pub struct Executor {
    pool: Arc<Pool>,
}

/// Settings for a new [`Executor`].
#[derive(Debug, Clone)]
pub struct ExecutorBuilder {
    max_threads: usize,
    idle_timeout: Duration,
    thread_name: String,
    stack_size: Option<usize>,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            max_threads: default_max_threads(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            thread_name: "corio-executor".to_owned(),
            stack_size: None,
        }
    }
}

impl ExecutorBuilder {
    /// Default settings: [`default_max_threads`] threads, [`DEFAULT_IDLE_TIMEOUT`], threads
    /// named `corio-executor`, Rust's default thread stack size.
    pub fn new() -> Self {
        Self::default()
    }

    /// The most threads the pool runs at once (at least 1). More jobs wait in a FIFO.
    pub fn max_threads(mut self, n: usize) -> Self {
        self.max_threads = n.max(1);
        self
    }

    /// How long an idle thread waits for work before it leaves.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// The name of the pool's threads (shown by debuggers and in panic messages).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// The stack size of the pool's threads, in bytes; Rust's default (2 MiB unless
    /// `RUST_MIN_STACK` says otherwise) when not set.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Creates the pool; no thread starts until the first job.
    pub fn build(self) -> Executor {
        Executor {
            pool: Arc::new(Pool::new(self)),
        }
    }
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl fmt::Debug for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.pool.state.lock();
        f.debug_struct("Executor")
            .field("max_threads", &self.pool.settings.max_threads)
            .field("threads", &st.threads)
            .field("waiting", &st.waiting)
            .field("queued", &st.queue.len())
            .field("shutdown", &st.shutdown)
            .finish()
    }
}

impl Executor {
    /// A pool with default settings; see [`ExecutorBuilder`].
    pub fn new() -> Executor {
        ExecutorBuilder::new().build()
    }

    /// Settings for a new pool.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::new()
    }

    /// Runs `f` on a thread of this pool and parks the calling coroutine until it returns;
    /// returns its value. See [`to_thread`] for the default executor.
    ///
    /// ```
    /// let pool = corio::executor::Executor::builder().max_threads(1).build();
    /// corio::run(move || {
    ///     let name = pool.run(|| std::thread::current().name().map(str::to_owned)).unwrap();
    ///     assert_eq!(name.as_deref(), Some("corio-executor"));
    ///     pool.shutdown();
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`JoinError::Panicked`] with the payload if `f` panicked (the pool goes on).
    /// [`JoinError::Cancelled`] if the pool was shut down before `f` could start (as tokio's
    /// `spawn_blocking` reports a runtime shutting down). If the pool has no thread and the
    /// system refuses to start one, `JoinError::Panicked` with a message that says so.
    ///
    /// # Cancel safety
    ///
    /// If the coroutine is cancelled while `f` waits in the queue, `f` does not run (as
    /// asyncio's pool skips a cancelled future's work). A thread cannot be interrupted: once
    /// `f` has started, it runs to its end and its value is dropped on the pool's thread. A
    /// panic in `f` after the cancellation, or in the drop of its value, is reported on
    /// stderr, since no one can receive it; the pool goes on.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub fn run<T, F>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let cell = ResultCell::new_for_current();
        let completion = Completion {
            cell: Some(cell.clone()),
        };
        let job: Job = Box::new(move |pool: &Pool| {
            if completion.abandoned() {
                // Cancelled while queued: like a cancelled future's work item in asyncio's
                // pool, the function does not run.
                pool.job_done();
                result_cell::drop_reporting(f);
                return;
            }
            let r = catch_unwind(AssertUnwindSafe(f));
            pool.job_done();
            completion.complete(r.map_err(Failure::Panicked));
        });
        if let Err((job, why)) = self.pool.submit(job) {
            // Nobody waits: dropping the job must not wake this coroutine (a wake-up kept for
            // its next park would end that park early).
            *cell.state.lock() = CellState::Taken;
            drop(job);
            return Err(match why {
                Refused::ShutDown => JoinError::Cancelled,
                Refused::NoThread(e) => JoinError::Panicked(Box::new(format!(
                    "corio: could not start an executor thread: {e}"
                ))),
            });
        }
        cell.wait()
    }

    /// Stops taking jobs: later [`run`](Self::run) calls fail with
    /// [`JoinError::Cancelled`]. Idle threads leave at once; busy ones finish their job and
    /// whatever is queued, then leave. Does not wait for them.
    ///
    /// ```
    /// let pool = corio::executor::Executor::new();
    /// pool.shutdown();
    /// assert!(pool.is_shutdown());
    /// corio::run(move || assert!(pool.run(|| 1).unwrap_err().is_cancelled()));
    /// ```
    pub fn shutdown(&self) {
        self.pool.state.lock().shutdown = true;
        self.pool.work.notify_all();
    }

    /// `true` once [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.pool.state.lock().shutdown
    }

    /// The most threads this pool runs at once.
    pub fn max_threads(&self) -> usize {
        self.pool.settings.max_threads
    }

    /// Threads of this pool alive right now, busy or idle.
    pub fn threads(&self) -> usize {
        self.pool.state.lock().threads
    }

    /// Jobs waiting for a free thread right now.
    pub fn queued(&self) -> usize {
        self.pool.state.lock().queue.len()
    }
}

thread_local! {
    /// The default executor of each loop on this thread that has used one, by loop id.
    static DEFAULTS: RefCell<Vec<(u64, Executor)>> = const { RefCell::new(Vec::new()) };
}

/// The running loop's default executor, made on first use and shut down when the loop closes.
///
/// ```
/// corio::run(|| {
///     let ex = corio::executor::default_executor();
///     assert_eq!(ex.max_threads(), corio::executor::default_max_threads());
/// });
/// ```
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn default_executor() -> Executor {
    let id = running_loop_id().expect("corio: no running event loop on this thread");
    let found = DEFAULTS.with(|d| {
        d.borrow()
            .iter()
            .find(|(l, _)| *l == id)
            .map(|(_, e)| e.clone())
    });
    if let Some(e) = found {
        return e;
    }
    let e = Executor::new();
    install(id, e.clone());
    e
}

/// Makes `executor` the running loop's default (asyncio's `loop.set_default_executor`), used
/// by [`to_thread`] and [`run_in_executor`] from now on. The executor that was the default
/// before is left running; the one that is the default when the loop closes is shut down.
///
/// ```
/// corio::run(|| {
///     let small = corio::executor::Executor::builder().max_threads(1).build();
///     corio::executor::set_default_executor(small);
///     assert_eq!(corio::executor::default_executor().max_threads(), 1);
///     assert_eq!(corio::to_thread(|| 2 + 2).unwrap(), 4);
/// });
/// ```
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn set_default_executor(executor: Executor) {
    let id = running_loop_id().expect("corio: no running event loop on this thread");
    install(id, executor);
}

fn install(loop_id: u64, executor: Executor) {
    let replaced = DEFAULTS.with(|d| {
        let mut d = d.borrow_mut();
        match d.iter_mut().find(|(l, _)| *l == loop_id) {
            Some(slot) => {
                slot.1 = executor;
                true
            }
            None => {
                d.push((loop_id, executor));
                false
            }
        }
    });
    if !replaced {
        at_loop_close(Box::new(move || {
            let e = DEFAULTS.with(|d| {
                let mut d = d.borrow_mut();
                let i = d.iter().position(|(l, _)| *l == loop_id)?;
                Some(d.swap_remove(i).1)
            });
            if let Some(e) = e {
                e.shutdown();
            }
        }));
    }
}

/// Runs `f` on a thread of the running loop's default executor and parks the calling
/// coroutine until it returns (asyncio's `loop.run_in_executor(None, f)`); the same as
/// [`to_thread`].
///
/// ```
/// corio::run(|| {
///     let len = corio::run_in_executor(|| std::fs::read_dir(".").map(|d| d.count()));
///     assert!(len.unwrap().unwrap() > 0);
/// });
/// ```
///
/// # Errors
///
/// As [`Executor::run`]: [`JoinError::Panicked`] if `f` panicked.
///
/// # Cancel safety
///
/// As [`Executor::run`]: `f` does not run if still queued; once started it runs to its end,
/// and its value is dropped.
///
/// # Panics
///
/// Outside a coroutine.
pub fn run_in_executor<T, F>(f: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if crate::runtime::current_header().is_none() {
        panic!("corio::run_in_executor: call it inside a coroutine (corio::run or a task)");
    }
    default_executor().run(f)
}

/// Runs the blocking function `f` on a thread of the running loop's default executor and
/// parks the calling coroutine until it returns (asyncio's `asyncio.to_thread`).
///
/// ```
/// corio::run(|| {
///     let r = corio::to_thread(|| panic!("boom"));
///     assert_eq!(r.unwrap_err().panic_message(), Some("boom"));
///     assert_eq!(corio::to_thread(|| "the pool went on").unwrap(), "the pool went on");
/// });
/// ```
///
/// # Errors
///
/// As [`Executor::run`]: [`JoinError::Panicked`] if `f` panicked.
///
/// # Cancel safety
///
/// As [`Executor::run`]: `f` does not run if still queued; once started it runs to its end,
/// and its value is dropped.
///
/// # Panics
///
/// Outside a coroutine.
pub fn to_thread<T, F>(f: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_in_executor(f)
}
