//! The cell a job run on the pool leaves its value in, and the waiting coroutine's side of it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{JoinError, panic_text};
use crate::runtime::SendWaker;

/// Why a job gave no value.
pub(super) enum Failure {
    Panicked(Box<dyn Any + Send + 'static>),
    /// Dropped without running (the pool shut down or could not start a thread).
    NotRun,
}

/// Where a job leaves its value for the coroutine waiting on it.
pub(super) struct ResultCell<T> {
    pub(super) state: Mutex<CellState<T>>,
}

pub(super) enum CellState<T> {
    /// The job has not finished; the waker wakes the waiting coroutine.
    Waiting(Option<SendWaker>),
    Done(Result<T, Failure>),
    /// The waiting coroutine was cancelled: the value is dropped when it comes.
    Abandoned,
    /// The waiter took the value.
    Taken,
}

/// The job's side of a [`ResultCell`]: fills it when the job ends, or with `NotRun` if the job is
/// dropped unrun.
pub(super) struct Completion<T> {
    pub(super) cell: Option<Arc<ResultCell<T>>>,
}

impl<T> Completion<T> {
    /// `true` if the waiting coroutine was cancelled (nobody wants the value any more).
    pub(super) fn abandoned(&self) -> bool {
        self.cell
            .as_ref()
            .is_some_and(|c| matches!(*c.state.lock(), CellState::Abandoned))
    }

    pub(super) fn complete(mut self, r: Result<T, Failure>) {
        if let Some(cell) = self.cell.take() {
            fill(&cell, r);
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            fill(&cell, Err(Failure::NotRun));
        }
    }
}

fn fill<T>(cell: &ResultCell<T>, r: Result<T, Failure>) {
    let mut st = cell.state.lock();
    match &mut *st {
        CellState::Waiting(w) => {
            let w = w.take();
            *st = CellState::Done(r);
            drop(st);
            if let Some(w) = w {
                w.wake();
            }
        }
        _ => {
            drop(st);
            if let Err(Failure::Panicked(p)) = &r {
                report_abandoned_panic(p.as_ref());
            }
            // The caller is gone: the value is dropped here, on the pool's thread.
            drop_reporting(r);
        }
    }
}

/// Drops what nobody will receive (an abandoned job's value, its panic payload, or its
/// function when it never ran). A panic in that `Drop` is reported and goes no further: on a
/// pool thread it would end the thread, and on the loop's thread, in a coroutine already
/// unwinding from its cancellation, it would abort the process.
pub(super) fn drop_reporting<V>(v: V) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
        report_and_leak(
            "dropping an executor job's value or function, whose coroutine was cancelled, \
             panicked",
            p,
        );
    }
}

/// Reports a panic nobody can receive, `what` saying where it came from, and leaks its
/// payload: the payload's own drop may panic too, and must not unwind here.
pub(super) fn report_and_leak(what: &str, p: Box<dyn Any + Send>) {
    report_panic(what, p.as_ref());
    std::mem::forget(p);
}

/// Reports on stderr a panic nobody can receive: `what`, then the panic's message.
fn report_panic(what: &str, p: &(dyn Any + Send)) {
    let msg = panic_text(p);
    crate::runtime::emit_report(
        crate::runtime::ReportLevel::Error,
        &format!("{what}: {msg}"),
    );
}

fn report_abandoned_panic(p: &(dyn Any + Send)) {
    report_panic(
        "a function run in the executor panicked after the coroutine waiting for it was \
         cancelled",
        p,
    );
}

/// The waiting coroutine's side: if it unwinds (cancelled, or the loop closes), the cell is
/// marked abandoned, and a value already there is dropped (a panic in it reported).
struct AbandonGuard<'a, T>(&'a ResultCell<T>);

impl<T> Drop for AbandonGuard<'_, T> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        let was = std::mem::replace(&mut *st, CellState::Abandoned);
        drop(st);
        if let CellState::Done(Err(Failure::Panicked(p))) = &was {
            report_abandoned_panic(p.as_ref());
        }
        drop_reporting(was);
    }
}

impl<T> ResultCell<T> {
    /// A cell the current coroutine waits on.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(super) fn new_for_current() -> Arc<ResultCell<T>> {
        Arc::new(ResultCell {
            state: Mutex::new(CellState::Waiting(Some(SendWaker::current()))),
        })
    }

    /// Parks the current coroutine until the job has filled the cell; its value. If the
    /// coroutine unwinds meanwhile, the cell is marked abandoned.
    pub(super) fn wait(&self) -> Result<T, JoinError> {
        let abandon = AbandonGuard(self);
        loop {
            crate::runtime::park_external(&crate::runtime::Named("executor"));
            let mut st = self.state.lock();
            match std::mem::replace(&mut *st, CellState::Taken) {
                CellState::Done(r) => {
                    drop(st);
                    std::mem::forget(abandon);
                    return r.map_err(|f| match f {
                        Failure::Panicked(p) => JoinError::Panicked(p),
                        Failure::NotRun => JoinError::Cancelled,
                    });
                }
                // Woken by something else (never expected): wait again with a fresh waker.
                _ => *st = CellState::Waiting(Some(SendWaker::current())),
            }
        }
    }
}
