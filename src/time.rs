//! Sleeping and yielding (asyncio's `sleep`).

use std::time::{Duration, Instant};

use crate::runtime::{Named, WakeTimer, Waker, deadline_after, park_on};

/// Parks the current coroutine for `duration` (asyncio's `sleep`). `sleep(Duration::ZERO)`
/// is [`yield_now`].
///
/// ```
/// use std::time::{Duration, Instant};
/// corio::run(|| {
///     let t0 = Instant::now();
///     corio::sleep(Duration::from_millis(10));
///     assert!(t0.elapsed() >= Duration::from_millis(10));
/// });
/// ```
///
/// # Cancel safety
///
/// A cancelled sleep removes its timer at once.
///
/// # Panics
///
/// Outside a coroutine. Unwinds with [`Cancelled`](crate::Cancelled) when the task is cancelled.
pub fn sleep(duration: Duration) {
    if duration.is_zero() {
        return yield_now();
    }
    sleep_until(deadline_after(duration))
}

/// Parks the current coroutine until `deadline`.
///
/// # Cancel safety
///
/// As [`sleep`].
///
/// # Panics
///
/// As [`sleep`].
pub fn sleep_until(deadline: Instant) {
    // Dropping the timer removes it, also when the sleep ends early (cancelled).
    let timer =
        WakeTimer::start(deadline, Waker::current()).expect("corio::sleep: no running event loop");
    loop {
        park_on(&Named("sleep"));
        // Woken by the timer, or by something else while it is still pending.
        if !timer.is_pending() {
            return;
        }
        timer.rearm(Waker::current());
    }
}

/// Lets every other ready task and callback run once, then continues (asyncio's
/// `sleep(0)`). A cancellation point.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// corio::run(|| {
///     let ran = Rc::new(Cell::new(false));
///     let r = ran.clone();
///     let _t = corio::spawn(move || r.set(true));
///     corio::yield_now();
///     assert!(ran.get());
/// });
/// ```
///
/// # Panics
///
/// Outside a coroutine.
pub fn yield_now() {
    crate::runtime::yield_now()
}
