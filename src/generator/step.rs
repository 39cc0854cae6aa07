//! How a generator runs its body: one step to the next yield or the end, and finishing (the
//! stack goes back to its pool).

use super::stacks;
use super::yielder::{GeneratorExit, Input};
use super::{Generator, GeneratorState, Stage};
use std::panic::resume_unwind;

use crate::coro::{Payload, Resumed, TypedCoro};

impl<Y, R, S> Generator<Y, R, S> {
    /// `close`, with the payload of a failed close handed back instead of raised.
    pub(super) fn close_payload(&mut self) -> Result<Option<R>, Payload> {
        match self.stage() {
            Stage::Finished => Ok(None),
            Stage::Unstarted => {
                self.force_finish();
                Ok(None)
            }
            Stage::Suspended => match self.step(Input::Close) {
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
            Stage::Finished => Err(p),
            Stage::Unstarted => {
                self.force_finish();
                Err(p)
            }
            Stage::Suspended => {
                self.coro().slot().set(Some(p));
                self.step(Input::Thrown)
            }
        }
    }

    /// Hands `input` to the body and runs it to its next yield or its end; `Err` is the
    /// payload that unwound out of the body (for `start`, `throw` and `close`; `resume` has
    /// its own copy of this, which keeps the yield in registers).
    pub(super) fn step(&mut self, input: Input<S>) -> Result<GeneratorState<Y, R>, Payload> {
        match self.coro_or_finished().resume(input) {
            Resumed::Yielded(y) => Ok(GeneratorState::Yielded(y)),
            Resumed::Returned(r) => self.finish(r),
        }
    }

    /// The body's coroutine, or the "resumed a finished generator" panic.
    #[inline(always)]
    pub(super) fn coro_or_finished(&mut self) -> &mut TypedCoro<Input<S>, Y, R> {
        match self.coro.as_mut() {
            Some(c) => c,
            None => finished(),
        }
    }

    /// The body's coroutine; only while the generator has not finished.
    #[inline(always)]
    pub(super) fn coro(&mut self) -> &mut TypedCoro<Input<S>, Y, R> {
        match self.coro.as_mut() {
            Some(c) => c,
            None => unreachable!("an unfinished generator has its coroutine"),
        }
    }

    /// What `resume` does when the body returned: finishes, and raises the body's panic.
    #[inline(never)]
    pub(super) fn resume_end(&mut self, r: Result<R, Payload>) -> GeneratorState<Y, R> {
        self.finish(r).unwrap_or_else(|p| resume_unwind(p))
    }

    /// The body returned (or unwound): its stack goes back, its result comes out.
    #[cold]
    fn finish(&mut self, r: Result<R, Payload>) -> Result<GeneratorState<Y, R>, Payload> {
        self.release();
        r.map(GeneratorState::Complete)
    }

    /// Drops the closure of a body that never started, and finishes.
    #[cold]
    pub(super) fn force_finish(&mut self) {
        if let Some(c) = self.coro.as_mut() {
            c.force_unwind();
        }
        self.release();
    }

    #[inline]
    fn release(&mut self) {
        if let Some(c) = self.coro.take() {
            stacks::give_back(c.into_stack(), self.home);
        }
    }
}

#[cold]
#[inline(never)]
fn finished() -> ! {
    panic!("corio: resumed a generator that has finished (it returned, panicked or was closed)")
}
