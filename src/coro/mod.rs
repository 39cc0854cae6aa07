//! Stack switching over corosensei: the stack pool, resume/suspend, the running coroutine.
//!
//! This is the only module that names corosensei. A [`Coro`] runs a closure on a pooled
//! [`Stack`]; [`suspend`] switches from the running coroutine back to whoever resumed it (the
//! event loop). Which coroutine is running is kept in thread-locals, set by [`Coro::resume`],
//! so code deep inside a coroutine can suspend without being handed a yielder.

mod overflow;
pub(crate) mod stack;

use std::cell::Cell;
use std::ptr;

use corosensei::{Coroutine, CoroutineResult, Yielder};

pub(crate) use stack::{DEFAULT_GUARD_SIZE, Stack, StackPool, has_madvise_guard};

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
    /// What runs on the stack, for the wording of the report.
    pub(crate) kind: StackKind,
    /// This coroutine's yielder, stored by its body on the first resume.
    yielder: Cell<*const Yielder<(), ()>>,
    /// Stack facts of the coroutine that resumed this one while it runs, if a coroutine did
    /// (a task handing its turn on, a task resuming a generator): until the switch, and again
    /// after the switch back, the code of `resume` runs on that coroutine's stack, so an
    /// overflow there hits its guard.
    pub(crate) resumer: Cell<*const StackInfo>,
}

/// What a coroutine stack hosts: a task, or a generator (`corio::generator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StackKind {
    Task,
    Generator,
}

thread_local! {
    /// Facts of the coroutine running on this thread (its yielder, its stack for the SIGSEGV
    /// handler, its resumer), null on the loop's own stack. One thread-local, so a resume
    /// costs one swap of it: each thread-local swapped around a switch cost about 0.8 ns per
    /// round trip in the generator benchmark.
    static RUNNING: Cell<*const StackInfo> = const { Cell::new(ptr::null()) };
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
    info: StackInfo,
}

impl Coro {
    /// Prepares `f` to run on `stack`. Nothing runs until the first [`resume`](Self::resume).
    pub(crate) fn new<F>(stack: Stack, name: &str, id: u64, f: F) -> Coro
    where
        F: FnOnce() + 'static,
    {
        Coro::with_kind(stack, name, id, StackKind::Task, f)
    }

    /// Prepares a generator's body to run on `stack`; an overflow is reported as a
    /// generator's.
    pub(crate) fn new_generator<F>(stack: Stack, f: F) -> Coro
    where
        F: FnOnce() + 'static,
    {
        Coro::with_kind(stack, "", 0, StackKind::Generator, f)
    }

    fn with_kind<F>(stack: Stack, name: &str, id: u64, kind: StackKind, f: F) -> Coro
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
            kind,
            yielder: Cell::new(ptr::null()),
            resumer: Cell::new(ptr::null()),
        };
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            let info = RUNNING.with(|c| c.get());
            // SAFETY: the first resume (`Coro::enter`) set RUNNING to this coroutine's
            // `StackInfo`, borrowed for the length of that resume, which is running this line.
            unsafe { (*info).yielder.set(y) };
            f()
        });
        Coro { inner, info }
    }

    /// Runs the coroutine until it suspends (`false`) or returns (`true`).
    ///
    /// The closure must not unwind out of the coroutine: the runtime wraps every body in
    /// `catch_unwind`, so a panic arrives as a value the body stores.
    #[inline]
    pub(crate) fn resume(&mut self) -> bool {
        let _running = self.enter();
        let r = self.inner.resume(());
        matches!(r, CoroutineResult::Return(()))
    }

    /// Names this coroutine as the running one in the thread-local until the guard drops,
    /// which gives it back to whoever resumed it: the loop (null) or a coroutine resuming
    /// this one from its stack, also when an unwind passes through.
    #[inline]
    fn enter(&self) -> Running {
        let prev = RUNNING.with(|c| c.get());
        // The resumer first, so the SIGSEGV handler never sees this coroutine with a stale one.
        self.info.resumer.set(prev);
        RUNNING.with(|c| c.set(&self.info));
        Running { prev }
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

/// The thread-local's value before [`Coro::enter`], put back on drop.
struct Running {
    prev: *const StackInfo,
}

impl Drop for Running {
    #[inline]
    fn drop(&mut self) {
        RUNNING.with(|c| c.set(self.prev));
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

/// The running coroutine's own way back to its resumer, for a body that suspends often
/// (a generator's `yield_`): [`suspend`] without the thread-local lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Suspender(*const Yielder<(), ()>);

impl Suspender {
    /// The suspender of the coroutine running now.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(crate) fn current() -> Suspender {
        let info = RUNNING.with(|c| c.get());
        assert!(
            !info.is_null(),
            "corio: Suspender::current outside a coroutine"
        );
        // SAFETY: as in `suspend`: RUNNING names the running coroutine, whose body stored its
        // yielder before it could run any code that gets here.
        Suspender(unsafe { (*info).yielder.get() })
    }

    /// Switches back to whoever resumed the coroutine this suspender came from.
    ///
    /// # Safety
    ///
    /// Only on that coroutine's own stack while it runs (the same coroutine `current` was
    /// called in).
    #[inline]
    pub(crate) unsafe fn suspend(self) {
        // SAFETY: the caller runs on the coroutine whose yielder this is; the yielder lives on
        // that coroutine's stack for the coroutine's whole life.
        unsafe { (*self.0).suspend(()) }
    }
}

/// Switches from the running coroutine back to its resumer; returns when resumed again.
///
/// # Panics
///
/// Panics when called outside a coroutine.
#[inline]
pub(crate) fn suspend() {
    let info = RUNNING.with(|c| c.get());
    assert!(
        !info.is_null(),
        "corio: this call parks the current coroutine, but it was made outside one; \
         call it inside corio::run or a spawned task"
    );
    // SAFETY: RUNNING is set by `Coro::enter` to the `StackInfo` of the coroutine running right
    // now on this thread, borrowed for the length of its resume, and reset when it switches
    // out; its body stored its yielder on its first run, before any code of the body could
    // get here. A yielder lives on its coroutine's stack for the coroutine's whole life, and
    // we are on that stack, so the pointer is valid.
    unsafe { (*(*info).yielder.get()).suspend(()) }
}
