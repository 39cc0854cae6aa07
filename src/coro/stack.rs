//! Coroutine stacks: one anonymous mapping each, a guard at the low end, and a pool that
//! reuses them.
//!
//! A stack is virtual memory: only the pages a coroutine touches cost RSS, so sizes can be
//! generous. The guard is installed with `madvise(MADV_GUARD_INSTALL)` where the kernel has it
//! (Linux 6.13+), which keeps one mapping per stack (adjacent stacks even merge into one VMA),
//! so `vm.max_map_count` does not cap the number of coroutines. Elsewhere the guard is
//! `mprotect(PROT_NONE)`, which splits the mapping in two; a default Linux then stops near 32k
//! live stacks, and the error says which sysctl to raise.
//!
//! The guard is [`DEFAULT_GUARD_SIZE`] (64 KiB) rather than one page. Stacks sit next to each
//! other, so below one stack's guard lies the top of another coroutine's stack, where its live
//! frames are. Rust probes every page of a large frame, so its first fault lands in the guard
//! whatever the frame's size; code that does not probe (C through FFI built without
//! `-fstack-clash-protection`, hand-written assembly) may touch the far end of its frame first, and a frame larger than the
//! guard would step over it into the neighbour's frames without a fault. A 64 KiB guard costs
//! no memory either way: guard markers (madvise) and `PROT_NONE` pages (mprotect) are never
//! backed by RAM, the number of memory maps does not change with the guard's length, and the
//! only cost is 60 KiB more address space per stack (a few GiB for 100k stacks, out of 128 TiB;
//! it counts against `ulimit -v` where one is set). So the fallback keeps the same size.

use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU8, Ordering};

use corosensei::stack::{Stack as CoroStackTrait, StackPointer};

/// `MADV_GUARD_INSTALL` from Linux 6.13 (`include/uapi/asm-generic/mman-common.h`); the libc
/// crate does not name it yet.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Bytes at the top of a pooled stack that are kept resident when the stack is trimmed: the
/// frames every coroutine touches on start, so reuse does not fault them in again.
const HOT_BYTES: usize = 16 * 1024;

/// Smallest usable stack size corio maps.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// Default length of the guard below each stack; see the module docs.
pub(crate) const DEFAULT_GUARD_SIZE: usize = 64 * 1024;

/// Guard strategy detected at run time: 0 unknown, 1 madvise guard, 2 mprotect.
static GUARD_KIND: AtomicU8 = AtomicU8::new(0);
const GUARD_MADVISE: u8 = 1;
const GUARD_MPROTECT: u8 = 2;

/// `true` if guard pages are installed with `MADV_GUARD_INSTALL` (no extra memory map per
/// stack). Known only after the first stack was mapped; maps a probe stack if needed.
pub(crate) fn has_madvise_guard() -> bool {
    if GUARD_KIND.load(Ordering::Relaxed) == 0 {
        drop(Stack::map(MIN_STACK_SIZE, 0));
    }
    GUARD_KIND.load(Ordering::Relaxed) == GUARD_MADVISE
}

/// The guard strategy to start with: `CORIO_STACK_GUARD=mprotect` forces the fallback (to
/// test it, or to work around a kernel that misbehaves with guard markers).
fn initial_guard_kind() -> u8 {
    match std::env::var_os("CORIO_STACK_GUARD") {
        Some(v) if v == "mprotect" => GUARD_MPROTECT,
        _ => 0,
    }
}

/// The page size, asked of the kernel once (a stack going back to the pool compares sizes in
/// pages, and `sysconf` on every exit showed in the generator benchmark).
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let cached = PAGE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always supported.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let p = if p <= 0 { 4096 } else { p as usize };
    PAGE.store(p, Ordering::Relaxed);
    p
}

/// One mapped coroutine stack: `[lo, lo + guard)` is the guard, `[lo + guard, lo + len)` the
/// usable stack, growing down from `lo + len`.
#[derive(Debug)]
pub(crate) struct Stack {
    lo: usize,
    len: usize,
    guard: usize,
    /// `false` once pages below the hot top may have been touched since the last trim.
    trimmed: bool,
}

