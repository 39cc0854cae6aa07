//! The loop's engine: the ready FIFO, timers, the reactor, the task registry and one
//! iteration of the loop (`run_once`).

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use slab::Slab;

use super::exception::HandlerSlot;
use super::fifo::Fifo;
use super::handle::{Callable, Shared};
use super::raw::Waker;
use super::task_ref::TaskRef;
use super::timers::{TimerId, Timers};
use crate::coro::{Stack, StackPool};
use crate::error::SpawnError;
use crate::reactor::Reactor;

/// Something the loop runs: a task's next step or a callback.
pub(crate) enum Runnable {
    Task(TaskRef),
    Call(Rc<dyn Callable>),
}

/// What a timer or a readiness event does when it fires.
#[derive(Clone)]
pub(crate) enum Notify {
    Wake(Waker),
    Call(Rc<dyn Callable>),
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// What the running `run_*` call waits for between iterations.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Until {
    /// `stop()` (or nothing: `run_forever`).
    Stopped,
    /// This task is done (`run_until_complete`). The caller holds the task for the whole run.
    TaskDone(*const super::raw::Header),
    /// No task is left (the shutdown at the end of `corio::run`).
    NoTasks,
}

pub(crate) struct Core {
    id: u64,
    ready: RefCell<Fifo<Runnable>>,
    timers: RefCell<Timers<Notify>>,
    tasks: RefCell<Slab<TaskRef>>,
    pub(crate) reactor: Reactor<Notify>,
    stacks: RefCell<StackPool>,
    pub(crate) shared: Arc<Shared>,
    next_task_id: Cell<u64>,
    stopping: Cell<bool>,
    running: Cell<bool>,
    closed: Cell<bool>,
    /// Runnables the loop may still run before it next asks the poller, counted down from
    /// `event_interval` (a count down, so each step compares with zero, as with a constant).
    steps_to_poll: Cell<u32>,
    /// See [`EventLoopBuilder::event_interval`](super::EventLoopBuilder::event_interval).
    event_interval: Cell<u32>,
    /// Runnables of the current iteration not yet taken off the ready queue (asyncio runs
    /// what was ready when an iteration began; what those schedule waits for the next one).
    batch_left: Cell<usize>,
    /// How many task steps are running, one inside another: 1 while the loop runs a task, 2
    /// while that task runs another one in its place ([`Core::hand_off`]).
    depth: Cell<u32>,
    /// When the current `run_*` call is to return, so that a hand-off does not start an
    /// iteration the loop would not have started.
    until: Cell<Until>,
    /// A task that returned while run by a hand-off, to be finished on the loop's stack.
    ended: RefCell<Option<TaskRef>>,
    /// Reused buffer for fired timers and readiness notifications.
    fired: RefCell<Vec<Notify>>,
    /// Debug mode: report a task step longer than this.
    slow_step: Cell<Option<Duration>>,
    /// Busy polling: how long the loop polls without blocking before it sleeps in the poller.
    busy_poll: Cell<Duration>,
    /// The Rc this Core lives in, for `get_running_loop`.
    self_rc: RefCell<std::rc::Weak<Core>>,
    /// Actions to run when the loop closes, after its tasks are unwound (the executor's
    /// shutdown), in the order they were added.
    at_close: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The handler set by `set_exception_handler`.
    pub(crate) exception_handler: HandlerSlot,
    /// The thread was already unwinding a panic when the loop was last entered (a loop run
    /// or closed from a `Drop` during a panic): `std::thread::panicking()` then says nothing
    /// about the loop's own coroutines. See `raw::unwinding`.
    entered_panicking: Cell<bool>,
    /// The signals this loop watches, made on the first `add_signal_handler` or `wait`.
    pub(crate) signals: RefCell<Option<Rc<super::signal::LoopSignals>>>,
}

thread_local! {
    /// The loop running on this thread, null when none runs.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the loop running on this thread, if any.
#[inline]
pub(crate) fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let p = CORE.with(|c| c.get());
    if p.is_null() {
        return None;
    }
    // SAFETY: CORE is set by `Core::enter` to a Core kept alive (by the Rc in the EventLoop
    // that is running it) until the matching `Entered` guard resets it.
    Some(f(unsafe { &*p }))
}

/// `true` if a loop runs on this thread.
pub(crate) fn is_running_here() -> bool {
    !CORE.with(|c| c.get()).is_null()
}

/// Resets the thread's current loop when a run ends, even by panic.
pub(crate) struct Entered {
    prev: *const Core,
}

