//! The bridge to async Rust: drive std `Future`s inside coroutines, and await coroutine work
//! from async code.
//!
//! * [`block_on`] polls a std `Future` inside a coroutine; while it is pending, only the
//!   coroutine parks, and the loop runs the others. Its `Waker` is `Send + Sync` and may be
//!   woken from any thread: on the loop's thread it reschedules the coroutine at once, from
//!   another thread it goes through the loop's thread-safe queue
//!   ([`LoopHandle::call_soon_threadsafe`](crate::LoopHandle::call_soon_threadsafe)), which
//!   pokes the poller only when the loop sleeps.
//! * [`spawn_future`] runs a std `Future` as a corio task.
//! * [`Task<T>`](crate::Task) and [`RemoteTask<T>`](crate::runtime::RemoteTask) are std
//!   `Future`s with `Output = Result<T, JoinError>`, so async code running under
//!   `block_on` or `spawn_future` can await coroutine work.
//!
//! Futures from runtimes that keep their own reactor thread (the smol family: `async-io`,
//! `async-channel`, `event-listener`, `futures-lite`) work unchanged. Futures that need a
//! tokio runtime to be entered (tokio's sockets and timers) do not.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::run(|| {
//!     // A coroutine's work, awaited by async code running as a corio task.
//!     let sleeper = corio::spawn(|| { corio::sleep(Duration::from_millis(1)); 20 });
//!     let async_task = corio::compat::spawn_future(async move {
//!         let n = sleeper.await.unwrap();
//!         futures_lite::future::yield_now().await;
//!         n + 1
//!     });
//!     // And a plain coroutine waiting on a std future.
//!     let doubled = corio::compat::block_on(async { 21 * 2 });
//!     assert_eq!(async_task.join().unwrap() + doubled, 63);
//! });
//! ```

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake};

use parking_lot::Mutex;

use crate::error::JoinError;
use crate::runtime::SendWaker;
use crate::task::{Task, spawn};

/// The waker `block_on` polls with.
///
/// `woken` records every wake; `armed` holds a waker for the coroutine's park only while it
/// is about to park, so a wake during a poll is never delivered to the coroutine as a stray
/// wake-up of some later, unrelated park.
struct Signal {
    woken: AtomicBool,
    armed: Mutex<Option<SendWaker>>,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        let armed = self.armed.lock().take();
        if let Some(w) = armed {
            w.wake();
        }
    }
}

/// Drives the std future `fut` to completion inside the current coroutine and returns its
/// output. While `fut` is pending the coroutine parks and the loop runs other coroutines; a
/// wake of `fut`'s waker, from this thread or any other, resumes it and `fut` is polled again.
///
/// ```
/// corio::run(|| {
///     let (tx, rx) = async_channel::bounded(1);
///     let t = std::thread::spawn(move || tx.send_blocking("from a thread").unwrap());
///     let got = corio::compat::block_on(rx.recv()).unwrap();
///     assert_eq!(got, "from a thread");
///     t.join().unwrap();
/// });
/// ```
///
/// Do not use a blocking executor's `block_on` (`futures_lite::future::block_on`,
/// `futures::executor::block_on`) inside a coroutine: it blocks the loop's thread, and a
/// future waiting on coroutine work then never completes.
///
/// # Cancel safety
///
/// If the coroutine is cancelled while `fut` is pending, `fut` is dropped as the coroutine
/// unwinds, which is how std futures are cancelled. A wake that arrives later does nothing.
///
/// # Panics
///
/// Outside a coroutine. A panic in `fut`'s `poll` unwinds out of `block_on`.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    if crate::runtime::current_header().is_none() {
        panic!(
            "corio::compat::block_on: call it inside a coroutine (corio::run or a task); \
             outside one use futures_lite::future::block_on"
        );
    }
    let mut fut = pin!(fut);
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        armed: Mutex::new(None),
    });
    let waker = std::task::Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        signal.woken.store(false, Ordering::SeqCst);
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        *signal.armed.lock() = Some(SendWaker::current());
        if signal.woken.load(Ordering::SeqCst) && signal.armed.lock().take().is_some() {
            // Woken while polling, before the waker was armed: poll again at once.
            continue;
        }
        // Either not woken yet, or a wake took the armed waker and this park returns at once.
        crate::runtime::park_external(&crate::runtime::Named("future"));
        signal.armed.lock().take();
    }
}

/// Runs the std future `fut` as a new corio task and returns its [`Task`] (the coroutine
/// drives `fut` with [`block_on`]).
///
/// ```
/// corio::run(|| {
///     let t = corio::compat::spawn_future(async {
///         let mut s = futures_lite::stream::iter(1..=4);
///         let mut sum = 0;
///         while let Some(n) = futures_lite::StreamExt::next(&mut s).await {
///             sum += n;
///         }
///         sum
///     });
///     assert_eq!(t.join().unwrap(), 10);
/// });
/// ```
///
/// # Panics
///
/// Outside a running loop, as [`spawn`].
pub fn spawn_future<F>(fut: F) -> Task<F::Output>
where
    F: std::future::Future + 'static,
    F::Output: 'static,
{
    spawn(move || block_on(fut))
}

/// A [`Task`] is a std `Future` of its result, so async code can await coroutine work.
///
/// Awaiting it is like [`Task::join`] except for cancellation: dropping the pending future
/// does not cancel the task (dropping a `Task` never does). Once it has given its value, it
/// gives `Err(JoinError::Cancelled)` if polled again.
///
/// ```
/// corio::run(|| {
///     let t = corio::spawn(|| { corio::yield_now(); "coroutine work" });
///     let v = corio::compat::block_on(t).unwrap();
///     assert_eq!(v, "coroutine work");
/// });
/// ```
impl<T: 'static> std::future::Future for Task<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.try_take() {
            return Poll::Ready(r);
        }
        if self.is_done() {
            return Poll::Ready(Err(JoinError::Cancelled)); // the value was taken before
        }
        let raw = self.raw();
        let slot = &raw.header().std_waker;
        let old = slot.take();
        match old {
            Some(w) if w.will_wake(cx.waker()) => slot.set(Some(w)),
            _ => {
                slot.set(Some(cx.waker().clone()));
                drop(old); // a foreign waker's drop runs once the slot is whole again
            }
        }
        Poll::Pending
    }
}
