//! One iteration of the loop (`run_once`, asyncio's `_run_once`), the hand-off of a parking
//! task's turn, I/O polling, and the loop's close.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::callback::{CallOnce, Callable};
use super::core::{Core, EventAction, RunUntil, Runnable};
use super::fifo::Fifo;
use super::report::callback_panicked;
use super::slots::Slots;
use super::step;
use super::task_ref::{Header, TaskRef};

impl Core {
    // ----- one iteration -----

    /// Sets what the running `run_*` call waits for; see [`RunUntil`].
    pub(crate) fn set_until(&self, until: RunUntil) {
        self.until.set(until);
    }

    /// `true` once what the running `run_*` call waits for has happened.
    fn until_reached(&self) -> bool {
        match self.until.get() {
            RunUntil::Stopped => false,
            // SAFETY: `run_until_complete` holds the task for as long as this is set.
            RunUntil::TaskDone(h) => unsafe { &*h }.is_done(),
            RunUntil::NoTasks => self.task_count() == 0,
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
                    deadline.map(|d| d.saturating_duration_since(self.now()))
                };
                if !self.virtual_time.get() {
                    self.poll_io(timeout);
                } else {
                    self.poll_virtual(timeout, deadline);
                }
            }
        }
        if self.shared.has_injected.load(Ordering::Relaxed) {
            self.run_injected();
        }
        if deadline.is_some_and(|d| d <= self.now()) {
            let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
            self.timers
                .borrow_mut()
                .expire(self.now(), &mut fired, prefetch_action);
            self.dispatch(fired);
        }
        self.batch_left.set(self.ready.borrow().len());
        while self.batch_left.get() > 0 {
            self.batch_left.set(self.batch_left.get() - 1);
            let next = {
                let mut ready = self.ready.borrow_mut();
                let next = ready.pop_front();
                prefetch_next(&ready, &self.tasks.borrow(), &self.warmed);
                next
            };
            self.steps_to_poll
                .set(self.steps_to_poll.get().saturating_sub(1));
            match next {
                Some(Runnable::Task(t)) => match self.slow_step.get() {
                    None => step::run(&t, self),
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
    pub(crate) fn hand_off(&self, me: &Header) -> bool {
        if self.slow_step.get().is_some() {
            // Debug mode: no hand-off, and the park's backtrace is kept.
            super::park::capture_park_trace(me);
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
                prefetch_next(&ready, &self.tasks.borrow(), &self.warmed);
                task
            };
            self.batch_left.set(self.batch_left.get() - 1);
            self.steps_to_poll
                .set(self.steps_to_poll.get().saturating_sub(1));
            if task.is(me) {
                return true;
            }
            step::run(&task, self);
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
                timers.len() == 0 || timers.next_deadline().is_none_or(|d| d > self.now())
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
        step::run(t, self);
        let took = t0.elapsed();
        if took > limit {
            super::diag::slow_step(&t.header().display_name(), took);
        }
    }

    /// The poll of a loop under virtual time. Waiting (a non-zero timeout) jumps the clock
    /// to the next timer instead when nothing outside the loop can end a wait; otherwise the
    /// loop waits in real time and the clock moves on by the time waited, never past the
    /// timer that bounded the wait.
    #[cold]
    fn poll_virtual(&self, timeout: Option<Duration>, deadline: Option<Instant>) {
        if timeout != Some(Duration::ZERO)
            && self.is_isolated()
            && let Some(d) = deadline
        {
            self.advance_to(d);
            // Readiness that came meanwhile is still taken, without waiting.
            if self.reactor.len() > 0 {
                self.poll_io(Some(Duration::ZERO));
            }
            return;
        }
        let t0 = Instant::now();
        self.poll_io(timeout);
        if timeout != Some(Duration::ZERO) {
            let waited = t0.elapsed();
            let to = self.vnow.get() + waited;
            self.advance_to(deadline.map_or(to, |d| to.min(d)));
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

    pub(super) fn dispatch(&self, mut fired: Vec<EventAction>) {
        for n in fired.drain(..) {
            match n {
                EventAction::Wake(w) => {
                    // A timer's task often ends in the step it is woken for (a sleep, then
                    // return), and its end writes its registry slot: start loading it now
                    // (under virtual time the step comes right after, with no other task's
                    // step before it to prefetch from).
                    let key = w.task.header().registry_key.get();
                    self.tasks.borrow().prefetch(key);
                    w.wake_owned();
                }
                EventAction::Call(c) => self.call_soon(c),
            }
        }
        *self.fired.borrow_mut() = fired;
    }

    /// Moves the callbacks other threads posted onto the ready queue, in the order posted.
    pub(super) fn run_injected(&self) {
        for f in self.shared.take_injected() {
            self.call_soon(CallOnce::new_rc(f));
        }
    }

    /// Takes in what other threads posted before a `call_soon` of this thread: asyncio keeps
    /// one queue for `call_soon` and `call_soon_threadsafe`, so a callback posted before
    /// (ordered by a lock, or before the loop ran) runs first.
    #[inline]
    pub(crate) fn take_injected_first(&self) {
        if self.shared.has_injected.load(Ordering::Relaxed) {
            self.run_injected();
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
                step::force_unwind(&t, self);
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
        // Tasks unwound while parked on the outside world did not count themselves down.
        self.external.set(0);
        drop(std::mem::take(&mut *self.shared.injected.lock()));
        // From here on callbacks are refused; drop those the drops above scheduled (a few
        // rounds at most: their own drops are refused now).
        self.close_done.set(true);
        loop {
            let late = std::mem::take(&mut *self.ready.borrow_mut());
            if late.is_empty() {
                break;
            }
            drop(late);
        }
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
        let msg = crate::error::panic_text(p.as_ref());
        eprintln!("corio: an action run at loop close panicked: {msg}");
    }
}

/// Runs a callback; a panic in it goes to the exception handler and the loop goes on
/// (asyncio's "Exception in callback").
fn run_callback(core: &Core, c: &Rc<dyn Callable>) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| c.call())) {
        callback_panicked(core, c, p);
    }
}

/// How many ready tasks' stack pages [`warm_stacks`] warms at a time.
const WARM_BATCH: usize = 16;

/// Warmed entries left at the front of the ready queue below which the next batch is warmed.
const WARM_LOW: usize = 2;

/// Called as the front entry of the ready queue is taken: when fewer than [`WARM_LOW`] of the
/// entries now at the front have had their stack page warmed, warms the next [`WARM_BATCH`]
/// with one prefetch each, back to back.
///
/// With many tasks every ready task's stack page is out of the TLB by its turn, and the
/// prefetch of the next task's lines in [`prefetch_next`] waits for its page walk (a
/// prefetch that misses the TLB holds up the instructions after it until the walk is done),
/// one walk per step. Issued together, the walks of a batch overlap. On the core bench's
/// `timer_tasks` (100k tasks) this took 8-12% off corio's CPU time per task.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn warm_stacks(ready: &Fifo<Runnable>, warmed: &Cell<usize>) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let len = ready.len();
    if len < 2 {
        // The next task alone, if any: `prefetch_next` has it.
        warmed.set(0);
        return;
    }
    let w = warmed.get().saturating_sub(1);
    warmed.set(w);
    if w >= WARM_LOW {
        return;
    }
    let end = (w + WARM_BATCH).min(len);
    for i in w..end {
        if let Some(Runnable::Task(t)) = ready.get(i) {
            let sp = t.header().parked_sp.get();
            // SAFETY: a prefetch is a hint: it never faults and changes no memory, whatever
            // the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>((sp & !63) as *const i8) };
        }
    }
    warmed.set(end);
}

/// Starts loading the hot line of the task a timer action will wake (see `Timers::expire`).
#[inline(always)]
fn prefetch_action(a: &EventAction) {
    #[cfg(target_arch = "x86_64")]
    if let EventAction::Wake(w) = a {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is a hint: it never faults and changes no memory.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(w.task.as_ptr().as_ptr().cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = a;
}

/// Starts loading what the next ready tasks touch first when they resume, while the current
/// one runs: the stack lines around the next task's switch point (its saved registers and
/// the frames above them), after an external park also the line at its stack's top that
/// holds its coroutine's parent link (written by the resume, read by the switch out), its
/// slot in the task registry, and the header of the one after it, whose `parked_sp` the next
/// call reads. With many connections every task is cold by its turn; without this, each
/// resume waits for those lines one miss after another.
#[inline(always)]
fn prefetch_next(ready: &Fifo<Runnable>, tasks: &Slots<TaskRef>, warmed: &Cell<usize>) {
    #[cfg(target_arch = "x86_64")]
    {
        warm_stacks(ready, warmed);
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let prefetch = |from: usize, lines: usize| {
            for line in 0..lines {
                // SAFETY: a prefetch is a hint: it never faults and changes no memory,
                // whatever the address.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(from.wrapping_add(line * 64) as *const i8) };
            }
        };
        if let Some(Runnable::Task(t)) = ready.get(1) {
            // A fixed count, the most the header can straddle: no count to work out per step.
            const LINES: usize = Header::STEP_BYTES.div_ceil(64) + 1;
            prefetch(t.as_ptr().as_ptr() as usize & !63, LINES);
        }
        if let Some(Runnable::Task(t)) = ready.front() {
            let h = t.header();
            let sp = h.parked_sp.get();
            if sp != 0 {
                // Two lines below the switch point's and five above it.
                const BELOW: usize = 2;
                const SPAN: usize = 8;
                let first = (sp & !63).wrapping_sub(BELOW * 64);
                prefetch(first, SPAN);
                // The line of its parent link, near its stack's top, when the park recorded
                // it and those lines miss it.
                if let Some(link) = super::park::park_link_line(sp)
                    && link >= first.wrapping_add(SPAN * 64)
                {
                    prefetch(link, 1);
                }
            }
            // Its slot in the task registry, which its end (if this step is its last) writes.
            tasks.prefetch(h.registry_key.get());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ready, tasks, warmed);
}