impl Drop for Entered {
    fn drop(&mut self) {
        CORE.with(|c| c.set(self.prev));
    }
}

impl Core {
    pub(crate) fn new(
        stack_size: usize,
        max_pooled_stacks: usize,
        stack_guard: usize,
    ) -> std::io::Result<Core> {
        let reactor = Reactor::new()?;
        let shared = Arc::new(Shared::new(reactor.poller().clone()));
        Ok(Core {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            ready: RefCell::new(Fifo::new()),
            timers: RefCell::new(Timers::new()),
            tasks: RefCell::new(Slab::new()),
            reactor,
            stacks: RefCell::new(StackPool::new(stack_size, max_pooled_stacks, stack_guard)),
            shared,
            next_task_id: Cell::new(1),
            stopping: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
            steps_to_poll: Cell::new(super::DEFAULT_EVENT_INTERVAL),
            event_interval: Cell::new(super::DEFAULT_EVENT_INTERVAL),
            batch_left: Cell::new(0),
            depth: Cell::new(0),
            until: Cell::new(Until::Stopped),
            ended: RefCell::new(None),
            fired: RefCell::new(Vec::new()),
            self_rc: RefCell::new(std::rc::Weak::new()),
            slow_step: Cell::new(None),
            busy_poll: Cell::new(Duration::ZERO),
            at_close: RefCell::new(Vec::new()),
            signals: RefCell::new(None),
            exception_handler: HandlerSlot::default(),
            entered_panicking: Cell::new(false),
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// `true` if the thread was unwinding a panic when the loop was last entered.
    #[inline]
    pub(crate) fn entered_panicking(&self) -> bool {
        self.entered_panicking.get()
    }

    pub(crate) fn set_slow_step(&self, d: Option<Duration>) {
        self.slow_step.set(d);
    }

    /// Sets how many runnables may run between two looks at the poller (at least one).
    pub(crate) fn set_event_interval(&self, steps: u32) {
        let steps = steps.max(1);
        self.event_interval.set(steps);
        self.steps_to_poll.set(steps);
    }

    pub(crate) fn set_busy_poll(&self, window: Duration) {
        self.busy_poll.set(window);
    }

    pub(crate) fn set_self_rc(&self, rc: &Rc<Core>) {
        *self.self_rc.borrow_mut() = Rc::downgrade(rc);
    }

    pub(crate) fn clear_self_rc(&self) {
        *self.self_rc.borrow_mut() = std::rc::Weak::new();
    }

    pub(crate) fn self_rc(&self) -> Option<Rc<Core>> {
        self.self_rc.borrow().upgrade()
    }

    /// Makes this the thread's current loop until the guard drops.
    pub(crate) fn enter(&self) -> Entered {
        self.entered_panicking.set(std::thread::panicking());
        Entered {
            prev: CORE.with(|c| c.replace(self)),
        }
    }

    // ----- tasks -----

    pub(crate) fn next_task_id(&self) -> u64 {
        let id = self.next_task_id.get();
        self.next_task_id.set(id + 1);
        id
    }

    pub(crate) fn take_stack(&self, size: Option<usize>) -> Result<Stack, SpawnError> {
        self.stacks.borrow_mut().get(size)
    }

    pub(crate) fn release_stack(&self, stack: Stack) {
        self.stacks.borrow_mut().put(stack);
    }

    pub(crate) fn default_stack_size(&self) -> usize {
        self.stacks.borrow().default_size()
    }

    pub(crate) fn pooled_stacks(&self) -> usize {
        self.stacks.borrow().pooled()
    }

    pub(crate) fn stack_stats(&self) -> super::StackStats {
        let pool = self.stacks.borrow();
        super::StackStats {
            in_use: pool.lent(),
            pooled: pool.pooled(),
            awaiting_unmap: pool.excess(),
        }
    }

    pub(crate) fn adopt_task(&self, t: TaskRef) -> usize {
        self.tasks.borrow_mut().insert(t)
    }

    pub(crate) fn forget_task(&self, slot: usize) {
        let t = self.tasks.borrow_mut().try_remove(slot);
        drop(t);
    }

    pub(crate) fn task_by_slot(&self, slot: usize) -> Option<TaskRef> {
        self.tasks.borrow().get(slot).cloned()
    }

    /// Every live task.
    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        self.tasks.borrow().iter().map(|(_, t)| t.clone()).collect()
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    // ----- scheduling -----

    #[inline]
    pub(crate) fn schedule(&self, t: TaskRef) {
        self.ready
            .borrow_mut()
            .push_back_with(move || Runnable::Task(t));
    }

    pub(crate) fn call_soon(&self, c: Rc<dyn Callable>) {
        self.ready
            .borrow_mut()
            .push_back_with(move || Runnable::Call(c));
    }

    pub(crate) fn add_timer(&self, when: Instant, n: Notify) -> TimerId {
        self.timers.borrow_mut().add(when, n)
    }

    pub(crate) fn cancel_timer(&self, id: TimerId) {
        let action = self.timers.borrow_mut().cancel(id);
        drop(action); // outside the borrow: dropping a callback may run user Drop code
    }

    pub(crate) fn replace_timer(&self, id: TimerId, n: Notify) -> bool {
        self.timers.borrow_mut().replace(id, n)
    }

    pub(crate) fn timer_pending(&self, id: TimerId) -> bool {
        self.timers.borrow().is_pending(id)
    }

    // ----- state -----

    pub(crate) fn stop(&self) {
        // Only the loop's own thread can call this, and then the loop is not in the poller.
        self.stopping.set(true);
    }

    pub(crate) fn take_stopping(&self) -> bool {
        self.stopping.replace(false)
    }

    pub(crate) fn set_running(&self, r: bool) {
        self.running.set(r)
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.get()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// `true` when nothing can ever make a parked task ready again: no ready work, no
    /// timers, no fd registrations and no `LoopHandle` that another thread could use.
    pub(crate) fn is_deadlocked(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().len() == 0
            && self.reactor.len() == 0
            && Arc::strong_count(&self.shared) == 1
            && !self.shared.has_injected.load(Ordering::SeqCst)
    }

    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    // ----- one iteration -----

    /// Sets what the running `run_*` call waits for; see [`Until`].
    pub(crate) fn set_until(&self, until: Until) {
        self.until.set(until);
    }

    /// `true` once what the running `run_*` call waits for has happened.
    fn until_reached(&self) -> bool {
        match self.until.get() {
            Until::Stopped => false,
            // SAFETY: `run_until_complete` holds the task for as long as this is set.
            Until::TaskDone(h) => unsafe { &*h }.is_done(),
            Until::NoTasks => self.task_count() == 0,
        }
    }

    /// One loop iteration, asyncio's `_run_once`: wait for I/O (no longer than the next timer,
    /// not at all if work is ready), move due timers and ready fds to the ready queue, then
    /// run what was ready when the iteration began. What those schedule runs next time.
    pub(crate) fn run_once(&self) {
        let must_not_block = self.has_ready() || self.stopping.get();
        let deadline = {
            let mut timers = self.timers.borrow_mut();
            if timers.len() == 0 {
                None
            } else {
                timers.next_deadline()
            }
        };
        if !must_not_block || self.steps_to_poll.get() == 0 {
            self.steps_to_poll.set(self.event_interval.get());
            if !must_not_block || self.reactor.len() > 0 {
                let timeout = if must_not_block {
                    Some(Duration::ZERO)
                } else {
                    deadline.map(|d| d.saturating_duration_since(Instant::now()))
                };
                self.poll_io(timeout);
            }
        }
        if self.shared.has_injected.load(Ordering::Relaxed) {
            self.run_injected();
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
            self.timers.borrow_mut().expire(Instant::now(), &mut fired);
            self.dispatch(fired);
        }
        self.batch_left.set(self.ready.borrow().len());
        while self.batch_left.get() > 0 {
            self.batch_left.set(self.batch_left.get() - 1);
            let next = {
                let mut ready = self.ready.borrow_mut();
                let next = ready.pop_front();
                prefetch_next(&ready);
                next
            };
            self.steps_to_poll
                .set(self.steps_to_poll.get().saturating_sub(1));
            match next {
                Some(Runnable::Task(t)) => match self.slow_step.get() {
                    None => super::raw::run(&t, self),
                    Some(limit) => self.run_timed(&t, limit),
                },
                Some(Runnable::Call(c)) => run_callback(self, &c),
                None => break,
            }
        }
    }

    /// Called by the task `me`, which the loop is running, when it is about to switch back to
    /// the loop (it parked or yielded): runs the loop's next steps from here instead, as long
    /// as they are task steps the loop would take next anyway, and returns `true` as soon as
    /// the next step is `me` itself, which then goes on without any switch. Returns `false`
    /// when the loop has something else to do first (a callback, a poll, a due timer, work
    /// from another thread, a stop, the end of the run): `me` then switches to the loop.
    ///
    /// This is the loop's own schedule, order and iteration boundaries, only without the
    /// switch to the loop's stack and back between two task steps: a ping-pong between two
    /// tasks costs one switch each way instead of two. A task run from here runs one level
    /// deep only; it switches back to `me` when it parks.
    pub(crate) fn hand_off(&self, me: &super::raw::Header) -> bool {
        if self.slow_step.get().is_some() {
            return false;
        }
        loop {
            if self.depth.get() != 1 {
                return false;
            }
            if self.batch_left.get() == 0 {
                if !self.may_start_iteration() {
                    return false;
                }
                // A new iteration starts here, as `run_once` would start it: nothing to poll
                // (checked above), no timer due, nothing injected.
                self.batch_left.set(self.ready.borrow().len());
            }
            let task = {
                let mut ready = self.ready.borrow_mut();
                if !matches!(ready.front(), Some(Runnable::Task(_))) {
                    return false;
                }
                let task = match ready.pop_front() {
                    Some(Runnable::Task(t)) => t,
                    _ => unreachable!("the front was a task"),
                };
                prefetch_next(&ready);
                task
            };
            self.batch_left.set(self.batch_left.get() - 1);
            self.steps_to_poll
                .set(self.steps_to_poll.get().saturating_sub(1));
            if task.is(me) {
                return true;
            }
            super::raw::run(&task, self);
            if self.has_ended() {
                return false; // its end runs on the loop's stack, next
            }
        }
    }

    /// Keeps a task that returned during a hand-off for the loop to finish.
    pub(crate) fn defer_end(&self, task: TaskRef) {
        let previous = self.ended.borrow_mut().replace(task);
        debug_assert!(
            previous.is_none(),
            "a hand-off stops at the first task that ends"
        );
        drop(previous);
    }

    /// The task that returned during a hand-off, if any.
    #[inline]
    pub(crate) fn take_ended(&self) -> Option<TaskRef> {
        self.ended.borrow_mut().take()
    }

    fn has_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    /// `true` if the loop, asked for its next iteration now, would only run ready tasks: no
    /// poll due, no timer due, nothing from other threads, no stop, its run not over.
    fn may_start_iteration(&self) -> bool {
        self.steps_to_poll.get() > 0
            && !self.stopping.get()
            && !self.shared.has_injected.load(Ordering::Relaxed)
            && !self.until_reached()
            && {
                let mut timers = self.timers.borrow_mut();
                timers.len() == 0 || timers.next_deadline().is_none_or(|d| d > Instant::now())
            }
    }

    /// Enters a task step (see [`hand_off`](Self::hand_off)); returns the previous depth.
    #[inline]
    pub(crate) fn enter_step(&self) -> u32 {
        let d = self.depth.get();
        self.depth.set(d + 1);
        d
    }

    /// Leaves a task step entered with [`enter_step`](Self::enter_step).
    #[inline]
    pub(crate) fn leave_step(&self, prev: u32) {
        self.depth.set(prev);
    }

    /// Debug mode: runs a task step and reports it if it took longer than `limit`.
    #[cold]
    fn run_timed(&self, t: &TaskRef, limit: Duration) {
        let t0 = Instant::now();
        super::raw::run(t, self);
        let took = t0.elapsed();
        if took > limit {
            super::diag::slow_step(&t.header().display_name(), took);
        }
    }

    fn poll_io(&self, mut timeout: Option<Duration>) {
        if timeout != Some(Duration::ZERO) && !self.busy_poll.get().is_zero() {
            match self.spin(timeout) {
                None => return,
                Some(spent) => timeout = timeout.map(|t| t.saturating_sub(spent)),
            }
        }
        let blocking = timeout != Some(Duration::ZERO);
        if blocking {
            self.stacks.borrow_mut().trim();
            self.shared.sleeping.store(true, Ordering::SeqCst);
            if self.shared.has_injected.load(Ordering::SeqCst) || self.stopping.get() {
                self.shared.sleeping.store(false, Ordering::SeqCst);
                return self.poll_io(Some(Duration::ZERO));
            }
        }
        let mut out = std::mem::take(&mut *self.fired.borrow_mut());
        let r = self.reactor.poll(timeout, &mut out);
        self.shared.sleeping.store(false, Ordering::SeqCst);
        if let Err(e) = r {
            super::diag::poll_failed(&e);
        }
        self.dispatch(out);
    }

    /// Busy polling: polls without blocking until something is ready, or work comes from
    /// another thread, or the window (no longer than `timeout`) is over. Returns `None` if it
    /// found something (already dispatched), else the time spent.
    ///
    /// While spinning the loop is not marked as sleeping, so other threads hand work over
    /// without waking the poller; the spin sees it through `has_injected`.
    fn spin(&self, timeout: Option<Duration>) -> Option<Duration> {
        let window = timeout.map_or(self.busy_poll.get(), |t| t.min(self.busy_poll.get()));
        let start = Instant::now();
        let mut out = std::mem::take(&mut *self.fired.borrow_mut());
        loop {
            let found = match self.reactor.poll(Some(Duration::ZERO), &mut out) {
                Ok(events) => events > 0 || !out.is_empty(),
                Err(e) => {
                    super::diag::poll_failed(&e);
                    true
                }
            };
            if found || self.shared.has_injected.load(Ordering::Relaxed) {
                self.dispatch(out);
                return None;
            }
            let spent = start.elapsed();
            if spent >= window {
                *self.fired.borrow_mut() = out;
                return Some(spent);
            }
            std::hint::spin_loop();
        }
    }

    pub(crate) fn dispatch(&self, mut fired: Vec<Notify>) {
        for n in fired.drain(..) {
            match n {
                Notify::Wake(w) => w.wake_owned(),
                Notify::Call(c) => self.call_soon(c),
            }
        }
        *self.fired.borrow_mut() = fired;
    }

    fn run_injected(&self) {
        for f in self.shared.take_injected() {
            self.call_soon(super::handle::Once::new_rc(f));
        }
    }

    // ----- close -----

    /// Closes the loop: drops pending callbacks and timers, unwinds every task still alive
    /// (running each `Drop` on their stacks), clears fd registrations.
    pub(crate) fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        {
            let _q = self.shared.injected.lock();
            self.shared.closed.store(true, Ordering::SeqCst);
        }
        // Unwind until no task is left: a Drop on one stack may spawn or wake another.
        loop {
            let tasks = self.all_tasks();
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                super::raw::force_unwind(&t, self);
            }
        }
        self.run_at_close();
        let ready = std::mem::take(&mut *self.ready.borrow_mut());
        drop(ready);
        let timers = self.timers.borrow_mut().drain();
        drop(timers);
        let regs = self.reactor.clear();
        drop(regs);
        drop(self.signals.take());
        drop(std::mem::take(&mut *self.shared.injected.lock()));
    }
}

impl Core {
    /// Registers `f` to run when the loop closes, after every task has been unwound. On a
    /// loop that is already closed, `f` runs at once.
    pub(crate) fn at_close(&self, f: Box<dyn FnOnce()>) {
        if self.closed.get() {
            run_at_close_action(f);
        } else {
            self.at_close.borrow_mut().push(f);
        }
    }

    fn run_at_close(&self) {
        // An action may register another one: run until none is left.
        loop {
            let actions = std::mem::take(&mut *self.at_close.borrow_mut());
            if actions.is_empty() {
                break;
            }
            for f in actions {
                run_at_close_action(f);
            }
        }
    }
}

fn run_at_close_action(f: Box<dyn FnOnce()>) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        let msg = crate::error::panic_message(p.as_ref()).unwrap_or("<non-string payload>");
        eprintln!("corio: an action run at loop close panicked: {msg}");
    }
}

