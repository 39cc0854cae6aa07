//! Where a queue keeps its items: the one thing that differs between `Queue`, `LifoQueue`
//! and `PriorityQueue` (asyncio's overridable `_init`, `_put`, `_get`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// The item container behind a queue.
pub(crate) trait Store<T> {
    /// Adds an item put by a producer.
    fn push(&mut self, item: T);
    /// Removes the item a getter receives next.
    fn pop(&mut self) -> Option<T>;
    /// Puts back an item a cancelled getter had been handed, where it would be had it never
    /// left. A getter is handed an item only when the store is empty, so every item stored
    /// since is newer: the item goes to the front of a FIFO, the bottom of a LIFO, and ahead
    /// of its equals in a priority queue.
    fn give_back(&mut self, item: T);
    fn len(&self) -> usize;
    /// Moves every item into `out` (to be dropped outside the queue's borrow).
    fn drain_into(&mut self, out: &mut Vec<T>);
}

/// First in, first out.
#[derive(Debug)]
pub(crate) struct Fifo<T>(VecDeque<T>);

impl<T> Fifo<T> {
    pub(crate) fn new() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn give_back(&mut self, item: T) {
        self.0.push_front(item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn drain_into(&mut self, out: &mut Vec<T>) {
        out.extend(self.0.drain(..));
    }
}

/// Last in, first out.
#[derive(Debug)]
pub(crate) struct Lifo<T>(Vec<T>);

impl<T> Lifo<T> {
    pub(crate) fn new() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn give_back(&mut self, item: T) {
        self.0.insert(0, item);
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn drain_into(&mut self, out: &mut Vec<T>) {
        out.append(&mut self.0);
    }
}

/// Smallest first (a min-heap, like `heapq`); equal items leave in the order they came.
#[derive(Debug)]
pub(crate) struct Priority<T> {
    heap: BinaryHeap<Entry<T>>,
    /// Arrival number of the next pushed item: ties between equal items go to the older one.
    next_seq: i64,
    /// Arrival number for the next given-back item: below every pushed one, so it leads its
    /// ties, as it did before it was handed out.
    next_front_seq: i64,
}

impl<T: Ord> Priority<T> {
    pub(crate) fn new() -> Self {
        Priority {
            heap: BinaryHeap::new(),
            next_seq: 0,
            next_front_seq: -1,
        }
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn push(&mut self, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { item, seq });
    }
    fn pop(&mut self) -> Option<T> {
        self.heap.pop().map(|e| e.item)
    }
    fn give_back(&mut self, item: T) {
        let seq = self.next_front_seq;
        self.next_front_seq -= 1;
        self.heap.push(Entry { item, seq });
    }
    fn len(&self) -> usize {
        self.heap.len()
    }
    fn drain_into(&mut self, out: &mut Vec<T>) {
        out.extend(self.heap.drain().map(|e| e.item));
    }
}

/// A heap entry ordered so that `BinaryHeap` (a max-heap) pops the smallest item, and among
/// equal items the one with the smallest arrival number.
#[derive(Debug)]
struct Entry<T> {
    item: T,
    seq: i64,
}

impl<T: Ord> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .item
            .cmp(&self.item)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl<T: Ord> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Ord> Eq for Entry<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_pops_smallest_first_and_ties_in_arrival_order() {
        let mut p = Priority::new();
        for (k, v) in [(2, 'a'), (1, 'b'), (2, 'c'), (1, 'd')] {
            p.push(Tie(k, v));
        }
        let order: Vec<char> = std::iter::from_fn(|| p.pop()).map(|t| t.1).collect();
        assert_eq!(order, ['b', 'd', 'a', 'c']);
    }

    #[test]
    fn priority_given_back_item_leads_its_ties() {
        let mut p = Priority::new();
        p.push(Tie(1, 'a'));
        p.push(Tie(1, 'b'));
        let first = p.pop().unwrap();
        p.push(Tie(1, 'c'));
        p.give_back(first);
        let order: Vec<char> = std::iter::from_fn(|| p.pop()).map(|t| t.1).collect();
        assert_eq!(order, ['a', 'b', 'c']);
    }

    #[test]
    fn fifo_gives_back_to_the_front_and_lifo_to_the_bottom() {
        let mut f = Fifo::new();
        f.give_back(1);
        f.push(2);
        f.give_back(0);
        assert_eq!(
            std::iter::from_fn(|| f.pop()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        let mut l = Lifo::new();
        l.push(2);
        l.push(3);
        l.give_back(1);
        assert_eq!(
            std::iter::from_fn(|| l.pop()).collect::<Vec<_>>(),
            [3, 2, 1]
        );
    }

    /// Compares by the key only, so ties are visible.
    #[derive(Debug)]
    struct Tie(u32, char);
    impl PartialEq for Tie {
        fn eq(&self, o: &Self) -> bool {
            self.0 == o.0
        }
    }
    impl Eq for Tie {}
    impl PartialOrd for Tie {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for Tie {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.cmp(&o.0)
        }
    }
}
