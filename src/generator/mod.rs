//! Python's generators (PEP 342, PEP 380) on corio's coroutine stacks.
//!
//! A [`Generator`] runs a closure on a stack of its own; the closure receives a [`Yielder`] and
//! suspends with [`Yielder::yield_`], handing a value out and getting one back, exactly like
//! `s = yield y`. Because the body has its own stack, a `yield_` may sit any number of calls
//! deep, and the body needs no state machine: it is plain Rust.
//!
//! ```
//! use corio::generator::{Generator, GeneratorState};
//!
//! // A running average fed with `resume` (Python's `send`).
//! let mut avg: Generator<f64, (), f64> = Generator::new(|co| {
//!     let (mut total, mut count) = (0.0, 0.0);
//!     let mut term = co.yield_(f64::NAN); // primed by `start`
//!     loop {
//!         total += term;
//!         count += 1.0;
//!         term = co.yield_(total / count);
//!     }
//! });
//! avg.start();
//! assert_eq!(avg.resume(10.0), GeneratorState::Yielded(10.0));
//! assert_eq!(avg.resume(30.0), GeneratorState::Yielded(20.0));
//! assert_eq!(avg.resume(5.0), GeneratorState::Yielded(15.0));
//! ```
//!
//! # The API, in signatures
//!
//! | Python | corio |
//! |---|---|
//! | `def g(): ...` | [`Generator::new`]`(f: impl FnOnce(&Yielder<Y, S>) -> R + 'static) -> Generator<Y, R, S>` (also [`with_stack_size`](Generator::with_stack_size), [`try_new`](Generator::try_new)) |
//! | `s = yield y` | [`Yielder::yield_`]`(&self, y: Y) -> S` |
//! | `r = yield from inner` | [`Yielder::yield_from`]`(&self, inner: &mut Generator<Y, R2, S>) -> R2` |
//! | `next(g)` (priming) | [`Generator::start`]`(&mut self) -> GeneratorState<Y, R>` |
//! | `g.send(s)` | [`Generator::resume`]`(&mut self, s: S) -> GeneratorState<Y, R>`, alias [`send`](Generator::send) |
//! | `g.throw(e)` | [`Generator::throw`]`<E: Any + Send>(&mut self, e: E) -> Result<GeneratorState<Y, R>, E>` |
//! | `g.close()` | [`Generator::close`]`(&mut self) -> Option<R>`; dropping a suspended generator closes it |
//! | `except E:` in the body | [`catch`]`<E, T>(f: impl FnOnce() -> T) -> Result<T, E>` |
//! | `GeneratorExit` | [`GeneratorExit`] |
//! | `StopIteration(r)` | [`GeneratorState::Complete`]`(r)` |
//! | `for y in g` | `Generator<Y, (), ()>` is an [`Iterator<Item = Y>`] |
//!
//! # Semantics
//!
//! - **The first resume starts the body**, which runs to its first `yield_`. No `yield_` is
//!   waiting for the value that resume carries, so it is dropped (Python requires it to be
//!   `None`); [`start`](Generator::start) starts a generator without a value.
//! - **Return value.** When the body returns `r`, the resume that ran it returns
//!   [`GeneratorState::Complete`]`(r)` and the generator is finished.
//! - **throw.** [`Generator::throw`]`(e)` makes the pending `yield_` unwind with `e` as its
//!   payload (as a task's cancellation does), so the body's `Drop`s run on the way out and it
//!   can catch `e` with [`catch`]. If it does, the body goes on to its next `yield_` (or its
//!   end), which `throw` returns as `Ok`. If `e` unwinds out of the body, the generator is
//!   finished and `throw` gives `e` back as `Err(e)`: an uncaught thrown value is an `Err`,
//!   not a panic, and the value is not lost. A *different* payload leaving the body (a panic
//!   in it) is a panic in the caller of `throw`, as with `resume`. A throw into a generator
//!   that has not started finishes it without running it (`Err(e)`), as Python does; into a
//!   finished one it is `Err(e)` too.
//! - **close and Drop.** [`Generator::close`] unwinds a suspended body from its `yield_` with
//!   [`GeneratorExit`], running its `Drop`s. The body may catch it to clean up and return; if it
//!   yields again instead, that `yield_` panics with a message saying so (Python's "generator
//!   ignored GeneratorExit"), which unwinds the rest of the body and reaches the caller of
//!   `close`: an error, never a hang. (A `yield_` from a `Drop` that this unwind runs cannot
//!   panic, a panic during an unwind aborting: the process aborts after the same message.)
//!   Dropping a suspended generator closes it the same way; a
//!   panic during that close was already reported by the panic hook and is not raised again
//!   from `drop` (Python reports it as "unraisable"), except a task's [`Cancelled`], which
//!   goes on unwinding the task so its cancellation is not lost. Closing a generator that has
//!   not started drops its closure; closing a finished one does nothing.
//! - **Panics** in the body reach the caller of the `resume` (or `throw`, `close`) that ran it,
//!   with the original payload, and the generator is finished.
//! - **Finished and running generators.** Resuming a finished generator panics with a message
//!   saying so (its return value was handed out already; [`Iterator::next`] returns `None`
//!   instead). A running generator cannot be resumed from its own body: `resume` takes
//!   `&mut self`, so the borrow checker refuses it, and a generator shared through a
//!   `RefCell` reports it as the `RefCell`'s "already borrowed" panic, which unwinds the body
//!   and reaches the outer `resume` (the generator is then finished).
//!
//! # Stacks
//!
//! A generator made while a loop runs on the thread takes its stack from that loop's pool
//! ([`EventLoopBuilder::stack_size`](crate::EventLoopBuilder::stack_size) sets the default
//! size); outside a loop it takes one from a small pool of the thread's own
//! ([`DEFAULT_STACK_SIZE`](crate::runtime::DEFAULT_STACK_SIZE) by default), so generators
//! work as plain iterators in any program (the stack of the last one to finish waits in a
//! one-stack slot, so a generator made per item costs no pool round trip).
//! [`Generator::with_stack_size`] asks for another size. A generator keeps its bookkeeping at
//! the top of its own stack, so making one allocates nothing. The stack goes back to its
//! pool as soon as the body returns or is closed (a generator that is kept after it finished
//! holds no stack); after a panic in the body, as soon as the generator is next used or
//! dropped (the panic leaves the resume without a landing pad there, which would cost every
//! resume). A stack taken from a loop and given back after
//! that loop stopped running on the thread joins the thread's pool instead (the loop still
//! counts it as lent). A stack overflow in a body is reported on stderr ("a generator
//! overflowed its coroutine stack of N bytes") before the process aborts, as a task's is.
//!
//! # Parking inside a generator
//!
//! A generator's body may call anything that parks — [`sleep`](crate::sleep),
//! [`Lock::acquire`](crate::Lock::acquire), a socket read — when a **task** resumed the
//! generator: the park suspends the whole task, with the generator's stack suspended on top of
//! the task's own, and when the task is woken it resumes the generator where it parked. A
//! generator that reads lines from a socket lazily is then an ordinary iterator inside a
//! task. How it works, and why it is memory-safe: resuming a generator switches to its stack
//! and nothing more, so the code in its body still counts as the task's; a park there
//! suspends the task right where it is, on the generator's stack, and resuming the task
//! continues the park there. The generator's stack cannot go away or be resumed meanwhile:
//! the `resume` call that switched to it sits suspended on the task's stack holding the
//! `&mut Generator`, so nothing else can touch the generator. If the task is cancelled while
//! the generator is parked, the `Cancelled` unwind starts at the park inside the generator,
//! unwinds the body (which may catch it with [`crate::catch_cancel`]) and then goes on
//! unwinding the task from `resume`. If the loop unwinds the task by force (the loop is
//! closed or dropped with the task still parked), that unwind also starts at the park, so
//! the generator's stack unwinds first, with the task's state still intact, before the
//! task's own frames go. Generators nest: a generator resumed by another generator that a
//! task resumed parks all three the same way.
//!
//! Closing runs the body's close handlers, which are user code: where a task closes or drops a
//! generator whose handler parks (it caught [`GeneratorExit`] and then waits on a lock, say),
//! the task parks until the handler is done, also when that happens in `Drop` — the one
//! `Drop` in corio that can suspend, and only through user code in the body. Call
//! [`close`](Generator::close) explicitly where that matters.
//!
//! A generator closed while its task unwinds (dropped by a cancelled or panicking task, or by
//! the loop closing) runs its close handlers during that unwind: like a `Drop`, a close
//! handler must not park then (corio aborts with a message naming the task, as it does for a
//! `Drop` that parks).
//!
//! Outside a task — a generator resumed from a plain thread, from `main` before `corio::run`,
//! or from a loop callback — a park in its body panics with corio's usual message (there is
//! "no running event loop", or the call "was made outside" a coroutine); the panic unwinds
//! the body, finishes the generator and reaches the caller of `resume`. A generator's yield
//! never parks anything: yielding is between the generator and whoever resumed it.
//!
//! `Generator` is `!Send`: its stack holds frames of the thread it runs on.
//!
//! ```compile_fail
//! fn assert_send<T: Send>() {}
//! assert_send::<corio::Generator<u32>>();
//! ```
//!
//! [`Cancelled`]: crate::Cancelled

