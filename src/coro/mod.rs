//! Stack switching over corosensei: the stack pool, resume/suspend, the running coroutine.
//!
//! This is the only module that names corosensei. A [`Coro`] runs a closure on a pooled
//! [`Stack`]; [`suspend`] switches from the running coroutine back to whoever resumed it (the
//! event loop). Which coroutine is running is kept in thread-locals, set by [`Coro::resume`],
//! so code deep inside a coroutine can suspend without being handed a yielder.

mod overflow;
pub(crate) mod stack;
mod stack_pool;

use std::cell::Cell;
use std::ptr;

use corosensei::{Coroutine, CoroutineResult, Yielder};

pub(crate) use stack::{DEFAULT_GUARD_SIZE, Stack, has_madvise_guard};
pub(crate) use stack_pool::StackPool;

/// What the overflow handler needs to know about the running coroutine.
#[derive(Debug)]
pub(crate) struct StackInfo {
    pub(crate) guard_lo: usize,
    pub(crate) guard_hi: usize,
    pub(crate) size: usize,
    /// The task's name (may be empty); owned by the task, which outlives its coroutine.
    pub(crate) name: *const u8,
    pub(crate) name_len: usize,
    pub(crate) id: u64,
}

thread_local! {
    /// The yielder of the coroutine running on this thread, null on the loop's own stack.
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(ptr::null()) };
    /// Stack facts of the running coroutine, for the SIGSEGV handler.
    static RUNNING: Cell<*const StackInfo> = const { Cell::new(ptr::null()) };
    /// Stack facts of the coroutine that resumed the running one, if a coroutine did (a task
    /// handing its turn on): until the switch, and again after the switch back, the code of
    /// `resume` runs on that coroutine's stack, so an overflow there hits its guard.
    static RESUMER: Cell<*const StackInfo> = const { Cell::new(ptr::null()) };
}

/// A coroutine that runs a closure on its own stack.
///
/// The closure returns nothing: a task's body stores its own result, so the type the loop
/// resumes is the same for every task and the resume path needs no virtual call.
///
/// Drop a suspended `Coro` only after [`force_unwind`](Coro::force_unwind), which sets up the
/// thread-locals its unwinding code expects; the runtime does so when a loop closes.
pub(crate) struct Coro {
    inner: Coroutine<(), (), (), Stack>,
    /// This coroutine's yielder, known after its first resume.
    yielder: *const Yielder<(), ()>,
    info: StackInfo,
}

impl Coro {
    /// Prepares `f` to run on `stack`. Nothing runs until the first [`resume`](Self::resume).
    pub(crate) fn new<F>(stack: Stack, name: &str, id: u64, f: F) -> Coro
    where
        F: FnOnce() + 'static,
    {
        overflow::install();
        let (guard_lo, guard_hi) = stack.guard_range();
        let info = StackInfo {
            guard_lo,
            guard_hi,
            size: stack.size(),
            name: name.as_ptr(),
            name_len: name.len(),
            id,
        };
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            YIELDER.with(|c| c.set(y));
            f()
        });
        Coro {
            inner,
            yielder: ptr::null(),
            info,
        }
    }

    /// Runs the coroutine until it suspends (`false`) or returns (`true`).
    ///
    /// The closure must not unwind out of the coroutine: the runtime wraps every body in
    /// `catch_unwind`, so a panic arrives as a value the body stores.
    #[inline]
    pub(crate) fn resume(&mut self) -> bool {
        let _running = self.enter();
        let r = self.inner.resume(());
        if self.yielder.is_null() {
            self.yielder = YIELDER.with(|c| c.get());
        }
        matches!(r, CoroutineResult::Return(()))
    }

    /// Names this coroutine as the running one in the thread-locals until the guard drops,
    /// which gives them back to whoever resumed it: the loop (all null) or a task handing its
    /// turn on (its own values), also when an unwind passes through.
    #[inline]
    fn enter(&self) -> Running {
        let prev_i = RUNNING.with(|c| c.replace(&self.info));
        Running {
            prev_y: YIELDER.with(|c| c.replace(self.yielder)),
            prev_i,
            prev_r: RESUMER.with(|c| c.replace(prev_i)),
        }
    }

    /// Unwinds a suspended coroutine from its suspension point, running every `Drop` on its
    /// stack; a coroutine that never started just drops its closure.
    pub(crate) fn force_unwind(&mut self) {
        let _running = self.enter();
        self.inner.force_unwind();
    }

    /// The stack of a finished coroutine, for reuse.
    pub(crate) fn into_stack(self) -> Stack {
        self.inner.into_stack()
    }
}

/// The thread-locals' values before [`Coro::enter`], put back on drop.
struct Running {
    prev_y: *const Yielder<(), ()>,
    prev_i: *const StackInfo,
    prev_r: *const StackInfo,
}

impl Drop for Running {
    #[inline]
    fn drop(&mut self) {
        YIELDER.with(|c| c.set(self.prev_y));
        RUNNING.with(|c| c.set(self.prev_i));
        RESUMER.with(|c| c.set(self.prev_r));
    }
}

impl std::fmt::Debug for Coro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coro")
            .field("started", &self.inner.started())
            .field("done", &self.inner.done())
            .field("stack_size", &self.info.size)
            .finish()
    }
}

/// Switches from the running coroutine back to its resumer; returns when resumed again.
///
/// # Panics
///
/// Panics when called outside a coroutine.
#[inline]
pub(crate) fn suspend() {
    let y = YIELDER.with(|c| c.get());
    assert!(
        !y.is_null(),
        "corio: this call parks the current coroutine, but it was made outside one; \
         call it inside corio::run or a spawned task"
    );
    // SAFETY: YIELDER is set by `Coro::resume` to the yielder of the coroutine running right
    // now on this thread (the body stored it on its first run), and reset when it switches out.
    // A yielder lives on its coroutine's stack for the coroutine's whole life, and we are on
    // that stack, so the pointer is valid.
    unsafe { (*y).suspend(()) }
}
