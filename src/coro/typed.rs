//! Coroutines that pass values through the switch itself (in a register when a value fits
//! one), for generators: the caller resumes with an `S`, the body suspends with a `Y` and
//! returns an `R`.
//!
//! A typed coroutine keeps its bookkeeping in a header at the top of its own stack (its
//! [`StackInfo`], a side slot and the resume's [`Signal`]), written in place when the stack is
//! made ready ([`GenStack`]): making a coroutine allocates nothing, the handle that owns it
//! stays small to move, and a stack kept ready between coroutines keeps its header.

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ptr::{self, NonNull};

use corosensei::stack::StackPointer;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::StackInfo;
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
    /// What the last resume handed the body besides (or instead of) a value.
    signal: Cell<Signal>,
    /// Neighbours in this thread's list of live typed coroutines (`LIVE`).
    prev: Cell<*const Header>,
    next: Cell<*const Header>,
    /// The stack this header sits at the top of (read out before it is unmapped).
    stack: Stack,
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

/// A [`Stack`] ready for typed coroutines: its top `HEADER_BYTES` hold a [`Header`] in `LIVE`
/// (which also keeps the `Stack` itself), and corosensei sees the stack below. The header stays
/// as long as this value, so a stack kept as a `GenStack` between coroutines (a generator's
/// spare stack) is ready for the next one without writing its header or linking it again; and
/// the value is one pointer, cheap to move through a coroutine's handle and a thread-local.
pub(crate) struct GenStack {
    /// The header, at the top of the stack it describes: also the top corosensei sees.
    header: NonNull<Header>,
}

impl std::fmt::Debug for GenStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: the header is alive as long as `self` (see `new`).
        let stack = unsafe { &self.header.as_ref().stack };
        f.debug_struct("GenStack").field("stack", stack).finish()
    }
}

impl GenStack {
    /// Writes the header at the top of `stack` and adds it to `LIVE` (an overflow in a body
    /// on this stack is then reported as a generator's).
    pub(crate) fn new(stack: Stack) -> GenStack {
        let top = corosensei::stack::Stack::base(&stack).get();
        let header = (top - HEADER_BYTES) as *mut Header;
        // SAFETY: `header` is the top `HEADER_BYTES` of a stack this function owns (mapped,
        // writable, aligned to 64 >= align_of::<Header>()), which nothing else uses: a stack
        // from a pool holds no live value, and corosensei writes only below it. Once written
        // it stays at this address until `take_header`, which removes it from `LIVE` first.
        unsafe {
            header.write(Header {
                info: StackInfo::new(&stack, ptr::null()),
                slot: Cell::new(None),
                signal: Cell::new(Signal::Value),
                prev: Cell::new(ptr::null()),
                next: Cell::new(ptr::null()),
                stack,
            });
            link(&*header);
        }
        GenStack {
            // SAFETY: a stack address, never null.
            header: unsafe { NonNull::new_unchecked(header) },
        }
    }

    /// The plain stack, its header gone (to give it back to a pool, where tasks may use it).
    pub(crate) fn into_stack(self) -> Stack {
        let this = ManuallyDrop::new(self);
        this.take_header().stack
    }

    /// Takes the header out of `LIVE` and out of the stack (the stack is in it).
    fn take_header(&self) -> Header {
        // SAFETY: the header was written by `new` and is alive until here; this runs once
        // per `GenStack` (from `into_stack` or `drop`, never both), and the value is read
        // out of the stack before anything could unmap it.
        unsafe {
            unlink(self.header.as_ref());
            self.header.as_ptr().read()
        }
    }
}

impl Drop for GenStack {
    fn drop(&mut self) {
        // The stack is unmapped with the header's copy, on the caller's stack.
        drop(self.take_header());
    }
}

