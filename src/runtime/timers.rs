//! Timers: a binary heap of `(deadline, seq, slot)` over a slab of actions.
//!
//! Equal deadlines fire in scheduling order because `seq` grows by one per timer. Cancelling
//! removes the slot at once (so a cancelled timer's action, and what it holds, is dropped
//! right away) and leaves a stale heap entry that is skipped when it surfaces; when stale
//! entries outnumber live ones the heap is rebuilt, so a server that cancels most of its
//! timeouts (the usual case) does not grow the heap without bound.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use slab::Slab;

/// Identifies one scheduled timer; stays unique after the timer fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerId {
    key: usize,
    seq: u64,
}

#[derive(Debug)]
pub(crate) struct Timers<A> {
    heap: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    slots: Slab<(u64, A)>,
    seq: u64,
    stale: usize,
}

/// Heaps smaller than this are never compacted: skipping a few stale entries is cheaper.
const COMPACT_MIN: usize = 1024;

impl<A> Timers<A> {
    pub(crate) fn new() -> Timers<A> {
        Timers {
            heap: BinaryHeap::new(),
            slots: Slab::new(),
            seq: 0,
            stale: 0,
        }
    }

    pub(crate) fn add(&mut self, deadline: Instant, action: A) -> TimerId {
        self.seq += 1;
        let seq = self.seq;
        let key = self.slots.insert((seq, action));
        self.heap.push(Reverse((deadline, seq, key)));
        TimerId { key, seq }
    }

    /// Removes a pending timer and returns its action; `None` if it fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<A> {
        match self.slots.get(id.key) {
            Some((seq, _)) if *seq == id.seq => {}
            _ => return None,
        }
        let (_, action) = self.slots.remove(id.key);
        self.stale += 1;
        if self.stale > COMPACT_MIN && self.stale > self.heap.len() / 2 {
            let slots = &self.slots;
            self.heap.retain(
                |Reverse((_, seq, key))| matches!(slots.get(*key), Some((s, _)) if s == seq),
            );
            self.stale = 0;
        }
        Some(action)
    }

    /// Replaces the action of a pending timer; `false` if it is not pending any more.
    pub(crate) fn replace(&mut self, id: TimerId, action: A) -> bool {
        match self.slots.get_mut(id.key) {
            Some((seq, a)) if *seq == id.seq => {
                *a = action;
                true
            }
            _ => false,
        }
    }

    pub(crate) fn is_pending(&self, id: TimerId) -> bool {
        matches!(self.slots.get(id.key), Some((seq, _)) if *seq == id.seq)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn drop_stale_top(&mut self) {
        while let Some(Reverse((_, seq, key))) = self.heap.peek() {
            match self.slots.get(*key) {
                Some((s, _)) if s == seq => return,
                _ => {
                    self.heap.pop();
                    self.stale = self.stale.saturating_sub(1);
                }
            }
        }
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Moves the actions of every timer due at `now` into `out`, in firing order.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<A>) {
        loop {
            self.drop_stale_top();
            match self.heap.peek() {
                Some(Reverse((d, _, _))) if *d <= now => {}
                _ => return,
            }
            let Reverse((_, _, key)) = self.heap.pop().expect("peeked");
            out.push(self.slots.remove(key).1);
        }
    }

    /// Removes everything (loop close); returns the actions so they drop outside any borrow.
    pub(crate) fn drain(&mut self) -> Vec<A> {
        self.heap.clear();
        self.stale = 0;
        self.slots.drain().map(|(_, a)| a).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fire_in_deadline_then_scheduling_order() {
        let mut t = Timers::new();
        let now = Instant::now();
        t.add(now + Duration::from_millis(2), "c");
        t.add(now + Duration::from_millis(1), "a");
        t.add(now + Duration::from_millis(1), "b");
        let mut out = Vec::new();
        t.expire(now + Duration::from_millis(5), &mut out);
        assert_eq!(out, ["a", "b", "c"]);
    }

    #[test]
    fn cancelled_timer_never_fires_and_heap_compacts() {
        let mut t = Timers::new();
        let now = Instant::now();
        let ids: Vec<_> = (0..5000)
            .map(|i| t.add(now + Duration::from_secs(i), i))
            .collect();
        for id in &ids[..4000] {
            assert!(t.cancel(*id).is_some());
        }
        assert!(t.cancel(ids[0]).is_none());
        assert!(t.heap.len() < 5000, "compaction ran");
        assert_eq!(t.len(), 1000);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(4000)));
    }
}
