//! Coroutines that pass values through the switch itself (in registers where they fit), for
//! generators: the caller resumes with an `I`, the body suspends with an `O`.

use std::marker::PhantomData;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::{StackInfo, StackKind, store_yielder};
use crate::coro::Stack;

/// The value a typed coroutine suspends with when its body parks (the task that resumed it
/// must switch out in its place) instead of yielding.
pub(crate) trait ParkOutput {
    /// The "I parked" value.
    fn parked() -> Self;
}

/// A coroutine resumed with `I`s that suspends with `O`s.
///
/// Drop a suspended `TypedCoro` only after [`force_unwind`](Self::force_unwind).
pub(crate) struct TypedCoro<I, O> {
    inner: Coroutine<I, O, (), Stack>,
    info: StackInfo,
}

impl<I, O> std::fmt::Debug for TypedCoro<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedCoro")
            .field("done", &self.inner.done())
            .finish()
    }
}

/// Suspends the typed coroutine whose yielder `y` is, for a park: with [`ParkOutput::parked`],
/// dropping what the caller resumes it with.
///
/// # Safety
///
/// `y` is the `Yielder<I, O>` of the coroutine running on this stack.
unsafe fn park<I, O: ParkOutput>(y: *const ()) {
    // SAFETY: see the function's contract.
    let y = unsafe { &*y.cast::<Yielder<I, O>>() };
    drop(y.suspend(O::parked()));
}

impl<I: 'static, O: ParkOutput + 'static> TypedCoro<I, O> {
    /// Prepares a generator's body: `f` gets the first input and the body's suspender.
    /// Nothing runs until the first resume; an overflow is reported as a generator's.
    pub(crate) fn new_generator<F>(stack: Stack, f: F) -> TypedCoro<I, O>
    where
        F: FnOnce(I, TypedSuspender<I, O>) + 'static,
    {
        let info = StackInfo::new(&stack, "", 0, StackKind::Generator, Some(park::<I, O>));
        let inner = Coroutine::with_stack(stack, move |y: &Yielder<I, O>, first: I| {
            store_yielder(y as *const Yielder<I, O> as *const ());
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

impl<I, O> TypedCoro<I, O> {
    /// Runs the body until it suspends (`Some(o)`) or returns (`None`).
    ///
    /// The body must not unwind out of the coroutine (it catches its own panics).
    #[inline(always)]
    pub(crate) fn resume(&mut self, input: I) -> Option<O> {
        let _running = self.info.enter();
        match self.inner.resume(input) {
            CoroutineResult::Yield(o) => Some(o),
            CoroutineResult::Return(()) => None,
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
pub(crate) struct TypedSuspender<I, O> {
    y: *const Yielder<I, O>,
    _not_send: PhantomData<*const ()>,
}

impl<I, O> Clone for TypedSuspender<I, O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, O> Copy for TypedSuspender<I, O> {}

impl<I, O> std::fmt::Debug for TypedSuspender<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSuspender").finish_non_exhaustive()
    }
}

impl<I, O> TypedSuspender<I, O> {
    /// Hands `o` to whoever resumed the coroutine and returns what it is resumed with next.
    ///
    /// # Safety
    ///
    /// Only on the coroutine's own stack while it runs (the body this suspender was given to).
    #[inline(always)]
    pub(crate) unsafe fn suspend(self, o: O) -> I {
        // SAFETY: the caller runs on the coroutine whose yielder this is; the yielder lives on
        // that coroutine's stack for the coroutine's whole life.
        unsafe { (*self.y).suspend(o) }
    }
}
