//! The per-loop pool of stacks: reused LIFO, bounded, their deep pages given back while the
//! loop is idle; new stacks mapped in batches when many tasks are alive.

use std::time::{Duration, Instant};

use super::prefault;
use super::stack::{MIN_STACK_SIZE, POPULATE_AHEAD, Stack, page_size};

/// Finished coroutines' stacks, kept for reuse. LIFO, so the next spawn gets a stack whose top
/// is still in cache; bounded, so a burst of tasks does not pin memory afterwards.
///
/// Stacks beyond the bound are not unmapped one by one as their tasks end (one `munmap` each,
/// splitting the merged mapping, was most of the cost of a burst of 100k tasks ending): they
/// wait in `excess`, where a spawn takes them first. When the loop is about to sleep they give
/// their memory back (`MADV_DONTNEED`) and move to `cold`, still mapped and guarded, so that
/// the next burst reuses them for the price of one populated page each instead of mapping,
/// guarding and faulting new ones (about 6 µs of kernel time per task, every burst, with the
/// default bound). Cold stacks no spawn needed for [`COLD_KEEP`] are unmapped, sorted by
/// address so that neighbours go in one `munmap`.
#[derive(Debug)]
pub(crate) struct StackPool {
    /// Stacks of the default size. `free[..clean]` are trimmed.
    free: Vec<Stack>,
    clean: usize,
    /// Default-size stacks over the bound, still mapped (not trimmed), until the next idle
    /// moment or until `EXCESS_LIMIT` of them wait.
    excess: Vec<Stack>,
    /// Default-size stacks over the bound whose pages were given back: no RAM, only address
    /// space and page-table entries. Reused after `excess`, unmapped after [`COLD_KEEP`]
    /// without use.
    cold: Vec<Stack>,
    /// How many stacks at the end of `cold` had their top page populated ahead of hand-out.
    cold_ready: usize,
    /// When a stack last went into `cold`, or a spawn was last seen taking one from it.
    cold_since: Option<Instant>,
    /// A spawn took a cold stack since `cold_since` was set (read at the next idle moment,
    /// so the spawn path reads no clock).
    cold_taken: bool,
    /// Default-size stacks mapped by a batch and never used yet (no page touched but the top
    /// one of the last `fresh_ready`, and of those of the first `ahead` the prefault helper
    /// reached). Taken after `free` and `excess`, whose top pages are resident already, from
    /// the end.
    fresh: Vec<Stack>,
    /// How many stacks at the end of `fresh` had their top page populated ahead of hand-out.
    fresh_ready: usize,
    /// How many stacks at the front of `fresh` were mapped ahead of a burst and handed to the
    /// prefault helper (see [`map_ahead`](Self::map_ahead)); taken after the rest of `fresh`.
    ahead: usize,
    /// Whether bursts map stacks ahead for the prefault helper (the loops' pools).
    prefault: bool,
    /// `lent` at the last [`trim`](Self::trim): a loop idle twice with no more stacks lent
    /// in between is not in a burst.
    lent_at_trim: usize,
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
    /// Stacks pushed onto `free` since it was last sorted by address.
    unsorted: usize,
    /// Stacks lent so far (wrapping): each lend starts its coroutine at the next colour
    /// (see [`COLOURS`](super::stack::COLOURS)).
    lends: u16,
}

/// Stacks trimmed per idle moment of the loop: a trim is one `madvise` each, so a burst of
/// finished tasks is given back gradually while the loop has nothing else to do, never on
/// the spawn/exit path.
const TRIM_BUDGET: usize = 64;

/// Most stacks one batch maps. A batch is a quarter of the stacks lent at the time (so at
/// most a fifth of the live stacks were mapped ahead of need, and none of them costs RAM
/// before it is used: only its guard's page-table entries), capped by this and by the room
/// left under the pool's bound. The prefault helper's batches (`map_ahead`) come on top:
/// an eighth of the stacks lent, up to this, whose top pages are populated.
const MAX_BATCH: usize = 1024;

/// Stacks over the pool's bound that may wait for an idle moment to give their memory back;
/// past this, they do so at once, so a loop that never idles does not keep the memory of an
/// old burst.
const EXCESS_LIMIT: usize = 4096;

