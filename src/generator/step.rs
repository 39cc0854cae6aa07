//! How a generator runs its body: one step to the next yield or the end, the relay of a
//! park to the task that resumed it, and finishing (the stack goes back to its pool).

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
            Resumed::Parked => self.relay(),
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
    fn coro(&mut self) -> &mut TypedCoro<Input<S>, Y, R> {
        match self.coro.as_mut() {
            Some(c) => c,
            None => unreachable!("an unfinished generator has its coroutine"),
        }
    }

    /// What `resume` does when the body did not yield: relays a park, or finishes (raising
    /// the body's panic).
    #[inline(never)]
    pub(super) fn resume_slow(&mut self, r: Resumed<Y, R>) -> GeneratorState<Y, R> {
        let r = match r {
            Resumed::Yielded(y) => Ok(GeneratorState::Yielded(y)),
            Resumed::Parked => self.relay(),
            Resumed::Returned(r) => self.finish(r),
        };
        r.unwrap_or_else(|p| resume_unwind(p))
    }

    /// The body parked without yielding: parks the task in its place (module docs), then
    /// resumes the body, as often as it parks.
    #[cold]
    #[inline(never)]
    fn relay(&mut self) -> Result<GeneratorState<Y, R>, Payload> {
        loop {
            let guard = UnwindOnExit(self);
            crate::runtime::relay_park();
            std::mem::forget(guard);
            match self.coro().resume(Input::None) {
                Resumed::Yielded(y) => return Ok(GeneratorState::Yielded(y)),
                Resumed::Parked => {}
                Resumed::Returned(r) => return self.finish(r),
            }
        }
    }

    /// The body returned (or unwound): its stack goes back, its result comes out.
    #[cold]
    fn finish(&mut self, r: Result<R, Payload>) -> Result<GeneratorState<Y, R>, Payload> {
        self.release();
        r.map(GeneratorState::Complete)
    }

    /// Unwinds the body by force (never started: drops its closure) and finishes.
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

/// Unwinds a generator parked inside a task when the task's frame that resumed it unwinds
/// instead of resuming it (the loop unwinding the task by force).
struct UnwindOnExit<'a, Y, R, S>(&'a mut Generator<Y, R, S>);

impl<Y, R, S> Drop for UnwindOnExit<'_, Y, R, S> {
    fn drop(&mut self) {
        self.0.force_finish();
    }
}

#[cold]
#[inline(never)]
fn finished() -> ! {
    panic!("corio: resumed a generator that has finished (it returned, panicked or was closed)")
}
