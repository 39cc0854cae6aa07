//! A task's life on the loop: created ([`spawn_raw`]), run step by step until it parks or
//! ends ([`run`]), unwound when the loop closes ([`force_unwind`]), and completed.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::core::Core;
use super::current::{Current, current_header};
use super::report::task_unretrieved;
use super::task_ref::{Header, SpawnCell, Start, State, TaskCell, TaskRef, TypedRef};
use super::wait_list::WaitList;
use super::wait_target::{NOTHING, TargetPtr};
use crate::coro::{Coro, CoroSlot, Stack, TaskLabel};
use crate::error::{Cancelled, JoinError, SpawnError};
use std::panic::Location;
use std::ptr::NonNull;

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
        let mut slot = h.coro.borrow_mut();
        if let CoroSlot::Fresh(_) = *slot {
            // Its first run: the coroutine is made now, on a stack spawn did not touch.
            task.start_in(&mut slot);
        }
        let finished = match &mut *slot {
            CoroSlot::Live(c) => c.resume(),
            _ => false,
        };
        drop(slot);
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
    let CoroSlot::Live(coro) = task.header().coro.borrow_mut().take() else {
        unreachable!("a finished task had its coroutine");
    };
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
        // A task that never ran gets its coroutine made here, so its body is dropped the way
        // a started one's is unwound.
        let coro = {
            let mut slot = h.coro.borrow_mut();
            task.start_in(&mut slot);
            slot.take()
        };
        if let CoroSlot::Live(mut c) = coro {
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
    h.set_done_loop_id(core.id());
    core.forget_task(h.registry_key.get());
    let wakers = h.done_wakers.borrow_mut().take();
    wakers.wake_all_taken();
    let std_waker = h.std_waker.take();
    if let Some(w) = std_waker {
        wake_std(w);
    }
    if !h.handle_alive.get()
        && let Some(p) = task.take_unretrieved()
    {
        task_unretrieved(h, p);
    }
}

/// Wakes a foreign std waker; a panic in it is reported and the loop goes on.
fn wake_std(w: std::task::Waker) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| w.wake())) {
        let msg = crate::error::panic_text(p.as_ref());
        super::diag::emit(
            super::diag::Level::Error,
            &format!("a waker panicked: {msg}"),
        );
    }
}

/// Creates a task on `core` and schedules its first run.
pub(crate) fn spawn_raw<T, F>(
    core: &Core,
    (name, stack_size, at): (Option<String>, Option<usize>, &'static Location<'static>),
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
    // A task that never ran has no switch point yet: its first resume touches the top of its
    // stack (where it makes its coroutine, the first frames), so that is what the loop
    // prefetches for it until it first switches out.
    // (As a park point: the line alone, whatever the stack's alignment.)
    let first_sp = super::park::park_point(
        corosensei::stack::Stack::base(&stack).get() - FRESH_TOUCH_BYTES,
        0,
    );
    let id = core.next_task_id();
    let name: Box<str> = name.map(String::into_boxed_str).unwrap_or_default();
    // Stacks are whole pages, so whole KiB; a `u32` of KiB holds 4 TiB (reports would show a
    // larger stack as that).
    let stack_kib = u32::try_from(stack.size() / 1024).unwrap_or(u32::MAX);
    let task = SpawnCell::allocate(SpawnCell {
        cell: TaskCell {
            header: Header {
                label: TaskLabel { id, name },
                state: Cell::new(State::Scheduled),
                token: Cell::new(0),
                notified: Cell::new(false),
                cancel_requests: Cell::new(0),
                cancel_delivered: Cell::new(0),
                closing: Cell::new(false),
                registry_key: Cell::new(usize::MAX),
                done_wakers: RefCell::new(WaitList::new()),
                std_waker: Cell::new(None),
                handle_alive: Cell::new(true),
                stack_kib,
                waiting_on: Cell::new(&NOTHING as TargetPtr),
                external: Cell::new(false),
                spawned_at: at,
                spawned: core.last_now(),
                parked_sp: Cell::new(first_sp),
                coro: RefCell::new(CoroSlot::Fresh(stack)),
                core: Cell::new(std::ptr::from_ref(core).cast()),
                refs: Cell::new(1),
                vtable: &SpawnCell::<T, Unstarted<F>>::VTABLE,
            },
            result: RefCell::new(None),
        },
        start: Unstarted(Cell::new(Some(f))),
    });
    let key = core.adopt_task(task.clone());
    task.header().registry_key.set(key);
    core.schedule(task.clone());
    // SAFETY: the cell was made just above as a `SpawnCell<T, _>`, which starts with a
    // `TaskCell<T>`.
    Ok(unsafe { TypedRef::new(task) })
}

