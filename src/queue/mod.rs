//! Queues (asyncio's `queues.py`, Python 3.13 with `shutdown`), and one queue between
//! coroutines and OS threads (Python's `janus`).
//!
//! | type | `get` returns | asyncio |
//! |---|---|---|
//! | [`Queue`] | the oldest item | `Queue` |
//! | [`LifoQueue`] | the newest item | `LifoQueue` |
//! | [`PriorityQueue`] | the smallest item | `PriorityQueue` |
//! | [`ThreadQueue`] | the oldest item, to coroutines and OS threads alike | `janus.Queue` |
//!
//! The first three belong to one loop and share one behaviour ([`ThreadQueue`] is described
//! on its own page):
//!
//! * `put` parks while the queue is full (a `maxsize` of 0 means unbounded), `get` while it
//!   is empty; `put_nowait` / `get_nowait` fail instead of parking, giving the item back.
//! * `task_done` and `join` count processed items; `shutdown(immediate)` ends the queue:
//!   puts fail, gets drain what is left (or nothing, if immediate) and then fail.
//! * Parked getters and parked putters are each served first come, first served. An item
//!   put while a getter is parked goes straight to the getter that waited longest, and a
//!   place freed while a putter is parked is kept for the putter that waited longest: a
//!   coroutine calling `get_nowait` or `put_nowait` in between cannot take either, so no
//!   parked coroutine starves.
//! * Cancellation loses nothing: a getter cancelled after it was handed an item passes the
//!   item to the next parked getter, or else puts it back where it would be had it never
//!   left (the front of a FIFO, the bottom of a LIFO); a putter cancelled after it was
//!   granted a place passes the place on.
//!
//! Where the hand-off differs from asyncio, which leaves the item in the queue until the
//! woken getter runs: an item handed to a parked getter is no longer counted by `qsize` and
//! cannot be taken by `get_nowait`, yet it counts against `maxsize` until the getter resumes
//! (as in asyncio, where it is still in the queue); and a getter parked on an empty
//! [`PriorityQueue`] receives the first item put, even if a smaller one follows before it
//! resumes.
//!
//! ```
//! use corio::Queue;
//!
//! corio::run(|| {
//!     let jobs = Queue::new(4);
//!     let results = Queue::new(0);
//!     let workers: Vec<_> = (0..3)
//!         .map(|_| {
//!             let (jobs, results) = (jobs.clone(), results.clone());
//!             corio::spawn(move || {
//!                 while let Ok(n) = jobs.get() {
//!                     results.put(n * n).unwrap();
//!                     jobs.task_done().unwrap();
//!                 }
//!             })
//!         })
//!         .collect();
//!     for n in 1..=10u32 {
//!         jobs.put(n).unwrap();
//!     }
//!     jobs.join();
//!     jobs.shutdown(false);
//!     for w in workers {
//!         w.join().unwrap();
//!     }
//!     let total: u32 = std::iter::from_fn(|| results.get_nowait().ok()).sum();
//!     assert_eq!(total, 385);
//! });
//! ```

mod engine;
mod handles;
mod store;
mod thread_queue;
mod waiters;

pub use crate::error::{
    GetNowaitError, PutNowaitError, QueueEmpty, QueueFull, QueueShutDown, TaskDoneError,
};
pub use handles::{LifoQueue, PriorityQueue, Queue};
pub use thread_queue::ThreadQueue;
