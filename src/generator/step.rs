//! How a generator runs its body: one step to the next yield or the end, and finishing (the
//! stack goes back to its pool).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::stacks::{self, Home};
use super::yielder::GeneratorExit;
use super::{Generator, GeneratorState, Stage};

use crate::coro::{Payload, Resumed, Signal, TypedCoro};

impl<Y, R, S> Generator<Y, R, S> {
    /// `close`, with the payload of a failed close handed back instead of raised.
    pub(super) fn close_payload(&mut self) -> Result<Option<R>, Payload> {
        match self.stage() {
            Stage::Finished => {
                self.release();
                Ok(None)
            }
            Stage::Unstarted => {
                self.force_finish();
                Ok(None)
            }
            Stage::Suspended => match self.step(Signal::Close) {
                Ok(GeneratorState::Complete(r)) => Ok(Some(r)),
                Ok(GeneratorState::Yielded(_)) => {
                    unreachable!("a closing generator's yield_ panics")
                }
                Err(p) if p.is::<GeneratorExit>() => Ok(None),
                Err(p) => Err(p),
            },
        }
    }

    /// `throw` with an untyped payload: `Err` gives back whatever unwound out of the body.
    pub(super) fn throw_payload(&mut self, p: Payload) -> Result<GeneratorState<Y, R>, Payload> {
        match self.stage() {
            Stage::Finished => {
                self.release();
                Err(p)
            }
            Stage::Unstarted => {
                self.force_finish();
                Err(p)
            }
            Stage::Suspended => {
                self.coro().slot().set(Some(p));
                self.step(Signal::Thrown)
            }
        }
    }

    /// Hands `signal` to the suspended body and runs it to its next yield or its end; `Err` is
    /// the payload that unwound out of the body (for `throw` and `close`).
    pub(super) fn step(&mut self, signal: Signal) -> Result<GeneratorState<Y, R>, Payload> {
        let coro = self.coro();
        match catch_unwind(AssertUnwindSafe(|| coro.resume_signal(signal))) {
            Ok(Resumed::Yielded(y)) => Ok(GeneratorState::Yielded(y)),
            Ok(Resumed::Returned(r)) => {
                self.release();
                Ok(GeneratorState::Complete(r))
            }
            Err(p) => {
                // The body unwound: its coroutine is done.
                self.release();
                Err(p)
            }
        }
    }

    /// The body's coroutine, or the "resumed a finished generator" panic. (The check of
    /// `done` is the one corosensei's resume makes too; the compiler merges them.)
    #[inline(always)]
    pub(super) fn coro_or_finished(&mut self) -> &mut TypedCoro<S, Y, R> {
        if self.coro.as_ref().is_none_or(|c| c.done()) {
            finished(self.coro.take(), self.home);
        }
        self.coro()
    }

    /// The body's coroutine; only while the generator has not finished.
    #[inline(always)]
    pub(super) fn coro(&mut self) -> &mut TypedCoro<S, Y, R> {
        match self.coro.as_mut() {
            Some(c) => c,
            None => unreachable!("an unfinished generator has its coroutine"),
        }
    }

    /// Drops the closure of a body that never started, and finishes.
    #[cold]
    pub(super) fn force_finish(&mut self) {
        if let Some(c) = self.coro.as_mut() {
            c.force_unwind();
        }
        self.release();
    }

    /// Gives the stack of a finished body back (if the generator still holds it).
    #[inline]
    fn release(&mut self) {
        if let Some(c) = self.coro.take() {
            stacks::give_back(c.into_stack(), self.home);
        }
    }
}

/// What `resume` and `start` do when the body returned: give the stack back (`coro` and
/// `home` were taken out of the generator, which is now finished). Out of line on values, not
/// on the generator, so that no out-of-line code gets a local generator's address.
#[inline(never)]
pub(super) fn resume_end<Y, R, S>(
    coro: Option<TypedCoro<S, Y, R>>,
    home: Home,
    r: R,
) -> GeneratorState<Y, R> {
    if let Some(c) = coro {
        stacks::give_back(c.into_stack(), home);
    }
    GeneratorState::Complete(r)
}

/// A resume of a finished generator: gives back the stack of a body that panicked (taken out
/// of the generator with its `home`), then panics.
#[cold]
#[inline(never)]
fn finished<Y, R, S>(coro: Option<TypedCoro<S, Y, R>>, home: Home) -> ! {
    if let Some(c) = coro {
        stacks::give_back(c.into_stack(), home);
    }
    panic!("corio: resumed a generator that has finished (it returned, panicked or was closed)")
}
