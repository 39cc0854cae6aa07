//! Timers: a four-ary min-heap of `(deadline, seq, slot)` over a slab of actions.
//!
//! Equal deadlines fire in scheduling order because `seq` grows by one per timer. Cancelling
//! removes the slot at once (so a cancelled timer's action, and what it holds, is dropped
//! right away) and leaves a stale heap entry that is skipped when it surfaces; when stale
//! entries outnumber live ones the heap is rebuilt, so a server that cancels most of its
//! timeouts (the usual case) does not grow the heap without bound.
//!
//! The heap is the timers' hot structure: with 100,000 sleeping tasks every pop walks it from
//! the root to a leaf, and each level is a cache miss once it outgrows the cache. So an entry
//! is 24 bytes (the deadline as nanoseconds from the clock's epoch, not a 16-byte `Instant`)
//! and each node has four children, which halves the levels a pop goes through: 9 instead of
//! 17 for 100,000 timers. On the `timer_tasks` and `virtual_timers` cases of the core bench
//! (100,000 sleeping tasks) the heap's share of the profile went from about 10% to about 5%.

use std::time::{Duration, Instant};

use super::clock::epoch;
use super::slots::Slots;

/// Identifies one scheduled timer; stays unique after the timer fired or was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TimerId {
    key: usize,
    seq: u64,
}

/// A deadline as a number that orders like the `Instant`: nanoseconds from the clock's
/// epoch, offset by 2^63 so that instants before the epoch order correctly too (exact within
/// 292 years either side of the epoch; beyond, they saturate: never reached anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct At(u64);

const ZERO: u64 = 1 << 63;

impl At {
    fn of(t: Instant) -> At {
        let base = epoch();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match t.checked_duration_since(base) {
            Some(after) => At(ZERO.saturating_add(nanos(after))),
            None => At(ZERO.saturating_sub(nanos(base.duration_since(t)))),
        }
    }

    /// The instant this stands for (a saturated one: as far as an `Instant` reaches).
    fn instant(self) -> Instant {
        let base = epoch();
        if self.0 >= ZERO {
            let d = Duration::from_nanos(self.0 - ZERO);
            base.checked_add(d)
                .unwrap_or_else(|| super::clock::deadline_from(base, Duration::MAX))
        } else {
            base.checked_sub(Duration::from_nanos(ZERO - self.0))
                .unwrap_or(base)
        }
    }
}

/// One heap entry: when, in what order among equal deadlines, and which slot.
#[derive(Debug, Clone, Copy)]
struct Entry {
    at: At,
    seq: u64,
    key: usize,
}

impl Entry {
    /// `(at, seq)` as one number: compared in two instructions and no branch, where a
    /// tuple's comparison branches on its first field (unpredictably, in a heap).
    #[inline(always)]
    fn order(&self) -> u128 {
        (u128::from(self.at.0) << 64) | u128::from(self.seq)
    }

    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        self.order() < other.order()
    }
}

/// The timers' actions by key, each with its timer's `seq`, which tells a timer from a later
/// one that reuses its slot. [`Slots`] rather than a `slab` so that the next timer's slot can
/// be prefetched.
#[derive(Debug)]
struct Actions<A>(Slots<(u64, A)>);

impl<A> Actions<A> {
    fn new() -> Actions<A> {
        Actions(Slots::new())
    }

    fn insert(&mut self, seq: u64, action: A) -> usize {
        self.0.insert((seq, action))
    }

    #[inline]
    fn is_live(&self, key: usize, seq: u64) -> bool {
        self.0.get(key).is_some_and(|s| s.0 == seq)
    }

    #[inline]
    fn get(&self, key: usize, seq: u64) -> Option<&A> {
        self.0.get(key).filter(|s| s.0 == seq).map(|s| &s.1)
    }

    #[inline]
    fn get_mut(&mut self, key: usize, seq: u64) -> Option<&mut A> {
        self.0.get_mut(key).filter(|s| s.0 == seq).map(|s| &mut s.1)
    }

    fn remove(&mut self, key: usize, seq: u64) -> Option<A> {
        if !self.is_live(key, seq) {
            return None;
        }
        self.0.remove(key).map(|(_, a)| a)
    }

