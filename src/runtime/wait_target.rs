//! What a parked task waits on, as introspection (`corio::tasks()`, the deadlock report)
//! reads it: a [`WaitTarget`] the park points at.
//!
//! Ground rules:
//! * a park stores a pointer to its target in the task's header (two words, the same store
//!   as the `&'static str` it replaced), so describing a wait costs nothing on the hot path;
//!   the description is built only when someone asks;
//! * the target is borrowed by the parked frame for the whole park, so the pointer is read
//!   only while the task is `Parked` (its frame has not resumed, the borrow still holds);
//! * a wait on a primitive names where the primitive was made (`#[track_caller]` on its
//!   constructor, a `&'static Location`: one word, no allocation).

use std::panic::Location;

use super::wait_list::WaitKind;

/// What a parked task waits on, described.
#[derive(Debug, Clone, Default)]
pub(crate) struct WaitInfo {
    /// The kind of wait: `"lock"`, `"sleep"`, `"join"`, `"read"`, …
    pub(crate) kind: &'static str,
    /// Where the awaited primitive was created, if it says.
    pub(crate) created: Option<&'static Location<'static>>,
    /// The task holding it (a lock), by id (see `current_id`; `0` for none): introspection
    /// names it if it is alive, or says no live task holds it.
    pub(crate) holder: Option<u64>,
    /// The tasks it waits for (a join, a gather, a task group), by id.
    pub(crate) awaits: Vec<u64>,
}

impl WaitInfo {
    /// A wait described by its kind alone.
    pub(crate) fn kind(kind: &'static str) -> WaitInfo {
        WaitInfo {
            kind,
            ..WaitInfo::default()
        }
    }
}

/// Something a task can park on, able to describe itself.
pub(crate) trait WaitTarget {
    /// The description `corio::tasks()` and the deadlock report show.
    fn describe(&self) -> WaitInfo;
}

/// A wait known by its name only (a sleep, a socket read).
#[derive(Debug)]
pub(crate) struct Named(pub(crate) &'static str);

impl WaitTarget for Named {
    fn describe(&self) -> WaitInfo {
        WaitInfo::kind(self.0)
    }
}

impl WaitTarget for WaitKind {
    fn describe(&self) -> WaitInfo {
        WaitInfo::kind(self.as_str())
    }
}

/// The target of a task that never parked: nothing.
pub(crate) static NOTHING: Named = Named("");

/// A park's target as the header stores it.
pub(crate) type TargetPtr = *const (dyn WaitTarget + 'static);

/// Erases the lifetime of `t` for the header (see the ground rules for when it is read).
#[inline]
pub(crate) fn target_ptr(t: &dyn WaitTarget) -> TargetPtr {
    // SAFETY: only the lifetime changes (same fat-pointer layout); the pointer is read only
    // while the task that stored it is parked in the frame that borrows `t`.
    unsafe { std::mem::transmute::<*const (dyn WaitTarget + '_), TargetPtr>(t) }
}

/// A wait on a primitive known by its kind and the place it was made.
#[derive(Debug)]
pub(crate) struct Site(
    pub(crate) &'static str,
    pub(crate) &'static Location<'static>,
);

impl WaitTarget for Site {
    fn describe(&self) -> WaitInfo {
        WaitInfo {
            created: Some(self.1),
            ..WaitInfo::kind(self.0)
        }
    }
}

/// A join: the awaited task's header describes the wait on it.
impl WaitTarget for super::task_ref::Header {
    fn describe(&self) -> WaitInfo {
        AwaitTask("join", self).describe()
    }
}

/// A wait of some kind (`"shield"`, …) for one task to end.
#[derive(Debug)]
pub(crate) struct AwaitTask<'a>(
    pub(crate) &'static str,
    pub(crate) &'a super::task_ref::Header,
);

impl WaitTarget for AwaitTask<'_> {
    fn describe(&self) -> WaitInfo {
        WaitInfo {
            awaits: vec![self.1.id()],
            ..WaitInfo::kind(self.0)
        }
    }
}
