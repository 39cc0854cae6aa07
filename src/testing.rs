//! Testing time-dependent code: virtual time, a helper that waits until every other task is
//! blocked, and the `#[corio::test]` attribute (trio.testing, Go's `testing/synctest`,
//! `#[tokio::test(start_paused = true)]`).
//!
//! Under virtual time ([`run`], or
//! [`EventLoopBuilder::virtual_time`](crate::EventLoopBuilder::virtual_time)) the loop's clock
//! stands still while tasks run and jumps to the next timer when every task is blocked on
//! something only the loop itself can end (a lock, an event, a queue, a join, a sleep). A
//! test of a one-hour timeout takes microseconds, and every timer fires at exactly its
//! deadline. While a task waits on the outside world (a socket, an executor job, a thread),
//! the clock moves in real time instead, so no timeout fires before the world had its chance.
//!
//! ```
//! use std::time::Duration;
//!
//! corio::testing::run(|| {
//!     let t0 = corio::runtime::now();
//!     let r = corio::wait_for(Duration::from_secs(3600), || corio::Event::new().wait());
//!     assert!(r.is_err(), "timed out");
//!     assert_eq!(corio::runtime::now() - t0, Duration::from_secs(3600));
//! });
//! ```
//!
//! A deadlock is never a hang: when every task is blocked and no timer is left, the run ends
//! with [`RuntimeError::Deadlock`](crate::RuntimeError::Deadlock), whose report says who
//! waits on what (see docs/TESTING.md).

use std::time::Duration;

pub use corio_macros::test;

/// Runs `f` as the main coroutine of a new loop with virtual time, then closes the loop, as
/// [`corio::run`](crate::run) does.
///
/// ```
/// use std::time::Duration;
/// let attempts = corio::testing::run(|| {
///     let mut at = Vec::new();
///     let t0 = corio::runtime::now();
///     for backoff in [1, 2, 4] {
///         at.push((corio::runtime::now() - t0).as_secs());
///         corio::sleep(Duration::from_secs(backoff));
///     }
///     at
/// });
/// assert_eq!(attempts, [0, 1, 3]);
/// ```
///
/// # Panics
///
/// As [`corio::run`](crate::run): inside a running loop, when `f` panics, and on a deadlock
/// (with the report's text).
#[track_caller]
pub fn run<T, F>(f: F) -> T
where
    F: FnOnce() -> T + 'static,
    T: 'static,
{
    crate::EventLoopBuilder::new().virtual_time(true).run(f)
}

/// Moves the running loop's virtual clock forward by `d`, then yields once so that the timers
/// now due fire (tokio's `time::advance`), in deadline order; the clock reads the advanced
/// time for all of them.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// corio::testing::run(|| {
///     let fired = Rc::new(Cell::new(false));
///     let f = fired.clone();
///     corio::runtime::call_later(Duration::from_secs(10), move || f.set(true));
///     corio::testing::advance(Duration::from_secs(9));
///     assert!(!fired.get());
///     corio::testing::advance(Duration::from_secs(1));
///     corio::yield_now(); // the callback runs in the iteration after the timer fired
///     assert!(fired.get());
/// });
/// ```
///
/// # Panics
///
/// Outside a coroutine of a loop with virtual time.
pub fn advance(d: Duration) {
    if !crate::runtime::advance_clock(d) {
        panic!(
            "corio::testing::advance: the running loop has real time; use corio::testing::run \
             or EventLoopBuilder::virtual_time(true)"
        );
    }
    crate::yield_now();
}

/// Parks the caller until every other task of the loop is durably blocked (parked on a lock,
/// an event, a queue, a join, a sleep: something only the loop can end) and nothing is ready
/// to run (trio's `wait_all_tasks_blocked`). A test then knows the others have gone as far as
/// they can. Under virtual time the clock does not move meanwhile.
///
/// While another task waits on the outside world (a socket, an executor job), the caller
/// keeps yielding until that wait ends: the loop goes on polling I/O and firing timers, but
/// the caller burns its turns meanwhile.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// corio::run(|| {
///     let ev = corio::Event::new();
///     let reached = Rc::new(Cell::new(0));
///     for _ in 0..3 {
///         let (ev, reached) = (ev.clone(), reached.clone());
///         corio::spawn(move || {
///             corio::yield_now();
///             reached.set(reached.get() + 1);
///             ev.wait();
///         });
///     }
///     corio::testing::wait_all_tasks_blocked();
///     assert_eq!(reached.get(), 3, "all three wait on the event");
///     ev.set();
/// });
/// ```
///
/// # Panics
///
/// Outside a coroutine. Unwinds with [`Cancelled`](crate::Cancelled) when cancelled.
pub fn wait_all_tasks_blocked() {
    loop {
        crate::yield_now();
        if crate::runtime::others_durably_blocked() {
            return;
        }
    }
}