    #[inline(always)]
    fn prefetch(&self, key: usize) {
        self.0.prefetch(key);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn drain(&mut self) -> Vec<A> {
        self.0.drain().into_iter().map(|(_, a)| a).collect()
    }
}

/// Children per heap node.
const ARITY: usize = 4;

#[derive(Debug)]
pub(crate) struct Timers<A> {
    /// A min-heap by `(at, seq)`: the children of `i` are `ARITY * i + 1 ..= ARITY * i + ARITY`.
    heap: Vec<Entry>,
    slots: Actions<A>,
    seq: u64,
    stale: usize,
}

/// Heaps smaller than this always expire by pops (see `Timers::expire_bulk`).
const BULK_MIN: usize = 1024;

/// How many timers ahead a bulk expiry prefetches the slot of.
const BULK_PREFETCH: usize = 8;

/// Heaps smaller than this are never compacted: skipping a few stale entries is cheaper.
const COMPACT_MIN: usize = 1024;

impl<A> Timers<A> {
    pub(crate) fn new() -> Timers<A> {
        Timers {
            heap: Vec::new(),
            slots: Actions::new(),
            seq: 0,
            stale: 0,
        }
    }

    pub(crate) fn add(&mut self, deadline: Instant, action: A) -> TimerId {
        self.seq += 1;
        let seq = self.seq;
        let key = self.slots.insert(seq, action);
        self.push(Entry {
            at: At::of(deadline),
            seq,
            key,
        });
        TimerId { key, seq }
    }

    /// Removes a pending timer and returns its action; `None` if it fired or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> Option<A> {
        let action = self.slots.remove(id.key, id.seq)?;
        self.stale += 1;
        if self.stale > COMPACT_MIN && self.stale > self.heap.len() / 2 {
            let slots = &self.slots;
            self.heap.retain(|e| slots.is_live(e.key, e.seq));
            self.heapify();
            self.stale = 0;
        }
        Some(action)
    }

    /// Replaces the action of a pending timer; `false` if it is not pending any more.
    pub(crate) fn replace(&mut self, id: TimerId, action: A) -> bool {
        self.replace_with(id, || action)
    }

    /// Replaces the action of a pending timer with the one `make` returns (called only if
    /// the timer is still pending); `false` if it is not pending any more. One look at the
    /// timer's slot, where asking [`is_pending`](Self::is_pending) first would take two.
    #[inline]
    pub(crate) fn replace_with(&mut self, id: TimerId, make: impl FnOnce() -> A) -> bool {
        match self.slots.get_mut(id.key, id.seq) {
            Some(a) => {
                *a = make();
                true
            }
            None => false,
        }
    }

    pub(crate) fn is_pending(&self, id: TimerId) -> bool {
        self.slots.is_live(id.key, id.seq)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    fn drop_stale_top(&mut self) {
        while let Some(top) = self.heap.first() {
            if self.slots.is_live(top.key, top.seq) {
                return;
            }
            self.pop();
            self.stale = self.stale.saturating_sub(1);
        }
    }

    /// `true` if no timer is due at `t`: the heap's top (live or not yet dropped as stale,
    /// so this may say `false` for a timer already cancelled) is later than `t`. Looks at
    /// no slot.
    #[inline]
    pub(crate) fn none_due_at(&self, t: Instant) -> bool {
        self.heap.first().is_none_or(|top| top.at > At::of(t))
    }

    /// The earliest pending deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.heap.first().map(|e| e.at.instant())
    }