mod stacks;
mod step;
mod yielder;

use std::marker::PhantomData;
use std::panic::resume_unwind;

pub use yielder::{GeneratorExit, Yielder, catch};

use crate::coro::{Resumed, Signal, TypedCoro};
use crate::error::{Cancelled, SpawnError};
use stacks::Home;

/// What a resume of a [`Generator`] ran into: a `yield_` or the body's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneratorState<Y, R> {
    /// The body yielded this value and is suspended.
    Yielded(Y),
    /// The body returned this value; the generator is finished (Python's `StopIteration`).
    Complete(R),
}

/// Where a generator's body stands (for `Debug`; the coroutine itself keeps it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Unstarted,
    Suspended,
    Finished,
}

/// A generator: a closure on its own stack that yields `Y`s, receives `S`s and returns `R`
/// (Python's generator; see the [module docs](self) for the semantics).
///
/// ```
/// use corio::Generator;
///
/// let squares: Generator<u64> = Generator::new(|co| {
///     for i in 1..=4 {
///         co.yield_(i * i);
///     }
/// });
/// assert_eq!(squares.collect::<Vec<_>>(), [1, 4, 9, 16]);
/// ```
pub struct Generator<Y, R = (), S = ()> {
    /// The body's coroutine, until it finished (its stack then went back to its pool). Its
    /// bookkeeping lives at the top of its stack, so this handle is all a generator costs.
    /// `None` means finished, and so does a coroutine that is `done`: a body that panicked
    /// (the panic left the resume with the coroutine still here; its stack goes back when the
    /// generator is next used or dropped).
    coro: Option<TypedCoro<S, Y, R>>,
    home: Home,
    _not_send: PhantomData<*const ()>,
}

