//! Coroutines that pass values through the switch itself (in a register when a value fits
//! one), for generators: the caller resumes with an `I`, the body suspends with a `Y`.

use std::marker::PhantomData;
use std::mem::MaybeUninit;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{StackInfo, StackKind, store_yielder};
use crate::coro::Stack;

/// The switch carries a `MaybeUninit<Y>`, so a yielded value that fits a register travels in
/// one (an `Option`-like wrapper would add a tag and go through memory); a park suspends with
/// no value and says so in the coroutine's `StackInfo` instead.
type Carried<Y> = MaybeUninit<Y>;

/// What a resume of a typed coroutine ran into.
#[derive(Debug)]
pub(crate) enum Resumed<Y> {
    /// The body suspended with this value.
    Yielded(Y),
    /// The body parked (a lock, a sleep, a socket): the task that resumed it must switch out
    /// in its place, then resume it again.
    Parked,
    /// The body returned.
    Returned,
}

/// A coroutine resumed with `I`s that suspends with `Y`s.
///
/// Drop a suspended `TypedCoro` only after [`force_unwind`](Self::force_unwind).
pub(crate) struct TypedCoro<I, Y> {
    inner: Coroutine<I, Carried<Y>, (), Stack>,
    info: StackInfo,
}

impl<I, Y> std::fmt::Debug for TypedCoro<I, Y> {
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
/// `Y`, whose body has stored its yielder.
unsafe fn park<I, Y>(info: &StackInfo) {
    info.parked.set(true);
    // SAFETY: see the function's contract: the yielder is the running coroutine's own, a
    // `Yielder<I, Carried<Y>>` living on this stack.
    let y = unsafe { &*info.yielder.get().cast::<Yielder<I, Carried<Y>>>() };
    drop(y.suspend(MaybeUninit::uninit()));
}

impl<I: 'static, Y: 'static> TypedCoro<I, Y> {
    /// Prepares a generator's body: `f` gets the first input and the body's suspender.
    /// Nothing runs until the first resume; an overflow is reported as a generator's.
    pub(crate) fn new_generator<F>(stack: Stack, f: F) -> TypedCoro<I, Y>
    where
        F: FnOnce(I, TypedSuspender<I, Y>) + 'static,
    {
        let info = StackInfo::new(&stack, "", 0, StackKind::Generator, Some(park::<I, Y>));
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<I, Carried<Y>>, first: I| {
            store_yielder(y as *const Yielder<I, Carried<Y>> as *const ());
            f(
                first,
                TypedSuspender {
                    y,
                    _not_send: PhantomData,
                },
            )
        });
        TypedCoro { inner, info }
    }
}

impl<I, Y> TypedCoro<I, Y> {
    /// Runs the body until it yields, parks or returns.
    ///
    /// The body must not unwind out of the coroutine (it catches its own panics).
    #[inline(always)]
    pub(crate) fn resume(&mut self, input: I) -> Resumed<Y> {
        let _running = self.info.enter();
        match self.inner.resume(input) {
            CoroutineResult::Yield(v) => {
                if self.info.parked.replace(false) {
                    Resumed::Parked
                } else {
                    // SAFETY: the body suspends with an uninitialised value only through
                    // `park`, which set `parked`; every other suspension is
                    // `TypedSuspender::suspend`, which carries a value.
                    Resumed::Yielded(unsafe { v.assume_init() })
                }
            }
            CoroutineResult::Return(()) => Resumed::Returned,
        }
    }

    /// Unwinds a suspended body from its suspension point, running every `Drop` on its
    /// stack; a body that never started just drops its closure.
    pub(crate) fn force_unwind(&mut self) {
        let _running = self.info.enter();
        self.inner.force_unwind();
    }

    /// The stack of a finished coroutine, for reuse.
    pub(crate) fn into_stack(self) -> Stack {
        self.inner.into_stack()
    }
}

/// A typed coroutine's own way back to its resumer.
pub(crate) struct TypedSuspender<I, Y> {
    y: *const Yielder<I, Carried<Y>>,
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
}
