//! The one wait list every waiting primitive in corio is built on: a FIFO of parked waiters
//! with cancel cleanup (the `collections.deque` of futures in asyncio's `locks.py`, the
//! `event-listener` under smol's primitives).
//!
//! Ground rules:
//! * an entry leaves the list only in two ways: from the **front**, taken by whoever grants
//!   it something (a lock hand-off, a permit, a queue item, a notification, a completion), or
//!   by its own waiter, which removes it by its [`Ticket`] when it stops waiting (cancelled);
//! * tickets increase, so the list is sorted by them. With the first rule, a waiter whose own
//!   entry has gone was granted exactly when the first remaining entry (if any) is younger:
//!   [`WaitList::is_waiting`] is one comparison, and no per-waiter allocation carries the
//!   "granted" flag. A waiter cancelled after it was granted passes the grant on (its
//!   primitive's drop guard does that; the list tells it which case it is in);
//! * the first entry is stored inline: a task is usually joined by one coroutine, a lock
//!   usually has one waiter, and neither should allocate for it. Later entries go to a ring
//!   buffer that keeps its capacity;
//! * every entry carries what it waits for ([`WaitKind`]); with the list's address that names
//!   the awaited primitive ([`Awaits`]). The kind rides in the low byte of the entry's ticket,
//!   so carrying it costs no space and no extra store;
//! * wakers are woken after the `RefCell` borrow of the list ends: dropping a waker may drop
//!   the last reference to a finished task, which runs user `Drop` code.
//!
//! The waker type is a parameter: a task's `Waker` for the loop's own primitives, a waker
//! that can cross threads for `ThreadQueue`, or a waker paired with a key for a queue whose
//! waiters are handed items.

use super::fifo::Fifo;

/// What a parked waiter waits for: the kind of primitive and operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum WaitKind {
    Lock,
    Event,
    Condition,
    Semaphore,
    Barrier,
    QueueGet,
    QueuePut,
    QueueJoin,
    ThreadQueueGet,
    ThreadQueuePut,
    Future,
    Join,
    Drain,
    WaitClosed,
    Signal,
}

impl WaitKind {
    /// Every kind, indexed by its discriminant.
    const ALL: [WaitKind; 15] = [
        WaitKind::Lock,
        WaitKind::Event,
        WaitKind::Condition,
        WaitKind::Semaphore,
        WaitKind::Barrier,
        WaitKind::QueueGet,
        WaitKind::QueuePut,
        WaitKind::QueueJoin,
        WaitKind::ThreadQueueGet,
        WaitKind::ThreadQueuePut,
        WaitKind::Future,
        WaitKind::Join,
        WaitKind::Drain,
        WaitKind::WaitClosed,
        WaitKind::Signal,
    ];

    /// The short text `corio::tasks()` shows for a task parked this way.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            WaitKind::Lock => "lock",
            WaitKind::Event => "event",
            WaitKind::Condition => "condition",
            WaitKind::Semaphore => "semaphore",
            WaitKind::Barrier => "barrier",
            WaitKind::QueueGet => "queue get",
            WaitKind::QueuePut => "queue put",
            WaitKind::QueueJoin => "queue join",
            WaitKind::ThreadQueueGet => "thread queue get",
            WaitKind::ThreadQueuePut => "thread queue put",
            WaitKind::Future => "future",
            WaitKind::Join => "join",
            WaitKind::Drain => "drain",
            WaitKind::WaitClosed => "wait_closed",
            WaitKind::Signal => "signal",
        }
    }
}

/// A description of one wait: its kind and the identity (address) of the list it is in,
/// which is the awaited primitive's. Read only by introspection (task listings, deadlock
/// reports), hence unused by the primitives themselves.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Awaits {
    pub(crate) kind: WaitKind,
    pub(crate) list: usize,
}

/// A waiter's place in one list, by which it removes itself: its arrival number in the high
/// 56 bits, its [`WaitKind`] in the low 8. Arrival numbers are unique within a list, so
/// tickets order like them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

impl Ticket {
    /// The ticket as a number, unique within its list.
    pub(crate) fn get(self) -> u64 {
        self.0
    }

    pub(crate) fn kind(self) -> WaitKind {
        WaitKind::ALL[usize::from(self.0 as u8)]
    }
}

#[derive(Debug)]
struct Entry<W> {
    ticket: Ticket,
    waker: W,
}

/// Parked waiters in arrival order.
#[derive(Debug)]
pub(crate) struct WaitList<W> {
    /// The oldest entry; `None` only when the list is empty.
    first: Option<Entry<W>>,
    /// The entries after `first`, oldest first.
    rest: Fifo<Entry<W>>,
    /// The next arrival number.
    next: u64,
}

impl<W> Default for WaitList<W> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<W> WaitList<W> {
    pub(crate) fn new() -> WaitList<W> {
        WaitList {
            first: None,
            rest: Fifo::new(),
            next: 0,
        }
    }

    /// Queues the waker `make` returns (built in place) at the back; returns its ticket.
    #[inline(always)]
    pub(crate) fn push_with(&mut self, kind: WaitKind, make: impl FnOnce() -> W) -> Ticket {
        let ticket = Ticket(self.next << 8 | kind as u64);
        self.next += 1;
        match &mut self.first {
            // Known empty: written in place, with no drop of an old value to check for.
            empty @ None => {
                *empty = Some(Entry {
                    ticket,
                    waker: make(),
                });
            }
            Some(_) => self.rest.push_back_with(|| Entry {
                ticket,
                waker: make(),
            }),
        }
        ticket
    }

