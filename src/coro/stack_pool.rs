//! The per-loop pool of stacks: reused LIFO, bounded, their deep pages given back while the
//! loop is idle; new stacks mapped in batches when many tasks are alive.

use super::stack::{MIN_STACK_SIZE, Stack, page_size};

/// Finished coroutines' stacks, kept for reuse. LIFO, so the next spawn gets a stack whose top
/// is still in cache; bounded, so a burst of tasks does not pin memory afterwards.
///
/// Stacks beyond the bound are not unmapped one by one as their tasks end (one `munmap` each,
/// splitting the merged mapping, was most of the cost of a burst of 100k tasks ending): they
/// wait in `excess`, where a spawn takes them first, and are unmapped when the loop is about to
/// sleep, sorted by address so that neighbours go in one `munmap`.
#[derive(Debug)]
pub(crate) struct StackPool {
    /// Stacks of the default size. `free[..clean]` are trimmed.
    free: Vec<Stack>,
    clean: usize,
    /// Default-size stacks over the bound, still mapped (not trimmed), until the next idle
    /// moment or until `EXCESS_LIMIT` of them wait.
    excess: Vec<Stack>,
    /// Default-size stacks mapped by a batch and never used yet (no page touched). Taken after
    /// `free` and `excess`, whose top pages are resident already.
    fresh: Vec<Stack>,
    /// Stacks of other sizes (tasks built with `Builder::stack_size`).
    other: Vec<Stack>,
    default_size: usize,
    /// `default_size` rounded up to whole pages: the usable size of a default stack (kept, so
    /// a stack going back costs no division).
    default_mapped: usize,
    max_pooled: usize,
    /// Guard length of every stack this pool maps.
    guard: usize,
    /// Stacks handed out by `get` and not yet given back by `put`: the stacks of coroutines
    /// that have not ended.
    lent: usize,
}

/// Stacks trimmed per idle moment of the loop: a trim is one `madvise` each, so a burst of
/// finished tasks is given back gradually while the loop has nothing else to do, never on
/// the spawn/exit path.
const TRIM_BUDGET: usize = 64;

/// Most stacks one batch maps. A batch is a quarter of the stacks lent at the time (so at
/// most a fifth of the live stacks were mapped ahead of need, and none of them costs RAM
/// before it is used: only its guard's page-table entries), capped by this and by the room
/// left under the pool's bound.
const MAX_BATCH: usize = 1024;

/// Stacks over the pool's bound that may wait for an idle moment to be unmapped; past this,
/// they are unmapped at once (still in runs of neighbours), so a loop that never idles does not
/// keep the memory of an old burst.
const EXCESS_LIMIT: usize = 4096;

impl StackPool {
    pub(crate) fn new(default_size: usize, max_pooled: usize, guard: usize) -> StackPool {
        StackPool {
            free: Vec::new(),
            clean: 0,
            excess: Vec::new(),
            fresh: Vec::new(),
            other: Vec::new(),
            default_size: default_size.max(MIN_STACK_SIZE),
            default_mapped: default_size
                .max(MIN_STACK_SIZE)
                .checked_next_multiple_of(page_size())
                .unwrap_or(usize::MAX),
            max_pooled,
            guard,
            lent: 0,
        }
    }

    pub(crate) fn default_size(&self) -> usize {
        self.default_size
    }

    /// A stack of at least `size` usable bytes (the pool's default when `None`), lent until
    /// [`put`](Self::put) takes it back.
    pub(crate) fn get(&mut self, size: Option<usize>) -> Result<Stack, crate::error::SpawnError> {
        let s = self.take(size)?;
        self.lent += 1;
        Ok(s)
    }

    fn take(&mut self, size: Option<usize>) -> Result<Stack, crate::error::SpawnError> {
        let want = size.unwrap_or(self.default_size).max(MIN_STACK_SIZE);
        if want == self.default_size {
            if let Some(s) = self.free.pop() {
                self.clean = self.clean.min(self.free.len());
                return Ok(s);
            }
            if let Some(s) = self.excess.pop() {
                return Ok(s);
            }
            let s = match self.fresh.pop() {
                Some(s) => s,
                None => self.map_batch()?,
            };
            s.populate_top();
            return Ok(s);
        } else if let Some(i) = self
            .other
            .iter()
            .rposition(|s| s.size() >= want && s.size() <= want + want / 4 + page_size())
        {
            return Ok(self.other.swap_remove(i));
        }
        Stack::map(want, self.guard)
    }

