//! The loop's engine: the ready FIFO, timers, the reactor, the task registry and one
//! iteration of the loop (`run_once`).

use std::cell::{Cell, RefCell};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::callback::Callable;
use super::exception::HandlerCell;
use super::fifo::Fifo;
use super::loop_handle::Shared;
use super::slots::Slots;
use super::task_ref::{Header, TaskRef, Waker};
use super::timers::{TimerId, Timers};
use crate::coro::{GenStack, Stack, StackPool};
use crate::error::SpawnError;
use crate::reactor::Reactor;

/// Something the loop runs: a task's next step or a callback.
pub(crate) enum Runnable {
    Task(TaskRef),
    Call(Rc<dyn Callable>),
}

/// What a timer or a readiness event does when it fires.
#[derive(Clone)]
pub(crate) enum EventAction {
    Wake(Waker),
    Call(Rc<dyn Callable>),
}

static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// What the running `run_*` call waits for between iterations.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RunUntil {
    /// `stop()` (or nothing: `run_forever`).
    Stopped,
    /// This task is done (`run_until_complete`). The caller holds the task for the whole run.
    TaskDone(*const Header),
    /// No task is left (the shutdown at the end of `corio::run`).
    NoTasks,
}

pub(crate) struct Core {
    pub(super) id: u64,
    pub(super) ready: RefCell<Fifo<Runnable>>,
    pub(super) timers: RefCell<Timers<EventAction>>,
    /// Every live task by its `registry_key` (a task's end removes it at a random place: the
    /// loop prefetches the slot of the next task to run, see `iteration.rs`).
    pub(super) tasks: RefCell<Slots<TaskRef>>,
    pub(crate) reactor: Reactor<EventAction>,
    pub(super) stacks: RefCell<StackPool>,
    pub(crate) shared: Arc<Shared>,
    pub(super) next_task_id: Cell<u64>,
    pub(super) stopping: Cell<bool>,
    pub(super) running: Cell<bool>,
    pub(super) closed: Cell<bool>,
    /// `close` has finished: from then on the loop refuses new callbacks (`refuses_callbacks`).
    pub(super) close_done: Cell<bool>,
    /// Runnables the loop may still run before it next asks the poller, counted down from
    /// `event_interval` (a count down, so each step compares with zero, as with a constant).
    pub(super) steps_to_poll: Cell<u32>,
    /// See [`EventLoopBuilder::event_interval`](super::EventLoopBuilder::event_interval).
    pub(super) event_interval: Cell<u32>,
    /// Runnables of the current iteration not yet taken off the ready queue (asyncio runs
    /// what was ready when an iteration began; what those schedule waits for the next one).
    pub(super) batch_left: Cell<usize>,
    /// Entries at the front of the ready queue whose stack page was warmed (see
    /// `iteration::prefetch_next`).
    pub(super) warmed: Cell<usize>,
    /// How many task steps are running, one inside another: 1 while the loop runs a task, 2
    /// while that task runs another one in its place ([`Core::hand_off`]).
    pub(super) depth: Cell<u32>,
    /// When the current `run_*` call is to return, so that a hand-off does not start an
    /// iteration the loop would not have started.
    pub(super) until: Cell<RunUntil>,
    /// A task that returned while run by a hand-off, to be finished on the loop's stack.
    pub(super) ended: RefCell<Option<TaskRef>>,
    /// Reused buffer for fired timers and readiness notifications.
    pub(super) fired: RefCell<Vec<EventAction>>,
    /// Debug mode: report a task step longer than this.
    pub(super) slow_step: Cell<Option<Duration>>,
    /// Debug mode: the backtrace of each live task's last park, by registry key (here, not
    /// in every task's header: few loops run in debug mode, and each task is smaller).
    pub(super) park_traces: RefCell<std::collections::HashMap<usize, std::backtrace::Backtrace>>,
    /// Busy polling: how long the loop polls without blocking before it sleeps in the poller.
    pub(super) busy_poll: Cell<Duration>,
    /// The Rc this Core lives in, for `get_running_loop`.
    pub(super) self_rc: RefCell<std::rc::Weak<Core>>,
    /// Actions to run when the loop closes, after its tasks are unwound (the executor's
    /// shutdown), in the order they were added.
    pub(super) at_close: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// The handler set by `set_exception_handler`.
    pub(crate) exception_handler: HandlerCell,
    /// The thread was already unwinding a panic when the loop was last entered (a loop run
    /// or closed from a `Drop` during a panic): `std::thread::panicking()` then says nothing
    /// about the loop's own coroutines. See `raw::unwinding`.
    pub(super) entered_panicking: Cell<bool>,
    /// Waits the outside world can end, outstanding now: tasks parked on a socket or fd, an
    /// executor job, a `ThreadQueue` or a foreign std future, and `add_reader`/`add_writer`
    /// watches. While it is not zero the loop waits in real time and never reports a
    /// deadlock.
    pub(super) external: Cell<usize>,
    /// Virtual time (`EventLoopBuilder::virtual_time`): the clock is `vnow`, which moves only
    /// by jumps to the next timer, by `testing::advance`, and by real time spent waiting for
    /// the outside world.
    pub(super) virtual_time: Cell<bool>,
    pub(super) vnow: Cell<Instant>,
    /// The clock as the loop last read it (a task's spawn time, without a clock read per
    /// spawn).
    pub(super) last_now: Cell<Instant>,
    /// The signals this loop watches, made on the first `add_signal_handler` or `wait`.
    pub(super) signals: RefCell<Option<Rc<super::signal::LoopSignals>>>,
    /// The default-size stack of the generator that finished last in this loop, with its
    /// header in place (see `generator::stacks`): lent by `stacks` and counted there as lent,
    /// reported as pooled.
    pub(super) gen_spare: Cell<Option<GenStack>>,
}

