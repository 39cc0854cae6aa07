//! The body's side of a generator: [`Yielder`] (`yield_`, `yield_from`), [`GeneratorExit`] and
//! [`catch`].

use std::any::Any;
use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use super::{Generator, GeneratorState};
use crate::coro::{self, Payload, Signal};

/// The body's way back to the caller; a resume other than `resume(s)` (start, throw, close)
/// arrives as a [`Signal`] instead of a value.
pub(super) type Back<Y, S> = coro::TypedSuspender<S, Y>;

/// The handle a generator's body yields through: Python's `yield` and `yield from` as
/// methods. The body receives it as `&Yielder<Y, S>`; it cannot leave the body.
///
/// `Y` is what the body yields, `S` what [`Generator::resume`] sends back in.
pub struct Yielder<Y, S> {
    /// The generator's coroutine's way back to its resumer.
    back: Back<Y, S>,
    /// `close` unwound the body with [`GeneratorExit`]: a further yield is an error.
    closing: Cell<bool>,
    /// `!Send`, `!Sync`: it switches the stack of the thread it was made on.
    _not_send: PhantomData<*const ()>,
}

impl<Y, S> std::fmt::Debug for Yielder<Y, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yielder").finish_non_exhaustive()
    }
}

impl<Y, S> Yielder<Y, S> {
    /// Made by the generator's body, on its stack, when it starts.
    ///
    /// # Invariant
    ///
    /// `back` is that body's coroutine's suspender. The yielder is only lent to the body (by
    /// reference, and the body is `'static`, so no other coroutine's code can hold it), so it
    /// is used only on the body's own stack while it runs.
    pub(super) fn new(back: Back<Y, S>) -> Yielder<Y, S> {
        Yielder {
            back,
            closing: Cell::new(false),
            _not_send: PhantomData,
        }
    }

    /// The payload of a [`Signal::Thrown`].
    fn take_thrown(&self) -> Payload {
        // SAFETY: see the invariant of `new`: this runs on the body's own stack.
        let p = unsafe { self.back.take_slot() };
        p.expect("a throw leaves its payload in the side slot")
    }

    /// Unwinds the body from its pending `yield_` with what `throw` or `close` sent.
    #[cold]
    #[inline(never)]
    fn raise(&self, signal: Signal) -> ! {
        match signal {
            Signal::Thrown => resume_unwind(self.take_thrown()),
            Signal::Close => {
                self.closing.set(true);
                resume_unwind(Box::new(GeneratorExit))
            }
            Signal::Value | Signal::Start => {
                unreachable!("a suspended generator is resumed with a value, a throw or a close")
            }
        }
    }

    /// Hands `y` to the caller of `resume` (or `throw`) and suspends until the generator is
    /// resumed again; returns the value then sent (Python's `s = yield y`).
    ///
    /// # Panics
    ///
    /// Unwinds with the payload of a [`Generator::throw`] (catch it with [`catch`]), with
    /// [`GeneratorExit`] when the generator is closed or dropped, and panics if the generator
    /// is being closed already (the body caught [`GeneratorExit`] and yielded again: Python's
    /// "generator ignored GeneratorExit").
    #[inline]
    pub fn yield_(&self, y: Y) -> S {
        match self.suspend_with(y) {
            Ok(s) => s,
            Err(signal) => self.raise(signal),
        }
    }

    /// Yields `y` and returns what the caller then handed in (`Err` for a throw or a close),
    /// without unwinding on a throw.
    #[inline(always)]
    fn suspend_with(&self, y: Y) -> Result<S, Signal> {
        if self.closing.get() {
            yielded_while_closing();
        }
        // SAFETY: see the invariant of `new`: this runs on the body's own stack.
        unsafe { self.back.suspend(y) }
    }

