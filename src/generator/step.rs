//! How a generator runs its body: one step to the next yield or the end, the relay of a
//! park to the task that resumed it, and finishing (the stack goes back to its pool).

use super::stacks;
use super::yielder::{GeneratorExit, Input, Payload};
use super::{Generator, GeneratorState, Stage};
use crate::coro::Resumed;

impl<Y, R, S> Generator<Y, R, S> {
    /// `close`, with the payload of a failed close handed back instead of raised.
    pub(super) fn close_payload(&mut self) -> Result<Option<R>, Payload> {
        match self.stage {
            Stage::Finished => Ok(None),
            Stage::Unstarted => {
                self.force_finish();
                Ok(None)
            }
            Stage::Suspended | Stage::Running => {
                self.shared.chan.closing.set(true);
                self.shared.chan.thrown.set(Some(Box::new(GeneratorExit)));
                match self.step(Input::Thrown) {
                    Ok(GeneratorState::Complete(r)) => Ok(Some(r)),
                    Ok(GeneratorState::Yielded(_)) => {
                        unreachable!("a closing generator's yield_ panics")
                    }
                    Err(p) if p.is::<GeneratorExit>() => Ok(None),
                    Err(p) => Err(p),
                }
            }
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
                self.shared.chan.thrown.set(Some(p));
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

    /// Switches into the body until it yields, returns or unwinds.
    #[inline(always)]
    fn run_body(&mut self, input: Input<S>) -> Result<GeneratorState<Y, R>, Payload> {
        let coro = match self.coro.as_mut() {
            Some(c) => c,
            None => unreachable!("an unfinished generator has its coroutine"),
        };
        match coro.resume(input) {
            Resumed::Yielded(y) => {
                self.stage = Stage::Suspended;
                Ok(GeneratorState::Yielded(y))
            }
            Resumed::Parked => self.relay(),
            Resumed::Returned => self.finish(),
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
            let coro = match self.coro.as_mut() {
                Some(c) => c,
                None => unreachable!("an unfinished generator has its coroutine"),
            };
            match coro.resume(Input::None) {
                Resumed::Yielded(y) => {
                    self.stage = Stage::Suspended;
                    return Ok(GeneratorState::Yielded(y));
                }
                Resumed::Parked => {}
                Resumed::Returned => return self.finish(),
            }
        }
    }

    /// The body returned (or unwound): its stack goes back, its result comes out.
    #[cold]
    fn finish(&mut self) -> Result<GeneratorState<Y, R>, Payload> {
        self.release();
        self.shared
            .ret
            .take()
            .expect("a finished body left its result")
            .map(GeneratorState::Complete)
    }

    /// Unwinds the body by force (never started: drops its closure) and finishes.
    #[cold]
    pub(super) fn force_finish(&mut self) {
        self.shared.forced.set(true);
        if let Some(c) = self.coro.as_mut() {
            c.force_unwind();
        }
        self.release();
        drop(self.shared.ret.take());
    }

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
