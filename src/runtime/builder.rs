//! [`EventLoopBuilder`]: the settings of a new loop.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::core::{Core, is_running_here};
use super::{
    DEFAULT_EVENT_INTERVAL, DEFAULT_MAX_POOLED_STACKS, DEFAULT_STACK_GUARD_SIZE,
    DEFAULT_STACK_SIZE, EventLoop, SLOW_STEP,
};
use crate::error::RuntimeError;

/// Settings for a new [`EventLoop`].
#[derive(Debug, Clone)]
pub struct EventLoopBuilder {
    stack_size: usize,
    stack_guard_size: usize,
    max_pooled_stacks: usize,
    debug: bool,
    busy_poll: Duration,
    event_interval: u32,
    virtual_time: bool,
}

impl Default for EventLoopBuilder {
    fn default() -> Self {
        EventLoopBuilder {
            stack_size: DEFAULT_STACK_SIZE,
            stack_guard_size: DEFAULT_STACK_GUARD_SIZE,
            max_pooled_stacks: DEFAULT_MAX_POOLED_STACKS,
            debug: std::env::var_os("CORIO_DEBUG").is_some_and(|v| !v.is_empty() && v != "0"),
            busy_poll: Duration::ZERO,
            event_interval: DEFAULT_EVENT_INTERVAL,
            virtual_time: false,
        }
    }
}

impl EventLoopBuilder {
    /// Default settings ([`DEFAULT_STACK_SIZE`], [`DEFAULT_MAX_POOLED_STACKS`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Usable stack size, in bytes, of tasks spawned without their own
    /// [`Builder::stack_size`](crate::Builder::stack_size). Rounded up to whole pages; at least
    /// 16 KiB.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Length, in bytes, of the guard below each coroutine stack of this loop
    /// ([`DEFAULT_STACK_GUARD_SIZE`], 64 KiB, by default). Rounded up to whole pages; at least
    /// one page.
    ///
    /// Raise it when tasks call code that does not probe its stack frames (C libraries
    /// built without `-fstack-clash-protection`) and keeps frames larger than the guard: such
    /// a frame overflowing the stack would skip the guard and write into the neighbouring
    /// coroutine's stack instead of being reported. The guard is never backed by memory
    /// (with `MADV_GUARD_INSTALL`, Linux 6.13+, it is a marker inside the stack's one memory
    /// map; elsewhere a `PROT_NONE` range, one extra map per stack whatever its length), so
    /// it costs address space only, which counts against `ulimit -v` where one is set.
    ///
    /// ```
    /// let lp = corio::EventLoop::builder().stack_guard_size(256 * 1024).build().unwrap();
    /// assert_eq!(lp.run_until_complete(|| corio::spawn(|| 7).join().unwrap()).unwrap(), 7);
    /// ```
    pub fn stack_guard_size(mut self, bytes: usize) -> Self {
        self.stack_guard_size = bytes;
        self
    }

    /// How many finished coroutines' stacks to keep mapped for reuse, with their top pages
    /// resident ([`DEFAULT_MAX_POOLED_STACKS`] by default). Stacks a burst of tasks leaves
    /// over this bound give their memory back when the loop is next idle and stay mapped
    /// (address space and page tables only) until the loop has not needed them for a second;
    /// see [`StackStats`](super::StackStats).
    ///
    /// ```
    /// let lp = corio::EventLoop::builder().max_pooled_stacks(16).build().unwrap();
    /// lp.run_until_complete(|| {
    ///     let tasks: Vec<_> = (0..100).map(|i| corio::spawn(move || i)).collect();
    ///     for t in tasks {
    ///         t.join().unwrap();
    ///     }
    /// })
    /// .unwrap();
    /// assert_eq!(lp.pooled_stacks(), 16);
    /// ```
    pub fn max_pooled_stacks(mut self, n: usize) -> Self {
        self.max_pooled_stacks = n;
        self
    }

    /// Debug mode (also switched on by the environment variable `CORIO_DEBUG=1`): a task that
    /// runs longer than [`SLOW_STEP`] without parking is reported on stderr with its name —
    /// the mark of a blocking call or a long CPU loop that stalls every other coroutine.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// Busy polling (off by default): when the loop runs out of work, it keeps polling for
    /// I/O without blocking for up to `window` before it goes to sleep in the poller.
    ///
    /// I/O that arrives within the window is picked up without a sleep and a wake-up, which
    /// on a virtual machine cost several microseconds each way: a request/response
    /// connection answered at once (the latency-bound case) completes round trips several
    /// times faster. The price is CPU: up to `window` of spinning every time the loop goes
    /// idle, so it suits a loop with a core of its own, not a shared or battery-powered
    /// machine. A few tens of microseconds is a good start; timers still fire on time (the
    /// window never runs past the next deadline) and work from other threads ends the spin
    /// at once. `Duration::ZERO` switches it off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let n = corio::runtime::EventLoopBuilder::new()
    ///     .busy_poll(Duration::from_micros(50))
    ///     .run(|| {
    ///         corio::sleep(Duration::from_millis(1));
    ///         7
    ///     });
    /// assert_eq!(n, 7);
    /// ```
    pub fn busy_poll(mut self, window: Duration) -> Self {
        self.busy_poll = window;
        self
    }

