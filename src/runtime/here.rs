//! The running loop of this thread, as the layers above `runtime` see it: spawn on it, list
//! its tasks, name it, run something when it closes, lend a stack from its pool, and wake a
//! task at a deadline.
//!
//! Together with the park/wake calls ([`super::park_on`], [`super::Waker`], ...), the wait
//! list and [`super::IoSource`], this is the crate-internal API of the runtime; nothing above
//! it reaches into the loop's `Core` or the reactor.

use std::time::Instant;

use super::core::{EventAction, with_core};
use super::step;
use super::task_ref::TypedRef;
use super::task_ref::Waker;
use super::timers::TimerId;
use crate::coro::{GenStack, Stack};
use crate::error::SpawnError;

pub(crate) use super::core::is_running_here;

/// Creates a task on the running loop and schedules its first run.
///
/// # Errors
///
/// [`SpawnError::NoLoop`] outside a running loop, [`SpawnError::Stack`] when no stack can be
/// had.
#[track_caller]
pub(crate) fn spawn_here<T: 'static>(
    (name, stack_size): (Option<String>, Option<usize>),
    f: impl FnOnce() -> T + 'static,
) -> Result<TypedRef<T>, SpawnError> {
    let at = std::panic::Location::caller();
    let spawn = |core: &_| step::spawn_raw(core, (name, stack_size, at), f);
    with_core(spawn).unwrap_or(Err(SpawnError::NoLoop))
}

/// The id of the loop running on this thread, if one is.
pub(crate) fn running_loop_id() -> Option<u64> {
    with_core(|c| c.id())
}

/// Runs `f` when the running loop closes; does nothing outside a loop.
pub(crate) fn at_loop_close(f: Box<dyn FnOnce()>) {
    with_core(|c| c.at_close(f));
}

/// A stack of at least `size` bytes (the pool's default when `None`) from the running loop's
/// pool, with the loop's id, for a coroutine that is not a task (a generator); `None` outside
/// a running loop. Give it back with [`return_loop_stack`].
pub(crate) fn lend_loop_stack(size: Option<usize>) -> Option<Result<(Stack, u64), SpawnError>> {
    with_core(|c| c.take_stack(size).map(|s| (s, c.id())))
}

/// Gives a stack lent by [`lend_loop_stack`] back to the loop with id `loop_id`, if that loop
/// runs on this thread; else hands the stack back.
pub(crate) fn return_loop_stack(stack: Stack, loop_id: u64) -> Result<(), Stack> {
    match with_core(|c| c.id() == loop_id) {
        Some(true) => {
            with_core(|c| c.release_stack(stack));
            Ok(())
        }
        _ => Err(stack),
    }
}

/// Takes the running loop's spare generator stack: `None` if no loop runs on this thread,
/// `Some(None)` if it has no spare, else the stack and the loop's id.
#[inline]
pub(crate) fn take_loop_gen_spare() -> Option<Option<(GenStack, u64)>> {
    with_core(|c| c.gen_spare.take().map(|s| (s, c.id())))
}

/// Keeps `stack`, a default-size generator stack lent by the loop with id `loop_id`, as that
/// loop's spare if it runs on this thread, and returns the spare it replaces; hands `stack`
/// back if that loop does not run here.
#[inline]
pub(crate) fn keep_loop_gen_spare(
    stack: GenStack,
    loop_id: u64,
) -> Result<Option<GenStack>, GenStack> {
    if running_loop_id() != Some(loop_id) {
        return Err(stack);
    }
    Ok(with_core(|c| c.gen_spare.replace(Some(stack))).flatten())
}

/// Number of fds the running loop's reactor has registered.
#[cfg(test)]
pub(crate) fn registered_fds() -> usize {
    with_core(|c| c.reactor.len()).unwrap_or(0)
}

/// `true` if the running loop's clock has passed `deadline` while no timer is due yet: a
/// sleep to `deadline` can then be a plain yield (see `sleep_until`). Reads the clock once
/// (a `Cell` under virtual time). `false` outside a loop.
#[inline]
pub(crate) fn deadline_passed_before_any_timer(deadline: Instant) -> bool {
    with_core(|c| {
        let now = c.now();
        now >= deadline && c.timers.borrow().none_due_at(now)
    })
    .unwrap_or(false)
}

/// A timer on the running loop that wakes one park of a task at a deadline (a sleep, the
/// timeout of a `wait`). Dropping it removes the timer.
#[derive(Debug)]
pub(crate) struct WakeTimer(TimerId);

impl WakeTimer {
    /// Arms a timer that wakes `waker` at `deadline`; `None` outside a running loop.
    pub(crate) fn start(deadline: Instant, waker: Waker) -> Option<WakeTimer> {
        with_core(|c| WakeTimer(c.add_timer(deadline, EventAction::Wake(waker))))
    }

    /// `true` until the timer has fired.
    pub(crate) fn is_pending(&self) -> bool {
        with_core(|c| c.timer_pending(self.0)).unwrap_or(false)
    }

    /// Points a pending timer at another waker (the next park of the same wait).
    pub(crate) fn rearm(&self, waker: Waker) {
        with_core(|c| c.replace_timer(self.0, EventAction::Wake(waker)));
    }