// SAFETY: the base is the inner stack's top lowered by `HEADER_BYTES` (a multiple of 64, so
// still aligned to corosensei's STACK_ALIGNMENT), and the inner stack's usable size is at least
// its MIN_STACK_SIZE of 16 KiB, far above `HEADER_BYTES` plus corosensei's own minimum; the
// bytes above the base are the header, which corosensei never touches. `limit` is the inner
// stack's (its guard below stays in place).
unsafe impl corosensei::stack::Stack for GenStack {
    #[inline]
    fn base(&self) -> StackPointer {
        // SAFETY: a stack address is not zero (see `new`).
        unsafe { StackPointer::new_unchecked(self.header.as_ptr() as usize) }
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        // SAFETY: the header is alive as long as `self`.
        corosensei::stack::Stack::limit(unsafe { &self.header.as_ref().stack })
    }
}

/// What a resume hands the body besides a value, kept in the header: the value the switch
/// carries is then the bare `S` (for `S = ()` nothing at all), and the body tells a plain
/// resume from the rest with one load and one well-predicted branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Signal {
    /// The switch carries a value (the common case; the header's resting state).
    Value,
    /// The first resume without a value.
    Start,
    /// A throw: the payload waits in the header's side slot; no value.
    Thrown,
    /// A close; no value.
    Close,
}

/// What a resume of a typed coroutine ran into.
#[derive(Debug)]
pub(crate) enum Resumed<Y, R> {
    /// The body suspended with this value.
    Yielded(Y),
    /// The body returned this.
    Returned(R),
}

/// A coroutine resumed with `S`s (or a [`Signal`]) that suspends with `Y`s and returns an `R`.
/// A panic in the body unwinds out of the resume that ran it (corosensei catches it at the
/// body's root and raises it again in the resumer), and the coroutine is then done: the body
/// has no `catch_unwind` of its own, whose extra call level around the switches cost a
/// return misprediction on every generator.
///
/// Give a finished one's stack back with [`into_stack`](Self::into_stack); dropping one
/// unwinds its body if it is suspended and unmaps its stack.
pub(crate) struct TypedCoro<S, Y, R> {
    /// Dropped by hand, out of line (see `Drop`).
    inner: ManuallyDrop<Coroutine<MaybeUninit<S>, Y, R, GenStack>>,
    /// The header at the top of `inner`'s stack, valid as long as `inner` holds that stack.
    header: NonNull<Header>,
}

impl<S, Y, R> std::fmt::Debug for TypedCoro<S, Y, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCoro")
            .field("done", &self.inner.done())
            .finish()
    }
}

impl<S: 'static, Y: 'static, R: 'static> TypedCoro<S, Y, R> {
    /// Prepares a generator's body on `stack`: `f` gets the body's suspender. A value carried
    /// by the first resume has no suspension waiting for it and is dropped. Nothing runs
    /// until the first resume; an overflow is reported as a generator's.
    #[inline]
    pub(crate) fn new_generator<F>(stack: GenStack, f: F) -> TypedCoro<S, Y, R>
    where
        F: FnOnce(TypedSuspender<S, Y>) -> R + 'static,
    {
        let header = stack.header;
        // SAFETY: the header of a `GenStack` is alive as long as the stack; no coroutine runs
        // on this one yet, so nothing else reads it (a signal left by a resume that unwound
        // is cleared here).
        unsafe { header.as_ref().signal.set(Signal::Value) };
        let hdr = header.as_ptr() as *const Header;
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<MaybeUninit<S>, Y>, first| {
            let back = TypedSuspender {
                y,
                hdr,
                _not_send: PhantomData,
            };
            // SAFETY: the body runs on this stack; the header is alive.
            if std::mem::needs_drop::<S>() && unsafe { back.signal() } == Signal::Value {
                // SAFETY: `Signal::Value` means the resume carried an initialised value.
                drop(unsafe { MaybeUninit::<S>::assume_init(first) });
            }
            f(back)
        });
        TypedCoro {
            inner: ManuallyDrop::new(inner),
            header,
        }
    }
}

impl<S, Y, R> TypedCoro<S, Y, R> {
    #[inline(always)]
    fn header(&self) -> &Header {
        // SAFETY: the header is at the top of the `GenStack` `inner` owns, alive for as long
        // as `self` exists (`into_stack` consumes `self`).
        unsafe { self.header.as_ref() }
    }

    /// The side slot of the header: a payload for the body to take after the next resume.
    #[inline]
    pub(crate) fn slot(&self) -> &Cell<Option<Payload>> {
        &self.header().slot
    }

