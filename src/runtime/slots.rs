//! Keyed storage for the loop's big tables (the timers' actions, the task registry): a slab
//! whose slot addresses are known without reading the slots, so the loop can prefetch the
//! one it is about to need.
//!
//! With 100,000 timers or tasks each table outgrows the cache, and a slot is read at a
//! random place (a timer fires, a task ends, in an order unrelated to when they were made),
//! one miss each. The `slab` crate keeps its slots private, and finding one's address means
//! reading its tag; here it is an index into a vector. Keys are reused last-freed first, as
//! `slab` reuses them, so the iteration order of a table is the same as it was with `slab`.

/// Values by key: a vector of slots and a stack of free keys.
#[derive(Debug)]
pub(crate) struct Slots<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots::new()
    }
}

impl<T> Slots<T> {
    pub(crate) fn new() -> Slots<T> {
        Slots {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }

    /// Stores `value`; returns its key.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(value);
                // The next insert's slot: freed keys come back in the order their values
                // left, scattered over the table, so each is a miss of its own.
                if let Some(&next) = self.free.last() {
                    self.prefetch(next);
                }
                key
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        self.slots.get(key)?.as_ref()
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.slots.get_mut(key)?.as_mut()
    }

    /// Takes the value under `key` out; `None` if there is none.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.slots.get_mut(key)?.take()?;
        self.free.push(key);
        self.len -= 1;
        Some(value)
    }

    /// Number of values stored.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The values with their keys, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(k, v)| Some((k, v.as_ref()?)))
    }

    /// Starts loading the slot of `key` into the cache: a hint, with no effect on the
    /// contents (nothing for a key past the end).
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(slot) = self.slots.get(key) {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: a prefetch never faults and changes no memory, whatever the address.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    /// Takes every value out, by key.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.free.clear();
        self.len = 0;
        self.slots.drain(..).flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn keys_are_reused_last_freed_first_and_iteration_goes_by_key() {
        let mut s = Slots::new();
        let keys: Vec<usize> = (0..5).map(|i| s.insert(i * 10)).collect();
        assert_eq!(keys, [0, 1, 2, 3, 4]);
        assert_eq!(s.remove(1), Some(10));
        assert_eq!(s.remove(3), Some(30));
        assert_eq!(s.remove(3), None, "removed once");
        assert_eq!(s.len(), 3);
        assert_eq!(s.insert(99), 3, "the last freed key first");
        assert_eq!(s.insert(98), 1);
        if let Some(v) = s.get_mut(4) {
            *v = 44;
        }
        let all: Vec<(usize, i32)> = s.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(all, [(0, 0), (1, 98), (2, 20), (3, 99), (4, 44)]);
        s.prefetch(2);
        s.prefetch(1000);
        assert_eq!(s.get(7), None);
        assert_eq!(s.drain(), [0, 98, 20, 99, 44]);
        assert_eq!(s.len(), 0);
        assert_eq!(s.insert(1), 0);
    }
}
