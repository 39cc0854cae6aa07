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
//! on. A thread cannot be interrupted, so cancelling the waiting coroutine does not stop the
//! work: the function runs to its end on its thread and its value is dropped there. If it
//! panics after its caller was cancelled, nobody can see the panic any more, so it is reported
//! on stderr (as a task's "exception was never retrieved").
//!
//! # Shutdown
//!
//! When a loop closes ([`corio::run`](crate::run) returning, an [`EventLoop`](crate::EventLoop)
//! dropped or closed), its default executor is shut down: idle threads leave at once, busy
//! threads finish their job (and any job still queued) and then leave. The loop does not wait
//! for them, so a long job never holds up `run`'s return; its value is dropped. Work still
//! running when the process exits is cut short, as Rust ends every thread at the end of `main`.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{JoinError, panic_message};
use crate::runtime::core::with_core;
use crate::runtime::raw::{self, SendWaker};

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
type Job = Box<dyn FnOnce(&Pool) + Send + 'static>;

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
            pool: Arc::new(Pool {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    threads: 0,
                    waiting: 0,
                    notified: 0,
                    shutdown: false,
                }),
                work: Condvar::new(),
                busy: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                settings: self,
            }),
        }
    }
}

/// The shared pool. Ground rules:
/// * a worker is busy (running a job), waiting (idle on `work`), or looking (between the two,
///   about to take the lock and look at the queue); `threads` counts them all, and a worker
///   decides to leave and lowers `threads` under one lock, so a job queued while a worker
///   lives is always seen;
/// * `busy` is the one count changed outside the lock: a job lowers it when its work is done,
///   just before it wakes its caller, so a caller that submits again at once finds a looking
///   worker, not a reason to start another thread;
/// * jobs in the queue are taken by looking workers and by waiting workers sent a wake-up
///   (`notified`, not yet taken); a job only sends a wake-up, or starts a thread, when those
///   are fewer than the jobs queued;
/// * a worker out of jobs stays looking for [`SPIN`] (watching `queued`, without the lock)
///   before it waits.
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    busy: AtomicUsize,
    /// `queue.len()`, readable without the lock by spinning workers.
    queued: AtomicUsize,
    settings: ExecutorBuilder,
}

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    waiting: usize,
    notified: usize,
    shutdown: bool,
}

/// Why a job was not taken.
enum Refused {
    ShutDown,
    NoThread(std::io::Error),
}

impl Pool {
    fn submit(self: &Arc<Self>, job: Job) -> Result<(), (Job, Refused)> {
        let mut st = self.state.lock();
        if st.shutdown {
            return Err((job, Refused::ShutDown));
        }
        let busy = self.busy.load(Ordering::SeqCst);
        let looking = st.threads.saturating_sub(busy + st.waiting);
        if looking + st.notified > st.queue.len() {
            self.enqueue(&mut st, job); // a worker between two jobs takes it
            return Ok(());
        }
        if st.waiting > st.notified {
            self.enqueue(&mut st, job);
            st.notified += 1;
            drop(st);
            self.work.notify_one();
            return Ok(());
        }
        if st.threads >= self.settings.max_threads {
            self.enqueue(&mut st, job); // a busy worker takes it when done
            return Ok(());
        }
        // Start a thread with this job as its first.
        st.threads += 1;
        self.busy.fetch_add(1, Ordering::SeqCst);
        drop(st);
        let mut b = std::thread::Builder::new().name(self.settings.thread_name.clone());
        if let Some(size) = self.settings.stack_size {
            b = b.stack_size(size);
        }
        let pool = self.clone();
        let first = Arc::new(Mutex::new(Some(job)));
        let handed = first.clone();
        match b.spawn(move || {
            let job = handed.lock().take();
            pool.work(job)
        }) {
            Ok(_detached) => Ok(()),
            Err(e) => {
                let job = first.lock().take().expect("the thread never started");
                self.busy.fetch_sub(1, Ordering::SeqCst);
                let mut st = self.state.lock();
                st.threads -= 1;
                if st.threads > 0 {
                    self.enqueue(&mut st, job);
                    return Ok(());
                }
                // No thread is left to take the queue (jobs others queued while this thread
                // was counted): they are dropped unrun, and their callers see `Cancelled`.
                let stranded: Vec<Job> = st.queue.drain(..).collect();
                self.queued.store(0, Ordering::Relaxed);
                drop(st);
                drop(stranded);
                Err((job, Refused::NoThread(e)))
            }
        }
    }

    fn enqueue(&self, st: &mut PoolState, job: Job) {
        st.queue.push_back(job);
        self.queued.store(st.queue.len(), Ordering::Relaxed);
    }

