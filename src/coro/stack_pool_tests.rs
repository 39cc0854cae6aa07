//! Unit tests of the stack pool: reuse, bounds, batches, trimming and releasing.

use super::*;
use crate::coro::madvise;
use crate::coro::stack::{DEFAULT_GUARD_SIZE, POPULATE_AHEAD, has_madvise_guard};

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
fn stacks_over_the_bound_are_reused_first_then_unmapped_after_a_second_unused() {
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
    pool.trim(); // the loop is about to sleep: the two waiting stacks give their pages back
    assert_eq!(unmapped_bytes(), before, "kept mapped for the next burst");
    assert_eq!((pool.excess(), pool.cold()), (0, 2));
    pool.trim(); // idle again, less than COLD_KEEP later: kept
    assert_eq!(pool.cold(), 2);
    let long_ago = Instant::now().checked_sub(COLD_KEEP * 2);
    pool.cold_since = long_ago;
    pool.trim(); // idle after COLD_KEEP without a spawn taking one: unmapped
    assert_eq!(
        unmapped_bytes() - before,
        2 * len,
        "the stacks over the bound are unmapped, the pooled one kept"
    );
    assert_eq!((pool.pooled(), pool.cold()), (1, 0));
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

/// `true` while `[addr, addr + page)` refuses to be populated: a guard marker (madvise
/// guards) or a `PROT_NONE` page (mprotect guards) is there.
fn guarded(addr: usize) -> bool {
    // SAFETY: populating for reading only maps zero pages where memory may be; it fails
    // on guard markers and on PROT_NONE.
    unsafe {
        libc::madvise(
            addr as *mut libc::c_void,
            page_size(),
            libc::MADV_POPULATE_READ,
        ) != 0
    }
}

#[test]
fn stacks_over_the_bound_give_their_memory_back_when_idle_and_keep_their_guards() {
    let mut pool = StackPool::new(64 * 1024, 1, DEFAULT_GUARD_SIZE);
    let stacks = Stack::map_batch(64 * 1024, DEFAULT_GUARD_SIZE, 4).unwrap();
    for s in &stacks {
        pool.adopt();
        let top = s.lo + s.len - page_size();
        // SAFETY: writes the top page of a stack nobody runs on.
        unsafe { std::ptr::write_bytes(top as *mut u8, 7, 64) };
        assert!(
            resident(top)
                && guarded(s.lo)
                && guarded(s.lo + s.guard_range().1 - s.lo - page_size())
        );
    }
    let tops: Vec<usize> = stacks.iter().map(|s| s.lo + s.len - page_size()).collect();
    let guards: Vec<(usize, usize)> = stacks.iter().map(|s| s.guard_range()).collect();
    for s in stacks {
        pool.put(s); // one pooled, three over the bound
    }
    let before = unmapped_bytes();
    pool.trim(); // idle: the three give their pages back, mapped still
    assert_eq!(
        unmapped_bytes(),
        before,
        "nothing unmapped at the first idle moment"
    );
    assert_eq!((pool.excess(), pool.cold()), (0, 3));
    let released = tops.iter().filter(|&&t| !resident(t)).count();
    assert_eq!(released, 3, "the three over the bound hold no page");
    for (lo, hi) in guards {
        assert!(
            guarded(lo) && guarded(hi - page_size()),
            "guard kept at {lo:#x}"
        );
    }
    // A spawn reuses a released stack before mapping anything, its top page populated.
    let s = pool.get(None).unwrap();
    assert!(tops.contains(&(s.lo + s.len - page_size())));
    pool.put(s);
}

#[test]
fn absurd_size_is_an_error_not_a_crash() {
    let err = Stack::map(1 << 60, DEFAULT_GUARD_SIZE).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("could not map"), "{msg}");
}