impl<Y, R, S> std::fmt::Debug for Generator<Y, R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("stage", &self.stage())
            .finish_non_exhaustive()
    }
}

impl<Y: 'static, R: 'static, S: 'static> Generator<Y, R, S> {
    /// A generator that will run `f` on a pooled stack of the default size; nothing runs
    /// until the first [`resume`](Self::resume) or [`start`](Self::start).
    ///
    /// # Panics
    ///
    /// If no stack can be mapped (see [`try_new`](Self::try_new)).
    #[inline]
    pub fn new<F>(f: F) -> Generator<Y, R, S>
    where
        F: FnOnce(&Yielder<Y, S>) -> R + 'static,
    {
        match Generator::try_new(None, f) {
            Ok(g) => g,
            Err(e) => no_stack(e),
        }
    }

    /// Like [`new`](Self::new), with a stack of at least `bytes` usable bytes.
    ///
    /// # Panics
    ///
    /// If no stack can be mapped.
    pub fn with_stack_size<F>(bytes: usize, f: F) -> Generator<Y, R, S>
    where
        F: FnOnce(&Yielder<Y, S>) -> R + 'static,
    {
        Generator::try_new(Some(bytes), f).unwrap_or_else(|e| panic!("corio: {e}"))
    }

    /// Like [`new`](Self::new), with a stack of `stack_size` bytes if given.
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the stack cannot be mapped (out of memory or memory maps; the
    /// message says which limit to raise).
    #[inline]
    pub fn try_new<F>(stack_size: Option<usize>, f: F) -> Result<Generator<Y, R, S>, SpawnError>
    where
        F: FnOnce(&Yielder<Y, S>) -> R + 'static,
    {
        let (stack, home) = stacks::take(stack_size)?;
        // A value carried by the first resume is dropped: no `yield_` waits for it.
        let coro = TypedCoro::new_generator(stack, move |back| f(&Yielder::new(back)));
        Ok(Generator {
            coro: Some(coro),
            home,
            _not_send: PhantomData,
        })
    }
}

