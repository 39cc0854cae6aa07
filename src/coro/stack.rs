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
//! The guard is [`DEFAULT_GUARD_SIZE`] (64 KiB, one page more where that makes a stack an odd
//! number of pages long, see `odd_stride_guard`) rather than one page. Stacks sit next to each
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

use super::madvise::{MAX_RANGES, advise_ranges};

/// `MADV_GUARD_INSTALL` from Linux 6.13 (`include/uapi/asm-generic/mman-common.h`); the libc
/// crate does not name it yet.
#[cfg(target_os = "linux")]
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Most stacks whose top pages one call populates ahead of hand-out (one system call per
/// this many spawns instead of one each); the pool populates fewer while few stacks are lent.
pub(super) const POPULATE_AHEAD: usize = 64;

/// Bytes at the top of a pooled stack that are kept resident when the stack is trimmed: the
/// frames every coroutine touches on start, so reuse does not fault them in again.
const HOT_BYTES: usize = 16 * 1024;

/// Smallest usable stack size corio maps.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;

/// Default length of the guard below each stack; see the module docs.
pub(crate) const DEFAULT_GUARD_SIZE: usize = 64 * 1024;

/// `false` once `MADV_POPULATE_WRITE` was refused (Linux before 5.14): fresh stacks then
/// fault their top page in.
static POPULATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

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

/// The guard for stacks of `usable` bytes: `guard`, or one page more when that makes a whole
/// stack (guard and usable part, the stride from one stack to the next) an odd number of
/// pages. Both are whole pages.
///
/// Every parked task's hot frames sit at the same offset below its stack's top, so the loop's
/// resumes walk the stack tops one after another. The TLB picks a page's set from the low bits
/// of its page number, and with an even stride the tops fall into few sets: at 80 pages
/// (256 KiB and a 64 KiB guard) the page numbers of all tops agree in their low 4 bits, so
/// they share one sixteenth of the sets and about a hundred entries, and a loop resuming a few
/// hundred tasks in turn misses the TLB on every one of them (a page walk, ~25-45 ns more per
/// access measured here than with an odd stride, more once the page tables are out of cache).
/// With an odd stride consecutive tops go round every set.
pub(super) fn odd_stride_guard(usable: usize, guard: usize, page: usize) -> usize {
    if ((usable + guard) / page).is_multiple_of(2) {
        guard + page
    } else {
        guard
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
    pub(super) lo: usize,
    pub(super) len: usize,
    /// The guard's length in pages (a `u32`, not a `usize` in bytes: with the flag below it
    /// keeps the struct at three words, which keeps a task's heap cell in a smaller
    /// allocation size class; a million parked tasks are 16 MB smaller).
    guard_pages: u32,
    /// `false` once pages below the hot top may have been touched since the last trim.
    pub(super) trimmed: bool,
    /// Its top page was handed to the prefault helper: before the mapping goes, the helper
    /// must be quiesced (see `prefault`). It fits in the padding of the three words.
    pub(super) prefault: bool,
    /// How far below the top of the mapping the coroutine's first frame starts, in bytes (a
    /// multiple of 64 below [`COLOURS`] × 64): set by the pool each time it lends the stack.
    /// See [`COLOURS`].
    pub(super) colour: u16,
}

/// How many starting offsets ("colours") stacks take turns at, 64 bytes apart.
///
/// Every task of one kind parks at the same depth, so without colouring the frames of all
/// parked tasks sit at the same offset in their pages. Two costs follow:
///
/// * The L1 data cache picks a line's set from address bits 6-11: the hot lines of every
///   stack top compete for the same few sets (8 ways each on the 2-core VM the figures come
///   from), and a loop resuming many tasks in turn evicts one top with the next.
/// * A load whose address matches a store still in flight in its low 12 bits is taken to
///   depend on it until the full addresses compare ("4K aliasing"). A task resumed by
///   another task's hand-off reloads its registers and spills from the offsets the other
///   has just written to: the two-task yield round trip of the core bench measured 250-290
///   ns with two identical tasks against 195-205 ns once one of them started 16 bytes lower.
///
/// Consecutive lends take consecutive colours, so neighbouring tasks never share one. The
/// offsets span 1 KiB (the top page of a stack is resident anyway, and a task that parks
/// less than 3 KiB deep still fits it); the usable stack is that much smaller at most.
pub(crate) const COLOURS: u16 = 16;

impl Stack {
    /// Maps a stack with at least `size` usable bytes and a guard of `guard` bytes below it
    /// (each rounded up to whole pages; the guard is at least one page).
    pub(crate) fn map(size: usize, guard: usize) -> Result<Stack, crate::error::SpawnError> {
        let mut one = Stack::map_batch(size, guard, 1)?;
        Ok(one.pop().expect("a batch of one maps one stack"))
    }

    /// Maps `count` (at least one) stacks as [`map`](Self::map) does, with one `mmap` for all
    /// of them: neighbouring stacks end up in one memory map either way (the kernel merges
    /// them), so one system call instead of `count` is the whole difference. Each stack is
    /// still a `Stack` of its own, unmapped alone when dropped. Once a first guard showed that
    /// the kernel has guard markers, the guards of a batch are installed with one
    /// `process_madvise` where the kernel takes it (see `madvise.rs`), else one stack at a
    /// time.
    pub(crate) fn map_batch(
        size: usize,
        guard: usize,
        count: usize,
    ) -> Result<Vec<Stack>, crate::error::SpawnError> {
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
        let guard = odd_stride_guard(usable, guard, page);
        let len = usable.checked_add(guard).ok_or_else(too_big)?;
        let guard_pages = u32::try_from(guard / page).map_err(|_| too_big())?;
        let count = count.max(1);
        let total = len.checked_mul(count).ok_or_else(too_big)?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing; no
        // existing memory is affected. MAP_NORESERVE: stacks are sparse, charge only touched pages.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | MAP_STACK,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(stack_error(usable, io::Error::last_os_error()));
        }
        let base = ptr as usize;
        let stacks: Vec<Stack> = (0..count)
            .map(|i| Stack {
                lo: base + i * len,
                len,
                guard_pages,
                trimmed: true,
                prefault: false,
                colour: 0,
            })
            .collect();
        if !Stack::install_guards(&stacks) {
            for s in &stacks {
                // On failure `stacks` is dropped here, which unmaps every one of them.
                s.install_guard().map_err(|e| stack_error(usable, e))?;
            }
        }
        Ok(stacks)
    }

    /// Installs the guards of `stacks` with one vectored call per [`MAX_RANGES`] stacks;
    /// `false` (some guards may be in place, installing again is harmless) where that is not
    /// known to work: the first stacks a process maps, mprotect guards, a kernel that refuses.
    fn install_guards(stacks: &[Stack]) -> bool {
        #[cfg(target_os = "linux")]
        if stacks.len() > 1 && GUARD_KIND.load(Ordering::Relaxed) == GUARD_MADVISE {
            let mut ranges = Vec::with_capacity(stacks.len().min(MAX_RANGES));
            for chunk in stacks.chunks(MAX_RANGES) {
                ranges.clear();
                ranges.extend(chunk.iter().map(|s| libc::iovec {
                    iov_base: s.lo as *mut libc::c_void,
                    iov_len: s.guard(),
                }));
                if !advise_ranges(&ranges, MADV_GUARD_INSTALL) {
                    return false;
                }
            }
            return true;
        }
        let _ = stacks;
        false
    }

    /// Length of the guard in bytes.
    #[inline]
    fn guard(&self) -> usize {
        self.guard_pages as usize * page_size()
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
            let rc = unsafe { libc::madvise(addr, self.guard(), MADV_GUARD_INSTALL) };
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
        if unsafe { libc::mprotect(addr, self.guard(), libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Makes the top page of a stack nothing ran on yet resident, before its coroutine is
    /// created: the page every coroutine writes first (the initial frame corosensei puts
    /// there, then the body's first frames). One `madvise(MADV_POPULATE_WRITE)` costs less
    /// than the page fault it replaces (about 1.25 µs against 1.5 µs of CPU per stack on
    /// the 2-core VM the figures in the commit log come from), and done when the stack is
    /// handed out, not when its batch is mapped, it charges no memory for stacks not yet
    /// used. Errors are ignored: the write faults the page in as before.
    pub(super) fn populate_top(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if POPULATE.load(Ordering::Relaxed) {
            let page = page_size();
            let top = self.lo + self.len - page;
            // SAFETY: [top, top + page) is the highest page of the usable part of our mapping
            // (never the guard: the usable part is at least MIN_STACK_SIZE); populating it
            // only allocates zeroed memory there, as a write would.
            let rc =
                unsafe { libc::madvise(top as *mut libc::c_void, page, libc::MADV_POPULATE_WRITE) };
            if rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                POPULATE.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Populates the top pages of `first` and of every stack of `ahead` (at most
    /// [`POPULATE_AHEAD`] in all) as [`populate_top`](Self::populate_top) does, with one
    /// vectored call. `false` if the kernel did not take it: the caller then populates
    /// `first` alone, and the stacks of `ahead` are populated when handed out.
    pub(super) fn populate_tops(first: &Stack, ahead: &[Stack]) -> bool {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if POPULATE.load(Ordering::Relaxed) && ahead.len() < POPULATE_AHEAD {
            let page = page_size();
            let top = |s: &Stack| libc::iovec {
                iov_base: (s.lo + s.len - page) as *mut libc::c_void,
                iov_len: page,
            };
            let mut ranges = [top(first); POPULATE_AHEAD];
            for (r, s) in ranges[1..].iter_mut().zip(ahead) {
                *r = top(s);
            }
            // As in populate_top: each range is the highest page of the usable part of a
            // stack of ours that no coroutine has run on.
            return advise_ranges(&ranges[..=ahead.len()], libc::MADV_POPULATE_WRITE);
        }
        let _ = (first, ahead);
        false
    }

    /// `false` where the kernel refused `MADV_POPULATE_WRITE` (fresh stacks fault instead).
    pub(super) fn populates() -> bool {
        POPULATE.load(Ordering::Relaxed)
    }

    /// Starts the next coroutine on this stack at the `k`-th colour (taken modulo
    /// [`COLOURS`]): `64 * (k % COLOURS)` bytes below the top of the mapping.
    #[inline]
    pub(super) fn set_colour(&mut self, k: u16) {
        self.colour = (k % COLOURS) * 64;
    }

    /// Usable bytes (without the guard).
    pub(crate) fn size(&self) -> usize {
        self.len - self.guard()
    }

    /// `[lo, hi)` of the guard, for the overflow handler.
    pub(crate) fn guard_range(&self) -> (usize, usize) {
        (self.lo, self.lo + self.guard())
    }

    /// Gives back every page of `run`, neighbouring stacks nothing runs on (`run[i + 1]`
    /// starts where `run[i]` ends, and `hi` is where the last ends), with one `madvise`; the
    /// guards stay installed. The next coroutine on each starts as on a fresh stack, its top
    /// page populated when the stack is handed out.
    pub(super) fn release_range(run: &mut [Stack], hi: usize) {
        let Some(first) = run.first() else { return };
        let start = first.lo + first.guard();
        // SAFETY: [start, hi) lies inside the mappings of the stacks of `run`, which follow
        // each other without a gap, and no coroutine runs on any of them (they are in the
        // pool); MADV_DONTNEED only drops contents, which finished coroutines no longer need.
        // Guard markers survive it (the kernel zaps them only when unmapping), and the lowest
        // guard is below `start`.
        unsafe {
            libc::madvise(start as *mut libc::c_void, hi - start, libc::MADV_DONTNEED);
        }
        for s in run {
            s.trimmed = true;
        }
    }

    /// Gives the pages below the hot top back to the kernel.
    pub(super) fn trim(&mut self) {
        if self.trimmed {
            return;
        }
        self.trimmed = true;
        let start = self.lo + self.guard();
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
        if self.prefault {
            // No prefault job may name the mapping once it is gone.
            super::prefault::quiesce();
        }
        // SAFETY: [lo, lo + len) is the mapping this Stack created and owns; no coroutine runs
        // on it any more (corosensei hands a stack back only after the coroutine finished).
        unsafe {
            libc::munmap(self.lo as *mut libc::c_void, self.len);
        }
        #[cfg(test)]
        super::stack_pool::tests::count_unmapped(self.len);
    }
}

// SAFETY: base() is the top of a mapping of `len` bytes whose lowest `guard` bytes are an
// installed guard (madvise or mprotect), so overflow faults instead of corrupting memory;
// usable size is at least MIN_STACK_SIZE >= corosensei's MIN_STACK_SIZE, of which the colour
// takes at most 960 bytes; the limit is page aligned and the base a page-aligned top minus a
// multiple of 64, so both are aligned to STACK_ALIGNMENT (16).
unsafe impl CoroStackTrait for Stack {
    #[inline]
    fn base(&self) -> StackPointer {
        NonZeroUsize::new(self.lo + self.len - self.colour as usize).expect("stack top is not null")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        NonZeroUsize::new(self.lo).expect("mmap never returns null")
    }
}