/// Lends `n` default stacks from a pool with room for all of them, checks that every lent
/// stack has its top page resident and that the fresh stacks hold only the tops populated
/// ahead; returns the pool, the lent stacks and the vectored calls the kernel took.
fn lend_burst(n: usize) -> (StackPool, Vec<Stack>, usize) {
    let before = madvise::taken_on_this_thread();
    let mut pool = StackPool::new(64 * 1024, 1 << 20, DEFAULT_GUARD_SIZE);
    let lent: Vec<_> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    let taken = madvise::taken_on_this_thread() - before;
    for s in &lent {
        let top = s.lo + s.len - page_size();
        assert!(resident(top) || !Stack::populates(), "lent top populated");
        assert!(guarded(s.lo) && guarded(s.guard_range().1 - page_size()));
    }
    let ready = pool.fresh.len() - pool.fresh_ready;
    for (i, s) in pool.fresh.iter().enumerate() {
        let top = s.lo + s.len - page_size();
        assert!(guarded(s.lo) && guarded(s.guard_range().1 - page_size()));
        assert_eq!(
            resident(top),
            i >= ready && Stack::populates(),
            "only the tops populated ahead are resident ({i} of {})",
            pool.fresh.len()
        );
    }
    (pool, lent, taken)
}

#[test]
fn a_burst_populates_tops_ahead_in_one_call_per_up_to_64_spawns_and_installs_guards_per_batch() {
    has_madvise_guard(); // the first stack tells which guards the kernel has
    let n = 5000;
    let (pool, lent, taken) = lend_burst(n);
    assert!(
        pool.fresh_ready < POPULATE_AHEAD && pool.fresh_ready <= n / 64,
        "populated ahead: {} for {n} lent",
        pool.fresh_ready
    );
    if madvise::available() && has_madvise_guard() && Stack::populates() {
        // Batches up to 1,250 stacks: a few dozen guard calls; one populate call per 64
        // spawns once 4,096 are lent, per fewer before.
        assert!(
            (n / 64..n / 4).contains(&taken),
            "{taken} vectored calls for {n} spawns"
        );
    }
    drop(lent);
}

#[test]
fn without_vectored_advice_stacks_are_guarded_and_populated_one_by_one() {
    has_madvise_guard();
    madvise::refuse_on_this_thread(true);
    let (pool, lent, taken) = lend_burst(5000);
    madvise::refuse_on_this_thread(false);
    assert_eq!(taken, 0);
    assert_eq!(pool.fresh_ready, 0, "nothing populated ahead one by one");
    drop(lent);
}

#[test]
fn a_few_spawns_populate_nothing_ahead() {
    let (pool, lent, _) = lend_burst(60);
    assert_eq!(pool.fresh_ready, 0);
    assert!(pool.fresh.len() < 20);
    drop(lent);
}

#[test]
fn a_burst_reusing_given_back_stacks_populates_their_tops_ahead_too() {
    let n = 5000;
    let mut pool = StackPool::new(64 * 1024, 1, DEFAULT_GUARD_SIZE);
    let lent: Vec<_> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    for s in lent {
        pool.put(s);
    }
    pool.trim(); // idle: all but the pooled one give their pages back and go cold
    assert_eq!(pool.cold(), n - 1);
    let before = madvise::taken_on_this_thread();
    let lent: Vec<_> = (0..n - 1).map(|_| pool.get(None).unwrap()).collect();
    let taken = madvise::taken_on_this_thread() - before;
    assert!(
        lent.iter()
            .all(|s| resident(s.lo + s.len - page_size()) || !Stack::populates())
    );
    let cold_resident = pool
        .cold
        .iter()
        .filter(|s| resident(s.lo + s.len - page_size()))
        .count();
    assert!(cold_resident <= pool.cold_ready && pool.cold_ready < POPULATE_AHEAD);
    if madvise::available() && Stack::populates() {
        assert!((n / 64..n / 4).contains(&taken), "{taken} vectored calls");
    }
    drop(lent);
}

#[test]
fn a_burst_of_returned_stacks_is_handed_out_in_address_order() {
    let n = SORT_MIN + 1000;
    let mut pool = StackPool::new(64 * 1024, 2 * n, DEFAULT_GUARD_SIZE);
    let mut stacks: Vec<Option<Stack>> = (0..n).map(|_| Some(pool.get(None).unwrap())).collect();
    // Given back scattered, as tasks sleeping to unrelated deadlines end.
    for i in 0..n {
        let s = stacks[(i * 7919) % n].take().expect("each stack once");
        pool.put(s);
    }
    let again: Vec<Stack> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    assert!(
        again.windows(2).all(|w| w[0].lo < w[1].lo),
        "taken in ascending address order"
    );
    for s in again {
        pool.put(s);
    }
}