    /// How many ready tasks and callbacks the loop may run, while work stays ready, before it
    /// next looks for I/O without blocking ([`DEFAULT_EVENT_INTERVAL`], 61, by default; at
    /// least 1). Timers and work from other threads are looked at on every iteration
    /// whatever this is; a loop with nothing ready always waits in the poller.
    ///
    /// `1` looks for I/O on every iteration, as asyncio does (and as tokio's `yield_now` does:
    /// a yielding task there runs again only after the driver was polled). That costs one
    /// `epoll_wait` per iteration while a socket or other fd is registered, and a switch to
    /// the loop's own stack between two iterations that a hand-off between tasks would
    /// otherwise skip. The benchmarks use it to compare like with like; a program has little
    /// reason to change it, except a smaller figure for lower I/O latency under a steady load
    /// of CPU-bound tasks.
    ///
    /// ```
    /// let n = corio::runtime::EventLoopBuilder::new()
    ///     .event_interval(1)
    ///     .run(|| {
    ///         corio::yield_now();
    ///         7
    ///     });
    /// assert_eq!(n, 7);
    /// ```
    pub fn event_interval(mut self, steps: u32) -> Self {
        self.event_interval = steps;
        self
    }

    /// Virtual time (off by default), for tests of code full of timeouts and retries.
    ///
    /// The loop's clock ([`time`](super::time), [`now`](super::now), and with it `sleep`,
    /// `call_later`, `timeout`, `wait_for`) starts at the real now and stands still while
    /// tasks run. When the loop would sleep and nothing outside it can end a wait — no task
    /// parked on a socket or fd, an executor job, a `ThreadQueue` or a foreign std future, no
    /// `add_reader`/`add_writer` watch, no [`LoopHandle`](super::LoopHandle) alive — the
    /// clock jumps straight to the next timer. Otherwise the loop waits in real time as
    /// usual, and the clock moves on by the time waited. Timers fire in the same
    /// `(deadline, scheduling order)` as with the real clock, so a run is repeatable.
    /// [`corio::testing::advance`](crate::testing::advance) moves the clock by hand;
    /// [`corio::testing::run`](crate::testing::run) is the one-line form.
    ///
    /// ```
    /// use std::time::Duration;
    /// let waited = corio::EventLoopBuilder::new().virtual_time(true).run(|| {
    ///     let t0 = corio::runtime::now();
    ///     corio::sleep(Duration::from_secs(24 * 3600)); // a day, in no real time
    ///     corio::runtime::now() - t0
    /// });
    /// assert_eq!(waited, Duration::from_secs(24 * 3600));
    /// ```
    ///
    /// A busy loop that waits for the clock to move without ever parking never lets it move:
    /// under virtual time only parking lets time pass.
    pub fn virtual_time(mut self, on: bool) -> Self {
        self.virtual_time = on;
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    ///
    /// When the poller cannot be created (out of file descriptors).
    pub fn build(self) -> io::Result<EventLoop> {
        let core = Core::new(
            self.stack_size,
            self.max_pooled_stacks,
            self.stack_guard_size,
        )?;
        if self.debug {
            core.set_slow_step(Some(SLOW_STEP));
        }
        core.set_busy_poll(self.busy_poll);
        core.set_event_interval(self.event_interval);
        if self.virtual_time {
            core.set_virtual_time(true);
        }
        let core = Rc::new(core);
        super::here::register_loop(&core);
        Ok(EventLoop { core, owner: true })
    }

    /// [`run`](super::run) with these settings.
    ///
    /// # Panics
    ///
    /// As [`run`](super::run).
    #[track_caller]
    pub fn run<T, F>(self, f: F) -> T
    where
        F: FnOnce() -> T + 'static,
        T: 'static,
    {
        check_unwind();
        if is_running_here() {
            panic!("corio::run: {}", RuntimeError::NestedRun);
        }
        let lp = self
            .build()
            .unwrap_or_else(|e| panic!("corio::run: cannot create the event loop: {e}"));
        let r = lp.run_until_complete(f);
        lp.shutdown_tasks();
        let _ = lp.close();
        match r {
            Ok(v) => v,
            Err(e) => panic!("corio::run: {e}"),
        }
    }
}

/// Refuses to run under `panic = "abort"`, saying why, before a cancellation would abort.
pub(super) fn check_unwind() {
    if cfg!(panic = "abort") {
        panic!(
            "corio needs panic = \"unwind\" (Rust's default): cancellation unwinds the cancelled \
             coroutine's stack. Remove `panic = \"abort\"` from your Cargo profile."
        );
    }
}