/// What a task keeps in its cell until its first run (see [`Start`]): its body (its stack
/// waits in the header's coroutine slot).
struct Unstarted<F>(Cell<Option<F>>);

impl<T: 'static, F: FnOnce() -> T + 'static> Start<T> for Unstarted<F> {
    unsafe fn start(&self, cell: NonNull<TaskCell<T>>, stack: Stack) -> Coro {
        let f = self.0.take().expect("a task's coroutine is made once");
        let cell = cell.as_ptr().cast_const();
        // SAFETY: the cell is live (the caller's contract).
        let h = unsafe { &*cell }.header();
        // The label lives in the cell, which does not move and outlives the coroutine, so
        // the coroutine's overflow report can point at it.
        Coro::new(stack, &h.label, move || {
            let result = body(f);
            // SAFETY: the cell outlives the coroutine (the caller's contract), and whoever
            // runs the task holds a `TaskRef` to it for the length of the step.
            *unsafe { &*cell }.result.borrow_mut() = Some(result);
        })
    }
}

/// How far below a fresh stack's top its first resume's switch point is taken to be, for the
/// loop's prefetch of the lines around it (which start two lines below and span eight): the
/// prefetch then covers the top 512 bytes.
pub(super) const FRESH_TOUCH_BYTES: usize = 384;

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

#[cfg(test)]
mod tests {
    use std::mem::size_of;
    use std::rc::Rc;

    use crate::coro::{Coro, CoroSlot};
    use crate::runtime::current::current_header;
    use crate::runtime::here::spawn_here;
    use crate::runtime::task_ref::SpawnCell;

    #[test]
    fn a_task_makes_its_coroutine_at_its_first_run_not_at_spawn() {
        crate::run(|| {
            let t = spawn_here((None, None), crate::yield_now).unwrap();
            let h = t.header();
            assert!(
                matches!(*h.coro.borrow(), crate::coro::CoroSlot::Fresh(_)),
                "nothing made on its stack by spawn"
            );
            crate::yield_now(); // its first run, up to its own yield
            assert!(h.coro.borrow().is_live(), "made by its first run");
            crate::yield_now(); // it ends
            assert!(h.is_done() && matches!(*h.coro.borrow(), crate::coro::CoroSlot::Gone));
        });
    }

    #[test]
    fn a_task_that_switched_out_recorded_a_point_on_its_own_stack() {
        let (top, after, local) = crate::run(|| {
            crate::spawn(|| {
                let local = 0u8;
                let local = std::hint::black_box(&local) as *const u8 as usize;
                let h = current_header().expect("inside a task");
                let before = h.parked_sp.get();
                let top = before + super::FRESH_TOUCH_BYTES;
                crate::yield_now();
                (top, h.parked_sp.get(), local)
            })
            .join()
            .unwrap()
        });
        // Before its first switch out, the point is near its stack's top, above its frames.
        assert!(
            local < top && top - local < 16 * 1024,
            "{top:#x} is just above {local:#x}"
        );
        // Deeper than the task's own frame (stacks grow down), and within a few KiB of it:
        // the switch point, not some other stack.
        assert!(after < local, "{after:#x} is below {local:#x}");
        assert!(local - after < 16 * 1024, "{after:#x} is near {local:#x}");
    }

    #[test]
    fn a_cell_of_three_captured_rcs_fits_a_384_byte_allocation() {
        // The cell of the `million_parked` benchmark's tasks (a closure of three `Rc`s): 376
        // bytes is a 384-byte glibc chunk, 80 bytes (five size classes) under the cell that
        // kept the unstarted task's stack beside its body and a wider header.
        let (a, b, c) = (Rc::new(1u8), Rc::new(2u16), Rc::new(3u32));
        let f = move || {
            let _ = (&a, &b, &c);
        };
        fn cell_size<F: FnOnce() + 'static>(_: &F) -> usize {
            size_of::<SpawnCell<(), super::Unstarted<F>>>()
        }
        assert!(cell_size(&f) <= 376, "{} bytes", cell_size(&f));
    }

    #[test]
    fn the_unstarted_stack_costs_the_coroutine_slot_nothing() {
        assert!(size_of::<CoroSlot>() <= size_of::<Option<Coro>>());
    }
}