/// How long cold stacks stay mapped while no spawn needs them: long enough to span the gaps
/// between bursts of a periodic workload, short enough that a one-off burst's address space
/// and page tables (about 0.6 KiB per stack) go soon after.
const COLD_KEEP: Duration = Duration::from_secs(1);

/// Lent stacks per top page populated ahead of hand-out; see `take_populated`.
const POPULATE_AHEAD_PER: usize = 64;

/// Lent stacks from which a burst maps stacks ahead for the prefault helper: a burst this
/// large spends most of its time in the kernel populating stack tops.
const PREFAULT_MIN_LENT: usize = 4096;

/// Stacks given back since the last sort of `free` above which, once they are also most of
/// its untrimmed part, the next spawn sorts that part by address (see `sort_free`).
const SORT_MIN: usize = 4096;

impl StackPool {
    pub(crate) fn new(default_size: usize, max_pooled: usize, guard: usize) -> StackPool {
        StackPool {
            free: Vec::new(),
            clean: 0,
            excess: Vec::new(),
            cold: Vec::new(),
            cold_ready: 0,
            cold_since: None,
            cold_taken: false,
            fresh: Vec::new(),
            fresh_ready: 0,
            ahead: 0,
            prefault: false,
            lent_at_trim: 0,
            other: Vec::new(),
            default_size: default_size.max(MIN_STACK_SIZE),
            default_mapped: default_size
                .max(MIN_STACK_SIZE)
                .checked_next_multiple_of(page_size())
                .unwrap_or(usize::MAX),
            max_pooled,
            guard,
            lent: 0,
            unsorted: 0,
            lends: 0,
        }
    }

    /// During bursts of at least [`PREFAULT_MIN_LENT`] live stacks, maps stacks a batch ahead
    /// of need and has the process's prefault helper thread populate their top pages (see
    /// `prefault`). Off by default: a pool then populates every top page on the spawning thread.
    pub(crate) fn with_prefault(mut self, on: bool) -> StackPool {
        self.prefault = on;
        self
    }

    pub(crate) fn default_size(&self) -> usize {
        self.default_size
    }

    /// A stack of at least `size` usable bytes (the pool's default when `None`), lent until
    /// [`put`](Self::put) takes it back.
    pub(crate) fn get(&mut self, size: Option<usize>) -> Result<Stack, crate::error::SpawnError> {
        let mut s = self.take(size)?;
        self.lent += 1;
        self.lends = self.lends.wrapping_add(1);
        s.set_colour(self.lends);
        Ok(s)
    }

    fn take(&mut self, size: Option<usize>) -> Result<Stack, crate::error::SpawnError> {
        let want = size.unwrap_or(self.default_size).max(MIN_STACK_SIZE);
        if want == self.default_size {
            if self.unsorted > SORT_MIN && self.unsorted * 2 > self.free.len() - self.clean {
                self.sort_free();
            }
            if let Some(s) = self.free.pop() {
                self.clean = self.clean.min(self.free.len());
                return Ok(s);
            }
            if let Some(s) = self.excess.pop() {
                return Ok(s);
            }
            if let Some(s) = take_populated(&mut self.cold, &mut self.cold_ready, 0, self.lent) {
                self.cold_taken = true;
                return Ok(s);
            }
            if self.prefault && self.lent >= PREFAULT_MIN_LENT {
                self.map_ahead();
            }
            if self.fresh.is_empty() {
                self.map_batch()?;
            }
            if self.fresh.len() <= self.ahead {
                // Populated by the helper, or faulted in at its first touch if the helper
                // has not come to it yet.
                self.ahead -= 1;
                return Ok(self.fresh.pop().expect("`ahead` counts stacks in `fresh`"));
            }
            let s = take_populated(
                &mut self.fresh,
                &mut self.fresh_ready,
                self.ahead,
                self.lent,
            );
            return Ok(s.expect("a batch was just mapped"));
        } else if let Some(i) = self
            .other
            .iter()
            .rposition(|s| s.size() >= want && s.size() <= want + want / 4 + page_size())
        {
            return Ok(self.other.swap_remove(i));
        }
        Stack::map(want, self.guard)
    }