    /// After a park: `Err(())` at once, with no look at the timer, if the loop's clock (as
    /// it last read it) has reached `deadline`, the timer's own deadline; else as
    /// [`rearm_if_pending`](Self::rearm_if_pending).
    ///
    /// A timer that fired had its deadline reached by the clock the loop expired it with,
    /// so a sleep woken by its timer skips a cold load of the timer's slot (with 100k tasks
    /// sleeping, one cache and TLB miss per task). A timer due but not yet expired (the park
    /// ended otherwise) is left to fire: its waker is for the park that just ended, which
    /// bumped the task's token, so it wakes nothing.
    #[inline]
    pub(crate) fn rearm_unless_due(
        self,
        deadline: Instant,
        make: impl FnOnce() -> Waker,
    ) -> Result<WakeTimer, ()> {
        if with_core(|c| c.last_now() >= deadline).unwrap_or(true) {
            std::mem::forget(self);
            return Err(());
        }
        self.rearm_if_pending(make)
    }

    /// After a park: `true` if the timer is still pending (something else ended the park),
    /// and then it now wakes `make()`'s waker (the next park of the same wait); `false` if it
    /// fired, and it is then consumed with nothing left to remove. One look at the timer
    /// where [`is_pending`](Self::is_pending), [`rearm`](Self::rearm) and the drop take one
    /// each.
    #[inline]
    pub(crate) fn rearm_if_pending(self, make: impl FnOnce() -> Waker) -> Result<WakeTimer, ()> {
        let pending = with_core(|c| {
            c.timers
                .borrow_mut()
                .replace_with(self.0, || EventAction::Wake(make()))
        });
        if pending == Some(true) {
            Ok(self)
        } else {
            // Fired (or the loop is gone): nothing to cancel.
            std::mem::forget(self);
            Err(())
        }
    }
}

impl Drop for WakeTimer {
    fn drop(&mut self) {
        with_core(|c| c.cancel_timer(self.0));
    }
}

/// Every live task of the running loop, described (none outside a loop).
pub(crate) fn task_snapshot() -> Vec<super::TaskInfo> {
    with_core(super::introspect::snapshot).unwrap_or_default()
}

/// Renders task descriptions as a tree of who awaits whom.
pub(crate) fn render_tasks(tasks: &[super::TaskInfo]) -> String {
    super::introspect::render(tasks)
}

/// Under virtual time, moves the running loop's clock forward by `d`; `false` if no loop
/// runs here or its time is real.
pub(crate) fn advance_clock(d: std::time::Duration) -> bool {
    with_core(|c| {
        if !c.is_virtual_time() {
            return false;
        }
        let now = c.now();
        c.advance_to(super::clock::deadline_from(now, d));
        true
    })
    .unwrap_or(false)
}

/// `true` when every task of the running loop but the caller is parked durably and nothing
/// is ready to run: the state `testing::wait_all_tasks_blocked` waits for. Only tasks count:
/// a watch (`add_reader`), a signal handler or a connection of the callback layer waits on
/// the outside world for as long as it exists, and is no task to wait for.
pub(crate) fn others_durably_blocked() -> bool {
    with_core(|c| !c.has_ready() && c.others_parked_durably()).unwrap_or(true)
}

/// Counts one more external wait on the running loop (a connection of the callback layer,
/// open until [`external_wait_end`]); nothing outside a loop.
pub(crate) fn external_wait_begin() {
    with_core(|c| c.external_begin());
}

/// Counts one external wait less on the loop `loop_id`, if it runs here.
pub(crate) fn external_wait_end(loop_id: u64) {
    with_core(|c| {
        if c.id() == loop_id {
            c.external_end();
        }
    });
}

thread_local! {
    /// The loops made on this thread, by id, for [`call_soon_on`] while none of them runs.
    static LOOPS: std::cell::RefCell<Vec<(u64, std::rc::Weak<super::core::Core>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Records a new loop of this thread (dropping the entries of loops that are gone).
pub(super) fn register_loop(core: &std::rc::Rc<super::core::Core>) {
    // `try_with`: a loop made while the thread's locals are torn down is just not listed.
    let _ = LOOPS.try_with(|l| {
        let mut l = l.borrow_mut();
        l.retain(|(_, w)| w.strong_count() > 0);
        l.push((core.id(), std::rc::Rc::downgrade(core)));
    });
}

/// Schedules `f` with `call_soon` on the loop `loop_id` of this thread, running or not (a
/// transport used between two runs of its loop: asyncio schedules on the transport's loop
/// too). Gives `f` back when that loop is gone, closed, or not this thread's.
pub(crate) fn call_soon_on<F: FnOnce() + 'static>(loop_id: u64, f: F) -> Result<(), F> {
    let core = with_core(|c| if c.id() == loop_id { c.self_rc() } else { None })
        .flatten()
        .or_else(|| {
            LOOPS
                .try_with(|l| {
                    l.borrow()
                        .iter()
                        .find(|(id, _)| *id == loop_id)
                        .and_then(|(_, w)| w.upgrade())
                })
                .ok()
                .flatten()
        });
    match core {
        Some(c) if !c.refuses_callbacks() => {
            c.call_soon(super::callback::CallOnce::new_rc(f));
            Ok(())
        }
        _ => Err(f),
    }
}
