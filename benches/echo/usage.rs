//! What a server thread spent: user and kernel CPU time and context switches, from
//! `getrusage(RUSAGE_THREAD)` on the thread itself.

use std::ops::Sub;
use std::time::Duration;

/// A snapshot of the calling thread's resource usage; the difference of two is what the
/// thread spent between them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    pub(crate) user: Duration,
    pub(crate) sys: Duration,
    /// Voluntary context switches: each is one sleep in `epoll_wait` (or another blocking
    /// call) that ended with a wake-up.
    pub(crate) vcsw: u64,
    /// Involuntary context switches: the thread was preempted (the shared machine's noise).
    pub(crate) ivcsw: u64,
}

impl Usage {
    /// The calling thread's usage so far.
    pub(crate) fn now() -> Usage {
        // SAFETY: all-zero is a valid `rusage` (plain integers), and getrusage writes it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage for the call's duration.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        if rc != 0 {
            return Usage::default();
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        Usage {
            user: tv(ru.ru_utime),
            sys: tv(ru.ru_stime),
            vcsw: ru.ru_nvcsw as u64,
            ivcsw: ru.ru_nivcsw as u64,
        }
    }

    /// User plus kernel time.
    pub(crate) fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

impl Sub for Usage {
    type Output = Usage;

    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            user: self.user.saturating_sub(earlier.user),
            sys: self.sys.saturating_sub(earlier.sys),
            vcsw: self.vcsw.saturating_sub(earlier.vcsw),
            ivcsw: self.ivcsw.saturating_sub(earlier.ivcsw),
        }
    }
}
