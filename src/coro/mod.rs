//! Stack switching over corosensei: the stack pool, resume/suspend, the running coroutine.
//!
//! This is the only module that names corosensei. A [`Coro`] runs a closure on a pooled
//! [`Stack`]; [`suspend`] switches from the running coroutine back to whoever resumed it (the
//! event loop). Which coroutine is running is kept in thread-locals, set by [`Coro::resume`],
//! so code deep inside a coroutine can suspend without being handed a yielder. Generators
//! ([`TypedCoro`]) are not named there: they run as part of the task that resumes them.

mod madvise;
mod overflow;
mod prefault;
pub(crate) mod stack;
mod stack_pool;
mod typed;

use std::cell::Cell;
use std::ptr;

use corosensei::{Coroutine, CoroutineResult, Yielder};

pub(crate) use stack::{DEFAULT_GUARD_SIZE, Stack, has_madvise_guard};
pub(crate) use stack_pool::StackPool;
pub(crate) use typed::{GenStack, Payload, Resumed, Signal, TypedCoro, TypedSuspender};

/// What names a task: its id and its name (empty if none was given). It lives in the task's
/// header, which outlives the task's coroutine, so the coroutine's [`StackInfo`] points at it
/// (one word) instead of keeping a copy of both.
#[derive(Debug)]
pub(crate) struct TaskLabel {
    pub(crate) id: u64,
    pub(crate) name: Box<str>,
}

/// What the overflow handler needs to know about the running coroutine.
#[derive(Debug)]
pub(crate) struct StackInfo {
    pub(crate) guard_lo: usize,
    pub(crate) guard_hi: usize,
    pub(crate) size: usize,
    /// The label of the task that runs on the stack, in its header (which outlives the
    /// coroutine); null for a generator's stack.
    pub(crate) label: *const TaskLabel,
    /// A task's yielder (a `Yielder<(), ()>`), stored by its body on the first resume; null
    /// for a generator, which is never named in `RUNNING`.
    yielder: Cell<*const ()>,
    /// Stack facts of the coroutine that resumed this one while it runs, if a coroutine did
    /// (a task handing its turn on): until the switch, and again after the switch back, the
    /// code of `resume` runs on that coroutine's stack, so an overflow there hits its guard.
    pub(crate) resumer: Cell<*const StackInfo>,
}