impl Header {
    /// The loop this task belongs to, which a wake-up schedules it on.
    ///
    /// Only for a task that is not done: a loop unwinds every task it has (they end `Done`)
    /// before it closes, and its `Core` lives in an `Rc` that is dropped only after closing,
    /// so while the task is not done the pointer is valid.
    #[inline]
    pub(crate) fn core(&self) -> &Core {
        debug_assert!(!self.is_done());
        // SAFETY: see above; `core` was set at spawn from a live `&Core` whose `Rc` never
        // moves it.
        unsafe { &*self.core.get().cast::<Core>() }
    }

    /// Called as the task becomes done, on its loop (whose id is `id`): from then on the
    /// header keeps the loop's id, not its address (see the field).
    pub(crate) fn set_done_loop_id(&self, id: u64) {
        debug_assert!(self.is_done());
        // Loop ids count loops made by the process: they fit an address on 64-bit targets.
        self.core.set(std::ptr::without_provenance(id as usize));
    }

    /// The id of the loop the task belongs to: for wakers that name the task from another
    /// thread ([`SendWaker`](super::waker::SendWaker)), and for reports of a failure nobody
    /// retrieved, which may come after the loop is gone.
    pub(crate) fn loop_id(&self) -> u64 {
        if self.is_done() {
            self.core.get().addr() as u64
        } else {
            self.core().id()
        }
    }
}

