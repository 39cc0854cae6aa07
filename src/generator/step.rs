//! How a generator runs its body: one step to the next yield or the end, the relay of a
//! park to the task that resumed it, and finishing (the stack goes back to its pool).

use super::stacks;
use super::yielder::{GeneratorExit, Input};
use super::{Generator, GeneratorState, Stage};
use crate::coro::{Payload, Resumed, TypedCoro};

impl<Y, R, S> Generator<Y, R, S> {
    /// `close`, with the payload of a failed close handed back instead of raised.
    pub(super) fn close_payload(&mut self) -> Result<Option<R>, Payload> {
        match self.stage {
            Stage::Finished => Ok(None),
            Stage::Unstarted => {
                self.force_finish();
                Ok(None)
            }
            Stage::Suspended | Stage::Running => match self.step(Input::Close) {
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
        match self.stage {
            Stage::Finished => Err(p),
            Stage::Unstarted => {
                self.force_finish();
                Err(p)
            }
            Stage::Suspended | Stage::Running => {
                self.coro().slot().set(Some(p));
                self.step(Input::Thrown)
            }
        }
    }

    /// Hands `input` to the body and runs it to its next yield or its end; `Err` is the
    /// payload that unwound out of the body. Inlined into `resume`, so a round trip is one
    /// call and the switch (the cold paths are out of line).
    #[inline(always)]
    pub(super) fn step(&mut self, input: Input<S>) -> Result<GeneratorState<Y, R>, Payload> {
        match self.stage {
            Stage::Unstarted | Stage::Suspended => {}
            Stage::Running => already_running(),
            Stage::Finished => finished(),
        }
        self.stage = Stage::Running;
        self.run_body(input)
    }

    /// The body's coroutine; only while the generator has not finished.
    #[inline(always)]
    fn coro(&mut self) -> &mut TypedCoro<Input<S>, Y, R> {
        match self.coro.as_mut() {
            Some(c) => c,
            None => unreachable!("an unfinished generator has its coroutine"),
        }
    }

    /// Switches into the body until it yields, returns or unwinds.
    #[inline(always)]
    fn run_body(&mut self, input: Input<S>) -> Result<GeneratorState<Y, R>, Payload> {
        match self.coro().resume(input) {
            Resumed::Yielded(y) => {
                self.stage = Stage::Suspended;
                Ok(GeneratorState::Yielded(y))
            }
            Resumed::Parked => self.relay(),
            Resumed::Returned(r) => self.finish(r),
        }
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
                Resumed::Yielded(y) => {
                    self.stage = Stage::Suspended;
                    return Ok(GeneratorState::Yielded(y));
                }
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
        self.stage = Stage::Finished;
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
fn already_running() -> ! {
    panic!("corio: resumed a generator that is running (re-entered from its own body)")
}

#[cold]
#[inline(never)]
fn finished() -> ! {
    panic!("corio: resumed a generator that has finished (it returned, panicked or was closed)")
}
