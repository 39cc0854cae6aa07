//! A helper thread that populates the top pages of stacks mapped ahead of a burst of spawns.
//!
//! A task's stack costs one resident page, its top, which the kernel allocates and zeroes
//! when it is first touched or populated (`MADV_POPULATE_WRITE`): 1.5-3 µs of kernel time
//! each on a virtual machine, most of the time it takes to spawn and park a million tasks.
//! During a burst the pool maps a batch of stacks ahead of need and hands their top pages to
//! this thread, which populates them on another core while the loop spawns and runs tasks.
//! A stack whose page the helper has not reached yet faults it in at its first touch, as it
//! would without the helper, so the loop never waits for it.
//!
//! The helper takes the newest batch first and populates each batch from the stack handed
//! out last: where the loop catches up with it (a burst of spawns whose tasks then run in
//! spawn order), the two work from opposite ends instead of on the same pages.
//!
//! It advises [`CHUNK`] pages per system call, so it never holds the process's memory-map
//! lock for long: the loop's own `mmap` and `brk` take that lock for writing, and with 64
//! pages per call they queued behind the helper until it saved nothing (a million tasks in
//! 3.0-3.4 s either way; with 4 pages per call, 1.75-1.98 s against 3.28-4.28 s without the
//! helper, in alternated runs).
//!
//! The helper writes no memory: it asks the kernel to back pages of stacks that a pool
//! mapped, keeping what they hold. A pool must still not unmap or release a stack that a
//! job may name, or the helper could back pages of whatever is mapped there next: every
//! path that unmaps or releases stacks whose tops went to the helper (`Stack::prefault`)
//! calls [`quiesce`] first, which drops the jobs not yet started and waits for the few pages
//! of the job under way.
//!
//! One helper per process, started at the first burst; nothing waits for it to start. A
//! process forked from one that has it has none (threads do not survive `fork`): there the
//! pools populate as they do without a helper, and `quiesce` does not wait.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::madvise::advise_ranges;
use super::stack::page_size;

/// Pages the helper populates per system call.
const CHUNK: usize = 4;

/// Top-page addresses, one batch of stacks per job, each in hand-out order.
static JOBS: Mutex<Vec<Vec<usize>>> = Mutex::new(Vec::new());
static MORE: Condvar = Condvar::new();