#[cold]
#[inline(never)]
fn no_stack(e: SpawnError) -> ! {
    panic!("corio: {e}")
}

impl<Y, R, S> Generator<Y, R, S> {
    fn stage(&self) -> Stage {
        match &self.coro {
            None => Stage::Finished,
            // A body that panicked: its stack goes back when the generator is next used or
            // dropped (see `step::finished`).
            Some(c) if c.done() => Stage::Finished,
            Some(c) if c.started() => Stage::Suspended,
            Some(_) => Stage::Unstarted,
        }
    }

    /// `true` once the body has run (a generator that finished has started too).
    pub fn is_started(&self) -> bool {
        self.stage() != Stage::Unstarted
    }

    /// `true` once the body has returned, unwound, or was closed.
    pub fn is_finished(&self) -> bool {
        self.coro.as_ref().is_none_or(|c| c.done())
    }

    /// Runs the body up to its first `yield_` (or its end) without sending a value (Python's
    /// priming `next(g)`). On a generator that has started already it panics, as `resume`
    /// does on a finished one: its pending `yield_` needs an `S`.
    ///
    /// # Panics
    ///
    /// If the generator has started, or the body panics.
    pub fn start(&mut self) -> GeneratorState<Y, R> {
        assert!(
            self.stage() == Stage::Unstarted,
            "corio: start() on a generator that has started already; use resume(value)"
        );
        match self.coro().resume_signal(Signal::Start) {
            Resumed::Yielded(y) => GeneratorState::Yielded(y),
            Resumed::Returned(r) => step::resume_end(self.coro.take(), self.home, r),
        }
    }

    /// Runs the body until its next `yield_`, which returns `s` in the body, or its end
    /// (Python's `send`). The first resume starts the body and drops `s` (no `yield_` is
    /// waiting for it).
    ///
    /// # Panics
    ///
    /// If the generator has finished, and with the body's own panic if it panics (the
    /// generator is then finished).
    #[inline(always)]
    pub fn resume(&mut self, s: S) -> GeneratorState<Y, R> {
        // A body that has not started drops the value (see `try_new`). The end is handled
        // out of line, on values taken out of `self`: no out-of-line code gets the address
        // of `self`, so a generator that is a local can live in registers across the switch
        // (its resume point then does not go through memory on every round trip).
        match self.coro_or_finished().resume(s) {
            Resumed::Yielded(y) => GeneratorState::Yielded(y),
            Resumed::Returned(r) => step::resume_end(self.coro.take(), self.home, r),
        }
    }

    /// Python's name for [`resume`](Self::resume).
    ///
    /// # Panics
    ///
    /// As [`resume`](Self::resume).
    #[inline]
    pub fn send(&mut self, s: S) -> GeneratorState<Y, R> {
        self.resume(s)
    }