    /// Maps a batch of default-size stacks when the pool is empty, keeps all but one in
    /// `fresh` and returns that one. The batch grows with the number of live stacks, so a
    /// loop with a few tasks maps them one at a time and a burst of a million maps them a
    /// thousand at a time (one `mmap` each batch instead of one per stack).
    fn map_batch(&mut self) -> Result<Stack, crate::error::SpawnError> {
        let room = self
            .max_pooled
            .saturating_sub(self.free.len() + self.fresh.len());
        let count = (self.lent / 4).clamp(1, MAX_BATCH).min(room + 1);
        let mut batch = match Stack::map_batch(self.default_size, self.guard, count) {
            Ok(batch) => batch,
            // Near a limit (address space, memory maps) one stack may still fit where a batch
            // does not; its error, if any, is the one to report.
            Err(_) if count > 1 => Stack::map_batch(self.default_size, self.guard, 1)?,
            Err(e) => return Err(e),
        };
        // Hand out in address order.
        batch.reverse();
        let s = batch.pop().expect("a batch maps at least one stack");
        self.fresh.append(&mut batch);
        Ok(s)
    }

    /// Counts as lent a stack this pool did not hand out, before [`put`](Self::put) takes it.
    pub(crate) fn adopt(&mut self) {
        self.lent += 1;
    }

    /// Takes back the stack of a finished coroutine.
    pub(crate) fn put(&mut self, mut stack: Stack) {
        self.lent -= 1;
        stack.trimmed = false;
        if stack.size() == self.default_mapped {
            if self.free.len() + self.fresh.len() < self.max_pooled {
                self.free.push(stack);
            } else {
                self.excess.push(stack);
                if self.excess.len() >= EXCESS_LIMIT {
                    unmap_all(&mut self.excess);
                }
            }
        } else if self.other.len() < self.max_pooled / 4 {
            stack.trim();
            self.other.push(stack);
        }
    }

    /// Gives back the deep pages of up to `TRIM_BUDGET` stacks returned since the last trim,
    /// oldest first (the newest are the next to be reused). Called when the loop is about to
    /// sleep.
    pub(crate) fn trim(&mut self) {
        unmap_all(&mut self.excess);
        let end = self.free.len().min(self.clean + TRIM_BUDGET);
        for s in &mut self.free[self.clean..end] {
            s.trim();
        }
        self.clean = end;
    }

    /// Stacks kept for reuse: given back, or mapped by a batch and not used yet.
    pub(crate) fn pooled(&self) -> usize {
        self.free.len() + self.fresh.len() + self.other.len()
    }

    /// Stacks lent to coroutines that have not ended.
    pub(crate) fn lent(&self) -> usize {
        self.lent
    }

    /// Stacks over the bound, still mapped until the loop's next idle moment.
    pub(crate) fn excess(&self) -> usize {
        self.excess.len()
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let mut all = std::mem::take(&mut self.free);
        all.append(&mut self.excess);
        all.append(&mut self.fresh);
        all.append(&mut self.other);
        unmap_all(&mut all);
    }
}