/// Jobs queued or under way, in every pool of the process: `quiesce`'s fast path.
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Bumped by [`quiesce`] (under `JOBS`' lock): a job taken under an older value stops at its
/// next chunk.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// One more than the epoch the helper's job under way was taken at; 0 while it has none.
/// Set under `JOBS`' lock when a job is taken, so `quiesce` knows whether to wait for it.
static BUSY: AtomicU64 = AtomicU64::new(0);

/// Where the helper is: not started, starting, running, or unavailable (its thread could not
/// be spawned or ended, or this process is a fork of the one it runs in).
static STATE: AtomicU8 = AtomicU8::new(NOT_STARTED);
const NOT_STARTED: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const GONE: u8 = 3;

/// Set in the child of a `fork`: the helper thread is not there.
static FORKED: AtomicBool = AtomicBool::new(false);

/// `true` if the helper runs in this process, starting it on first use. Never blocks: a
/// caller that finds it starting on another thread goes on without it this time (and a
/// process forked while it was starting never waits for it).
fn running() -> bool {
    if FORKED.load(Ordering::Relaxed) {
        return false;
    }
    match STATE.load(Ordering::Acquire) {
        RUNNING => true,
        NOT_STARTED => {
            if STATE
                .compare_exchange(NOT_STARTED, STARTING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return false;
            }
            let started = start();
            STATE.store(if started { RUNNING } else { GONE }, Ordering::Release);
            started
        }
        _ => false,
    }
}

fn start() -> bool {
    extern "C" fn in_child() {
        FORKED.store(true, Ordering::Relaxed);
    }
    // SAFETY: registers a handler that only stores to an atomic, which is async-signal-safe
    // as a fork child handler must be.
    if unsafe { libc::pthread_atfork(None, None, Some(in_child)) } != 0 {
        return false; // without it a forked child would wait for a helper it does not have
    }
    std::thread::Builder::new()
        .name("corio-stacks".into())
        .spawn(run)
        .is_ok()
}

/// `true` if [`submit`] would hand pages to a helper (starting it if need be).
pub(super) fn available() -> bool {
    cfg!(any(target_os = "linux", target_os = "android")) && running()
}

/// Hands the top pages `tops` (page-aligned addresses of stacks the caller's pool mapped, in
/// the order the pool hands the stacks out) to the helper. `false` if there is no helper:
/// nothing was queued.
pub(super) fn submit(tops: Vec<usize>) -> bool {
    if !running() {
        return false;
    }
    PENDING.fetch_add(1, Ordering::AcqRel);
    JOBS.lock().push(tops);
    MORE.notify_one();
    true
}

/// `true` when no job is queued or under way, in any pool of the process.
#[cfg(test)]
pub(super) fn idle() -> bool {
    PENDING.load(Ordering::Acquire) == 0
}

/// Drops the jobs not yet started and waits for the one under way, if any, to stop after its
/// chunk, so that the caller may unmap or release stacks. Jobs queued after that (by another
/// loop's pool) are not waited for: they name none of the caller's stacks. One atomic load
/// when the helper is idle.
pub(super) fn quiesce() {
    if PENDING.load(Ordering::Acquire) == 0 || FORKED.load(Ordering::Relaxed) {
        // (Forked: the counts came from the parent, whose helper is not here.)
        return;
    }
    let bumped = {
        let mut jobs = JOBS.lock();
        let bumped = EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
        let dropped = jobs.len();
        jobs.clear();
        PENDING.fetch_sub(dropped, Ordering::AcqRel);
        bumped
    };
    // A job taken before the bump has `BUSY` at most `bumped`; it stops at its next chunk.
    let mut spins = 0u32;
    loop {
        let busy = BUSY.load(Ordering::Acquire);
        if busy == 0 || busy > bumped {
            return;
        }
        spins += 1;
        if spins < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// The helper thread: takes the newest job, populates it from its end, [`CHUNK`] pages at a
/// time, until it is done or [`quiesce`] stops it.
fn run() {
    /// Should the helper ever unwind, no `quiesce` waits for it and no job is queued again.
    struct Gone;
    impl Drop for Gone {
        fn drop(&mut self) {
            STATE.store(GONE, Ordering::Release);
            BUSY.store(0, Ordering::Release);
        }
    }
    let _gone = Gone;
    let page = page_size();
    loop {
        let (tops, epoch) = {
            let mut jobs = JOBS.lock();
            loop {
                if let Some(job) = jobs.pop() {
                    // Taken and marked under the lock `quiesce` bumps the epoch under.
                    let epoch = EPOCH.load(Ordering::Acquire);
                    BUSY.store(epoch + 1, Ordering::Release);
                    break (job, epoch);
                }
                MORE.wait(&mut jobs);
            }
        };
        for chunk in tops.rchunks(CHUNK) {
            if EPOCH.load(Ordering::Acquire) != epoch {
                break;
            }
            populate(chunk, page);
        }
        BUSY.store(0, Ordering::Release);
        PENDING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Populates one page at each address of `tops` (at most [`CHUNK`]).
fn populate(tops: &[usize], page: usize) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut ranges = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; CHUNK];
        for (r, &top) in ranges.iter_mut().zip(tops) {
            *r = libc::iovec {
                iov_base: top as *mut libc::c_void,
                iov_len: page,
            };
        }
        if advise_ranges(&ranges[..tops.len()], libc::MADV_POPULATE_WRITE) {
            return;
        }
        for &top in tops {
            // SAFETY: `top` is the top page of a stack a pool mapped and, by `quiesce`, has
            // not unmapped or released since the job was queued; populating backs the page
            // (a no-op where a coroutine touched it already) and keeps what it holds.
            unsafe { libc::madvise(top as *mut libc::c_void, page, libc::MADV_POPULATE_WRITE) };
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (tops, page);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiesce_with_nothing_queued_returns_at_once() {
        quiesce();
    }

    #[test]
    fn a_forked_child_has_no_helper_and_does_not_wait_for_one() {
        if !available() {
            return;
        }
        // SAFETY: the child only reads and writes atomics of this module (no lock is taken
        // when there is no helper) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let none = !available();
            PENDING.fetch_add(1, Ordering::AcqRel); // a job of the parent's, as it were
            BUSY.store(1, Ordering::Release);
            quiesce(); // returns: no helper here to wait for
            // SAFETY: ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(if none { 0 } else { 1 }) };
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut status = 0;
        loop {
            // SAFETY: our child; `status` is a valid out-pointer.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if rc == pid {
                break;
            }
            if std::time::Instant::now() >= deadline {
                // SAFETY: our child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("the forked child waited for a helper it does not have");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert!(available(), "the parent keeps its helper");
    }

    #[test]
    fn a_job_populates_every_page_it_names() {
        if !available() {
            return;
        }
        let page = page_size();
        let n = 9; // two full chunks and a partial one
        // SAFETY: a fresh anonymous mapping of our own, unmapped below after `quiesce`.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                n * page,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let base = base as usize;
        let job = || (0..n).map(|i| base + i * page).collect::<Vec<_>>();
        assert!(submit(job()));
        let resident = |addr: usize| {
            let mut v = 0u8;
            // SAFETY: `addr` is page-aligned inside our mapping; one byte of output.
            let rc = unsafe { libc::mincore(addr as *mut libc::c_void, page, &mut v) };
            rc == 0 && v & 1 == 1
        };
        // The helper is another thread: wait for it by what it does, with a generous bound.
        // Another test's stack going back may quiesce the helper and drop the job meanwhile:
        // then it is queued again.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !(0..n).all(|i| resident(base + i * page)) {
            assert!(
                std::time::Instant::now() < deadline,
                "helper populated the job"
            );
            if idle() {
                submit(job());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        quiesce();
        // SAFETY: our mapping; no job names it any more.
        unsafe { libc::munmap(base as *mut libc::c_void, n * page) };
    }
}
