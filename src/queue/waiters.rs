//! The queue's waiter lists: the runtime's [`WaitList`] in arrival order, plus what each woken
//! waiter was handed.
//!
//! Ground rules:
//! * a waiter's state is created by the waiter and removed only by the waiter, after its park
//!   returns or in its cancel guard; its key therefore stays its own for the whole wait;
//! * the wait list holds exactly the waiters whose state is [`WaiterState::Parked`], oldest
//!   first, with their wakers: waking moves a waiter out of `Parked` and out of the list in
//!   one step, so nobody is woken twice;
//! * what a woken waiter is given (a queue item, a free place) sits in its state until it
//!   resumes, so a waiter cancelled after being woken can give it back.
//!
//! States and wakers are kept apart so that what moves on the hot path is small: the state of
//! a waiter of a `Queue<u64>` is two words and comes back from [`Waiters::remove`] in
//! registers, and a waker is written into the list in place.

use slab::Slab;

use crate::runtime::Waker;
use crate::runtime::{Ticket, WaitKind, WaitList};

/// Where one waiter stands.
#[derive(Debug)]
pub(crate) enum WaiterState<V> {
    /// Parked, waiting its turn (its waker is in the list under this ticket).
    Parked(Ticket),
    /// Woken and handed `V`, not yet resumed.
    Granted(V),
    /// Woken with nothing (shutdown, or the awaited condition came true for everyone).
    Released,
}

/// Parked coroutines, served first come, first served.
#[derive(Debug)]
pub(crate) struct Waiters<V> {
    /// Every waiter that has not yet removed itself, keyed by the key it holds.
    states: Slab<WaiterState<V>>,
    /// The `Parked` waiters' keys with their wakers, in arrival order.
    list: WaitList<(usize, Waker)>,
    kind: WaitKind,
}

impl<V> Waiters<V> {
    pub(crate) fn new(kind: WaitKind) -> Self {
        Waiters {
            states: Slab::new(),
            list: WaitList::new(),
            kind,
        }
    }

    /// Number of waiters still parked (not yet woken).
    pub(crate) fn parked(&self) -> usize {
        self.list.len()
    }

    /// Adds the current task as a parked waiter at the back; returns its key.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(crate) fn push_current(&mut self) -> usize {
        let entry = self.states.vacant_entry();
        let key = entry.key();
        let ticket = self.list.push_with(self.kind, || (key, Waker::current()));
        entry.insert(WaiterState::Parked(ticket));
        key
    }

    /// The kind of wait of this list, for the park.
    pub(crate) fn kind(&self) -> WaitKind {
        self.kind
    }

    /// Wakes the oldest parked waiter and hands it `v`; gives `v` back if none is parked.
    pub(crate) fn wake_first(&mut self, v: V) -> Result<(), V> {
        let Some((key, waker)) = self.list.pop() else {
            return Err(v);
        };
        self.states[key] = WaiterState::Granted(v);
        waker.wake_owned();
        Ok(())
    }

    /// Wakes every parked waiter with nothing.
    pub(crate) fn release_all(&mut self) {
        while let Some((key, waker)) = self.list.pop() {
            self.states[key] = WaiterState::Released;
            waker.wake_owned();
        }
    }

    /// `true` if the waiter `key` is still parked (its last wake-up was spurious).
    pub(crate) fn is_parked(&self, key: usize) -> bool {
        matches!(self.states.get(key), Some(WaiterState::Parked(_)))
    }

    /// Gives a still-parked waiter a fresh waker for its next park; it keeps its place.
    pub(crate) fn rearm_current(&mut self, key: usize) {
        if let Some(WaiterState::Parked(t)) = self.states.get(key) {
            self.list.rearm(*t, (key, Waker::current()));
        }
    }

    /// Removes the waiter `key` (by its owner) and tells how it stood.
    pub(crate) fn remove(&mut self, key: usize) -> WaiterState<V> {
        let state = self.states.remove(key);
        if let WaiterState::Parked(t) = state {
            // A parked waiter leaving (cancelled).
            self.list.remove(t);
        }
        state
    }

    /// Takes back everything handed to woken waiters that have not resumed; they are left
    /// `Released`.
    pub(crate) fn revoke_granted(&mut self, out: &mut Vec<V>) {
        for (_, state) in self.states.iter_mut() {
            if let WaiterState::Granted(_) = state
                && let WaiterState::Granted(v) = std::mem::replace(state, WaiterState::Released)
            {
                out.push(v);
            }
        }
    }
}
