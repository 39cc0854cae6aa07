//! Coroutines that pass values through the switch itself (in a register when a value fits
//! one), for generators: the caller resumes with an `I`, the body suspends with a `Y` and
//! returns an `R`.
//!
//! A typed coroutine keeps its bookkeeping in a header at the top of its own stack (its
//! [`StackInfo`] and a side slot), written in place when it is made: making one allocates
//! nothing, and the handle that owns it stays small to move.

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::{self, NonNull};

use corosensei::stack::StackPointer;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{StackInfo, StackKind};
use crate::coro::Stack;

/// A payload that unwinds a body: a thrown value, a panic, a cancellation.
pub(crate) type Payload = Box<dyn Any + Send>;

/// What sits at the top of a typed coroutine's stack, above the body's first frame.
struct Header {
    /// Its stack's facts for the overflow handler (never `RUNNING`: see [`TypedCoro::resume`]).
    info: StackInfo,
    /// A payload the resumer hands the body beside the switch (so the value the switch
    /// carries stays small enough for a register).
    slot: Cell<Option<Payload>>,
    /// Neighbours in this thread's list of live typed coroutines (`LIVE`).
    prev: Cell<*const Header>,
    next: Cell<*const Header>,
}

thread_local! {
    /// The newest live typed coroutine of this thread, head of a list through the headers:
    /// how the overflow handler recognises a fault in a generator's guard, since resuming a
    /// generator does not name it in `RUNNING`.
    static LIVE: Cell<*const Header> = const { Cell::new(ptr::null()) };
}

/// Adds a header (just written, at a fixed address until removed) to `LIVE`.
fn link(h: &Header) {
    LIVE.with(|head| {
        let first = head.get();
        h.prev.set(ptr::null());
        h.next.set(first);
        if !first.is_null() {
            // SAFETY: every header in `LIVE` is alive (removed before its stack goes back).
            unsafe { (*first).prev.set(h) };
        }
        head.set(h);
    });
}

/// Takes a header out of `LIVE`.
fn unlink(h: &Header) {
    let (prev, next) = (h.prev.get(), h.next.get());
    if prev.is_null() {
        LIVE.with(|head| head.set(next));
    } else {
        // SAFETY: as in `link`: the neighbours are live headers.
        unsafe { (*prev).next.set(next) };
    }
    if !next.is_null() {
        // SAFETY: as above.
        unsafe { (*next).prev.set(prev) };
    }
}

/// The facts of this thread's live typed coroutine whose guard holds `addr`, for the overflow
/// handler (reads only; a bounded walk, so a list broken by the overflow cannot hang it).
pub(super) fn guarding(addr: usize) -> Option<&'static StackInfo> {
    let mut h = LIVE.with(|head| head.get());
    for _ in 0..1 << 20 {
        if h.is_null() {
            return None;
        }
        // SAFETY: every header in `LIVE` is alive: headers leave the list before their stack
        // is given back, and a leaked generator leaks its stack too.
        let hdr = unsafe { &*h };
        if addr >= hdr.info.guard_lo && addr < hdr.info.guard_hi {
            return Some(&hdr.info);
        }
        h = hdr.next.get();
    }
    None
}

/// Bytes reserved for the [`Header`] at the top of the stack: a whole number of cache lines,
/// so the body's frames start aligned (corosensei needs 16).
const HEADER_BYTES: usize = size_of::<Header>().next_multiple_of(64);

/// A [`Stack`] whose top `HEADER_BYTES` hold the [`Header`]: corosensei sees the stack below.
struct HeadedStack {
    stack: Stack,
    /// Where the header starts: the top corosensei sees (kept, as corosensei asks for it on
    /// every resume).
    base: StackPointer,
}

impl HeadedStack {
    #[inline]
    fn new(stack: Stack) -> HeadedStack {
        let top = corosensei::stack::Stack::base(&stack).get();
        // SAFETY: a stack's top is far above address zero (its usable size alone exceeds
        // `HEADER_BYTES`), so the difference is not zero.
        let base = unsafe { StackPointer::new_unchecked(top - HEADER_BYTES) };
        HeadedStack { stack, base }
    }

    #[inline]
    fn header(&self) -> *mut Header {
        self.base.get() as *mut Header
    }
}