impl Stack {
    /// Maps a stack with at least `size` usable bytes and a guard of `guard` bytes below it
    /// (each rounded up to whole pages; the guard is at least one page).
    pub(crate) fn map(size: usize, guard: usize) -> Result<Stack, crate::error::SpawnError> {
        let page = page_size();
        let too_big = || stack_error(size, io::Error::from_raw_os_error(libc::ENOMEM));
        let usable = size
            .max(MIN_STACK_SIZE)
            .checked_next_multiple_of(page)
            .ok_or_else(too_big)?;
        let guard = guard
            .max(page)
            .checked_next_multiple_of(page)
            .ok_or_else(too_big)?;
        let len = usable.checked_add(guard).ok_or_else(too_big)?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing; no
        // existing memory is affected. MAP_NORESERVE: stacks are sparse, charge only touched pages.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(stack_error(usable, io::Error::last_os_error()));
        }
        let stack = Stack {
            lo: ptr as usize,
            len,
            guard,
            trimmed: true,
        };
        // On failure `stack` is dropped here, which unmaps it.
        stack.install_guard().map_err(|e| stack_error(usable, e))?;
        Ok(stack)
    }

    fn install_guard(&self) -> io::Result<()> {
        let addr = self.lo as *mut libc::c_void;
        if GUARD_KIND.load(Ordering::Relaxed) == 0 {
            GUARD_KIND.store(initial_guard_kind(), Ordering::Relaxed);
        }
        #[cfg(target_os = "linux")]
        if GUARD_KIND.load(Ordering::Relaxed) != GUARD_MPROTECT {
            // SAFETY: [lo, lo + guard) lies inside the mapping this Stack owns; nothing else
            // refers to it yet.
            let rc = unsafe { libc::madvise(addr, self.guard, MADV_GUARD_INSTALL) };
            if rc == 0 {
                GUARD_KIND.store(GUARD_MADVISE, Ordering::Relaxed);
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINVAL) {
                return Err(err);
            }
            // EINVAL: the kernel predates MADV_GUARD_INSTALL; use mprotect from now on.
            GUARD_KIND.store(GUARD_MPROTECT, Ordering::Relaxed);
        }
        #[cfg(not(target_os = "linux"))]
        GUARD_KIND.store(GUARD_MPROTECT, Ordering::Relaxed);
        // SAFETY: as above; the guard range is inside our own mapping.
        if unsafe { libc::mprotect(addr, self.guard, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Usable bytes (without the guard).
    pub(crate) fn size(&self) -> usize {
        self.len - self.guard
    }

    /// `[lo, hi)` of the guard, for the overflow handler.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.lo, self.lo + self.guard)
    }

    /// Gives the pages below the hot top back to the kernel.
    fn trim(&mut self) {
        if self.trimmed {
            return;
        }
        self.trimmed = true;
        let start = self.lo + self.guard;
        let cold = self.size().saturating_sub(HOT_BYTES);
        if cold == 0 {
            return;
        }
        // SAFETY: [start, start + cold) is inside the usable part of our mapping and no
        // coroutine runs on this stack (it is in the pool). MADV_DONTNEED only drops contents,
        // which a finished coroutine no longer needs; the guard markers survive it.
        unsafe {
            libc::madvise(start as *mut libc::c_void, cold, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "openbsd"
))]
const MAP_STACK: libc::c_int = libc::MAP_STACK;
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "openbsd"
)))]
const MAP_STACK: libc::c_int = 0;

fn stack_error(size: usize, source: io::Error) -> crate::error::SpawnError {
    let hint = if source.raw_os_error() == Some(libc::ENOMEM) {
        if GUARD_KIND.load(Ordering::Relaxed) == GUARD_MPROTECT {
            "out of memory or of memory maps: each guarded stack costs two maps on this kernel \
             (no MADV_GUARD_INSTALL), so vm.max_map_count (65530 by default) allows about 32k \
             live coroutines; raise it with `sysctl -w vm.max_map_count=1048576`, or lower the \
             stack size"
        } else {
            "out of memory or of address space (check `ulimit -v` and vm.max_map_count, \
             raise it with `sysctl -w vm.max_map_count=1048576`), or ask for a smaller stack"
        }
    } else {
        "the kernel refused the mapping"
    };
    crate::error::SpawnError::Stack { size, source, hint }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: [lo, lo + len) is the mapping this Stack created and owns; no coroutine runs
        // on it any more (corosensei hands a stack back only after the coroutine finished).
        unsafe {
            libc::munmap(self.lo as *mut libc::c_void, self.len);
        }
        #[cfg(test)]
        tests::count_unmapped(self.len);
    }
}

// SAFETY: base() is the top of a mapping of `len` bytes whose lowest `guard` bytes are an
// installed guard (madvise or mprotect), so overflow faults instead of corrupting memory;
// usable size is at least MIN_STACK_SIZE >= corosensei's MIN_STACK_SIZE; both addresses are
// page aligned, hence aligned to STACK_ALIGNMENT.
unsafe impl CoroStackTrait for Stack {
    #[inline]
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.lo + self.len).expect("stack top is not null")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.lo).expect("mmap never returns null")
    }
}

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
        } else if let Some(i) = self
            .other
            .iter()
            .rposition(|s| s.size() >= want && s.size() <= want + want / 4 + page_size())
        {
            return Ok(self.other.swap_remove(i));
        }
        Stack::map(want, self.guard)
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
            if self.free.len() < self.max_pooled {
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

    pub(crate) fn pooled(&self) -> usize {
        self.free.len() + self.other.len()
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
mod tests {
    use super::*;

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

    pub(super) fn count_unmapped(bytes: usize) {
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
    fn absurd_size_is_an_error_not_a_crash() {
        let err = Stack::map(1 << 60, DEFAULT_GUARD_SIZE).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("could not map"), "{msg}");
    }
}
