//! Advice for many ranges of this process's memory in one system call.
//!
//! `process_madvise(2)` takes a vector of ranges. Given the process itself (the `PIDFD_SELF`
//! sentinel, which needs no file descriptor), it accepts any advice since Linux 6.13, so one
//! call installs the guards of a whole batch of stacks or populates the top pages of the next
//! stacks to hand out, where one `madvise` per range cost a system call each. Where the kernel
//! refuses (older kernels: `ENOSYS`, `EINVAL` for advice it only takes for other processes,
//! `EBADF` before the sentinel existed, `EPERM`), [`advise_ranges`] says so once and is not
//! tried again; its callers then advise range by range as before. An own pidfd
//! (`pidfd_open`) would also work on 6.13 but would stay open for the life of the process and,
//! inherited across `fork`, name the parent in the child.

use std::sync::atomic::{AtomicBool, Ordering};

/// Most ranges one call takes: the kernel's `UIO_MAXIOV`.
pub(super) const MAX_RANGES: usize = 1024;

/// `PIDFD_SELF` from `include/uapi/linux/pidfd.h`: the calling thread, whose memory is the
/// process's.
#[cfg(target_os = "linux")]
const PIDFD_SELF: libc::c_int = -10000;

/// `false` once the kernel refused vectored advice for this process.
static VECTORED: AtomicBool = AtomicBool::new(true);

#[cfg(test)]
thread_local! {
    /// Set by a test to take the fallback path on its own thread.
    static REFUSE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Vectored calls the kernel took in full on this thread.
    static TAKEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Makes [`advise_ranges`] refuse on the calling thread (`true`) or try again (`false`), to
/// test its callers' fallback.
#[cfg(test)]
pub(super) fn refuse_on_this_thread(refuse: bool) {
    REFUSE.with(|r| r.set(refuse));
}

/// Vectored calls the kernel took in full on the calling thread so far.
#[cfg(test)]
pub(super) fn taken_on_this_thread() -> usize {
    TAKEN.with(|t| t.get())
}

/// `true` while the kernel takes vectored advice for this process (as far as is known yet).
#[cfg(test)]
pub(super) fn available() -> bool {
    VECTORED.load(Ordering::Relaxed)
}

/// Gives `advice` for every range of `ranges` (at most [`MAX_RANGES`]) with one
/// `process_madvise` call. `true` if the kernel applied it to all of them; `false` if it
/// refused, failed or stopped part-way, and then the caller advises range by range (corio
/// only gives advice that can be repeated: guard installs and populates), which also yields
/// the error, if any, of the range that failed.
pub(super) fn advise_ranges(ranges: &[libc::iovec], advice: libc::c_int) -> bool {
    debug_assert!(ranges.len() <= MAX_RANGES);
    #[cfg(test)]
    if REFUSE.with(|r| r.get()) {
        return false;
    }
    if ranges.is_empty() || !VECTORED.load(Ordering::Relaxed) {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let total: usize = ranges.iter().map(|r| r.iov_len).sum();
        // SAFETY: process_madvise reads `ranges.len()` iovecs from `ranges`, which we borrow
        // for the call; the advice applies to this process's own memory, in the ranges the
        // caller owns and chose the advice for (the same contract as one `madvise` each).
        let done = unsafe {
            libc::syscall(
                libc::SYS_process_madvise,
                PIDFD_SELF,
                ranges.as_ptr(),
                ranges.len(),
                advice,
                0,
            )
        };
        if done >= 0 {
            let all = done as usize == total;
            #[cfg(test)]
            if all {
                TAKEN.with(|t| t.set(t.get() + 1));
            }
            return all;
        }
        let refused = matches!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOSYS | libc::EINVAL | libc::EPERM | libc::EBADF)
        );
        if refused {
            VECTORED.store(false, Ordering::Relaxed);
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = advice;
        VECTORED.store(false, Ordering::Relaxed);
        false
    }
}