    /// Sorts the untrimmed part of `free` so that spawns take its stacks in ascending
    /// address order.
    ///
    /// Stacks come back in the order their tasks ended (for sleeping tasks, deadline order:
    /// scattered over the address space), and a burst of spawns takes them back in reverse.
    /// Each task then touches its stack's top page at its first run, in spawn order: with a
    /// burst of 100,000 stacks every touch is a TLB miss, and in address order neighbouring
    /// misses share the upper levels of the page walk. On the core bench's `timer_tasks`
    /// (100,000 tasks, each spawned onto a reused stack) this took about 8% off corio's CPU
    /// time per task; the sort itself (a few ms for 100,000 stacks) is included.
    #[cold]
    fn sort_free(&mut self) {
        self.free[self.clean..].sort_unstable_by_key(|s| std::cmp::Reverse(s.lo));
        self.unsorted = 0;
    }

    /// Maps a batch of default-size stacks into `fresh` when the pool is empty (the next spawn
    /// takes one of them at once). The batch grows with the number of live stacks, so a
    /// loop with a few tasks maps them one at a time and a burst of a million maps them a
    /// thousand at a time (one `mmap` each batch instead of one per stack).
    fn map_batch(&mut self) -> Result<(), crate::error::SpawnError> {
        let room = self.room();
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
        self.fresh.append(&mut batch);
        Ok(())
    }

    /// Keeps stacks mapped ahead of a burst of spawns, their top pages populated by the
    /// prefault helper on another core: when fewer than half of an eighth of the lent count
    /// (at most [`MAX_BATCH`]) are left ahead, maps that eighth more, within the pool's bound,
    /// at the front of `fresh`, and hands their tops to the helper. Should the burst stop,
    /// the pages populated ahead are at most three sixteenths of a page per stack lent when
    /// they were mapped, given back once the loop is idle twice with no more stacks lent (see
    /// [`release_ahead`](Self::release_ahead)).
    fn map_ahead(&mut self) {
        let target = (self.lent / 8).min(MAX_BATCH);
        if self.ahead >= target / 2 || !Stack::populates() {
            return;
        }
        let room = self.room();
        let count = target.min(room);
        // A pool bound too small for half a batch gets nothing ahead: batches of a few
        // stacks would cost a mapping and a job per spawn.
        if count < target / 2 || count == 0 || !prefault::available() {
            return;
        }
        let Ok(mut batch) = Stack::map_batch(self.default_size, self.guard, count) else {
            return; // near a limit: the spawn maps what it needs itself
        };
        let page = page_size();
        // Hand out in address order: the lowest address last in `fresh`'s order.
        let tops = batch.iter().map(|s| s.lo + s.len - page).collect();
        for s in &mut batch {
            s.prefault = true; // before `submit`: from then on a job may name it
        }
        batch.reverse();
        let len = batch.len();
        self.fresh.splice(0..0, batch);
        if prefault::submit(tops) {
            self.ahead += len;
        }
        // (Not submitted: the stacks are ordinary fresh ones, populated as they go out.)
    }

