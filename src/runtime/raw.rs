//! Raw tasks: a coroutine plus the scheduling state the loop needs, and the park/wake API
//! every waiting primitive in corio is built on.
//!
//! Ground rules:
//! * a task is `Scheduled` at most once: the ready queue never holds it twice;
//! * a [`Waker`] is good for the **next** park of its task only. `park` bumps the task's
//!   token when it returns, so a stale waker left in some waiter list cannot wake a later,
//!   unrelated park; primitives therefore need no defence against spurious wake-ups from
//!   stale wakers (they still re-check their condition in a loop);
//! * a wake-up that arrives while the task runs (it woke itself, or a callback did before it
//!   parked) is remembered in `notified`, and the next park returns at once;
//! * cancellation is delivered at a park: `park` unwinds with [`Cancelled`]. Requests are
//!   counted as asyncio counts them (`Task.cancelling()`/`uncancel()`): delivery does not
//!   lower the count, `uncancel` does, so a timeout scope can tell its own request from an
//!   outer one.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr::{self, NonNull};

use super::core::{Core, with_core};
use super::handle::LoopHandle;
use super::task_ref::{TaskCell, TaskRef, TypedRef, Vtable};
use crate::coro::{self, Coro};
use crate::error::{Cancelled, JoinError, SpawnError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the ready queue (first run, woken, or yielded).
    Scheduled,
    /// Its coroutine is on the CPU.
    Running,
    /// Suspended in `park`, waiting for a waker or a cancel.
    Parked,
    /// Returned, panicked or was cancelled; the coroutine and its stack are gone.
    Done,
}

/// Scheduling state shared by every task, whatever it returns.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) id: u64,
    pub(crate) name: Box<str>,
    /// The id of the loop the task belongs to, for wakers that name the task by slot from
    /// another thread ([`SendWaker`]).
    pub(crate) loop_id: u64,
    pub(crate) state: Cell<State>,
    token: Cell<u32>,
    notified: Cell<bool>,
    /// Cancel requests not withdrawn by `uncancel` (asyncio's `_num_cancels_requested`).
    cancel_requests: Cell<u32>,
    /// The value of `cancel_requests` when a request was last delivered. A request is
    /// pending (asyncio's `_must_cancel`) while `cancel_requests > cancel_delivered`.
    cancel_delivered: Cell<u32>,
    /// Set while the loop force-unwinds the task on close: the unwind must not be stopped.
    pub(crate) closing: Cell<bool>,
    /// Key in the loop's task slab while alive.
    pub(crate) slot: Cell<usize>,
    /// Wakers to call when the task ends (joiners, `wait`, `gather`).
    pub(crate) done_wakers: RefCell<WakerList>,
    /// A std waker to wake when the task ends: the one its `Task<T>` was last polled with as a
    /// `std::future::Future` (only that handle polls it, so one slot is enough).
    pub(crate) std_waker: RefCell<Option<std::task::Waker>>,
    /// A `Task<T>` handle still exists.
    pub(crate) handle_alive: Cell<bool>,
    pub(crate) stack_size: usize,
    /// What the task parks on, for `corio::tasks()`-style introspection.
    pub(crate) waiting_on: Cell<&'static str>,
    /// Roughly where the stack pointer was when the task last switched out (0: never), so
    /// the loop can prefetch the lines its resume will touch first.
    pub(crate) parked_sp: Cell<usize>,
    /// The coroutine, until it has returned or been unwound.
    coro: RefCell<Option<Coro>>,
    /// The loop the task belongs to; see [`Header::core`].
    core: *const Core,
    /// References to the task ([`TaskRef`]s) alive.
    refs: Cell<usize>,
    /// The typed operations of the cell this header heads.
    pub(crate) vtable: &'static Vtable,
}

impl Header {
    /// Counts one more [`TaskRef`].
    #[inline]
    pub(crate) fn add_ref(&self) {
        let n = self.refs.get();
        if n == usize::MAX {
            std::process::abort(); // as `Rc` does on overflow
        }
        self.refs.set(n + 1);
    }