/// Runs a callback; a panic in it goes to the exception handler and the loop goes on
/// (asyncio's "Exception in callback").
fn run_callback(core: &Core, c: &Rc<dyn Callable>) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| c.call())) {
        super::exception::callback_panicked(core, c, p);
    }
}

/// Starts loading what the next ready tasks touch first when they resume, while the current
/// one runs: the stack lines around the next task's switch point (its saved registers and
/// the frames above them), and the header of the one after it, whose `parked_sp` the next
/// call reads. With many connections every task is cold by its turn; without this, each
/// resume waits for those lines one miss after another.
#[inline(always)]
fn prefetch_next(ready: &Fifo<Runnable>) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let prefetch = |from: usize, lines: usize| {
            for line in 0..lines {
                // SAFETY: a prefetch is a hint: it never faults and changes no memory,
                // whatever the address.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(from.wrapping_add(line * 64) as *const i8) };
            }
        };
        if let Some(Runnable::Task(t)) = ready.get(1) {
            let header = t.as_ptr().as_ptr() as usize;
            prefetch(
                header & !63,
                std::mem::size_of::<super::raw::Header>().div_ceil(64) + 1,
            );
        }
        if let Some(Runnable::Task(t)) = ready.front() {
            let sp = t.header().parked_sp.get();
            if sp != 0 {
                prefetch((sp & !63).wrapping_sub(128), 8);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ready;
}
