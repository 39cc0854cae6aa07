//! `ThreadQueue`: one queue between coroutines and plain OS threads (the `janus` idea).
//!
//! The shared state and the ground rules of its wait lists are in `shared.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{GetNowaitError, PutNowaitError, QueueEmpty, QueueFull, QueueShutDown};
use crate::runtime::{WaitList, is_running_here};

mod shared;

use self::shared::{Shared, Side, State};

/// A FIFO queue shared by coroutines and plain OS threads (like Python's `janus`).
///
/// The coroutine side, [`put`](Self::put) and [`get`](Self::get), parks the calling coroutine
/// while the queue is full or empty, and the loop runs other coroutines meanwhile. The blocking
/// side, [`blocking_put`](Self::blocking_put) and [`blocking_get`](Self::blocking_get), parks
/// the calling OS thread instead. [`put_nowait`](Self::put_nowait) and
/// [`get_nowait`](Self::get_nowait) never wait and work anywhere. Handles are cheap clones of
/// one queue, and `ThreadQueue<T>` is `Send + Sync` for `T: Send`, so a clone can go to
/// another thread, or to another loop on another thread.
///
/// ```
/// use corio::ThreadQueue;
///
/// let total = corio::run(|| {
///     let q = ThreadQueue::new(16);
///     let producers: Vec<_> = (0..4u64)
///         .map(|p| {
///             let q = q.clone();
///             std::thread::spawn(move || {
///                 for i in 0..100 {
///                     q.blocking_put(p * 1000 + i).unwrap();
///                 }
///             })
///         })
///         .collect();
///     let mut total = 0;
///     for _ in 0..400 {
///         total += q.get().unwrap(); // parks this coroutine, not the thread
///     }
///     for p in producers {
///         p.join().unwrap();
///     }
///     total
/// });
/// assert_eq!(total, (0..4u64).map(|p| p * 100_000 + 4950).sum::<u64>());
/// ```
///
/// [`close`](Self::close) ends the queue: puts fail and give their item back; gets take what
/// is left, then fail. Waiters of both kinds share one first-come, first-served line per
/// direction, and a put wakes one waiting getter of either kind (a get, one waiting putter).
///
/// A coroutine parked on a `ThreadQueue` waits for something another thread may do, so its
/// loop never reports it as a deadlock ([`RuntimeError::Deadlock`](crate::RuntimeError)):
/// close the queue when no more items will come.
pub struct ThreadQueue<T> {
    inner: Arc<Shared<T>>,
}

impl<T> Clone for ThreadQueue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        ThreadQueue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for ThreadQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state.lock();
        f.debug_struct("ThreadQueue")
            .field("maxsize", &self.inner.maxsize)
            .field("qsize", &st.items.len())
            .field("getters", &st.getters.len())
            .field("putters", &st.putters.len())
            .field("closed", &st.closed)
            .finish()
    }
}

impl<T> Default for ThreadQueue<T> {
    /// An unbounded queue, like `new(0)`.
    fn default() -> Self {
        Self::new(0)
    }
}

fn assert_not_on_loop(what: &str) {
    if is_running_here() {
        panic!(
            "corio::ThreadQueue::{what} would block the event loop's thread; inside a \
             coroutine use the coroutine side (put/get) or the nowait calls"
        );
    }
}

impl<T> ThreadQueue<T> {
    /// A queue that holds at most `maxsize` items; `0` means unbounded.
    ///
    /// ```
    /// let q = corio::ThreadQueue::new(1);
    /// q.put_nowait('a').unwrap();
    /// assert!(q.full());
    /// assert_eq!(q.put_nowait('b').unwrap_err().into_inner(), 'b');
    /// ```
    pub fn new(maxsize: usize) -> Self {
        ThreadQueue {
            inner: Arc::new(Shared {
                state: Mutex::new(State {
                    items: VecDeque::new(),
                    closed: false,
                    getters: WaitList::new(),
                    putters: WaitList::new(),
                }),
                maxsize,
            }),
        }
    }

    /// The number of items the queue may hold; `0` means unbounded.
    pub fn maxsize(&self) -> usize {
        self.inner.maxsize
    }

    /// The number of items in the queue right now (other threads may change it at once).
    pub fn qsize(&self) -> usize {
        self.inner.state.lock().items.len()
    }

    /// `true` if no item is in the queue right now.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// `true` if the queue is bounded and holds `maxsize` items right now.
    pub fn full(&self) -> bool {
        self.inner.state.lock().full(self.inner.maxsize)
    }