    /// Counts one [`TaskRef`] less; `true` if it was the last.
    #[inline]
    pub(crate) fn release_ref(&self) -> bool {
        let n = self.refs.get() - 1;
        self.refs.set(n);
        n == 0
    }

    /// The loop this task belongs to, which a wake-up schedules it on.
    ///
    /// Only for a task that is not done: a loop unwinds every task it has (they end `Done`)
    /// before it closes, and its `Core` lives in an `Rc` that is dropped only after closing,
    /// so while the task is not done the pointer is valid.
    #[inline]
    fn core(&self) -> &Core {
        debug_assert!(!self.is_done());
        // SAFETY: see above; `core` was set at spawn from a live `&Core` whose `Rc` never
        // moves it.
        unsafe { &*self.core }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == State::Done
    }

    /// Cancel requests not yet withdrawn (asyncio's `Task.cancelling()`).
    pub(crate) fn cancelling(&self) -> u32 {
        self.cancel_requests.get()
    }

    /// Withdraws one cancel request (asyncio's `Task.uncancel()`) and returns how many are
    /// left. A request not yet delivered is withdrawn with it when no request newer than the
    /// last delivered one remains: at zero, as asyncio does, but also when the requests left
    /// were all delivered already (so a timeout scope entered after a caught cancel can
    /// withdraw its own undelivered request).
    pub(crate) fn uncancel(&self) -> u32 {
        let n = self.cancel_requests.get().saturating_sub(1);
        self.cancel_requests.set(n);
        self.cancel_delivered
            .set(self.cancel_delivered.get().min(n));
        n
    }

    /// Takes a pending cancel request: `true` if one was pending; it counts as delivered.
    #[inline]
    fn take_cancel(&self) -> bool {
        let n = self.cancel_requests.get();
        if n > self.cancel_delivered.get() {
            self.cancel_delivered.set(n);
            true
        } else {
            false
        }
    }

    /// The display name: the given one, or `Task-<id>` as asyncio names them.
    pub(crate) fn display_name(&self) -> String {
        if self.name.is_empty() {
            format!("Task-{}", self.id)
        } else {
            self.name.to_string()
        }
    }
}

/// Wakers waiting for one event. The first is stored inline: a task is usually joined by
/// one coroutine, and `spawn` + `join` should not allocate a list for it.
#[derive(Debug, Default)]
pub(crate) struct WakerList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakerList {
    pub(crate) fn push(&mut self, w: Waker) {
        if self.first.is_none() {
            self.first = Some(w);
        } else {
            self.rest.push(w);
        }
    }

    /// Drops every waker that would wake the same park as `w`.
    pub(crate) fn remove(&mut self, w: &Waker) {
        if self.first.as_ref().is_some_and(|f| f.will_wake(w)) {
            self.first = None;
        }
        self.rest.retain(|x| !x.will_wake(w));
    }

    pub(crate) fn take(&mut self) -> WakerList {
        std::mem::take(self)
    }

    pub(crate) fn wake_all(self) {
        if let Some(w) = self.first {
            w.wake_owned();
        }
        for w in self.rest {
            w.wake_owned();
        }
    }
}

/// Runs the task's coroutine until it parks or ends.
///
/// Called by the loop, or by a parking task handing its turn on ([`Core::hand_off`]); the
/// thread-locals naming the running task are restored afterwards to whoever called.
#[inline]
pub(crate) fn run(task: &TaskRef, core: &Core) {
    let h = task.header();
    if h.is_done() {
        return; // never resumed again, whatever queue entry is left
    }
    h.state.set(State::Running);
    let (finished, depth) = {
        let _current = Current::set(task.as_ptr().as_ptr());
        let depth = core.enter_step();
        let finished = match h.coro.borrow_mut().as_mut() {
            Some(c) => c.resume(),
            None => false,
        };
        core.leave_step(depth);
        (finished, depth)
    };
    if depth == 0 {
        // On the loop's stack: first the end of a task that returned during a hand-off in
        // this step (it returned before this task switched back), then this task's own.
        if let Some(ended) = core.take_ended() {
            finish(&ended, core);
        }
        if finished {
            finish(task, core);
        }
    } else if finished {
        // Run by a parking task on its stack: the task's end (its result's and wakers' drops,
        // waking its joiners: user code) waits for the loop's stack, where it runs next.
        core.defer_end(task.clone());
    }
}

