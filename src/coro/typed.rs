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
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use corosensei::stack::StackPointer;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{StackInfo, StackKind};
use crate::coro::Stack;

/// A payload that unwinds a body: a thrown value, a panic, a cancellation.
pub(crate) type Payload = Box<dyn Any + Send>;

/// The switch carries a `MaybeUninit<Y>`, so a yielded value that fits a register travels in
/// one (an `Option`-like wrapper would add a tag and go through memory); a park suspends with
/// no value and says so in the coroutine's `StackInfo` instead.
type Carried<Y> = MaybeUninit<Y>;

/// What sits at the top of a typed coroutine's stack, above the body's first frame.
struct Header {
    info: StackInfo,
    /// A payload the resumer hands the body beside the switch (so the value the switch
    /// carries stays small enough for a register).
    slot: Cell<Option<Payload>>,
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
    /// The body parked (a lock, a sleep, a socket): the task that resumed it must switch out
    /// in its place, then resume it again.
    Parked,
    /// The body returned this, or this payload unwound out of it.
    Returned(Result<R, Payload>),
}

/// A coroutine resumed with `I`s that suspends with `Y`s and returns an `R`.
///
/// Drop a suspended `TypedCoro` only after [`force_unwind`](Self::force_unwind); give a
/// finished one's stack back with [`into_stack`](Self::into_stack).
pub(crate) struct TypedCoro<I, Y, R> {
    inner: Coroutine<I, Carried<Y>, Result<R, Payload>, HeadedStack>,
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

/// Suspends the running typed coroutine for a park: with no value, the `parked` mark set;
/// what the caller resumes it with then is dropped.
///
/// # Safety
///
/// `info` is the `StackInfo` of the typed coroutine running on this stack, made for `I` and
/// `Y` (any `R`), whose body has stored its yielder.
unsafe fn park<I, Y>(info: &StackInfo) {
    info.parked.set(true);
    // SAFETY: see the function's contract: the yielder is the running coroutine's own, a
    // `Yielder<I, Carried<Y>>` living on this stack (the return type is not part of it).
    let y = unsafe { &*info.yielder.get().cast::<Yielder<I, Carried<Y>>>() };
    drop(y.suspend(MaybeUninit::uninit()));
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
                info: StackInfo::new(
                    &stack.stack,
                    "",
                    0,
                    StackKind::Generator,
                    Some(park::<I, Y>),
                ),
                slot: Cell::new(None),
            });
        }
        let hdr = header as *const Header;
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<I, Carried<Y>>, first: I| {
            // SAFETY: the header lives at the top of this stack until the coroutine's stack
            // is given back, which happens only after this body has returned or unwound.
            unsafe {
                (*hdr)
                    .info
                    .yielder
                    .set(y as *const Yielder<I, Carried<Y>> as *const ())
            };
            let back = TypedSuspender {
                y,
                hdr,
                _not_send: PhantomData,
            };
            catch_unwind(AssertUnwindSafe(|| f(first, back)))
        });
        TypedCoro {
            inner,
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

    /// Runs the body until it yields, parks or returns.
    #[inline(always)]
    pub(crate) fn resume(&mut self, input: I) -> Resumed<Y, R> {
        // SAFETY: as in `header`; the reference is not tied to `self`, so `inner` can be
        // resumed meanwhile (the header is not part of the `Coroutine`, only of its stack's
        // memory, which a resume does not move).
        let info = unsafe { &(*self.header.as_ptr()).info };
        let _running = info.enter();
        match self.inner.resume(input) {
            CoroutineResult::Yield(v) => {
                if info.parked.get() {
                    info.parked.set(false);
                    Resumed::Parked
                } else {
                    // SAFETY: the body suspends with an uninitialised value only through
                    // `park`, which set `parked`; every other suspension is
                    // `TypedSuspender::suspend`, which carries a value.
                    Resumed::Yielded(unsafe { v.assume_init() })
                }
            }
            CoroutineResult::Return(r) => Resumed::Returned(r),
        }
    }

    /// Unwinds a suspended body from its suspension point, running every `Drop` on its
    /// stack; a body that never started just drops its closure.
    pub(crate) fn force_unwind(&mut self) {
        let _running = self.header().info.enter();
        self.inner.force_unwind();
    }

    /// `true` once the body has run (or was unwound).
    #[inline]
    pub(crate) fn started(&self) -> bool {
        self.inner.started()
    }

    /// The stack of a finished coroutine, for reuse.
    #[inline]
    pub(crate) fn into_stack(self) -> Stack {
        // SAFETY: the header is a live value written by `new_generator`; it is dropped once,
        // here, before its stack leaves the coroutine.
        unsafe { self.header.as_ptr().drop_in_place() };
        self.inner.into_stack().stack
    }
}

/// A typed coroutine's own way back to its resumer.
pub(crate) struct TypedSuspender<I, Y> {
    y: *const Yielder<I, Carried<Y>>,
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
        unsafe { (*self.y).suspend(MaybeUninit::new(y)) }
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
