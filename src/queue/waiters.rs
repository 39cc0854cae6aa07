//! A FIFO of parked coroutines, each of which can be handed something when woken.
//!
//! Ground rules:
//! * a waiter's slot is created by the waiter and removed only by the waiter, after its park
//!   returns or in its cancel guard; the key therefore stays its own for the whole wait;
//! * `order` holds exactly the waiters whose slot is [`Slot::Parked`], oldest first, with
//!   their wakers: waking moves a slot out of `Parked` and its entry out of `order` in one
//!   step, so nobody is woken twice;
//! * what a woken waiter is given (a queue item, a free place) sits in its slot until it
//!   resumes, so a waiter cancelled after being woken can give it back.
//!
//! Slots and wakers are kept apart so that what moves on the hot path is small: a slot of a
//! `Queue<u64>` is two words and comes back from [`Waiters::remove`] in registers, and a
//! waker is written into `order` in place.

use slab::Slab;

use crate::runtime::fifo::Fifo;
use crate::runtime::raw::Waker;

/// Where one waiter stands.
#[derive(Debug)]
pub(crate) enum Slot<V> {
    /// Parked, waiting its turn (its waker is in the order).
    Parked,
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
    /// The `Parked` slots' keys with their wakers, in arrival order.
    order: Fifo<(usize, Waker)>,
}

impl<V> Waiters<V> {
    pub(crate) fn new() -> Self {
        Waiters {
            slots: Slab::new(),
            order: Fifo::new(),
        }
    }

    /// Number of waiters still parked (not yet woken).
    pub(crate) fn parked(&self) -> usize {
        self.order.len()
    }

    /// Adds the current task as a parked waiter at the back; returns its key.
    ///
    /// # Panics
    ///
    /// Outside a coroutine.
    pub(crate) fn push_current(&mut self) -> usize {
        let key = self.slots.insert(Slot::Parked);
        self.order.push_back_with(|| (key, Waker::current()));
        key
    }

    /// Wakes the oldest parked waiter and hands it `v`; gives `v` back if none is parked.
    pub(crate) fn wake_first(&mut self, v: V) -> Result<(), V> {
        let Some((key, waker)) = self.order.pop_front() else {
            return Err(v);
        };
        self.slots[key] = Slot::Granted(v);
        waker.wake_owned();
        Ok(())
    }

    /// Wakes every parked waiter with nothing.
    pub(crate) fn release_all(&mut self) {
        while let Some((key, waker)) = self.order.pop_front() {
            self.slots[key] = Slot::Released;
            waker.wake_owned();
        }
    }

    /// `true` if the waiter `key` is still parked (its last wake-up was spurious).
    pub(crate) fn is_parked(&self, key: usize) -> bool {
        matches!(self.slots.get(key), Some(Slot::Parked))
    }

    /// Gives a still-parked waiter a fresh waker for its next park; it keeps its place.
    pub(crate) fn rearm_current(&mut self, key: usize) {
        if let Some(i) = self.position(key) {
            if let Some(entry) = self.order.get_mut(i) {
                entry.1 = Waker::current();
            }
        }
    }

    /// Removes the waiter `key` (by its owner) and tells how it stood.
    pub(crate) fn remove(&mut self, key: usize) -> Slot<V> {
        let slot = self.slots.remove(key);
        if let Slot::Parked = slot {
            // A parked waiter leaving (cancelled).
            if let Some(i) = self.position(key) {
                self.order.remove(i);
            }
        }
        slot
    }

    /// Where the parked waiter `key` stands in the order (searched from the back: a waiter
    /// that gives up is usually among the newest).
    fn position(&self, key: usize) -> Option<usize> {
        (0..self.order.len())
            .rev()
            .find(|&i| self.order.get(i).is_some_and(|e| e.0 == key))
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