/// The coroutine returned: its stack goes back to the pool and the task completes.
#[cold]
fn finish(task: &TaskRef, core: &Core) {
    let coro = task
        .header()
        .coro
        .borrow_mut()
        .take()
        .expect("a finished task had its coroutine");
    core.release_stack(coro.into_stack());
    complete(task, core);
}

/// Unwinds a suspended coroutine (loop close), running every `Drop` on its stack; the task
/// ends cancelled.
pub(crate) fn force_unwind(task: &TaskRef, core: &Core) {
    let h = task.header();
    if h.is_done() {
        return;
    }
    h.closing.set(true);
    {
        let _current = Current::set(task.as_ptr().as_ptr());
        let coro = h.coro.borrow_mut().take();
        if let Some(mut c) = coro {
            // Unwinds a suspended coroutine; one that never started just drops its closure.
            c.force_unwind();
            core.release_stack(c.into_stack());
        }
    }
    task.store_cancelled();
    complete(task, core);
}

/// Marks the task done (its result is stored) and wakes whoever waits for it.
fn complete(task: &TaskRef, core: &Core) {
    let h = task.header();
    h.state.set(State::Done);
    core.forget_task(h.slot.get());
    let wakers = h.done_wakers.borrow_mut().take();
    wakers.wake_all();
    let std_waker = h.std_waker.borrow_mut().take();
    if let Some(w) = std_waker {
        wake_std(w);
    }
    if !h.handle_alive.get() {
        task.report_unretrieved();
    }
}

/// Wakes a foreign std waker; a panic in it is reported and the loop goes on.
fn wake_std(w: std::task::Waker) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
        let msg = crate::error::panic_message(p.as_ref()).unwrap_or("<non-string payload>");
        super::diag::emit(
            super::diag::Level::Error,
            &format!("a waker panicked: {msg}"),
        );
    }
}

thread_local! {
    /// The header of the task whose coroutine runs on this thread right now.
    static CURRENT: Cell<*const Header> = const { Cell::new(ptr::null()) };
}

/// Creates a task on `core` and schedules its first run.
pub(crate) fn spawn_raw<T, F>(
    core: &Core,
    name: Option<String>,
    stack_size: Option<usize>,
    f: F,
) -> Result<TypedRef<T>, SpawnError>
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    if core.is_closed() {
        return Err(SpawnError::NoLoop);
    }
    let stack = core.take_stack(stack_size)?;
    let id = core.next_task_id();
    let name: Box<str> = name.map(String::into_boxed_str).unwrap_or_default();
    let size = stack.size();
    let task = TaskCell::<T>::allocate(TaskCell {
        header: Header {
            id,
            name,
            loop_id: core.id(),
            state: Cell::new(State::Scheduled),
            token: Cell::new(0),
            notified: Cell::new(false),
            cancel_requests: Cell::new(0),
            cancel_delivered: Cell::new(0),
            closing: Cell::new(false),
            slot: Cell::new(usize::MAX),
            done_wakers: RefCell::new(WakerList::default()),
            std_waker: RefCell::new(None),
            handle_alive: Cell::new(true),
            stack_size: size,
            waiting_on: Cell::new(""),
            parked_sp: Cell::new(0),
            coro: RefCell::new(None),
            core,
            refs: Cell::new(1),
            vtable: &TaskCell::<T>::VTABLE,
        },
        result: RefCell::new(None),
    });
    let h = task.header();
    let cell: *const TaskCell<T> = task.as_ptr().as_ptr().cast();
    // The name lives in the cell, which does not move, so the coroutine's overflow report can
    // point at it.
    let coro = Coro::new(stack, &h.name, id, move || {
        let result = body(f);
        // SAFETY: the cell is the task's own, and whoever runs the task holds a `TaskRef` to
        // it for the length of the step, so it is alive.
        *unsafe { &*cell }.result.borrow_mut() = Some(result);
    });
    *h.coro.borrow_mut() = Some(coro);
    let slot = core.adopt_task(task.clone());
    h.slot.set(slot);
    core.schedule(task.clone());
    // SAFETY: the cell was made as a `TaskCell<T>` just above.
    Ok(unsafe { TypedRef::new(task) })
}

