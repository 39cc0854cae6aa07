//! Waiting on several tasks at once, and deadlines (asyncio's `tasks.py` functions,
//! `timeouts.py` and `taskgroups.py`).
//!
//! | function | what it does | asyncio |
//! |---|---|---|
//! | [`wait_for`] | runs a closure with a deadline | `wait_for` |
//! | [`timeout`], [`timeout_at`] | a deadline scope that can be moved while it runs | `timeout`, `timeout_at` |
//!
//! Deadlines ([`wait_for`], [`timeout`]) run their closure inline, on the caller's stack, so
//! it may borrow locals.

use crate::error::Cancelled;
use crate::runtime::raw;

mod timeout;

pub use timeout::{TimeoutScope, timeout, timeout_at, wait_for};

/// `true` while the loop unwinds the current task by force (loop close): that unwind must go
/// on, without parking and without being turned into a value.
pub(crate) fn is_closing() -> bool {
    raw::current_header().is_some_and(|h| h.closing.get())
}

/// `true` if an unwind payload is a cancellation this module may stop and act upon.
pub(crate) fn is_cancel(p: &(dyn std::any::Any + Send)) -> bool {
    p.is::<Cancelled>() && !is_closing()
}