    /// Called by a job when its work is done: its thread is free again.
    fn job_done(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// A worker thread's life: take jobs until idle for too long or shut down with nothing
    /// left to do.
    fn work(self: Arc<Self>, first: Option<Job>) {
        if let Some(job) = first {
            job(&self); // counted busy by the thread that started this one
        }
        let mut st = self.state.lock();
        let mut spun = false;
        loop {
            if let Some(job) = st.queue.pop_front() {
                self.queued.store(st.queue.len(), Ordering::Relaxed);
                self.busy.fetch_add(1, Ordering::SeqCst);
                drop(st);
                job(&self); // jobs catch their own panics
                st = self.state.lock();
                spun = false;
                continue;
            }
            if st.shutdown {
                break;
            }
            if !spun {
                // Work often comes back at once (a coroutine calling to_thread in a loop):
                // look for it a short while before sleeping, since a sleeping thread costs a
                // wake-up. Meanwhile this worker counts as looking, so jobs are not sent a
                // wake-up nor a new thread.
                drop(st);
                let deadline = Instant::now() + SPIN;
                while self.queued.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
                    for _ in 0..32 {
                        std::hint::spin_loop();
                    }
                }
                st = self.state.lock();
                spun = true;
                continue;
            }
            st.waiting += 1;
            let timed_out = self
                .work
                .wait_for(&mut st, self.settings.idle_timeout)
                .timed_out();
            st.waiting -= 1;
            st.notified = st.notified.saturating_sub(1);
            if timed_out && st.queue.is_empty() && !st.shutdown {
                break;
            }
        }
        st.threads -= 1;
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
    /// A thread cannot be interrupted: if the coroutine is cancelled while it waits, `f` still
    /// runs to its end and its value is dropped on the pool's thread. A panic in `f` after the
    /// cancellation is reported on stderr, since no one can receive it.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub fn run<T, F>(&self, f: F) -> Result<T, JoinError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slot = Arc::new(Slot {
            state: Mutex::new(SlotState::Waiting(Some(SendWaker::current()))),
        });
        let completion = Completion {
            slot: Some(slot.clone()),
        };
        let job: Job = Box::new(move |pool: &Pool| {
            let r = catch_unwind(AssertUnwindSafe(f));
            pool.job_done();
            completion.complete(r.map_err(Failure::Panicked));
        });
        if let Err((job, why)) = self.pool.submit(job) {
            // Nobody waits: dropping the job must not wake this coroutine (a wake-up kept for
            // its next park would end that park early).
            *slot.state.lock() = SlotState::Taken;
            drop(job);
            return Err(match why {
                Refused::ShutDown => JoinError::Cancelled,
                Refused::NoThread(e) => JoinError::Panicked(Box::new(format!(
                    "corio: could not start an executor thread: {e}"
                ))),
            });
        }
        let abandon = Abandon(&slot);
        loop {
            raw::park_on("executor");
            let mut st = slot.state.lock();
            match std::mem::replace(&mut *st, SlotState::Taken) {
                SlotState::Done(r) => {
                    drop(st);
                    std::mem::forget(abandon);
                    return r.map_err(|f| match f {
                        Failure::Panicked(p) => JoinError::Panicked(p),
                        Failure::NotRun => JoinError::Cancelled,
                    });
                }
                // Woken by something else (never expected): wait again with a fresh waker.
                _ => *st = SlotState::Waiting(Some(SendWaker::current())),
            }
        }
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

/// Why a job gave no value.
enum Failure {
    Panicked(Box<dyn Any + Send + 'static>),
    /// Dropped without running (the pool shut down or could not start a thread).
    NotRun,
}

/// Where a job leaves its value for the coroutine waiting on it.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

enum SlotState<T> {
    /// The job has not finished; the waker wakes the waiting coroutine.
    Waiting(Option<SendWaker>),
    Done(Result<T, Failure>),
    /// The waiting coroutine was cancelled: the value is dropped when it comes.
    Abandoned,
    /// The waiter took the value.
    Taken,
}

/// The job's side of a [`Slot`]: fills it when the job ends, or with `NotRun` if the job is
/// dropped unrun.
struct Completion<T> {
    slot: Option<Arc<Slot<T>>>,
}

impl<T> Completion<T> {
    fn complete(mut self, r: Result<T, Failure>) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, r);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, Err(Failure::NotRun));
        }
    }
}

fn fill<T>(slot: &Slot<T>, r: Result<T, Failure>) {
    let mut st = slot.state.lock();
    match &mut *st {
        SlotState::Waiting(w) => {
            let w = w.take();
            *st = SlotState::Done(r);
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
        _ => {
            drop(st);
            if let Err(Failure::Panicked(p)) = &r {
                report_abandoned_panic(p.as_ref());
            }
            drop(r); // the caller is gone: the value is dropped here, on the pool's thread
        }
    }
}

fn report_abandoned_panic(p: &(dyn Any + Send)) {
    let msg = panic_message(p).unwrap_or("<non-string payload>");
    crate::runtime::diag::emit(
        crate::runtime::diag::Level::Error,
        &format!(
            "a function run in the executor panicked after the coroutine waiting for it \
             was cancelled: {msg}"
        ),
    );
}

/// The waiting coroutine's side: if it unwinds (cancelled, or the loop closes), the slot is
/// marked abandoned, and a value already there is dropped (a panic in it reported).
struct Abandon<'a, T>(&'a Slot<T>);

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        let was = std::mem::replace(&mut *st, SlotState::Abandoned);
        drop(st);
        if let SlotState::Done(Err(Failure::Panicked(p))) = &was {
            report_abandoned_panic(p.as_ref());
        }
        drop(was);
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
    let id = with_core(|c| c.id()).expect("corio: no running event loop on this thread");
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
    let id = with_core(|c| c.id()).expect("corio: no running event loop on this thread");
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
        with_core(|c| {
            c.at_close(Box::new(move || {
                let e = DEFAULTS.with(|d| {
                    let mut d = d.borrow_mut();
                    let i = d.iter().position(|(l, _)| *l == loop_id)?;
                    Some(d.swap_remove(i).1)
                });
                if let Some(e) = e {
                    e.shutdown();
                }
            }))
        });
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
/// As [`Executor::run`]: `f` runs to its end; its value is dropped.
///
/// # Panics
///
/// Outside a coroutine.
pub fn run_in_executor<T, F>(f: F) -> Result<T, JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if raw::current_header().is_none() {
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
/// As [`Executor::run`]: `f` runs to its end; its value is dropped.
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