/// The coroutine body: runs `f`, turning a cancel or a panic into a `JoinError`.
fn body<T, F: FnOnce() -> T>(f: F) -> Result<T, JoinError> {
    let h = current_header().expect("a task body runs inside its task");
    if h.take_cancel() {
        return Err(JoinError::Cancelled); // cancelled before it ever ran, like asyncio
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) if h.closing.get() => resume_unwind(p),
        Err(p) if p.is::<Cancelled>() => Err(JoinError::Cancelled),
        Err(p) => Err(JoinError::Panicked(p)),
    }
}

/// Names the running task (CURRENT) until dropped, then restores whoever ran before (the
/// loop: none, or a task that handed its turn on), also when an unwind passes through.
pub(crate) struct Current {
    prev: *const Header,
}

impl Current {
    #[inline]
    fn set(h: *const Header) -> Current {
        Current {
            prev: CURRENT.with(|c| c.replace(h)),
        }
    }

    /// No task counts as running until the guard drops: code run meanwhile (a loop closing
    /// from inside a task of another loop drops that loop's callbacks and timers) is outside
    /// any coroutine, as on the loop's own stack, so a park there is refused instead of
    /// parking the task that happens to be on the CPU.
    pub(crate) fn none() -> Current {
        Current::set(ptr::null())
    }
}

impl Drop for Current {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// The header of the running task, as the pointer `run` stored (with the whole cell's
/// provenance, so a `TaskRef` can be made from it).
///
/// CURRENT is set by `run`/`force_unwind` to the task whose coroutine is executing and
/// restored before that call returns; the caller of `run` holds a `TaskRef` to the task for
/// the whole time, so the task outlives any code that can see the pointer. Callers use it only
/// within the running coroutine.
#[inline]
fn current_ptr() -> Option<NonNull<Header>> {
    NonNull::new(CURRENT.with(|c| c.get()).cast_mut())
}

pub(crate) fn current_header<'a>() -> Option<&'a Header> {
    // SAFETY: see `current_ptr`.
    current_ptr().map(|p| unsafe { p.as_ref() })
}

#[inline]
fn current_ptr_or_panic() -> NonNull<Header> {
    current_ptr().expect(
        "corio: this call parks the current coroutine, but it was made outside one \
         (from a callback or outside the loop); call it inside corio::run or a spawned task",
    )
}

#[inline]
fn current_or_panic<'a>() -> &'a Header {
    // SAFETY: see `current_ptr`.
    unsafe { current_ptr_or_panic().as_ref() }
}

/// A new reference to the running task.
#[inline]
fn current_ref(p: NonNull<Header>) -> TaskRef {
    // SAFETY: `p` came from `current_ptr`: the running task, alive while it runs, and the
    // pointer `run` took from a `TaskRef`.
    unsafe { TaskRef::from_ptr(p) }
}

/// A reference to a task that can wake its next park.
#[derive(Clone)]
pub(crate) struct Waker {
    task: TaskRef,
    token: u32,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker")
            .field("task", &self.task.header().id)
            .field("token", &self.token)
            .finish()
    }
}

impl Waker {
    /// A waker for the current task's next park.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    #[inline]
    pub(crate) fn current() -> Waker {
        let p = current_ptr_or_panic();
        // SAFETY: see `current_ptr`.
        let token = unsafe { p.as_ref() }.token.get();
        Waker {
            task: current_ref(p),
            token,
        }
    }

    /// Wakes the task if this waker is still current; harmless otherwise.
    #[inline]
    pub(crate) fn wake(&self) {
        let h = self.task.header();
        if h.token.get() != self.token {
            return;
        }
        match h.state.get() {
            State::Parked => {
                h.state.set(State::Scheduled);
                h.core().schedule(self.task.clone());
            }
            State::Running | State::Scheduled => h.notified.set(true),
            State::Done => {}
        }
    }

