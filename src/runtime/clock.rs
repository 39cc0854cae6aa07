//! The loop's clock: `time()` seconds from a fixed point, and deadlines as `Instant`s.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub(crate) fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub(crate) fn seconds_since_epoch(t: Instant) -> f64 {
    t.saturating_duration_since(epoch()).as_secs_f64()
}

/// Converts a [`time`](super::time) value back into an `Instant`, for [`call_at`](super::call_at).
pub fn instant_at(time: f64) -> Instant {
    epoch() + Duration::from_secs_f64(time.max(0.0))
}

/// The instant `delay` from now; a delay too long for an `Instant` gives one about a century
/// away (never reached, never an overflow).
pub(crate) fn deadline_after(delay: Duration) -> Instant {
    let now = super::core::with_core(|c| c.now()).unwrap_or_else(Instant::now);
    deadline_from(now, delay)
}

/// The instant `delay` after `now`, as [`deadline_after`].
pub(crate) fn deadline_from(now: Instant, delay: Duration) -> Instant {
    now.checked_add(delay)
        .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600))
}