    /// Queues `waker` at the back; returns its ticket.
    #[inline]
    pub(crate) fn push(&mut self, kind: WaitKind, waker: W) -> Ticket {
        self.push_with(kind, || waker)
    }

    /// Takes the first waiter off the list (the caller grants it something, then wakes it
    /// once the borrow of the list has ended).
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<W> {
        self.pop_entry().map(|e| e.waker)
    }

    /// [`pop`](Self::pop), with the waiter's ticket (for a grant the waiter can recognise as
    /// its own, such as a lock holding).
    #[inline]
    pub(crate) fn pop_with_ticket(&mut self) -> Option<(Ticket, W)> {
        self.pop_entry().map(|e| (e.ticket, e.waker))
    }

    #[inline(always)]
    fn pop_entry(&mut self) -> Option<Entry<W>> {
        // An empty list (an uncontended lock's release) is one load, with no store.
        self.first.as_ref()?;
        let next = self.rest.pop_front();
        std::mem::replace(&mut self.first, next)
    }

    /// `true` while the entry `t` is still in the list: not granted, not removed.
    #[inline]
    pub(crate) fn is_waiting(&self, t: Ticket) -> bool {
        self.first.as_ref().is_some_and(|e| e.ticket <= t)
    }

    /// Removes the entry `t` if it is still waiting and gives its waker back (to be dropped
    /// after the borrow of the list ends); `None` if it was granted or removed already.
    pub(crate) fn remove(&mut self, t: Ticket) -> Option<W> {
        if self.first.as_ref()?.ticket == t {
            return self.pop();
        }
        let i = self.rest.binary_search_by_key(&t, |e| e.ticket).ok()?;
        self.rest.remove(i).map(|e| e.waker)
    }

    /// Points the entry `t`, still waiting, at a new waker; it keeps its place.
    pub(crate) fn rearm(&mut self, t: Ticket, waker: W) {
        if let Some(e) = self.entry_mut(t) {
            e.waker = waker;
        }
    }

    fn entry_mut(&mut self, t: Ticket) -> Option<&mut Entry<W>> {
        match &mut self.first {
            Some(e) if e.ticket == t => Some(e),
            Some(_) => {
                let i = self.rest.binary_search_by_key(&t, |e| e.ticket).ok()?;
                self.rest.get_mut(i)
            }
            None => None,
        }
    }

    /// What the entry `t` waits for, if it is still waiting.
    #[allow(dead_code)]
    pub(crate) fn awaits(&self, t: Ticket) -> Option<Awaits> {
        self.is_waiting(t).then(|| Awaits {
            kind: t.kind(),
            list: self as *const Self as usize,
        })
    }

    /// Number of waiters in the list.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Takes every waiter out, oldest first, into a list of its own (to be woken after the
    /// borrow ends). Tickets go on increasing, so a later waiter is never mistaken for one
    /// taken here.
    pub(crate) fn take(&mut self) -> WaitList<W> {
        WaitList {
            first: self.first.take(),
            rest: std::mem::take(&mut self.rest),
            next: self.next,
        }
    }

    /// Removes every entry whose waker `same` matches (a waiter registered in many lists
    /// with one waker, leaving them all).
    pub(crate) fn remove_where(&mut self, same: impl Fn(&W) -> bool) {
        let mut i = 0;
        while i < self.rest.len() {
            if self.rest.get(i).is_some_and(|e| same(&e.waker)) {
                self.rest.remove(i);
            } else {
                i += 1;
            }
        }
        if self.first.as_ref().is_some_and(|e| same(&e.waker)) {
            self.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{WaitKind, WaitList};

    #[test]
    fn entries_leave_in_order_and_by_ticket() {
        let mut l: WaitList<u32> = WaitList::new();
        let t: Vec<_> = (0..6).map(|i| l.push(WaitKind::Lock, i)).collect();
        assert_eq!(l.len(), 6);
        assert!(l.is_waiting(t[5]));
        assert_eq!(l.remove(t[3]), Some(3));
        assert_eq!(l.remove(t[3]), None, "removed once");
        assert_eq!(l.remove(t[0]), Some(0), "the inline first entry");
        assert_eq!(l.pop_with_ticket(), Some((t[1], 1)));
        assert!(!l.is_waiting(t[1]), "granted");
        assert!(l.is_waiting(t[2]));
        l.rearm(t[4], 40);
        let a = l.awaits(t[4]).expect("waiting");
        assert_eq!(a.kind, WaitKind::Lock);
        assert_eq!(a.list, &l as *const _ as usize);
        l.remove_where(|&w| w == 5);
        let taken = l.take();
        assert_eq!(l.len(), 0);
        let t6 = l.push(WaitKind::Event, 6);
        assert!(t6 > t[5], "tickets go on increasing after a take");
        let mut taken = taken;
        assert_eq!(
            (taken.pop(), taken.pop(), taken.pop()),
            (Some(2), Some(40), None)
        );
    }
}
