//! [`TimerHandle`]: a callback scheduled at a deadline, which can be cancelled.

use std::fmt;
use std::rc::Weak;

use super::callback::Handle;
use super::core::Core;
use super::timers::TimerId;

/// A callback scheduled with `call_later` or `call_at` (asyncio's `TimerHandle`).
///
/// A `TimerHandle` belongs to its loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::runtime::TimerHandle>();
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) handle: Handle,
    pub(crate) when: std::time::Instant,
    pub(crate) id: TimerId,
    pub(crate) core: Weak<Core>,
}

impl TimerHandle {
    /// Cancels the callback if it has not run yet; the timer is removed from the loop at once.
    pub fn cancel(&self) {
        self.handle.cancel();
        if let Some(core) = self.core.upgrade() {
            core.cancel_timer(self.id);
        }
    }

    /// `true` once [`cancel`](Self::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// When the callback is due, on the loop's monotonic clock.
    pub fn when(&self) -> std::time::Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
