//! A FIFO of parked coroutines, each of which can be handed something when woken.
//!
//! Ground rules:
//! * a waiter's slot is created by the waiter and removed only by the waiter, after its park
//!   returns or in its cancel guard; the key therefore stays its own for the whole wait;
//! * `order` holds exactly the keys whose slot is [`Slot::Parked`], oldest first: waking moves
//!   a slot out of `Parked` and its key out of `order` in one step, so nobody is woken twice;
//! * what a woken waiter is given (a queue item, a free place) sits in its slot until it
//!   resumes, so a waiter cancelled after being woken can give it back.

use std::collections::VecDeque;

use slab::Slab;

use crate::runtime::raw::Waker;

/// Where one waiter stands.
#[derive(Debug)]
pub(crate) enum Slot<V> {
    /// Parked, waiting its turn; woken through this waker.
    Parked(Waker),
    /// Woken and handed `V`, not yet resumed.
    Granted(V),
    /// Woken with nothing (shutdown, or the awaited condition came true for everyone).
    Released,
}

/// Parked coroutines, served first come, first served.
#[derive(Debug)]
pub(crate) struct Waiters<V> {
    /// Every waiter that has not yet removed itself, keyed by the key it holds.
    slots: Slab<Slot<V>>,
    /// Keys of the `Parked` slots, in arrival order.
    order: VecDeque<usize>,
}

impl<V> Waiters<V> {
    pub(crate) const fn new() -> Self {
        Waiters {
            slots: Slab::new(),
            order: VecDeque::new(),
        }
    }

    /// Number of waiters still parked (not yet woken).
    pub(crate) fn parked(&self) -> usize {
        self.order.len()
    }

    /// Adds a parked waiter at the back; returns its key.
    pub(crate) fn push(&mut self, waker: Waker) -> usize {
        let key = self.slots.insert(Slot::Parked(waker));
        self.order.push_back(key);
        key
    }

    /// Wakes the oldest parked waiter and hands it `v`; gives `v` back if none is parked.
    pub(crate) fn wake_first(&mut self, v: V) -> Result<(), V> {
        let Some(key) = self.order.pop_front() else {
            return Err(v);
        };
        let slot = std::mem::replace(&mut self.slots[key], Slot::Granted(v));
        if let Slot::Parked(w) = slot {
            w.wake_owned();
        }
        Ok(())
    }

    /// Wakes every parked waiter with nothing.
    pub(crate) fn release_all(&mut self) {
        for key in self.order.drain(..) {
            let slot = std::mem::replace(&mut self.slots[key], Slot::Released);
            if let Slot::Parked(w) = slot {
                w.wake_owned();
            }
        }
    }

    /// `true` if the waiter `key` is still parked (its last wake-up was spurious).
    pub(crate) fn is_parked(&self, key: usize) -> bool {
        matches!(self.slots.get(key), Some(Slot::Parked(_)))
    }

    /// Gives a still-parked waiter a fresh waker for its next park; it keeps its place.
    pub(crate) fn rearm(&mut self, key: usize, waker: Waker) {
        if let Some(Slot::Parked(w)) = self.slots.get_mut(key) {
            *w = waker;
        }
    }

    /// Removes the waiter `key` (by its owner) and tells how it stood.
    pub(crate) fn remove(&mut self, key: usize) -> Slot<V> {
        let slot = self.slots.remove(key);
        if let Slot::Parked(_) = slot {
            // A parked waiter leaving (cancelled): usually the newest or the oldest.
            if let Some(pos) = self.order.iter().rposition(|&k| k == key) {
                self.order.remove(pos);
            }
        }
        slot
    }

    /// Takes back everything handed to woken waiters that have not resumed; they are left
    /// `Released`.
    pub(crate) fn revoke_granted(&mut self, out: &mut Vec<V>) {
        for (_, slot) in self.slots.iter_mut() {
            if let Slot::Granted(_) = slot {
                if let Slot::Granted(v) = std::mem::replace(slot, Slot::Released) {
                    out.push(v);
                }
            }
        }
    }
}