    /// Default-size stacks the pool may still keep under its bound (given back or mapped
    /// ahead of need).
    fn room(&self) -> usize {
        self.max_pooled
            .saturating_sub(self.free.len() + self.fresh.len())
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
            if self.room() > 0 {
                self.free.push(stack);
                self.unsorted += 1;
            } else {
                self.excess.push(stack);
                if self.excess.len() >= EXCESS_LIMIT {
                    self.cool_excess();
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
        self.cool_excess();
        self.release_ahead();
        let end = self.free.len().min(self.clean + TRIM_BUDGET);
        for s in &mut self.free[self.clean..end] {
            s.trim();
        }
        self.clean = end;
    }

    /// Once a burst is over (no more stacks lent than at the previous idle moment), gives back
    /// the top pages the prefault helper populated for stacks mapped ahead and not taken: they
    /// become plain fresh stacks, populated as they are handed out. A loop holding many idle
    /// connections then keeps no page for tasks it does not have.
    fn release_ahead(&mut self) {
        let grew = self.lent > self.lent_at_trim;
        self.lent_at_trim = self.lent;
        if self.ahead == 0 || grew {
            return;
        }
        // No job may populate what is given back here.
        prefault::quiesce();
        let ahead = std::mem::take(&mut self.ahead);
        release_all(&mut self.fresh[..ahead]); // sorts them by address, lowest first
        self.fresh[..ahead].reverse(); // handed out from the end: lowest address first
    }

    /// Gives back the memory of the stacks over the bound and moves them to `cold`; unmaps the
    /// cold stacks when no spawn took one for [`COLD_KEEP`].
    fn cool_excess(&mut self) {
        if self.excess.is_empty() && self.cold.is_empty() {
            return;
        }
        let now = Instant::now();
        if !self.excess.is_empty() {
            quiesce_for(&self.excess);
            release_all(&mut self.excess);
            // The stacks populated ahead are no longer the last ones: populated again (a
            // no-op for a resident page) when their turn comes.
            self.cold_ready = 0;
            self.cold.append(&mut self.excess);
            self.cold_since = Some(now);
        } else if std::mem::take(&mut self.cold_taken) {
            self.cold_since = Some(now);
        } else if self
            .cold_since
            .is_none_or(|t| now.duration_since(t) >= COLD_KEEP)
        {
            quiesce_for(&self.cold);
            unmap_all(&mut self.cold);
            self.cold_ready = 0;
            self.cold_since = None;
        }
    }

    /// Stacks kept for reuse: given back, or mapped by a batch and not used yet.
    pub(crate) fn pooled(&self) -> usize {
        self.free.len() + self.fresh.len() + self.other.len()
    }

    /// Stacks lent to coroutines that have not ended.
    pub(crate) fn lent(&self) -> usize {
        self.lent
    }

    /// Stacks over the bound, still holding their memory until the loop's next idle moment.
    pub(crate) fn excess(&self) -> usize {
        self.excess.len()
    }

    /// Stacks over the bound whose memory was given back, mapped until unused for
    /// [`COLD_KEEP`].
    pub(crate) fn cold(&self) -> usize {
        self.cold.len()
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let mut all = std::mem::take(&mut self.free);
        all.append(&mut self.excess);
        all.append(&mut self.cold);
        all.append(&mut self.fresh);
        all.append(&mut self.other);
        quiesce_for(&all);
        unmap_all(&mut all);
    }
}

/// Takes the last stack of `list` (fresh or cold: nothing ran on it since it was mapped or
/// given back) with its top page populated. The last `ready` stacks of `list` were populated
/// ahead; when none is, the one taken is populated with the same system call as the next
/// ones: one per [`POPULATE_AHEAD_PER`] stacks `lent`, at most [`POPULATE_AHEAD`] in all, so
/// that a loop with few tasks populates nothing ahead and the pages populated ahead, should
/// the spawns stop, stay a small fraction of the tasks' own (under a sixtieth of a page per
/// lent stack). The first `floor` stacks of `list` are never populated ahead here: they are
/// the prefault helper's.
fn take_populated(
    list: &mut Vec<Stack>,
    ready: &mut usize,
    floor: usize,
    lent: usize,
) -> Option<Stack> {
    let s = list.pop()?;
    if *ready > 0 {
        *ready -= 1;
        return Some(s);
    }
    let ahead = (lent / POPULATE_AHEAD_PER)
        .min(POPULATE_AHEAD - 1)
        .min(list.len().saturating_sub(floor));
    if ahead > 0 && Stack::populate_tops(&s, &list[list.len() - ahead..]) {
        *ready = ahead;
    } else {
        s.populate_top();
    }
    Some(s)
}

/// Quiesces the prefault helper if any of `stacks` had its top page handed to it, before
/// they are released or unmapped.
fn quiesce_for(stacks: &[Stack]) {
    if stacks.iter().any(|s| s.prefault) {
        prefault::quiesce();
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

/// Gives back the memory of every stack in `stacks` (sorting them by address), each run of
/// neighbouring stacks with one `madvise(MADV_DONTNEED)` from the usable part of the lowest
/// to the top of the highest. The guards inside a run stay: the kernel keeps guard markers
/// through `MADV_DONTNEED` (it drops them only on unmap), and a `PROT_NONE` guard holds no
/// page to drop.
fn release_all(stacks: &mut [Stack]) {
    stacks.sort_unstable_by_key(|s| s.lo);
    let mut i = 0;
    while i < stacks.len() {
        let mut j = i + 1;
        while j < stacks.len() && stacks[j].lo == stacks[j - 1].lo + stacks[j - 1].len {
            j += 1;
        }
        let last = &stacks[j - 1];
        let hi = last.lo + last.len;
        Stack::release_range(&mut stacks[i..j], hi);
        i = j;
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
#[path = "stack_pool_tests.rs"]
pub(super) mod tests;
