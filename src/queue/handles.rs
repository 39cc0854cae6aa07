//! The public queue types: thin, cloneable handles over one shared [`Engine`]. The three
//! differ only in their store, so one macro writes their methods.

use std::fmt;
use std::rc::Rc;

use super::engine::Engine;
use super::store::{Fifo, Lifo, Priority};
use crate::error::{GetNowaitError, PutNowaitError, QueueShutDown, TaskDoneError};

macro_rules! queue_handle {
    (
        $(#[$meta:meta])*
        $name:ident, $store:ident, [$($bound:tt)*]
    ) => {
        $(#[$meta])*
        pub struct $name<T> {
            engine: Rc<Engine<T, $store<T>>>,
        }

        impl<T> Clone for $name<T> {
            /// Another handle to the same queue.
            fn clone(&self) -> Self {
                $name {
                    engine: self.engine.clone(),
                }
            }
        }

        impl<T: $($bound)*> Default for $name<T> {
            /// An unbounded queue, like `new(0)`.
            #[track_caller]
            fn default() -> Self {
                Self::new(0)
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!("<", stringify!($name), " {:?}>"), self.engine)
            }
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue that holds at most `maxsize` items; `0` means unbounded.
            ///
            /// ```
            #[doc = concat!("let q = corio::", stringify!($name), "::new(2);")]
            /// assert_eq!(q.maxsize(), 2);
            /// q.put_nowait(1).unwrap();
            /// q.put_nowait(2).unwrap();
            /// assert!(q.full());
            /// assert!(q.put_nowait(3).unwrap_err().is_full());
            /// ```
            #[track_caller]
            pub fn new(maxsize: usize) -> Self {
                $name {
                    engine: Rc::new(Engine::new($store::new(), maxsize)),
                }
            }

            /// The number of items the queue may hold; `0` means unbounded.
            pub fn maxsize(&self) -> usize {
                self.engine.maxsize()
            }

            /// The number of items waiting in the queue.
            ///
            /// An item handed straight to a parked getter is not in the queue: it already
            /// belongs to that getter.
            pub fn qsize(&self) -> usize {
                self.engine.qsize()
            }

            /// `true` if no item waits in the queue, so `get_nowait` would fail.
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// `true` if `put_nowait` would fail for lack of room; never for an unbounded queue.
            ///
            /// Items handed to parked getters and places granted to parked putters count
            /// against `maxsize` until their coroutine resumes, so `full()` can be true while
            /// `qsize() < maxsize()`.
            pub fn full(&self) -> bool {
                self.engine.full()
            }

            /// `true` once [`shutdown`](Self::shutdown) was called.
            pub fn is_shutdown(&self) -> bool {
                self.engine.is_shutdown()
            }

            /// Puts `item` into the queue, parking while it is full.
            ///
            /// If a getter is parked, the item goes straight to the one that waited longest.
            /// Parked putters are served first come, first served; a freed place is kept for
            /// the putter it was granted to.
            ///
            /// ```
            /// corio::run(|| {
            #[doc = concat!("    let q = corio::", stringify!($name), "::new(1);")]
            ///     q.put(1).unwrap();
            ///     let q2 = q.clone();
            ///     let producer = corio::spawn(move || q2.put(2)); // parks: the queue is full
            ///     corio::yield_now();
            ///     assert!(!producer.is_done());
            ///     assert_eq!(q.get().unwrap(), 1);
            ///     producer.join().unwrap().unwrap();
            ///     assert_eq!(q.get().unwrap(), 2);
            /// });
            /// ```
            ///
            /// # Errors
            ///
            /// [`QueueShutDown`] with the item if the queue is or gets shut down before the
            /// item is in.
            ///
            /// # Cancel safety
            ///
            /// If the coroutine is cancelled while parked, the item is not put (it is dropped
            /// with the unwinding frame), and a free place it had already been granted goes to
            /// the next parked putter.
            ///
            /// # Panics
            ///
            /// If it must park outside a coroutine.
            pub fn put(&self, item: T) -> Result<(), QueueShutDown<T>> {
                self.engine.put(item)
            }

            /// Puts `item` into the queue if there is room now, without parking.
            ///
            /// ```
            #[doc = concat!("let q = corio::", stringify!($name), "::new(1);")]
            /// q.put_nowait("a").unwrap();
            /// let err = q.put_nowait("b").unwrap_err();
            /// assert!(err.is_full());
            /// assert_eq!(err.into_inner(), "b");
            /// ```
            ///
            /// # Errors
            ///
            /// [`PutNowaitError::Full`] if there is no room, [`PutNowaitError::ShutDown`] after
            /// [`shutdown`](Self::shutdown); both give the item back.
            pub fn put_nowait(&self, item: T) -> Result<(), PutNowaitError<T>> {
                self.engine.put_nowait(item)
            }

            /// Removes and returns an item, parking while the queue is empty.
            ///
            /// Parked getters are served first come, first served; an item handed to one is
            /// kept for it (a `get_nowait` from elsewhere cannot take it).
            ///
            /// ```
            /// corio::run(|| {
            #[doc = concat!("    let q = corio::", stringify!($name), "::<u32>::new(0);")]
            ///     let q2 = q.clone();
            ///     let consumer = corio::spawn(move || q2.get().unwrap());
            ///     corio::yield_now(); // the consumer parks on the empty queue
            ///     q.put(7).unwrap();
            ///     assert_eq!(consumer.join().unwrap(), 7);
            /// });
            /// ```
            ///
            /// # Errors
            ///
            /// [`QueueShutDown`] once the queue is shut down and empty (at once after an
            /// immediate shutdown). Items left at a normal shutdown are still returned.
            ///
            /// # Cancel safety
            ///
            /// No item is lost: if the coroutine is cancelled after an item was handed to it,
            /// the item goes to the next parked getter, or back into the queue where it would be
            /// had it never left (the front of a [`Queue`], the bottom of a [`LifoQueue`]).
            ///
            /// # Panics
            ///
            /// If it must park outside a coroutine.
            pub fn get(&self) -> Result<T, QueueShutDown> {
                self.engine.get()
            }

            /// Removes and returns an item if one is waiting, without parking.
            ///
            /// ```
            #[doc = concat!("let q = corio::", stringify!($name), "::new(0);")]
            /// assert!(q.get_nowait().unwrap_err().is_empty());
            /// q.put_nowait(5).unwrap();
            /// assert_eq!(q.get_nowait().unwrap(), 5);
            /// q.shutdown(false);
            /// assert!(q.get_nowait().unwrap_err().is_shutdown());
            /// ```
            ///
            /// # Errors
            ///
            /// [`GetNowaitError::Empty`] if no item waits; [`GetNowaitError::ShutDown`] if none
            /// waits and the queue is shut down.
            pub fn get_nowait(&self) -> Result<T, GetNowaitError> {
                self.engine.get_nowait()
            }

            /// Marks one item taken from the queue as processed, for [`join`](Self::join).
            ///
            /// Every put counts one unfinished item; each `task_done` call counts one down.
            ///
            /// ```
            #[doc = concat!("let q = corio::", stringify!($name), "::new(0);")]
            /// q.put_nowait(1).unwrap();
            /// q.get_nowait().unwrap();
            /// q.task_done().unwrap();
            /// assert!(q.task_done().is_err(), "only one item was put");
            /// ```
            ///
            /// # Errors
            ///
            /// [`TaskDoneError`] if called more times than items were put.
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.engine.task_done()
            }

            /// Parks until every item put has been marked done with
            /// [`task_done`](Self::task_done). Returns at once if none is unfinished.
            ///
            /// ```
            /// corio::run(|| {
            #[doc = concat!("    let q = corio::", stringify!($name), "::new(0);")]
            ///     let worker = {
            ///         let q = q.clone();
            ///         corio::spawn(move || while let Ok(_item) = q.get() { q.task_done().unwrap(); })
            ///     };
            ///     for i in 0..10 { q.put(i).unwrap(); }
            ///     q.join(); // parks until the worker has processed all ten
            ///     assert!(q.empty());
            ///     q.shutdown(false);
            ///     worker.join().unwrap();
            /// });
            /// ```
            ///
            /// # Cancel safety
            ///
            /// Cancelling a joiner only removes it from the queue's waiters.
            ///
            /// # Panics
            ///
            /// If it must park outside a coroutine.
            pub fn join(&self) {
                self.engine.join()
            }

            /// Shuts the queue down (Python 3.13's `Queue.shutdown`).
            ///
            /// Every later put fails with [`QueueShutDown`]. Gets go on returning the items
            /// left, then fail; with `immediate`, the items left are dropped at once (each
            /// counted as done for [`join`](Self::join)) and gets fail at once. Every
            /// coroutine parked in `put` or `get` is woken to see this.
            ///
            /// ```
            /// corio::run(|| {
            #[doc = concat!("    let q = corio::", stringify!($name), "::new(0);")]
            ///     q.put(1).unwrap();
            ///     q.shutdown(false);
            ///     assert_eq!(q.put(2).unwrap_err().into_inner(), 2);
            ///     assert_eq!(q.get().unwrap(), 1);
            ///     assert!(q.get().is_err());
            /// });
            /// ```
            pub fn shutdown(&self, immediate: bool) {
                self.engine.shutdown(immediate)
            }
        }
    };
}