    /// Like [`wake`](Self::wake), consuming the waker: its reference moves into the ready
    /// queue instead of being cloned there and dropped here.
    #[inline]
    pub(crate) fn wake_owned(self) {
        let h = self.task.header();
        if h.token.get() != self.token {
            return;
        }
        match h.state.get() {
            State::Parked => {
                h.state.set(State::Scheduled);
                let core: *const Core = h.core();
                // SAFETY: `core` points at the task's live loop (see `Header::core`); the
                // reference only outlives the borrow of the header, not the loop.
                unsafe { &*core }.schedule(self.task);
            }
            State::Running | State::Scheduled => h.notified.set(true),
            State::Done => {}
        }
    }

    /// `true` if both wakers wake the same park of the same task.
    pub(crate) fn will_wake(&self, other: &Waker) -> bool {
        self.task.ptr_eq(&other.task) && self.token == other.token
    }
}

/// Parks the current task until a [`Waker`] for it is woken or it is cancelled, and reports
/// `what` it waits on meanwhile (read by `corio::tasks()` only for parked tasks, so it needs
/// no reset afterwards).
///
/// # Panics
///
/// Outside a coroutine. Unwinds with [`Cancelled`] if the task is cancelled.
#[inline]
pub(crate) fn park_on(what: &'static str) {
    let h = current_or_panic();
    if unwinding(h) {
        suspend_while_unwinding(h);
    }
    deliver_cancel(h);
    if h.notified.replace(false) {
        h.token.set(h.token.get().wrapping_add(1));
        return;
    }
    h.waiting_on.set(what);
    h.state.set(State::Parked);
    switch_out(h);
    h.notified.set(false);
    h.token.set(h.token.get().wrapping_add(1));
    deliver_cancel(h);
}

/// Lets every other ready task run once, then continues (asyncio's `sleep(0)`).
pub(crate) fn yield_now() {
    let p = current_ptr_or_panic();
    // SAFETY: see `current_ptr`.
    let h = unsafe { p.as_ref() };
    if unwinding(h) {
        suspend_while_unwinding(h);
    }
    deliver_cancel(h);
    let task = current_ref(p);
    h.state.set(State::Scheduled);
    h.core().schedule(task);
    switch_out(h);
    deliver_cancel(h);
}

/// Gives the running task's turn away until it is scheduled again: runs the loop's next task
/// steps in its place while that is all the loop would do ([`Core::hand_off`]), else switches
/// to the loop.
#[inline]
fn switch_out(h: &Header) {
    let marker = 0u8;
    h.parked_sp
        .set(std::hint::black_box(&marker) as *const u8 as usize);
    if h.core().hand_off(h) {
        h.state.set(State::Running);
    } else {
        coro::suspend();
    }
}

#[inline]
fn deliver_cancel(h: &Header) {
    if h.closing.get() {
        closing_park();
    }
    if h.take_cancel() {
        resume_unwind(Box::new(Cancelled));
    }
}

#[cold]
fn closing_park() {
    {
        // The loop is unwinding this coroutine by force and user code stopped that unwind (a
        // generic `catch_unwind`), then tried to park. Suspending hands control back to
        // corosensei's `force_unwind`, which throws its own unwind again from here. A
        // `Cancelled` payload of ours would instead end the coroutine with a foreign panic that
        // `force_unwind` passes on, out of `EventLoop::close` and the loop's `Drop`.
        coro::suspend();
        unreachable!("a coroutine being unwound by force is never resumed normally");
    }
}

/// `true` if the running task's coroutine is being unwound (a panic or a cancellation
/// passing through a `Drop` on its stack), where parking cannot work.
///
/// `std::thread::panicking()` answers for the whole thread, not for one coroutine. It
/// answers for this one when the loop was entered by a thread that was not panicking: no
/// other coroutine can be halfway through an unwind when this one parks, since a coroutine
/// never parks while it unwinds (that aborts, below), and the loop's own stack is not
/// unwinding while it runs a task. A loop entered during a panic (`corio::run` inside a
/// `Drop`) sees `panicking()` true all along; there it cannot tell, and the park goes on
/// (a park from a `Drop` during a task's unwind is then not reported).
#[inline]
fn unwinding(h: &Header) -> bool {
    std::thread::panicking() && !h.core().entered_panicking()
}