#[test]
fn stacks_are_an_odd_number_of_pages_apart_so_their_tops_spread_over_the_tlb() {
    let page = page_size();
    // The default (256 KiB and a 64 KiB guard: 80 pages, even) and an odd size alike.
    for usable in [crate::runtime::DEFAULT_STACK_SIZE, 64 * 1024 + page] {
        let stacks = Stack::map_batch(usable, DEFAULT_GUARD_SIZE, 4).unwrap();
        for w in stacks.windows(2) {
            let stride = (w[1].lo - w[0].lo) / page;
            assert!(stride % 2 == 1, "{stride} pages from one stack to the next");
        }
        for s in &stacks {
            assert!(s.size() >= usable, "the usable part keeps its size");
            let (lo, hi) = s.guard_range();
            assert!(
                hi - lo >= DEFAULT_GUARD_SIZE,
                "the guard keeps at least its length"
            );
            assert_eq!((s.len / page) % 2, 1);
        }
    }
}

#[test]
fn consecutive_lends_start_their_coroutines_at_different_page_offsets() {
    use corosensei::stack::Stack as _;
    let mut pool = StackPool::new(64 * 1024, 64, DEFAULT_GUARD_SIZE);
    let page = crate::coro::stack::page_size();
    let stacks: Vec<Stack> = (0..usize::from(super::super::stack::COLOURS))
        .map(|_| pool.get(None).unwrap())
        .collect();
    let offsets: Vec<usize> = stacks.iter().map(|s| s.base().get() % page).collect();
    for (s, off) in stacks.iter().zip(&offsets) {
        assert_eq!(s.base().get() % 64, 0, "a colour is whole cache lines");
        let top = s.lo + s.len;
        assert!(
            top - s.base().get() < 1024,
            "a colour takes less than 1 KiB"
        );
        assert!(off % 16 == 0);
    }
    let mut distinct = offsets.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), offsets.len(), "{offsets:?}");
    // A stack lent again takes the next colour, not the one it had.
    let last = stacks.into_iter().last().unwrap();
    let (lo, before) = (last.lo, last.base().get());
    pool.put(last);
    let again = pool.get(None).unwrap();
    assert_eq!(again.lo, lo);
    assert_ne!(again.base().get(), before);
}

#[test]
fn a_coloured_stack_keeps_three_words() {
    assert_eq!(
        std::mem::size_of::<Stack>(),
        3 * std::mem::size_of::<usize>()
    );
}