queue_handle! {
    /// A first-in, first-out queue for coroutines of one loop (asyncio's `Queue`).
    ///
    /// `put` parks while the queue is full, `get` while it is empty. A handle is a cheap
    /// clone (an `Rc`) of the same queue; give one to each producer and consumer.
    ///
    /// ```
    /// corio::run(|| {
    ///     let q = corio::Queue::new(2);
    ///     let producer = {
    ///         let q = q.clone();
    ///         corio::spawn(move || {
    ///             for i in 0..5 { q.put(i).unwrap(); } // parks whenever two are waiting
    ///             q.shutdown(false);
    ///         })
    ///     };
    ///     let mut got = Vec::new();
    ///     while let Ok(i) = q.get() {
    ///         got.push(i);
    ///     }
    ///     assert_eq!(got, [0, 1, 2, 3, 4]);
    ///     producer.join().unwrap();
    /// });
    /// ```
    ///
    /// A queue lives on one thread, with its loop:
    ///
    /// ```compile_fail
    /// fn assert_send<T: Send>(_: T) {}
    /// assert_send(corio::Queue::<u32>::new(0));
    /// ```
    Queue, Fifo, []
}

queue_handle! {
    /// A last-in, first-out queue (asyncio's `LifoQueue`): `get` returns the newest item.
    ///
    /// Everything else is as for [`Queue`].
    ///
    /// ```
    /// corio::run(|| {
    ///     let q = corio::LifoQueue::new(0);
    ///     for i in [1, 3, 2] { q.put(i).unwrap(); }
    ///     let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
    ///     assert_eq!(got, [2, 3, 1]);
    /// });
    /// ```
    ///
    /// A `LifoQueue` belongs to one loop's thread (`!Send`); [`ThreadQueue`](crate::ThreadQueue) is
    /// the queue to share with other threads.
    ///
    /// ```compile_fail
    /// fn assert_send<T: Send>() {}
    /// assert_send::<corio::LifoQueue<u32>>();
    /// ```
    LifoQueue, Lifo, []
}

queue_handle! {
    /// A priority queue (asyncio's `PriorityQueue`): `get` returns the smallest item, as
    /// `heapq` does; equal items come out in the order they were put.
    ///
    /// Put `(priority, data)` tuples to order by priority. Everything else is as for
    /// [`Queue`]. A getter that was parked on the empty queue receives the first item put,
    /// even if a smaller one is put before it resumes: it was served the moment it got it.
    ///
    /// ```
    /// corio::run(|| {
    ///     let q = corio::PriorityQueue::new(0);
    ///     q.put((2, "write")).unwrap();
    ///     q.put((1, "read")).unwrap();
    ///     q.put((3, "close")).unwrap();
    ///     let got: Vec<&str> = (0..3).map(|_| q.get().unwrap().1).collect();
    ///     assert_eq!(got, ["read", "write", "close"]);
    /// });
    /// ```
    ///
    /// A `PriorityQueue` belongs to one loop's thread (`!Send`);
    /// [`ThreadQueue`](crate::ThreadQueue) is the queue to share with other threads.
    ///
    /// ```compile_fail
    /// fn assert_send<T: Send>() {}
    /// assert_send::<corio::PriorityQueue<u32>>();
    /// ```
    PriorityQueue, Priority, [Ord]
}