    /// Moves the actions of every timer due at `now` into `out`, in firing order.
    ///
    /// Only due entries have their slot looked at (a stale one is dropped then). With many
    /// timers each slot, and what its action wakes, is a cache miss of its own, and under
    /// virtual time one timer fires per iteration, so nothing else hides them. So this works
    /// ahead: while popping, it prefetches the next timer's slot, and when it stops at the
    /// first timer not yet due it hands that timer's action to `ahead` (to prefetch what it
    /// will touch; its slot was prefetched one call earlier) and prefetches the slot of the
    /// one after it. The next call then finds them in the cache.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<A>, ahead: impl Fn(&A)) {
        let now = At::of(now);
        if self.many_due(now) {
            self.expire_bulk(now, out);
        }
        while let Some(top) = self.heap.first() {
            if top.at > now {
                if let Some(a) = self.slots.get(top.key, top.seq) {
                    ahead(a);
                }
                if let Some(after) = self.second() {
                    self.slots.prefetch(after.key);
                }
                return;
            }
            let top = self.pop().expect("a top entry was there");
            if let Some(next) = self.heap.first() {
                self.slots.prefetch(next.key);
            }
            match self.slots.remove(top.key, top.seq) {
                Some(action) => out.push(action),
                None => self.stale = self.stale.saturating_sub(1),
            }
        }
    }

    /// `true` if a big heap looks mostly due at `now`: its last entry (in the cache: every
    /// pop moves it) is due, and so are at least half of eight leaves sampled over its last
    /// level (leaves are most of a four-ary heap, and its largest entries). When few timers
    /// are due, as under virtual time (one per iteration), this reads one line.
    fn many_due(&self, now: At) -> bool {
        let len = self.heap.len();
        if len < BULK_MIN || self.heap[len - 1].at > now || self.heap[0].at > now {
            return false;
        }
        let step = len / 32;
        (1..8)
            .filter(|i| self.heap[len - 1 - i * step].at <= now)
            .count()
            >= 3
    }

    /// Expires every due timer at once: takes the due entries out of the heap, sorts them
    /// and rebuilds the heap from the rest.
    ///
    /// Popping costs a walk from the root to a leaf per timer (about 500 instructions each
    /// for 100,000 timers); when a loop finds most of its timers due at once (it was busy
    /// past their deadlines, or a burst of sleeps to past instants), a sort of the due
    /// entries costs a fraction of that, and their slots, known in firing order ahead, are
    /// prefetched several timers ahead.
    #[cold]
    fn expire_bulk(&mut self, now: At, out: &mut Vec<A>) {
        let mut due = Vec::new();
        self.heap.retain(|e| {
            let is_due = e.at <= now;
            if is_due {
                due.push(*e);
            }
            !is_due
        });
        self.heapify();
        due.sort_unstable_by_key(Entry::order);
        out.reserve(due.len());
        for (i, e) in due.iter().enumerate() {
            if let Some(ahead) = due.get(i + BULK_PREFETCH) {
                self.slots.prefetch(ahead.key);
            }
            match self.slots.remove(e.key, e.seq) {
                Some(action) => out.push(action),
                None => self.stale = self.stale.saturating_sub(1),
            }
        }
    }

    /// The entry that comes out of the heap after the top one (the least of its children).
    #[inline]
    fn second(&self) -> Option<Entry> {
        let children = self.heap.get(1..self.heap.len().min(ARITY + 1))?;
        children
            .iter()
            .copied()
            .reduce(|a, b| if b.before(&a) { b } else { a })
    }

    /// Removes everything (loop close); returns the actions so they drop outside any borrow.
    pub(crate) fn drain(&mut self) -> Vec<A> {
        self.heap.clear();
        self.stale = 0;
        self.slots.drain()
    }

    // ----- the heap -----

    fn push(&mut self, e: Entry) {
        self.heap.push(e);
        let mut i = self.heap.len() - 1;
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !e.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = e;
    }

    fn pop(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        if self.heap.is_empty() {
            return Some(last);
        }
        let top = self.heap[0];
        self.sift_down(0, last);
        Some(top)
    }

    /// Puts `e` at hole `i` or below it, moving smaller children up.
    fn sift_down(&mut self, mut i: usize, e: Entry) {
        let len = self.heap.len();
        loop {
            let first = ARITY * i + 1;
            if first >= len {
                break;
            }
            // The least child, chosen by selects rather than branches.
            let end = (first + ARITY).min(len);
            let (mut min, mut least) = (first, self.heap[first]);
            for (c, x) in self.heap[first + 1..end].iter().enumerate() {
                let less = x.before(&least);
                min = if less { first + 1 + c } else { min };
                least = if less { *x } else { least };
            }
            if !least.before(&e) {
                break;
            }
            self.heap[i] = least;
            i = min;
        }
        self.heap[i] = e;
    }

    /// Restores the heap order over arbitrary contents.
    fn heapify(&mut self) {
        if self.heap.len() < 2 {
            return;
        }
        for i in (0..=(self.heap.len() - 2) / ARITY).rev() {
            let e = self.heap[i];
            self.sift_down(i, e);
        }
    }
}

#[cfg(test)]
#[path = "timers_tests.rs"]
mod tests;
