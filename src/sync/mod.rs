//! Synchronisation between coroutines of one loop (asyncio's `locks.py`, with its later
//! fixes).
//!
//! | type | what it does | asyncio |
//! |---|---|---|
//! | [`Lock`] | one holder at a time; [`LockGuard`] releases on drop | `Lock` |
//! | [`Event`] | a flag to wait for | `Event` |
//! | [`Condition`] | wait with a lock held until notified | `Condition` |
//! | [`Semaphore`] | at most N holders; [`SemaphorePermit`] gives back on drop | `Semaphore` |
//! | [`BoundedSemaphore`] | a semaphore that refuses to grow past N | `BoundedSemaphore` |
//! | [`Barrier`] | N coroutines wait for each other | `Barrier` |
//!
//! Every primitive keeps its parked coroutines in one first-come, first-served line. Where
//! something is granted — the lock, a permit, a notification — it goes straight to the first
//! coroutine in line, so a coroutine that comes later cannot take it first, even one that
//! never parks. A coroutine cancelled after it was granted something passes it on to the
//! next in line: no lock is left owned by a dead waiter, no permit or notification is lost.
//!
//! These types are for coroutines of one loop, on one thread: handles are cheap clones of an
//! `Rc` and are `!Send`. They do nothing to coordinate OS threads; use `std::sync` or
//! `parking_lot` there.

mod barrier;
mod bounded_semaphore;
mod condition;
mod event;
mod lock;
mod semaphore;

pub use barrier::Barrier;
pub use bounded_semaphore::BoundedSemaphore;
pub use condition::Condition;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
