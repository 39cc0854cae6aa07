//! Spawning coroutines from other threads: [`LoopHandle::spawn`] and [`RemoteTask`]
//! (asyncio's `run_coroutine_threadsafe` and the `concurrent.futures.Future` it returns).

use std::cell::Cell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::{Condvar, Mutex};

use super::core::{is_running_here, with_core};
use super::current::current_header;
use super::exception::{Exception, ExceptionContext};
use super::loop_handle::LoopHandle;
use super::park;
use super::report;
use super::step;
use crate::error::{Cancelled, JoinError, RuntimeError};

impl LoopHandle {
    /// Spawns `f` as a task on the loop, from any thread (asyncio's
    /// `run_coroutine_threadsafe`). The task starts in the loop's next iteration, runs like
    /// any task spawned there (it may park, spawn, use every corio call), and its value comes
    /// back through the returned [`RemoteTask`]: [`join`](RemoteTask::join) blocks the calling
    /// thread until then, or `.await` it as a std `Future`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// corio::run(|| {
    ///     let handle = corio::runtime::loop_handle();
    ///     let worker = std::thread::spawn(move || {
    ///         // On a plain thread: run a coroutine on the loop and wait for its value.
    ///         let task = handle
    ///             .spawn(|| {
    ///                 corio::sleep(Duration::from_millis(1));
    ///                 corio::current_task().unwrap().name()
    ///             })
    ///             .unwrap();
    ///         task.join().unwrap()
    ///     });
    ///     // Park this coroutine (not the loop) until the thread is done.
    ///     let name = corio::to_thread(move || worker.join().unwrap()).unwrap();
    ///     assert!(name.starts_with("Task-"));
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`RuntimeError::Closed`] if the loop was closed; `f` is dropped. If the loop closes
    /// before the task ends, the task is cancelled and the [`RemoteTask`] gives
    /// [`JoinError::Cancelled`].
    #[track_caller]
    pub fn spawn<T, F>(&self, f: F) -> Result<RemoteTask<T>, RuntimeError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let at = std::panic::Location::caller();
        let remote = Arc::new(Remote {
            state: Mutex::new(RemoteState {
                result: None,
                finished: false,
                waker: None,
                task: None,
                handle_alive: true,
            }),
            done: Condvar::new(),
        });
        let finisher = Finisher(Some(remote.clone()));
        self.call_soon_threadsafe(move || start(finisher, f, at))?;
        Ok(RemoteTask {
            remote,
            handle: self.clone(),
        })
    }
}

/// Runs on the loop's thread: spawns the task, which hands its value to `finisher`.
fn start<T, F>(finisher: Finisher<T>, f: F, at: &'static std::panic::Location<'static>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let remote = finisher.0.clone().expect("an unused finisher");
    // Shared with the coroutine, so that a failed spawn can still report why.
    let unstarted = Rc::new(Cell::new(Some(finisher)));
    let for_task = unstarted.clone();
    let spawned = with_core(|core| {
        step::spawn_raw(core, (None, None, at), move || {
            let finisher = for_task.take().expect("the task body runs once");
            match catch_unwind(AssertUnwindSafe(f)) {
                Ok(v) => finisher.finish(Ok(v)),
                Err(p) => {
                    let closing = current_header().is_some_and(|h| h.closing.get());
                    if closing || p.is::<Cancelled>() {
                        finisher.finish(Err(JoinError::Cancelled));
                        resume_unwind(p)
                    }
                    finisher.finish(Err(JoinError::Panicked(p)));
                }
            }
        })
    });
    match spawned {
        Some(Ok(cell)) => {
            let h = cell.header();
            let mut st = remote.state.lock();
            if !st.finished {
                st.task = Some((h.registry_key.get(), h.id()));
            }
        }
        Some(Err(e)) => {
            if let Some(finisher) = unstarted.take() {
                let msg = format!("corio: could not spawn the task: {e}");
                finisher.finish(Err(JoinError::Panicked(Box::new(msg))));
            }
        }
        None => {} // no loop: `unstarted` drops the finisher, which reports `Cancelled`
    }
}

/// The loop-side end of a [`RemoteTask`]: delivers the task's result once. Dropped without
/// delivering (the closure never ran: loop closed, or cancelled first), it delivers
/// `Cancelled`.
struct Finisher<T>(Option<Arc<Remote<T>>>);

impl<T> Finisher<T> {
    fn finish(mut self, r: Result<T, JoinError>) {
        if let Some(remote) = self.0.take() {
            remote.finish(r);
        }
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        if let Some(remote) = self.0.take() {
            remote.finish(Err(JoinError::Cancelled));
        }
    }
}

struct Remote<T> {
    state: Mutex<RemoteState<T>>,
    done: Condvar,
}

struct RemoteState<T> {
    /// The task's value, until taken.
    result: Option<Result<T, JoinError>>,
    finished: bool,
    /// The std waker of the last poll of the `RemoteTask` as a `Future`.
    waker: Option<std::task::Waker>,
    /// The task's registry key and id on the loop, once spawned and until it ends.
    task: Option<(usize, u64)>,
    /// The `RemoteTask` has not been dropped.
    handle_alive: bool,
}