    /// `true` once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed
    }

    /// Closes the queue: every put from now on fails and gives its item back, and every
    /// waiter, coroutine or thread, is woken. Gets still take the items left, then fail with
    /// [`QueueShutDown`]. Closing twice does nothing.
    ///
    /// ```
    /// let q = corio::ThreadQueue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.close();
    /// assert!(q.put_nowait(2).unwrap_err().is_shutdown());
    /// assert_eq!(q.get_nowait().unwrap(), 1);
    /// assert!(q.get_nowait().unwrap_err().is_shutdown());
    /// ```
    pub fn close(&self) {
        let mut st = self.inner.state.lock();
        st.closed = true;
        let mut getters = st.getters.take();
        let mut putters = st.putters.take();
        drop(st);
        while let Some(w) = getters.pop().or_else(|| putters.pop()) {
            w.wake();
        }
    }

    /// Puts `item` if there is room now, without waiting; from any thread or coroutine.
    ///
    /// # Errors
    ///
    /// [`PutNowaitError::Full`] if the queue is full, [`PutNowaitError::ShutDown`] once it is
    /// closed; both give the item back.
    pub fn put_nowait(&self, item: T) -> Result<(), PutNowaitError<T>> {
        let mut st = self.inner.state.lock();
        if st.closed {
            return Err(QueueShutDown(item).into());
        }
        match self.inner.try_put(&mut st, item) {
            Ok(getter) => {
                drop(st);
                if let Some(w) = getter {
                    w.wake();
                }
                Ok(())
            }
            Err(item) => Err(QueueFull(item).into()),
        }
    }

    /// Takes the oldest item if there is one, without waiting; from any thread or coroutine.
    ///
    /// # Errors
    ///
    /// [`GetNowaitError::Empty`] if the queue is empty, [`GetNowaitError::ShutDown`] if it is
    /// empty and closed.
    pub fn get_nowait(&self) -> Result<T, GetNowaitError> {
        let mut st = self.inner.state.lock();
        match self.inner.try_get(&mut st) {
            Some((item, putter)) => {
                drop(st);
                if let Some(w) = putter {
                    w.wake();
                }
                Ok(item)
            }
            None if st.closed => Err(QueueShutDown(()).into()),
            None => Err(QueueEmpty.into()),
        }
    }

    /// Puts `item`, parking the calling coroutine while the queue is full.
    ///
    /// ```
    /// corio::run(|| {
    ///     let q = corio::ThreadQueue::new(1);
    ///     q.put(1).unwrap();
    ///     let q2 = q.clone();
    ///     let t = std::thread::spawn(move || q2.blocking_get().unwrap());
    ///     q.put(2).unwrap(); // parks until the thread has taken 1
    ///     assert_eq!(t.join().unwrap(), 1);
    ///     assert_eq!(q.get_nowait().unwrap(), 2);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] with the item if the queue is or gets closed before the item is in.
    ///
    /// # Cancel safety
    ///
    /// If the coroutine is cancelled while parked, the item is not put (it is dropped with the
    /// unwinding frame); a free place it had been woken for goes to the next waiting putter.
    ///
    /// # Panics
    ///
    /// If it must park outside a coroutine.
    pub fn put(&self, item: T) -> Result<(), QueueShutDown<T>> {
        let inner = &*self.inner;
        inner.put_with(item, |st| inner.park_coro(st, Side::Put))
    }

    /// Takes the oldest item, parking the calling coroutine while the queue is empty.
    ///
    /// ```
    /// corio::run(|| {
    ///     let q = corio::ThreadQueue::new(0);
    ///     let q2 = q.clone();
    ///     std::thread::spawn(move || q2.blocking_put("from a thread").unwrap());
    ///     assert_eq!(q.get().unwrap(), "from a thread");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] once the queue is closed and empty.
    ///
    /// # Cancel safety
    ///
    /// No item is lost: items stay in the queue until a getter takes one, and if the coroutine
    /// is cancelled after it was woken for an item, the next waiting getter is woken instead.
    ///
    /// # Panics
    ///
    /// If it must park outside a coroutine.
    pub fn get(&self) -> Result<T, QueueShutDown> {
        let inner = &*self.inner;
        inner.get_with(|st| inner.park_coro(st, Side::Get))
    }

    /// Puts `item`, blocking the calling OS thread while the queue is full.
    ///
    /// ```
    /// let q = corio::ThreadQueue::new(0);
    /// q.blocking_put(5).unwrap();
    /// assert_eq!(q.blocking_get().unwrap(), 5);
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] with the item if the queue is or gets closed before the item is in.
    ///
    /// # Panics
    ///
    /// On a thread that runs a corio loop, where blocking would stall every coroutine (use
    /// [`put`](Self::put) or [`put_nowait`](Self::put_nowait) there).
    pub fn blocking_put(&self, item: T) -> Result<(), QueueShutDown<T>> {
        assert_not_on_loop("blocking_put");
        let inner = &*self.inner;
        inner.put_with(item, |st| inner.park_thread(st, Side::Put))
    }

    /// Takes the oldest item, blocking the calling OS thread while the queue is empty.
    ///
    /// # Errors
    ///
    /// [`QueueShutDown`] once the queue is closed and empty.
    ///
    /// # Panics
    ///
    /// On a thread that runs a corio loop (use [`get`](Self::get) or
    /// [`get_nowait`](Self::get_nowait) there).
    pub fn blocking_get(&self) -> Result<T, QueueShutDown> {
        assert_not_on_loop("blocking_get");
        let inner = &*self.inner;
        inner.get_with(|st| inner.park_thread(st, Side::Get))
    }
}
