//! Sleeping and yielding (asyncio's `sleep`).

use std::time::{Duration, Instant};

use crate::runtime::core::{Notify, with_core};
use crate::runtime::raw::{self, Waker};
use crate::runtime::timers::TimerId;

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
    let now = Instant::now();
    sleep_until(
        now.checked_add(duration)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600)),
    )
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
    let id = with_core(|c| c.add_timer(deadline, Notify::Wake(Waker::current())))
        .expect("corio::sleep: no running event loop");
    let _timer = TimerGuard(id);
    loop {
        raw::park_on("sleep");
        // Woken by the timer, or by something else while it is still pending.
        let pending = with_core(|c| c.timer_pending(id)).unwrap_or(false);
        if !pending {
            return;
        }
        with_core(|c| c.replace_timer(id, Notify::Wake(Waker::current())));
    }
}

/// Removes the timer of a sleep that ends early (cancelled).
struct TimerGuard(TimerId);

impl Drop for TimerGuard {
    fn drop(&mut self) {
        with_core(|c| c.cancel_timer(self.0));
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
    raw::yield_now()
}