    /// Unwinds the body's pending `yield_` with the payload `e` (Python's `throw`): its
    /// `Drop`s run, and it may catch `e` with [`catch`] and go on to its next `yield_` or its
    /// end, which this returns as `Ok`. If `e` unwinds out of the body uncaught, the generator
    /// is finished and `e` comes back as `Err(e)`. A generator that has not started is
    /// finished without running (`Err(e)`), and a finished one gives `Err(e)` too.
    ///
    /// # Panics
    ///
    /// With the body's own panic if another payload unwinds out of it.
    ///
    /// ```
    /// use corio::generator::{Generator, GeneratorState, catch};
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct Reset;
    ///
    /// let mut counter: Generator<u32> = Generator::new(|co| {
    ///     let mut n = 0;
    ///     loop {
    ///         match catch::<Reset, _>(|| co.yield_(n)) {
    ///             Ok(()) => n += 1,
    ///             Err(Reset) => n = 0,
    ///         }
    ///     }
    /// });
    /// counter.start();
    /// counter.resume(());
    /// assert_eq!(counter.throw(Reset), Ok(GeneratorState::Yielded(0)));
    ///
    /// let mut plain: Generator<u32> = Generator::new(|co| co.yield_(1));
    /// plain.start();
    /// assert_eq!(plain.throw(Reset), Err(Reset)); // not caught: given back
    /// assert!(plain.is_finished());
    /// ```
    pub fn throw<E: std::any::Any + Send>(&mut self, e: E) -> Result<GeneratorState<Y, R>, E> {
        match self.throw_payload(Box::new(e)) {
            Ok(state) => Ok(state),
            Err(p) => match p.downcast::<E>() {
                Ok(e) => Err(*e),
                Err(p) => resume_unwind(p),
            },
        }
    }

    /// Closes the generator (Python's `close`): a suspended body unwinds from its `yield_`
    /// with [`GeneratorExit`], running its `Drop`s; one that has not started is dropped
    /// unrun; a finished one is left as it is. Afterwards the generator is finished.
    ///
    /// Returns `Some(r)` if the body caught [`GeneratorExit`] and returned `r` (Python 3.13's
    /// `close` returns that value too), else `None`.
    ///
    /// # Panics
    ///
    /// If the body yields again while closing (it caught [`GeneratorExit`]), or panics with
    /// another payload while closing; the generator is finished either way. A `yield_` from a
    /// `Drop` that the [`GeneratorExit`] unwind runs (Python's `yield` in a `finally` while
    /// closing) aborts the process after saying so: that body can neither go on (its yield
    /// waits for a value nobody sends) nor unwind again (a panic during an unwind aborts).
    pub fn close(&mut self) -> Option<R> {
        self.close_payload().unwrap_or_else(|p| resume_unwind(p))
    }
}

impl<Y, R, S> Drop for Generator<Y, R, S> {
    #[inline]
    fn drop(&mut self) {
        // Out of line on the values, not on `self` (see `resume`).
        if let Some(coro) = self.coro.take() {
            drop_unfinished(coro, self.home);
        }
    }
}

/// Closes an unfinished generator that is being dropped, `coro` and `home` taken out of it.
#[inline(never)]
fn drop_unfinished<Y, R, S>(coro: TypedCoro<S, Y, R>, home: Home) {
    let mut g = Generator {
        coro: Some(coro),
        home,
        _not_send: PhantomData,
    };
    if let Err(p) = g.close_payload() {
        // The panic hook reported it when it happened; only a cancellation must go on.
        if p.is::<Cancelled>() && !std::thread::panicking() {
            resume_unwind(p)
        }
    }
}

impl<Y> Iterator for Generator<Y, (), ()> {
    type Item = Y;

    #[inline]
    fn next(&mut self) -> Option<Y> {
        if self.is_finished() {
            return None; // no more items (`resume` would panic)
        }
        match self.resume(()) {
            GeneratorState::Yielded(y) => Some(y),
            GeneratorState::Complete(()) => None,
        }
    }
}

impl<Y> std::iter::FusedIterator for Generator<Y, (), ()> {}
