//! A growable ring buffer for the loop's hot queues (the ready queue, waiter lists).
//!
//! `std::collections::VecDeque` would do, except for one thing on the hottest paths: its
//! `push_back` takes the value first and checks for room after, so a value built from several
//! parts (a waker's pointer and token, a runnable's tag and pointer) is assembled on the stack
//! and copied into the buffer with wide loads that read across the narrower stores just made.
//! Those loads cannot be served from the store buffer and stall for a dozen cycles or more,
//! once per park and once per wake. [`Fifo::push_back_with`] makes room first and builds the
//! value straight into its slot.

use std::mem::MaybeUninit;

/// A FIFO ring buffer whose capacity is zero or a power of two.
pub(crate) struct Fifo<T> {
    buf: Box<[MaybeUninit<T>]>,
    /// Physical index of the front element.
    head: usize,
    len: usize,
}

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo::new()
    }
}

impl<T> Fifo<T> {
    /// An empty queue; allocates on the first push.
    pub(crate) fn new() -> Fifo<T> {
        Fifo {
            buf: Box::new([]),
            head: 0,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Physical index of logical position `i` (`i <= len`, capacity > 0).
    #[inline]
    fn phys(&self, i: usize) -> usize {
        (self.head + i) & (self.buf.len() - 1)
    }

    /// Appends the value `make` returns; room is made before `make` runs, so the value is
    /// written into its slot directly.
    #[inline]
    pub(crate) fn push_back_with(&mut self, make: impl FnOnce() -> T) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let i = self.phys(self.len);
        self.buf[i].write(make());
        self.len += 1;
    }

    /// Takes the front element.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        self.head = self.phys(1);
        self.len -= 1;
        // SAFETY: slot `i` was the front of `len > 0` initialised elements; moving `head`
        // past it and lowering `len` first makes it uninitialised from the queue's view, so it
        // is read exactly once.
        Some(unsafe { self.buf[i].assume_init_read() })
    }

    /// The front element.
    #[inline]
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// The element at logical position `i` (0 = front).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        // SAFETY: logical positions below `len` are initialised.
        Some(unsafe { self.buf[self.phys(i)].assume_init_ref() })
    }

    /// The element at logical position `i`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        if i >= self.len {
            return None;
        }
        let p = self.phys(i);
        // SAFETY: logical positions below `len` are initialised.
        Some(unsafe { self.buf[p].assume_init_mut() })
    }

    /// Removes and returns the element at logical position `i`, shifting the ones behind it
    /// forward.
    pub(crate) fn remove(&mut self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let p = self.phys(i);
        // SAFETY: position `i` is initialised; it is read once here and its slot is then
        // overwritten by the shift below (or left past the new end).
        let v = unsafe { self.buf[p].assume_init_read() };
        for j in i..self.len - 1 {
            let (to, from) = (self.phys(j), self.phys(j + 1));
            // SAFETY: `from` is an initialised position; after this bitwise move it counts as
            // uninitialised (it is either the next `to` or past the new end).
            let moved = unsafe { self.buf[from].assume_init_read() };
            self.buf[to].write(moved);
        }
        self.len -= 1;
        Some(v)
    }

    /// Binary search over the elements by a key they are sorted by (front to back).
    pub(crate) fn binary_search_by_key<K: Ord>(
        &self,
        key: &K,
        f: impl Fn(&T) -> K,
    ) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let k = f(self.get(mid).expect("mid < len"));
            match k.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        (0..self.len).filter_map(move |i| self.get(i))
    }

    /// Doubles the capacity (at least 4), keeping the logical order.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(4);
        let mut buf: Box<[MaybeUninit<T>]> = (0..cap).map(|_| MaybeUninit::uninit()).collect();
        for (j, slot) in buf.iter_mut().enumerate().take(self.len) {
            let p = self.phys(j);
            // SAFETY: positions below `len` are initialised; each is moved out exactly once
            // and the old buffer (of `MaybeUninit`) drops nothing.
            slot.write(unsafe { self.buf[p].assume_init_read() });
        }
        self.buf = buf;
        self.head = 0;
    }
}

impl<T> Drop for Fifo<T> {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;
    use std::rc::Rc;

    #[test]
    fn fifo_order_across_growth_and_wraparound() {
        let mut q = Fifo::new();
        let mut next_in = 0;
        let mut next_out = 0;
        for round in 0..50 {
            for _ in 0..(round % 7 + 1) {
                q.push_back_with(|| next_in);
                next_in += 1;
            }
            for _ in 0..(round % 5) {
                if let Some(v) = q.pop_front() {
                    assert_eq!(v, next_out);
                    next_out += 1;
                }
            }
            assert_eq!(q.len(), next_in - next_out);
        }
        while let Some(v) = q.pop_front() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
        assert_eq!(next_out, next_in);
        assert!(q.is_empty());
    }

    #[test]
    fn remove_search_and_drop_release_every_element() {
        let marker = Rc::new(());
        let mut q = Fifo::new();
        // Wrap the ring first so positions are not physical indices.
        for i in 0..3 {
            q.push_back_with(|| (i, marker.clone()));
        }
        for _ in 0..3 {
            q.pop_front();
        }
        for i in 10..20 {
            q.push_back_with(|| (i, marker.clone()));
        }
        assert_eq!(q.binary_search_by_key(&15, |e| e.0), Ok(5));
        assert_eq!(q.binary_search_by_key(&9, |e| e.0), Err(0));
        assert_eq!(q.remove(5).map(|e| e.0), Some(15));
        assert_eq!(q.binary_search_by_key(&15, |e| e.0), Err(5));
        let order: Vec<i32> = q.iter().map(|e| e.0).collect();
        assert_eq!(order, [10, 11, 12, 13, 14, 16, 17, 18, 19]);
        if let Some(e) = q.get_mut(0) {
            e.0 = 1;
        }
        assert_eq!(q.front().map(|e| e.0), Some(1));
        assert_eq!(Rc::strong_count(&marker), 10);
        drop(q);
        assert_eq!(Rc::strong_count(&marker), 1);
    }
}