thread_local! {
    /// The loop running on this thread, null when none runs.
    static CORE: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// Runs `f` with the loop running on this thread, if any.
#[inline(always)]
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
#[inline]
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
        // The clock's zero comes first: no reading of a loop's clock (a virtual one starts at
        // the real now) may lie before it.
        super::clock::epoch();
        let reactor = Reactor::new()?;
        let shared = Arc::new(Shared::new(reactor.poller().clone()));
        Ok(Core {
            id: NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed),
            ready: RefCell::new(Fifo::new()),
            timers: RefCell::new(Timers::new()),
            tasks: RefCell::new(Slots::new()),
            reactor,
            stacks: RefCell::new(
                StackPool::new(stack_size, max_pooled_stacks, stack_guard).with_prefault(true),
            ),
            shared,
            next_task_id: Cell::new(1),
            stopping: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
            close_done: Cell::new(false),
            steps_to_poll: Cell::new(super::DEFAULT_EVENT_INTERVAL),
            event_interval: Cell::new(super::DEFAULT_EVENT_INTERVAL),
            batch_left: Cell::new(0),
            warmed: Cell::new(0),
            depth: Cell::new(0),
            until: Cell::new(RunUntil::Stopped),
            ended: RefCell::new(None),
            fired: RefCell::new(Vec::new()),
            self_rc: RefCell::new(std::rc::Weak::new()),
            slow_step: Cell::new(None),
            park_traces: RefCell::new(std::collections::HashMap::new()),
            busy_poll: Cell::new(Duration::ZERO),
            at_close: RefCell::new(Vec::new()),
            exception_handler: HandlerCell::default(),
            entered_panicking: Cell::new(false),
            external: Cell::new(0),
            virtual_time: Cell::new(false),
            vnow: Cell::new(Instant::now()),
            last_now: Cell::new(Instant::now()),
            signals: RefCell::new(None),
            gen_spare: Cell::new(None),
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
        self.stacks.borrow().pooled() + self.gen_spares()
    }

    /// 1 if a generator's stack waits in `gen_spare`, else 0.
    fn gen_spares(&self) -> usize {
        let spare = self.gen_spare.take();
        let n = usize::from(spare.is_some());
        self.gen_spare.set(spare);
        n
    }

    pub(crate) fn stack_stats(&self) -> super::StackStats {
        let pool = self.stacks.borrow();
        let spare = self.gen_spares();
        super::StackStats {
            in_use: pool.lent() - spare,
            pooled: pool.pooled() + spare,
            awaiting_unmap: pool.excess(),
            released: pool.cold(),
        }
    }

    pub(crate) fn adopt_task(&self, t: TaskRef) -> usize {
        self.tasks.borrow_mut().insert(t)
    }

    pub(crate) fn forget_task(&self, key: usize) {
        let t = self.tasks.borrow_mut().remove(key);
        drop(t);
        let mut traces = self.park_traces.borrow_mut();
        if !traces.is_empty() {
            traces.remove(&key);
        }
    }

    pub(crate) fn task_by_key(&self, key: usize) -> Option<TaskRef> {
        self.tasks.borrow().get(key).cloned()
    }

    /// Every live task.
    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        self.tasks.borrow().iter().map(|(_, t)| t.clone()).collect()
    }

    /// `true` if every live task but the running one is parked on a durable wait.
    pub(crate) fn others_parked_durably(&self) -> bool {
        self.tasks.borrow().iter().all(|(_, t)| {
            let h = t.header();
            match h.state.get() {
                super::task_ref::State::Parked => !h.external.get(),
                super::task_ref::State::Running | super::task_ref::State::Done => true,
                super::task_ref::State::Scheduled => false,
            }
        })
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len()
    }

    // ----- scheduling -----

    #[inline(always)]
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

    pub(crate) fn add_timer(&self, when: Instant, n: EventAction) -> TimerId {
        self.timers.borrow_mut().add(when, n)
    }

    pub(crate) fn cancel_timer(&self, id: TimerId) {
        let action = self.timers.borrow_mut().cancel(id);
        drop(action); // outside the borrow: dropping a callback may run user Drop code
    }

    pub(crate) fn replace_timer(&self, id: TimerId, n: EventAction) -> bool {
        self.timers.borrow_mut().replace(id, n)
    }

    /// Timers pending now.
    pub(crate) fn timer_count(&self) -> usize {
        self.timers.borrow().len()
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

    /// `true` once `close` has finished: nothing will ever run a callback given to it now.
    /// (While `close` unwinds tasks, their `Drop`s may still schedule clean-up callbacks.)
    pub(crate) fn refuses_callbacks(&self) -> bool {
        self.close_done.get()
    }

    /// `true` when nothing can ever make a parked task ready again: no ready work, no
    /// timers, no external wait and no `LoopHandle` that another thread could use.
    pub(crate) fn is_deadlocked(&self) -> bool {
        self.ready.borrow().is_empty() && self.timers.borrow().len() == 0 && self.is_isolated()
    }

    /// `true` when only this loop's tasks and timers can make progress: no external wait
    /// outstanding, no `LoopHandle` alive outside the loop, nothing posted by another thread
    /// and not yet run. Virtual time jumps only then.
    pub(crate) fn is_isolated(&self) -> bool {
        self.external.get() == 0
            && self.shared.handles.load(Ordering::SeqCst) == 0
            && !self.shared.has_injected.load(Ordering::SeqCst)
    }

    // ----- the clock -----

    /// The loop's clock: real time, or the virtual clock under virtual time.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        let now = if self.virtual_time.get() {
            self.vnow.get()
        } else {
            Instant::now()
        };
        self.last_now.set(now);
        now
    }

    /// The clock as the loop last read it.
    #[inline]
    pub(crate) fn last_now(&self) -> Instant {
        self.last_now.get()
    }

    /// Switches virtual time on: the clock starts at the real now.
    pub(crate) fn set_virtual_time(&self, on: bool) {
        self.vnow.set(Instant::now());
        self.virtual_time.set(on);
    }

    pub(crate) fn is_virtual_time(&self) -> bool {
        self.virtual_time.get()
    }

    /// Moves the virtual clock forward to `to` (never back).
    pub(crate) fn advance_to(&self, to: Instant) {
        if to > self.vnow.get() {
            self.vnow.set(to);
        }
    }

    // ----- external waits -----

    /// Counts one more external wait outstanding.
    #[inline]
    pub(crate) fn external_begin(&self) {
        self.external.set(self.external.get() + 1);
    }

    /// Counts one external wait less.
    #[inline]
    pub(crate) fn external_end(&self) {
        self.external.set(self.external.get().saturating_sub(1));
    }

    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }
}