// SAFETY: `base` is the inner stack's top lowered by `HEADER_BYTES` (a multiple of 64, so
// still aligned to corosensei's STACK_ALIGNMENT), and the inner stack's usable size is at least
// its MIN_STACK_SIZE of 16 KiB, far above `HEADER_BYTES` plus corosensei's own minimum; the
// bytes above `base` are the header, which corosensei never touches. `limit` is the inner
// stack's (its guard below stays in place).
unsafe impl corosensei::stack::Stack for HeadedStack {
    #[inline]
    fn base(&self) -> StackPointer {
        self.base
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        corosensei::stack::Stack::limit(&self.stack)
    }
}

/// What a resume of a typed coroutine ran into.
#[derive(Debug)]
pub(crate) enum Resumed<Y, R> {
    /// The body suspended with this value.
    Yielded(Y),
    /// The body returned this, or this payload unwound out of it.
    Returned(Result<R, Payload>),
}

/// A coroutine resumed with `I`s that suspends with `Y`s and returns an `R`.
///
/// Give a finished one's stack back with [`into_stack`](Self::into_stack); dropping one
/// unwinds its body if it is suspended and unmaps its stack.
pub(crate) struct TypedCoro<I, Y, R> {
    /// Dropped by hand: after the header leaves `LIVE` (see `Drop`).
    inner: ManuallyDrop<Coroutine<I, Y, Result<R, Payload>, HeadedStack>>,
    /// The header at the top of `inner`'s stack, valid as long as `inner` holds that stack.
    header: NonNull<Header>,
}

impl<I, Y, R> std::fmt::Debug for TypedCoro<I, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCoro")
            .field("done", &self.inner.done())
            .finish()
    }
}

impl<I: 'static, Y: 'static, R: 'static> TypedCoro<I, Y, R> {
    /// Prepares a generator's body on `stack`: `f` gets the first input and the body's
    /// suspender. A panic unwinding out of `f` becomes the body's `Err` result. Nothing runs
    /// until the first resume; an overflow is reported as a generator's.
    #[inline]
    pub(crate) fn new_generator<F>(stack: Stack, f: F) -> TypedCoro<I, Y, R>
    where
        F: FnOnce(I, TypedSuspender<I, Y>) -> R + 'static,
    {
        let stack = HeadedStack::new(stack);
        let header = stack.header();
        // SAFETY: `header` is the top `HEADER_BYTES` of a stack this function owns (mapped,
        // writable, aligned to 64 >= align_of::<Header>()), which nothing else uses: a stack
        // from a pool holds no live value, and corosensei writes only below `base`.
        unsafe {
            header.write(Header {
                info: StackInfo::new(&stack.stack, "", 0, StackKind::Generator),
                slot: Cell::new(None),
                prev: Cell::new(ptr::null()),
                next: Cell::new(ptr::null()),
            });
            link(&*header);
        }
        let hdr = header as *const Header;
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<I, Y>, first: I| {
            let back = TypedSuspender {
                y,
                hdr,
                _not_send: PhantomData,
            };
            catch_unwind(AssertUnwindSafe(|| f(first, back)))
        });
        TypedCoro {
            inner: ManuallyDrop::new(inner),
            // SAFETY: `header` points into a mapped stack, never null.
            header: unsafe { NonNull::new_unchecked(header) },
        }
    }
}

