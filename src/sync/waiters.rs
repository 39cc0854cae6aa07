//! The FIFO of parked tasks that every primitive in this module is built on (the
//! `collections.deque` of futures in asyncio's `locks.py`).
//!
//! Ground rules:
//! * an entry is taken off the list only in two ways: from the **front**, by whoever grants it
//!   (a lock hand-off, a permit, a notification, an event), or by its own waiter, which
//!   unlinks itself when it stops waiting (cancelled);
//! * entries get increasing sequence numbers, so the list is sorted by them. Together with
//!   the first rule this means a waiter whose own entry has gone from the list was granted
//!   exactly when the first remaining entry (if any) is younger than it: [`is_waiting`] is
//!   one comparison, and no per-waiter allocation is needed to carry the "granted" flag;
//! * wakers are woken after the `RefCell` borrow of the list ends: dropping a waker may drop
//!   the last reference to a finished task, which runs user `Drop` code.
//!
//! [`is_waiting`]: WaitList::is_waiting

use std::cell::RefCell;

use crate::runtime::fifo::Fifo;
use crate::runtime::raw::{self, Waker};

/// A parked task: its place in line and how to wake it.
#[derive(Debug)]
struct Waiter {
    seq: u64,
    waker: Waker,
}

/// Parked tasks in arrival order.
#[derive(Debug, Default)]
pub(crate) struct WaitList {
    queue: Fifo<Waiter>,
    next_seq: u64,
}

impl WaitList {
    pub(crate) fn new() -> WaitList {
        WaitList {
            queue: Fifo::new(),
            next_seq: 0,
        }
    }

    /// Queues the current task; returns its ticket.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    #[inline]
    pub(crate) fn push_current(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back_with(|| Waiter {
            seq,
            waker: Waker::current(),
        });
        seq
    }

    /// Takes the first waiter off the list (the caller grants it something, then wakes it
    /// once the borrow of the list has ended).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Waker> {
        self.queue.pop_front().map(|w| w.waker)
    }

    /// [`pop`](Self::pop), with the waiter's ticket (for a grant the waiter can recognise as
    /// its own, such as a lock holding).
    #[inline]
    pub(crate) fn pop_with_seq(&mut self) -> Option<(u64, Waker)> {
        self.queue.pop_front().map(|w| (w.seq, w.waker))
    }

    /// `true` while the entry `seq` is still in the list: not granted, not removed.
    #[inline]
    pub(crate) fn is_waiting(&self, seq: u64) -> bool {
        self.queue.front().is_some_and(|w| w.seq <= seq)
    }

    /// Removes the entry `seq` if it is still waiting; `true` if it was.
    pub(crate) fn remove(&mut self, seq: u64) -> bool {
        match self.queue.binary_search_by_key(&seq, |w| w.seq) {
            Ok(i) => {
                self.queue.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// Points the entry `seq` at the current task's next park.
    fn rearm(&mut self, seq: u64) {
        if let Ok(i) = self.queue.binary_search_by_key(&seq, |w| w.seq) {
            if let Some(w) = self.queue.get_mut(i) {
                w.waker = Waker::current();
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Parks the current task until its entry `seq` in `list` has been granted (taken off the
/// front). Unwinds with `Cancelled` if the task is cancelled; the caller's drop guard then
/// unlinks the entry or passes on what it was granted.
#[inline]
pub(crate) fn park_until_granted(list: &RefCell<WaitList>, seq: u64, what: &'static str) {
    loop {
        raw::park_on(what);
        let mut l = list.borrow_mut();
        if !l.is_waiting(seq) {
            return;
        }
        // Woken by something else: the old waker is spent, leave a fresh one.
        l.rearm(seq);
    }
}

/// Takes the first waiter off `list` and wakes it; `false` if there was none.
#[inline]
pub(crate) fn wake_first(list: &RefCell<WaitList>) -> bool {
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
#[inline]
pub(crate) fn wake_all(list: &RefCell<WaitList>) {
    // The borrow ends before each wake: waking can drop the last reference to a finished
    // task, whose value's `Drop` is user code that might touch this list. Popping keeps the
    // list's buffer for the next waiters.
    loop {
        let next = list.borrow_mut().queue.pop_front();
        match next {
            Some(w) => w.waker.wake_owned(),
            None => return,
        }
    }
}