/// Unmaps every stack in `stacks`, each run of neighbouring mappings with one `munmap`.
fn unmap_all(stacks: &mut Vec<Stack>) {
    stacks.sort_unstable_by_key(|s| s.lo);
    let mut run: Option<(usize, usize)> = None; // [lo, hi) of the current run of neighbours
    for s in stacks.drain(..) {
        let (lo, hi) = (s.lo, s.lo + s.len);
        // The run takes over the stack's mapping: it is unmapped with the run, not by Drop.
        std::mem::forget(s);
        run = match run {
            Some((rlo, rhi)) if rhi == lo => Some((rlo, hi)),
            Some((rlo, rhi)) => {
                unmap(rlo, rhi);
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    if let Some((lo, hi)) = run {
        unmap(lo, hi);
    }
}

/// Unmaps `[lo, hi)`, which is made only of stacks handed over by `unmap_all`.
fn unmap(lo: usize, hi: usize) {
    // SAFETY: [lo, hi) is the union of neighbouring mappings, each created and owned by a
    // Stack that `unmap_all` consumed (forgot) and no coroutine runs on.
    unsafe {
        libc::munmap(lo as *mut libc::c_void, hi - lo);
    }
    #[cfg(test)]
    tests::count_unmapped(hi - lo);
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::coro::stack::DEFAULT_GUARD_SIZE;

    #[test]
    fn pool_reuses_stacks_lifo() {
        let mut pool = StackPool::new(64 * 1024, 8, DEFAULT_GUARD_SIZE);
        let a = pool.get(None).unwrap();
        let lo = a.lo;
        pool.put(a);
        let b = pool.get(None).unwrap();
        assert_eq!(b.lo, lo, "the pooled stack is handed out again");
        pool.put(b);
        assert_eq!(pool.pooled(), 1);
    }

    #[test]
    fn pool_counts_lent_stacks() {
        let mut pool = StackPool::new(64 * 1024, 1, DEFAULT_GUARD_SIZE);
        let a = pool.get(None).unwrap();
        let b = pool.get(Some(128 * 1024)).unwrap();
        let c = pool.get(None).unwrap();
        assert_eq!(pool.lent(), 3);
        pool.put(a);
        pool.put(b); // another size, with no room for it (a quarter of 1): unmapped
        pool.put(c); // over the bound: waits in `excess`
        assert_eq!((pool.lent(), pool.pooled(), pool.excess()), (0, 1, 1));
        pool.trim();
        assert_eq!(pool.excess(), 0);
    }

    #[test]
    fn pool_is_bounded() {
        let mut pool = StackPool::new(64 * 1024, 2, DEFAULT_GUARD_SIZE);
        let stacks: Vec<_> = (0..4).map(|_| pool.get(None).unwrap()).collect();
        for s in stacks {
            pool.put(s);
        }
        assert_eq!(pool.pooled(), 2);
    }

    /// `true` while `[lo, lo + page)` is mapped (msync fails with ENOMEM on unmapped memory).
    fn mapped(lo: usize) -> bool {
        // SAFETY: msync only inspects the range; it does not touch memory.
        unsafe { libc::msync(lo as *mut libc::c_void, page_size(), libc::MS_ASYNC) == 0 }
    }

    thread_local! {
        /// Bytes of stack this thread unmapped. Each test runs on a thread of its own, and
        /// other tests may map new memory at an address a test just unmapped, so "is this
        /// address still mapped" cannot tell whether the pool unmapped it; this count can.
        static UNMAPPED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    pub(in crate::coro) fn count_unmapped(bytes: usize) {
        UNMAPPED.with(|u| u.set(u.get() + bytes));
    }

    fn unmapped_bytes() -> usize {
        UNMAPPED.with(|u| u.get())
    }

    #[test]
    fn stacks_over_the_bound_are_reused_first_then_unmapped_when_idle() {
        let mut pool = StackPool::new(64 * 1024, 1, DEFAULT_GUARD_SIZE);
        let stacks: Vec<_> = (0..3).map(|_| pool.get(None).unwrap()).collect();
        let los: Vec<usize> = stacks.iter().map(|s| s.lo).collect();
        for s in stacks {
            pool.put(s); // one pooled, two waiting in `excess`
        }
        assert_eq!(pool.pooled(), 1);
        assert!(
            los.iter().all(|&lo| mapped(lo)),
            "nothing unmapped on the exit path"
        );
        // A spawn takes the pooled stack, the next one a waiting one: no new mapping.
        let a = pool.get(None).unwrap();
        let b = pool.get(None).unwrap();
        assert!(los.contains(&a.lo) && los.contains(&b.lo));
        let len = a.len;
        pool.put(a);
        pool.put(b);
        let before = unmapped_bytes();
        pool.trim(); // the loop is about to sleep: the two waiting stacks go
        assert_eq!(
            unmapped_bytes() - before,
            2 * len,
            "the stacks over the bound are unmapped, the pooled one kept"
        );
        assert_eq!(pool.pooled(), 1);
        drop(pool);
        assert_eq!(
            unmapped_bytes() - before,
            3 * len,
            "dropping the pool unmaps the rest"
        );
    }

    #[test]
    fn trim_keeps_stack_usable() {
        let mut pool = StackPool::new(64 * 1024, 2, DEFAULT_GUARD_SIZE);
        let s = pool.get(None).unwrap();
        let top = s.lo + s.len;
        // SAFETY: writes inside the usable part of a stack nobody runs on.
        unsafe { std::ptr::write_bytes((top - 48 * 1024) as *mut u8, 7, 40 * 1024) };
        pool.put(s);
        pool.trim();
        let s = pool.get(None).unwrap();
        // SAFETY: reads inside the usable part; trimmed pages read back as zero.
        let v = unsafe { *((top - 40 * 1024) as *const u8) };
        assert_eq!(v, 0, "deep pages were given back");
        drop(s);
    }

    #[test]
    fn many_lent_stacks_are_mapped_in_batches_of_neighbours() {
        let mut pool = StackPool::new(64 * 1024, 1024, DEFAULT_GUARD_SIZE);
        let lent: Vec<_> = (0..64).map(|_| pool.get(None).unwrap()).collect();
        // Lending the 64th with 63 out mapped a batch of 15: one handed out, 14 fresh.
        assert_eq!((pool.lent(), pool.pooled()), (64, 14));
        let len = lent[0].len;
        let next_to_previous = lent.windows(2).filter(|w| w[1].lo == w[0].lo + len).count();
        // Batches of a quarter of the lent count: eight of one stack, then 2, 2, 3, 3, 4, 5,
        // 6, 8, 10 and 12 (45 neighbours inside them), then the 15 of the last.
        assert!(
            next_to_previous >= 45,
            "stacks of one batch are neighbours in one mapping: {next_to_previous} of 63"
        );
        for s in lent {
            pool.put(s);
        }
        assert_eq!((pool.lent(), pool.pooled()), (0, 78));
        let before = unmapped_bytes();
        drop(pool);
        assert_eq!(
            unmapped_bytes() - before,
            78 * len,
            "every stack, used or fresh, is unmapped with the pool"
        );
    }

    #[test]
    fn batches_stay_under_the_pool_bound() {
        let mut pool = StackPool::new(64 * 1024, 4, DEFAULT_GUARD_SIZE);
        let lent: Vec<_> = (0..100).map(|_| pool.get(None).unwrap()).collect();
        assert!(pool.pooled() <= 4, "{} fresh stacks", pool.pooled());
        for s in lent {
            pool.put(s);
        }
        assert_eq!(pool.pooled(), 4);
        let mut none = StackPool::new(64 * 1024, 0, DEFAULT_GUARD_SIZE);
        let lent: Vec<_> = (0..100).map(|_| none.get(None).unwrap()).collect();
        assert_eq!(none.pooled(), 0, "no pool, no batch");
        drop(lent);
    }

    /// `true` while the page at `addr` is resident (mincore).
    fn resident(addr: usize) -> bool {
        let mut v = 0u8;
        // SAFETY: mincore only reports on the page, writing one byte into `v`.
        let rc = unsafe { libc::mincore(addr as *mut libc::c_void, page_size(), &mut v) };
        rc == 0 && v & 1 == 1
    }

    #[test]
    fn a_fresh_stack_is_handed_out_with_its_top_page_resident_and_nothing_more() {
        let mut pool = StackPool::new(64 * 1024, 1024, DEFAULT_GUARD_SIZE);
        let lent: Vec<_> = (0..40).map(|_| pool.get(None).unwrap()).collect();
        for s in &lent {
            let top = s.lo + s.len - page_size();
            assert!(
                resident(top) || !Stack::populates(),
                "the top page is populated before the coroutine runs"
            );
            assert!(
                !resident(top - page_size()),
                "the page below is left to fault"
            );
        }
        assert!(pool.pooled() > 0);
        assert!(
            pool.fresh
                .iter()
                .all(|s| !resident(s.lo + s.len - page_size())),
            "stacks of a batch not handed out yet cost no memory"
        );
        drop(lent);
    }

    #[test]
    fn absurd_size_is_an_error_not_a_crash() {
        let err = Stack::map(1 << 60, DEFAULT_GUARD_SIZE).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("could not map"), "{msg}");
    }
}
