//! Waking a parked task: [`Waker`]s (the loop's thread) and [`SendWaker`]s (any thread),
//! and waking the waiters of a wait list.

use std::cell::RefCell;

use super::core::{Core, with_core};
use super::current::{current_or_panic, current_ptr_or_panic, current_ref};
use super::loop_handle::Shared;
use super::task_ref::{State, TaskRef};
use super::wait_list::{Ticket, WaitKind, WaitList};
use std::sync::Arc;

/// A reference to a task that can wake its next park.
#[derive(Clone)]
pub(crate) struct Waker {
    pub(crate) task: TaskRef,
    pub(crate) token: u32,
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waker")
            .field("task", &self.task.header().id())
            .field("token", &self.token)
            .finish()
    }
}

impl Waker {
    /// `true` if both wakers wake the same park of the same task.
    pub(crate) fn will_wake(&self, other: &Waker) -> bool {
        self.task.ptr_eq(&other.task) && self.token == other.token
    }
}

impl Waker {
    /// A waker for the current task's next park.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    #[inline]
    pub(crate) fn current() -> Waker {
        let p = current_ptr_or_panic();
        // SAFETY: see `current_ptr`.
        let token = unsafe { p.as_ref() }.token.get();
        Waker {
            task: current_ref(p),
            token,
        }
    }

    /// Wakes the task if this waker is still current; harmless otherwise.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.claim_wake() {
            self.task.header().core().schedule(self.task.clone());
        }
    }

    /// Like [`wake`](Self::wake), consuming the waker: its reference moves into the ready
    /// queue instead of being cloned there and dropped here.
    #[inline(always)]
    pub(crate) fn wake_owned(self) {
        if self.claim_wake() {
            let core: *const Core = self.task.header().core();
            // SAFETY: `core` points at the task's live loop (see `Header::core`); the
            // reference only outlives the borrow of the header, not the loop.
            unsafe { &*core }.schedule(self.task);
        }
    }

    /// Delivers this wake-up to the task's state: `true` if the task was parked on the park
    /// this waker is for and is now `Scheduled` (the caller queues it); a task that runs keeps
    /// the wake-up for its next park; a stale waker or an ended task does nothing.
    #[inline(always)]
    fn claim_wake(&self) -> bool {
        let h = self.task.header();
        if h.token.get() != self.token {
            return false;
        }
        match h.state.get() {
            State::Parked => {
                h.state.set(State::Scheduled);
                true
            }
            State::Running | State::Scheduled => {
                h.notified.set(true);
                false
            }
            State::Done => false,
        }
    }
}

/// A `Send + Sync` [`Waker`]: wakes the next park of one task from any thread.
///
/// It names the task by its registry key and id instead of holding it (a task is `!Send`). On the
/// loop's own thread it wakes at once, exactly like a [`Waker`]; from another thread it posts
/// the wake through the loop's thread-safe queue ([`LoopHandle::call_soon_threadsafe`](crate::LoopHandle::call_soon_threadsafe)), which
/// pokes the poller only while the loop sleeps in it, so a busy loop takes such wakes without a
/// syscall. A wake for a task that has ended, or whose key now holds another task, or for a
/// park that is over (stale token), does nothing; a wake posted to a closed loop is dropped.
#[derive(Clone)]
pub(crate) struct SendWaker {
    /// The loop's shared part (not a counted `LoopHandle`: the wait this waker ends counts
    /// itself as external, for as long as it is outstanding).
    shared: Arc<Shared>,
    loop_id: u64,
    key: usize,
    task_id: u64,
    token: u32,
}

impl std::fmt::Debug for SendWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendWaker")
            .field("task", &self.task_id)
            .field("token", &self.token)
            .finish()
    }
}

impl SendWaker {
    /// A thread-safe waker for the current task's next park.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(crate) fn current() -> SendWaker {
        let h = current_or_panic();
        let shared = with_core(|c| c.shared.clone()).expect("a running task has a running loop");
        SendWaker {
            shared,
            loop_id: h.loop_id(),
            key: h.registry_key.get(),
            task_id: h.id(),
            token: h.token.get(),
        }
    }

    /// Wakes the task if this waker is still current; from any thread.
    pub(crate) fn wake(&self) {
        let (loop_id, key, task_id, token) = (self.loop_id, self.key, self.task_id, self.token);
        let here = with_core(|c| {
            if c.id() == loop_id {
                wake_by_key(c, key, task_id, token);
                true
            } else {
                false
            }
        });
        if here != Some(true) {
            let _ = self.shared.inject(Box::new(move || {
                with_core(|c| {
                    if c.id() == loop_id {
                        wake_by_key(c, key, task_id, token);
                    }
                });
            }));
        }
    }
}

/// Wakes park `token` of the task `task_id` under `key` in `core`, if it is still there.
fn wake_by_key(core: &Core, key: usize, task_id: u64, token: u32) {
    if let Some(task) = core.task_by_key(key)
        && task.header().id() == task_id
    {
        Waker { task, token }.wake();
    }
}

impl WaitList<Waker> {
    /// Queues the current task; returns its ticket.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    #[inline]
    pub(crate) fn push_current(&mut self, kind: WaitKind) -> Ticket {
        self.push_with(kind, Waker::current)
    }

    /// Drops every entry that would wake the same park as `w`.
    pub(crate) fn remove_waker(&mut self, w: &Waker) {
        self.remove_where(|x| x.will_wake(w));
    }

    /// Wakes every waiter of a list that was [`take`](WaitList::take)n out.
    pub(crate) fn wake_all_taken(mut self) {
        while let Some(w) = self.pop() {
            w.wake_owned();
        }
    }
}

/// Takes the first waiter off `list` and wakes it; `false` if there was none.
#[inline]
pub(crate) fn wake_first(list: &RefCell<WaitList<Waker>>) -> bool {
    let w = list.borrow_mut().pop();
    match w {
        Some(w) => {
            w.wake_owned();
            true
        }
        None => false,
    }
}

/// Wakes every waiter that is in `list` now.
#[inline(always)]
pub(crate) fn wake_all(list: &RefCell<WaitList<Waker>>) {
    // The borrow ends before each wake: waking can drop the last reference to a finished
    // task, whose value's `Drop` is user code that might touch this list. Popping keeps the
    // list's buffer for the next waiters.
    loop {
        let next = list.borrow_mut().pop();
        match next {
            Some(w) => w.wake_owned(),
            None => return,
        }
    }
}
