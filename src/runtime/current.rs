//! Which task's coroutine runs on this thread right now.

use std::cell::Cell;
use std::ptr::{self, NonNull};

use super::task_ref::{Header, TaskRef};

thread_local! {
    /// The header of the task whose coroutine runs on this thread right now.
    static CURRENT: Cell<*const Header> = const { Cell::new(ptr::null()) };
}

/// Names the running task (CURRENT) until dropped, then restores whoever ran before (the
/// loop: none, or a task that handed its turn on), also when an unwind passes through.
pub(crate) struct Current {
    prev: *const Header,
}

impl Current {
    #[inline]
    pub(crate) fn set(h: *const Header) -> Current {
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
pub(crate) fn current_ptr() -> Option<NonNull<Header>> {
    NonNull::new(CURRENT.with(|c| c.get()).cast_mut())
}

#[inline]
pub(crate) fn current_header<'a>() -> Option<&'a Header> {
    // SAFETY: see `current_ptr`.
    current_ptr().map(|p| unsafe { p.as_ref() })
}

#[inline]
pub(crate) fn current_ptr_or_panic() -> NonNull<Header> {
    current_ptr().expect(
        "corio: this call parks the current coroutine, but it was made outside one \
         (from a callback or outside the loop); call it inside corio::run or a spawned task",
    )
}

#[inline]
pub(crate) fn current_or_panic<'a>() -> &'a Header {
    // SAFETY: see `current_ptr`.
    unsafe { current_ptr_or_panic().as_ref() }
}

/// A new reference to the running task.
#[inline]
pub(crate) fn current_ref(p: NonNull<Header>) -> TaskRef {
    // SAFETY: `p` came from `current_ptr`: the running task, alive while it runs, and the
    // pointer `run` took from a `TaskRef`.
    unsafe { TaskRef::from_ptr(p) }
}

/// The running task, type-erased.
pub(crate) fn current_task() -> Option<TaskRef> {
    current_ptr().map(current_ref)
}

/// The running task's id, `0` outside a task: an identity for a primitive to remember its
/// holder by without a reference (introspection resolves it against the live tasks). Ids are
/// never reused, where an address would be by the next task allocated in the same place,
/// which a report would then name as the holder.
#[inline]
pub(crate) fn current_id() -> u64 {
    current_header().map_or(0, Header::id)
}