    /// Runs the body until it yields or returns; its pending suspension returns `s`.
    ///
    /// The running coroutine named in `RUNNING` stays the resumer's (the task, or none): a
    /// park in the body suspends that task right there, with this stack on top of its own
    /// (see [`super::suspend`]), and the body goes on when the task is resumed. So a resume
    /// is the switch and nothing more.
    #[inline(always)]
    pub(crate) fn resume(&mut self, s: S) -> Resumed<Y, R> {
        match self.inner.resume(MaybeUninit::new(s)) {
            CoroutineResult::Yield(y) => Resumed::Yielded(y),
            CoroutineResult::Return(r) => Resumed::Returned(r),
        }
    }

    /// Runs the body with `signal` instead of a value (`Signal::Value` is not one to send).
    /// The body reads the signal as soon as it runs (before it can switch back), and the
    /// signal is back at `Value` when this returns, so a plain resume writes nothing.
    #[inline]
    pub(crate) fn resume_signal(&mut self, signal: Signal) -> Resumed<Y, R> {
        debug_assert!(signal != Signal::Value, "a signal resume carries no value");
        self.header().signal.set(signal);
        let r = self.inner.resume(MaybeUninit::uninit());
        // The header is still there: only `into_stack` takes the stack away.
        self.header().signal.set(Signal::Value);
        match r {
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

    /// `true` once the body returned or unwound.
    #[inline]
    pub(crate) fn done(&self) -> bool {
        self.inner.done()
    }

    /// The stack of a finished coroutine, header and all, for the next one.
    #[inline]
    pub(crate) fn into_stack(self) -> GenStack {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used again nor dropped, so `inner` is taken once.
        unsafe { ManuallyDrop::take(&mut this.inner) }.into_stack()
    }

    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        // SAFETY: dropped once, here, from `drop`; `self` is going away.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

/// A typed coroutine dropped without [`TypedCoro::into_stack`] (one that never finished):
/// corosensei unwinds what is left of the body, then the stack goes with its header. Out of
/// line, so that the drop of a generator's handle, which holds none once it finished, stays a
/// test inlined at the call site.
impl<S, Y, R> Drop for TypedCoro<S, Y, R> {
    #[inline]
    fn drop(&mut self) {
        self.drop_slow();
    }
}

/// A typed coroutine's own way back to its resumer.
pub(crate) struct TypedSuspender<S, Y> {
    y: *const Yielder<MaybeUninit<S>, Y>,
    hdr: *const Header,
    _not_send: PhantomData<*const ()>,
}

impl<S, Y> Clone for TypedSuspender<S, Y> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S, Y> Copy for TypedSuspender<S, Y> {}

impl<S, Y> std::fmt::Debug for TypedSuspender<S, Y> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSuspender").finish_non_exhaustive()
    }
}

impl<S, Y> TypedSuspender<S, Y> {
    /// Hands `y` to whoever resumed the coroutine and returns what it is resumed with next:
    /// `Ok(s)` for a value, `Err` for any other [`Signal`].
    ///
    /// # Safety
    ///
    /// Only on the coroutine's own stack while it runs (the body this suspender was given to).
    #[inline(always)]
    pub(crate) unsafe fn suspend(self, y: Y) -> Result<S, Signal> {
        // SAFETY: the caller runs on the coroutine whose yielder this is; the yielder lives on
        // that coroutine's stack for the coroutine's whole life.
        let v = unsafe { (*self.y).suspend(y) };
        // SAFETY: as above.
        match unsafe { self.signal() } {
            // SAFETY: only `TypedCoro::resume` leaves the signal at `Value`, and it sends an
            // initialised value (`resume_signal` sets another signal and sends none).
            Signal::Value => Ok(unsafe { v.assume_init() }),
            signal => Err(signal),
        }
    }

    /// The signal of the resume that just switched to the body.
    ///
    /// # Safety
    ///
    /// As [`suspend`](Self::suspend).
    #[inline(always)]
    unsafe fn signal(self) -> Signal {
        // SAFETY: the body runs, so its header at the top of its stack is alive.
        unsafe { (*self.hdr).signal.get() }
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