thread_local! {
    /// Facts of the task coroutine running on this thread (its yielder, its stack for the
    /// SIGSEGV handler, its resumer), null on the loop's own stack. Generators are not named
    /// here (a swap around each switch cost about 0.8 ns of a 3.5 ns round trip in the
    /// generator benchmark): code running in one belongs to the task that resumed it, and the
    /// overflow handler finds generators' guards in `typed`'s list of live ones.
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
    /// Prepares `f` to run on `stack` as the task `label` names. Nothing runs until the first
    /// [`resume`](Self::resume).
    ///
    /// `label` must outlive the coroutine (the overflow report reads it).
    pub(crate) fn new<F>(stack: Stack, label: &TaskLabel, f: F) -> Coro
    where
        F: FnOnce() + 'static,
    {
        let info = StackInfo::new(&stack, label);
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<(), ()>, ()| {
            store_yielder(y as *const Yielder<(), ()> as *const ());
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

    #[inline]
    fn enter(&self) -> Running {
        self.info.enter()
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

/// A task's coroutine as its header keeps it: the stack its first run makes the coroutine on
/// (spawning writes nothing on it, see `step.rs`), then the coroutine, then nothing once it
/// returned or was unwound. The stack rides in the slot the coroutine takes later, so it
/// costs a task's cell no room of its own.
#[derive(Debug)]
pub(crate) enum CoroSlot {
    Fresh(Stack),
    Live(Coro),
    Gone,
}

impl CoroSlot {
    /// Takes what the slot holds, leaving it [`Gone`](CoroSlot::Gone).
    #[inline]
    pub(crate) fn take(&mut self) -> CoroSlot {
        std::mem::replace(self, CoroSlot::Gone)
    }

    /// Takes the stack out of a [`Fresh`](CoroSlot::Fresh) slot, leaving it
    /// [`Gone`](CoroSlot::Gone); `None` (the slot untouched) otherwise. Moves the stack alone,
    /// not the whole slot as [`take`](Self::take) does (a task's first run does this).
    #[inline]
    pub(crate) fn take_fresh(&mut self) -> Option<Stack> {
        let CoroSlot::Fresh(stack) = self else {
            return None;
        };
        // SAFETY: the stack is read out of the slot once, and the slot is overwritten with
        // `Gone` (which owns nothing) right after, without dropping what it held: the stack
        // now has one owner, the value returned.
        unsafe {
            let stack = ptr::read(stack);
            ptr::write(self, CoroSlot::Gone);
            Some(stack)
        }
    }

    /// `true` while the slot holds a coroutine.
    #[cfg(test)]
    pub(crate) fn is_live(&self) -> bool {
        matches!(self, CoroSlot::Live(_))
    }
}

impl StackInfo {
    #[inline]
    fn new(stack: &Stack, label: *const TaskLabel) -> StackInfo {
        overflow::install();
        let (guard_lo, guard_hi) = stack.guard_range();
        StackInfo {
            guard_lo,
            guard_hi,
            size: stack.size(),
            label,
            yielder: Cell::new(ptr::null()),
            resumer: Cell::new(ptr::null()),
        }
    }

    /// Names this coroutine as the running one in the thread-local until the guard drops,
    /// which gives it back to whoever resumed it: the loop (null) or a coroutine resuming
    /// this one from its stack, also when an unwind passes through.
    #[inline]
    fn enter(&self) -> Running {
        let prev = RUNNING.with(|c| c.get());
        // The resumer first, so the SIGSEGV handler never sees this coroutine with a stale one.
        self.resumer.set(prev);
        RUNNING.with(|c| c.set(self));
        Running { prev }
    }
}

/// Called by a coroutine's body as it starts: records its yielder in its `StackInfo`.
fn store_yielder(y: *const ()) {
    let info = RUNNING.with(|c| c.get());
    // SAFETY: the first resume (`StackInfo::enter`) set RUNNING to this coroutine's
    // `StackInfo`, borrowed for the length of that resume, which is running this line.
    unsafe { (*info).yielder.set(y) };
}

/// The thread-local's value before [`StackInfo::enter`], put back on drop.
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

/// Where the running task coroutine's parent link is (0 outside one, or before its body
/// stored its yielder): the word at the top of its stack that every resume writes and every
/// switch out reads (corosensei's `Yielder` is that word), for the loop to prefetch before it
/// resumes the task again.
#[inline]
pub(crate) fn current_parent_link() -> usize {
    let info = RUNNING.with(|c| c.get());
    if info.is_null() {
        return 0;
    }
    // SAFETY: RUNNING is set only by `StackInfo::enter`, to the `StackInfo` of the task
    // coroutine being resumed on this thread (in its header's slot, which does not move while
    // it runs), and its guard puts the previous value back when that resume ends, unwinding
    // included: the pointer is live. Only the `Cell` is read; the yielder is not dereferenced.
    unsafe { (*info).yielder.get() as usize }
}

/// Switches from the running task's coroutine back to its resumer; returns when resumed
/// again.
///
/// Generators resumed by the task run on top of it without being named in `RUNNING`, so a
/// park in a generator's body (however deeply nested) comes here too and suspends the task
/// from the generator's stack: the switch saves the stack pointer where it is, and resuming
/// the task returns right here, on that stack, to go on with the park.
///
/// # Panics
///
/// Panics when called outside a task (a plain thread, or a generator resumed by one).
#[inline]
pub(crate) fn suspend() {
    let info = RUNNING.with(|c| c.get());
    assert!(
        !info.is_null(),
        "corio: this call parks the current coroutine, but it was made outside one; \
         call it inside corio::run or a spawned task"
    );
    // SAFETY: RUNNING is set by `StackInfo::enter` to the `StackInfo` of the task coroutine
    // being resumed on this thread, borrowed for the length of its resume (generators never
    // set it), and its body stored its `Yielder<(), ()>` on its first run, before any code of
    // the body could get here. The yielder lives at the top of the task's stack for the
    // coroutine's whole life. We run on that task's stack, or on the stack of a generator
    // the task is resuming (directly or through other generators): that stack stays mapped
    // and untouched while the task is suspended, since the `Generator` that owns it is
    // mutably borrowed by the task's suspended `resume` frame, and only resuming the task
    // (which switches back to the saved stack pointer, here) continues it. An unwind of the
    // task from this point runs through the generators' frames first and each one's body
    // ends, handing the unwind on to its resumer, so the stacks unwind in order.
    unsafe { (*(*info).yielder.get().cast::<Yielder<(), ()>>()).suspend(()) }
}