/// Waits, up to a generous bound, until the prefault helper has populated the top pages of
/// the stacks `pool` mapped ahead; returns their addresses. Another test's pool going away may
/// quiesce the helper and drop the job meanwhile: the tops are queued again then.
fn wait_populated_ahead(pool: &StackPool) -> Vec<usize> {
    let tops: Vec<usize> = pool.fresh[..pool.ahead]
        .iter()
        .map(|s| s.lo + s.len - page_size())
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !tops.iter().all(|&t| resident(t)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the helper populated the tops of the stacks mapped ahead"
        );
        if prefault::idle() {
            prefault::submit(tops.clone());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    tops
}

#[test]
fn a_large_burst_maps_stacks_ahead_for_the_prefault_helper_and_lends_them_guarded() {
    has_madvise_guard();
    let n = PREFAULT_MIN_LENT + 2000;
    let mut pool = StackPool::new(64 * 1024, 1 << 20, DEFAULT_GUARD_SIZE).with_prefault(true);
    let mut lent = Vec::with_capacity(n);
    let mut most_ahead = 0;
    for _ in 0..n {
        lent.push(pool.get(None).unwrap());
        most_ahead = most_ahead.max(pool.ahead);
    }
    assert!(pool.ahead <= pool.fresh.len());
    if !(prefault::available() && Stack::populates()) {
        assert_eq!(most_ahead, 0, "nothing mapped ahead without a helper");
        return;
    }
    // Up to an eighth of the lent count and a half more at a time; three sixteenths at most.
    assert!(most_ahead > 0, "the burst mapped stacks ahead");
    assert!(
        most_ahead <= 3 * n / 16 + 1,
        "{most_ahead} ahead for {n} lent"
    );
    for s in &lent {
        // A stack from the helper's batches is guarded like any other; its top page is the
        // helper's or its first touch's to populate, and a write there works either way.
        assert!(guarded(s.lo) && guarded(s.guard_range().1 - page_size()));
    }
    let s = lent.last().unwrap();
    let top = s.lo + s.len - 8;
    // SAFETY: the top word of a stack lent to this test, on which no coroutine runs.
    unsafe { (top as *mut u64).write_volatile(7) };
    // The tops of the stacks still ahead get populated by the helper, without our thread.
    wait_populated_ahead(&pool);
    // SAFETY: as above.
    assert_eq!(unsafe { (top as *const u64).read_volatile() }, 7);
    drop(lent);
    drop(pool); // quiesces the helper, then unmaps everything
}

#[test]
fn a_pool_dropped_during_a_burst_unmaps_the_stacks_mapped_ahead() {
    let n = PREFAULT_MIN_LENT + 4000;
    let mut pool = StackPool::new(64 * 1024, 1 << 20, DEFAULT_GUARD_SIZE).with_prefault(true);
    let lent: Vec<_> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    if prefault::available() && Stack::populates() {
        assert!(pool.ahead > 0 && pool.fresh[..pool.ahead].iter().all(|s| s.prefault));
    }
    let in_pool: usize = pool.fresh.iter().map(|s| s.len).sum();
    let before = unmapped_bytes();
    // The pool goes first, while jobs for its stacks may still be queued or under way: its
    // drop quiesces the helper, then unmaps them.
    drop(pool);
    assert_eq!(unmapped_bytes() - before, in_pool);
    drop(lent);
}

#[test]
fn a_pool_bound_too_small_for_half_a_batch_maps_nothing_ahead() {
    // Batches of a few stacks would cost a mapping and a job per spawn.
    let mut pool = StackPool::new(64 * 1024, 16, DEFAULT_GUARD_SIZE).with_prefault(true);
    let lent: Vec<_> = (0..PREFAULT_MIN_LENT + 500)
        .map(|_| pool.get(None).unwrap())
        .collect();
    assert_eq!(pool.ahead, 0);
    assert!(lent.iter().all(|s| !s.prefault));
    drop(lent);
}

#[test]
fn a_pool_without_prefault_maps_nothing_ahead() {
    let n = PREFAULT_MIN_LENT + 100;
    let mut pool = StackPool::new(64 * 1024, 1 << 20, DEFAULT_GUARD_SIZE);
    let lent: Vec<_> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    assert_eq!(pool.ahead, 0);
    drop(lent);
}

#[test]
fn once_a_burst_is_over_the_tops_populated_ahead_are_given_back() {
    let n = PREFAULT_MIN_LENT + 2000;
    let mut pool = StackPool::new(64 * 1024, 1 << 20, DEFAULT_GUARD_SIZE).with_prefault(true);
    let lent: Vec<_> = (0..n).map(|_| pool.get(None).unwrap()).collect();
    pool.trim(); // idle during the burst (more lent than at the last idle moment): kept
    let ahead = pool.ahead;
    if ahead == 0 {
        return; // no helper here
    }
    let tops = wait_populated_ahead(&pool);
    pool.trim(); // idle again, no stack lent since: the burst is over
    assert_eq!(pool.ahead, 0);
    assert!(
        tops.iter().all(|&t| !resident(t)),
        "the tops populated ahead went back to the kernel"
    );
    // They are plain fresh stacks now: handed out populated, in the usual way.
    let more: Vec<_> = (0..ahead.min(100))
        .map(|_| pool.get(None).unwrap())
        .collect();
    for s in &more {
        let top = s.lo + s.len - page_size();
        assert!(resident(top) || !Stack::populates());
        assert!(guarded(s.lo));
    }
    drop(more);
    drop(lent);
}