impl<T> Remote<T> {
    fn finish(&self, r: Result<T, JoinError>) {
        let mut st = self.state.lock();
        if st.finished {
            return;
        }
        st.finished = true;
        st.task = None;
        let waker = st.waker.take();
        let unretrieved = if st.handle_alive {
            st.result = Some(r);
            None
        } else {
            Some(r)
        };
        drop(st);
        self.done.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
        if let Some(Err(JoinError::Panicked(p))) = unretrieved {
            // On the loop's thread, in the task that ended (or in the callback that could not
            // spawn it).
            let ctx = unretrieved_context(p).in_current_task();
            report::report(ctx, |_| true);
        }
    }
}

/// A panic of a task spawned from another thread, which no `RemoteTask` is left to take.
fn unretrieved_context(p: Box<dyn std::any::Any + Send>) -> ExceptionContext {
    let mut ctx = ExceptionContext::new("Task exception was never retrieved");
    ctx.exception = Some(Exception::Panic(p));
    ctx
}

/// A task spawned on a loop from another thread by [`LoopHandle::spawn`]: `Send + Sync`, so
/// any thread can wait for its value with [`join`](Self::join), and it is a std `Future`
/// (`Output = Result<T, JoinError>`) for async code.
///
/// Dropping it does not cancel the task (as with [`Task`](crate::Task)); a panic nobody will
/// receive then goes to the loop's exception handler when the task ends.
pub struct RemoteTask<T> {
    remote: Arc<Remote<T>>,
    handle: LoopHandle,
}

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteTask")
            .field("finished", &self.remote.state.lock().finished)
            .finish()
    }
}

impl<T: Send + 'static> RemoteTask<T> {
    /// Blocks the calling thread until the task ends and returns its value.
    ///
    /// ```
    /// let lp = corio::EventLoop::new().unwrap();
    /// let handle = lp.handle();
    /// let t = std::thread::spawn(move || handle.spawn(|| 6 * 7).unwrap().join());
    /// // Run the loop until the thread has its answer.
    /// let joined = lp
    ///     .run_until_complete(move || corio::to_thread(move || t.join().unwrap()).unwrap())
    ///     .unwrap();
    /// assert_eq!(joined.unwrap(), 42);
    /// ```
    ///
    /// # Errors
    ///
    /// [`JoinError::Cancelled`] if the task was cancelled (by [`cancel`](Self::cancel), or by
    /// the loop closing before it ended), [`JoinError::Panicked`] with the payload if it
    /// panicked.
    ///
    /// # Panics
    ///
    /// On a thread that runs a corio loop: blocking there would stall that loop (and deadlock
    /// if it is the task's own). Inside a coroutine, wait with
    /// [`compat::block_on`](crate::compat::block_on) instead, or use [`Task`](crate::Task).
    pub fn join(self) -> Result<T, JoinError> {
        if is_running_here() {
            panic!(
                "corio: RemoteTask::join would block an event loop's thread; inside a coroutine \
                 use corio::compat::block_on(remote_task)"
            );
        }
        let mut st = self.remote.state.lock();
        while !st.finished {
            self.remote.done.wait(&mut st);
        }
        st.result.take().unwrap_or(Err(JoinError::Cancelled))
    }

    /// `true` once the task has ended, however it ended.
    pub fn is_finished(&self) -> bool {
        self.remote.state.lock().finished
    }

    /// Requests cancellation of the task, from any thread: on the loop, its current or next
    /// suspension point unwinds with [`Cancelled`](crate::Cancelled), as [`Task::cancel`]
    /// does. Returns `false` if the task already ended or the loop is closed (nothing to
    /// cancel), `true` if the request was sent.
    ///
    /// [`Task::cancel`]: crate::Task::cancel
    pub fn cancel(&self) -> bool {
        if self.is_finished() {
            return false;
        }
        let remote = self.remote.clone();
        self.handle
            .call_soon_threadsafe(move || {
                let Some((key, id)) = remote.state.lock().task else {
                    return;
                };
                let task = with_core(|c| c.task_by_key(key)).flatten();
                if let Some(task) = task.filter(|t| t.header().id() == id) {
                    park::cancel(&task);
                }
            })
            .is_ok()
    }
}

impl<T> Drop for RemoteTask<T> {
    fn drop(&mut self) {
        let mut st = self.remote.state.lock();
        st.handle_alive = false;
        let r = st.result.take();
        drop(st);
        if let Some(Err(JoinError::Panicked(p))) = r {
            // Any thread: the task's loop hears of it if it runs here.
            let shared = &self.handle.shared;
            report::report(unretrieved_context(p), |c| Arc::ptr_eq(&c.shared, shared));
        }
    }
}

impl<T> std::future::Future for RemoteTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.remote.state.lock();
        if st.finished {
            return Poll::Ready(st.result.take().unwrap_or(Err(JoinError::Cancelled)));
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}