impl<I, Y, R> TypedCoro<I, Y, R> {
    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: the header was written when the coroutine was made and stays at the top of
        // the stack `inner` owns for as long as `self` exists (`into_stack` consumes `self`).
        unsafe { self.header.as_ref() }
    }

    /// The side slot of the header: a payload for the body to take after the next resume.
    #[inline]
    pub(crate) fn slot(&self) -> &Cell<Option<Payload>> {
        &self.header().slot
    }

    /// Runs the body until it yields or returns.
    ///
    /// The running coroutine named in `RUNNING` stays the resumer's (the task, or none): a
    /// park in the body suspends that task right there, with this stack on top of its own
    /// (see [`super::suspend`]), and the body goes on when the task is resumed. So a resume
    /// is the switch and nothing more.
    #[inline(always)]
    pub(crate) fn resume(&mut self, input: I) -> Resumed<Y, R> {
        match self.inner.resume(input) {
            CoroutineResult::Yield(y) => Resumed::Yielded(y),
            CoroutineResult::Return(r) => Resumed::Returned(r),
        }
    }

    /// Unwinds a suspended body from its suspension point, running every `Drop` on its
    /// stack; a body that never started just drops its closure.
    pub(crate) fn force_unwind(&mut self) {
        /// Marks the coroutine done if a panic leaves `force_unwind` before it is: the drop of
        /// a closure that never ran panicked, and corosensei (which marks it done only after
        /// that drop) would otherwise drop the closure a second time from its own `Drop`.
        struct DoneOnPanic<'a, C>(&'a mut C, fn(&mut C));
        impl<C> Drop for DoneOnPanic<'_, C> {
            fn drop(&mut self) {
                (self.1)(self.0);
            }
        }
        let guard = DoneOnPanic(&mut *self.inner, |c| {
            if !c.done() {
                // SAFETY: reached only when a panic left `force_unwind` of a coroutine that
                // had not started (a started one is done before its unwind's payload is
                // raised again): its closure's drop ran and panicked partway, so nothing on
                // the stack is left to drop, and marking it done only skips a second drop.
                unsafe { c.force_reset() };
            }
        });
        guard.0.force_unwind();
        std::mem::forget(guard);
    }

    /// `true` once the body has run (or was unwound).
    #[inline]
    pub(crate) fn started(&self) -> bool {
        self.inner.started()
    }

    /// The stack of a finished coroutine, for reuse.
    #[inline]
    pub(crate) fn into_stack(self) -> Stack {
        let mut this = ManuallyDrop::new(self);
        this.drop_header();
        // SAFETY: `this` is never used again nor dropped, so `inner` is taken once.
        let inner = unsafe { ManuallyDrop::take(&mut this.inner) };
        inner.into_stack().stack
    }

    /// Takes the header out of `LIVE` and drops it, before its stack may go.
    #[inline]
    fn drop_header(&mut self) {
        unlink(self.header());
        // SAFETY: the header is a live value written by `new_generator`, now out of `LIVE`;
        // this runs once per coroutine (from `into_stack` or `drop`, never both), before the
        // stack it sits on is given back or unmapped.
        unsafe { self.header.as_ptr().drop_in_place() };
    }
}

/// A typed coroutine dropped without [`TypedCoro::into_stack`] (a panic while it was being
/// finished): its header leaves `LIVE` first, then corosensei unwinds what is left of the body
/// and the stack is unmapped.
impl<I, Y, R> Drop for TypedCoro<I, Y, R> {
    fn drop(&mut self) {
        self.drop_header();
        // SAFETY: dropped once, here; `self` is going away.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// A typed coroutine's own way back to its resumer.
pub(crate) struct TypedSuspender<I, Y> {
    y: *const Yielder<I, Y>,
    hdr: *const Header,
    _not_send: PhantomData<*const ()>,
}

impl<I, Y> Clone for TypedSuspender<I, Y> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, Y> Copy for TypedSuspender<I, Y> {}

impl<I, Y> std::fmt::Debug for TypedSuspender<I, Y> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSuspender").finish_non_exhaustive()
    }
}

impl<I, Y> TypedSuspender<I, Y> {
    /// Hands `y` to whoever resumed the coroutine and returns what it is resumed with next.
    ///
    /// # Safety
    ///
    /// Only on the coroutine's own stack while it runs (the body this suspender was given to).
    #[inline(always)]
    pub(crate) unsafe fn suspend(self, y: Y) -> I {
        // SAFETY: the caller runs on the coroutine whose yielder this is; the yielder lives on
        // that coroutine's stack for the coroutine's whole life.
        unsafe { (*self.y).suspend(y) }
    }

    /// Takes the payload the resumer left in the header's side slot.
    ///
    /// # Safety
    ///
    /// As [`suspend`](Self::suspend): only by the body this suspender was given to.
    #[inline]
    pub(crate) unsafe fn take_slot(self) -> Option<Payload> {
        // SAFETY: the body runs, so its header at the top of its stack is alive.
        unsafe { (*self.hdr).slot.take() }
    }
}
