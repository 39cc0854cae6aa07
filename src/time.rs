//! Sleeping and yielding (asyncio's `sleep`).

use std::time::{Duration, Instant};

use crate::runtime::{
    Named, WakeTimer, Waker, deadline_after, deadline_passed_before_any_timer, park_on,
};

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
    // A positive delay from the clock just read: never a deadline already passed.
    sleep_on_timer(deadline_after(duration))
}

/// Parks the current coroutine until `deadline`.
///
/// This is `sleep(deadline - now)`: a deadline the loop's clock has already passed is a
/// [`yield_now`], as asyncio's `sleep` with a delay of zero or less is one bare yield. (Only
/// while no timer is due: one that is fires first, as deadline order wants, so the sleep
/// then waits on a timer of its own behind it.)
///
/// ```
/// use std::time::Instant;
/// corio::run(|| {
///     let past = Instant::now();
///     corio::sleep(std::time::Duration::from_millis(1)); // the loop's clock moves on
///     corio::sleep_until(past); // one yield: returns at the loop's next turn
/// });
/// ```
///
/// # Cancel safety
///
/// As [`sleep`].
///
/// # Panics
///
/// As [`sleep`].
pub fn sleep_until(deadline: Instant) {
    if deadline_passed_before_any_timer(deadline) {
        return yield_now();
    }
    sleep_on_timer(deadline)
}

/// Parks the current coroutine until a timer at `deadline` fires.
fn sleep_on_timer(deadline: Instant) {
    // Dropping the timer removes it, also when the sleep ends early (cancelled).
    let mut timer =
        WakeTimer::start(deadline, Waker::current()).expect("corio::sleep: no running event loop");
    loop {
        park_on(&Named("sleep"));
        // Woken by the timer (it is spent), or by something else while it is still pending
        // (it now wakes the next park).
        match timer.rearm_unless_due(deadline, Waker::current) {
            Ok(pending) => timer = pending,
            Err(()) => return,
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::runtime::{Waker, call_soon, now};

    #[test]
    fn a_sleep_woken_early_keeps_sleeping_until_its_deadline() {
        // A wake-up for the sleep's park that is not its timer's (a waker of the same park
        // handed out before it): the sleep parks again on the same timer and returns at its
        // deadline, not before, and not a second time later.
        let (slept, woke_early) = crate::testing::run(|| {
            let t0 = now();
            let early = Waker::current();
            let fired = std::rc::Rc::new(std::cell::Cell::new(false));
            let f = fired.clone();
            call_soon(move || {
                early.wake();
                f.set(true);
            });
            super::sleep(Duration::from_secs(10));
            (now() - t0, fired.get())
        });
        assert!(woke_early, "the early wake-up ran");
        assert!(slept >= Duration::from_secs(10), "returned after {slept:?}");
        assert!(slept < Duration::from_secs(11), "returned after {slept:?}");
    }

    #[test]
    fn a_sleep_woken_at_its_deadline_before_its_timer_fired_returns_and_the_timer_wakes_nothing() {
        crate::testing::run(|| {
            let t0 = now();
            let early = Waker::current();
            call_soon(move || {
                // The clock reaches the deadline and the loop reads it, but the timer is not
                // expired yet when another wake-up of the sleep's park comes.
                assert!(crate::runtime::advance_clock(Duration::from_secs(10)));
                now();
                early.wake();
            });
            super::sleep(Duration::from_secs(10));
            assert_eq!(now() - t0, Duration::from_secs(10));
            // The timer left due fires now, for a park that is over: the next sleep is not
            // cut short by it.
            let t1 = now();
            super::sleep(Duration::from_secs(5));
            assert_eq!(now() - t1, Duration::from_secs(5));
        });
    }
}