    /// Delegates to `inner` until it returns, and returns its result (Python's
    /// `r = yield from inner`, PEP 380): every value `inner` yields is yielded by this
    /// generator, every value sent to this generator is sent on to `inner`, a payload thrown
    /// into this generator is thrown into `inner` (if `inner` does not catch it, it goes on
    /// unwinding here; a thrown [`GeneratorExit`] closes `inner` instead), and closing this
    /// generator closes `inner` first, then unwinds here with [`GeneratorExit`].
    ///
    /// # Panics
    ///
    /// If `inner` has already started (the value its pending `yield_` expects has no source
    /// here) or finished, and whatever `inner` panics with.
    ///
    /// ```
    /// use corio::generator::{Generator, GeneratorState};
    ///
    /// let mut outer: Generator<u32, u32> = Generator::new(|co| {
    ///     let mut inner = Generator::new(|co| {
    ///         co.yield_(1);
    ///         co.yield_(2);
    ///         10
    ///     });
    ///     let r = co.yield_from(&mut inner);
    ///     r + 1
    /// });
    /// assert_eq!(outer.resume(()), GeneratorState::Yielded(1));
    /// assert_eq!(outer.resume(()), GeneratorState::Yielded(2));
    /// assert_eq!(outer.resume(()), GeneratorState::Complete(11));
    /// ```
    pub fn yield_from<R2>(&self, inner: &mut Generator<Y, R2, S>) -> R2
    where
        Y: 'static,
        R2: 'static,
        S: 'static,
    {
        assert!(
            !inner.is_started() && !inner.is_finished(),
            "corio: yield_from needs a generator that has not started yet (this one has {}); \
             the value its pending yield_ waits for has no source",
            if inner.is_finished() {
                "finished"
            } else {
                "started"
            }
        );
        let mut state = inner.start();
        loop {
            let y = match state {
                GeneratorState::Complete(r) => return r,
                GeneratorState::Yielded(y) => y,
            };
            state = match self.suspend_with(y) {
                Ok(s) => inner.resume(s),
                Err(Signal::Thrown) => {
                    let p = self.take_thrown();
                    if p.is::<GeneratorExit>() {
                        // PEP 380: a GeneratorExit thrown into the delegating generator closes
                        // the inner one, then is raised here.
                        inner.close();
                        resume_unwind(p);
                    }
                    match inner.throw_payload(p) {
                        Ok(state) => state,
                        Err(p) => resume_unwind(p),
                    }
                }
                Err(Signal::Close) => {
                    inner.close();
                    self.raise(Signal::Close)
                }
                Err(signal) => self.raise(signal),
            };
        }
    }
}

#[cold]
#[inline(never)]
fn yielded_while_closing() -> ! {
    panic!(
        "corio: a generator yielded while being closed (its body caught GeneratorExit and \
         yielded again, Python's \"generator ignored GeneratorExit\"); a closing body must \
         return or unwind"
    )
}

/// The payload [`Generator::close`] (and dropping a suspended generator) unwinds the body with,
/// from its pending `yield_`: Python's `GeneratorExit`. `Drop`s run on the way out; a body that
/// catches it (with [`catch`]) may clean up and return, but must not yield again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorExit;

/// Runs `f` and catches an unwind whose payload is an `E` (Python's `try: ... except E:`):
/// `Err(e)` gives the payload back, any other payload goes on unwinding.
///
/// Use it in a generator's body around a `yield_` to catch what [`Generator::throw`] throws,
/// or [`GeneratorExit`] to clean up on [`Generator::close`]. For a task's cancellation use
/// [`crate::catch_cancel`].
///
/// ```
/// use corio::generator::{Generator, GeneratorState, catch};
///
/// let mut g: Generator<&str> = Generator::new(|co| {
///     if let Err(n) = catch::<u32, _>(|| co.yield_("waiting")) {
///         co.yield_(if n == 7 { "caught 7" } else { "caught another" });
///     }
/// });
/// assert_eq!(g.resume(()), GeneratorState::Yielded("waiting"));
/// assert_eq!(g.throw(7u32), Ok(GeneratorState::Yielded("caught 7")));
/// ```
pub fn catch<E: Any, T>(f: impl FnOnce() -> T) -> Result<T, E> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(p) => match p.downcast::<E>() {
            Ok(e) => Err(*e),
            Err(p) => resume_unwind(p),
        },
    }
}