#[cold]
fn suspend_while_unwinding(h: &Header) -> ! {
    eprintln!(
        "corio: task '{}' tried to park while unwinding (a Drop implementation waited on a lock, \
         queue, sleep or socket during a cancel or panic); Drop must never park. Aborting.",
        h.display_name()
    );
    std::process::abort()
}

/// Requests cancellation of a task: its current or next park unwinds with `Cancelled`.
/// Returns `false` if the task already ended.
pub(crate) fn cancel(task: &TaskRef) -> bool {
    let h = task.header();
    if h.is_done() {
        return false;
    }
    h.cancel_requests
        .set(h.cancel_requests.get().saturating_add(1));
    if h.state.get() == State::Parked {
        h.state.set(State::Scheduled);
        h.core().schedule(task.clone());
    }
    true
}

/// The running task, type-erased.
pub(crate) fn current_task() -> Option<TaskRef> {
    current_ptr().map(current_ref)
}

/// A `Send + Sync` [`Waker`]: wakes the next park of one task from any thread.
///
/// It names the task by its slot and id instead of holding it (a task is `!Send`). On the
/// loop's own thread it wakes at once, exactly like a [`Waker`]; from another thread it posts
/// the wake through the loop's thread-safe queue ([`LoopHandle::call_soon_threadsafe`]), which
/// pokes the poller only while the loop sleeps in it, so a busy loop takes such wakes without a
/// syscall. A wake for a task that has ended, or whose slot now holds another task, or for a
/// park that is over (stale token), does nothing; a wake posted to a closed loop is dropped.
#[derive(Clone)]
pub(crate) struct SendWaker {
    handle: LoopHandle,
    loop_id: u64,
    slot: usize,
    task_id: u64,
    token: u32,
}

impl std::fmt::Debug for SendWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendWaker")
            .field("task", &self.task_id)
            .field("token", &self.token)
            .finish()
    }
}

impl SendWaker {
    /// A thread-safe waker for the current task's next park.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(crate) fn current() -> SendWaker {
        let h = current_or_panic();
        let handle = with_core(|c| LoopHandle {
            shared: c.shared.clone(),
        })
        .expect("a running task has a running loop");
        SendWaker {
            handle,
            loop_id: h.loop_id,
            slot: h.slot.get(),
            task_id: h.id,
            token: h.token.get(),
        }
    }

    /// Wakes the task if this waker is still current; from any thread.
    pub(crate) fn wake(&self) {
        let (loop_id, slot, task_id, token) = (self.loop_id, self.slot, self.task_id, self.token);
        let here = with_core(|c| {
            if c.id() == loop_id {
                wake_by_slot(c, slot, task_id, token);
                true
            } else {
                false
            }
        });
        if here != Some(true) {
            let _ = self.handle.call_soon_threadsafe(move || {
                with_core(|c| {
                    if c.id() == loop_id {
                        wake_by_slot(c, slot, task_id, token);
                    }
                });
            });
        }
    }
}

/// Wakes park `token` of the task `task_id` in `slot` of `core`, if it is still there.
fn wake_by_slot(core: &Core, slot: usize, task_id: u64, token: u32) {
    if let Some(task) = core.task_by_slot(slot) {
        if task.header().id == task_id {
            Waker { task, token }.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::current_header;

    #[test]
    fn a_task_that_switched_out_recorded_a_point_on_its_own_stack() {
        let (before, after, local) = crate::run(|| {
            crate::spawn(|| {
                let local = 0u8;
                let local = std::hint::black_box(&local) as *const u8 as usize;
                let h = current_header().expect("inside a task");
                let before = h.parked_sp.get();
                crate::yield_now();
                (before, h.parked_sp.get(), local)
            })
            .join()
            .unwrap()
        });
        assert_eq!(before, 0, "never switched out before");
        // Deeper than the task's own frame (stacks grow down), and within a few KiB of it:
        // the switch point, not some other stack.
        assert!(after < local, "{after:#x} is below {local:#x}");
        assert!(local - after < 16 * 1024, "{after:#x} is near {local:#x}");
    }
}
