//! What a server thread spent, read from another thread (the load generator's), so that it
//! can be taken over exactly the window the generator measures: the thread's CPU clock
//! (`pthread_getcpuclockid`, exact), its user/kernel split (`/proc/self/task/TID/stat`,
//! sampled at the kernel's tick, over the thread's life) and its context switches
//! (`/proc/self/task/TID/status`).

use std::ops::Sub;
use std::time::Duration;

/// A snapshot of a thread's resource usage; the difference of two is what the thread spent
/// between them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    /// User plus kernel time, from the thread's CPU clock.
    pub(crate) cpu: Duration,
    /// The user-space share of `cpu`.
    pub(crate) user: Duration,
    /// Voluntary context switches: each is one sleep in `epoll_wait` (or another blocking
    /// call) that ended with a wake-up.
    pub(crate) vcsw: u64,
    /// Involuntary context switches: the thread was preempted (the shared machine's noise).
    pub(crate) ivcsw: u64,
    /// User and kernel time in clock ticks (as the kernel reports them), for the split.
    ticks: (u64, u64),
}

impl Usage {
    /// The kernel share of `cpu`.
    pub(crate) fn sys(&self) -> Duration {
        self.cpu.saturating_sub(self.user)
    }
}

impl Sub for Usage {
    type Output = Usage;

    fn sub(self, earlier: Usage) -> Usage {
        let cpu = self.cpu.saturating_sub(earlier.cpu);
        // The exact total, split in the proportion of the thread's user and kernel time over
        // its whole life so far. Not the difference of the two snapshots' times: the kernel
        // keeps each of them monotonic as it rescales the tick samples to the exact total, so
        // over a window one of them can stand still while the other takes it all.
        let ticks = self.ticks;
        let all = ticks.0 + ticks.1;
        let user = if all == 0 {
            Duration::ZERO
        } else {
            cpu.mul_f64(ticks.0 as f64 / all as f64)
        };
        Usage {
            cpu,
            user,
            vcsw: self.vcsw.saturating_sub(earlier.vcsw),
            ivcsw: self.ivcsw.saturating_sub(earlier.ivcsw),
            ticks,
        }
    }
}

/// Reads another thread of this process's usage.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    tid: libc::pid_t,
    clock: libc::clockid_t,
}

impl Probe {
    /// The probe of the calling thread, to hand to another one.
    pub(crate) fn of_current_thread() -> Probe {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is the calling thread, alive; `clock` is a valid out-pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        assert_eq!(rc, 0, "pthread_getcpuclockid");
        // SAFETY: plain syscall without arguments.
        let tid = unsafe { libc::gettid() };
        Probe { tid, clock }
    }

    /// The thread's usage so far. The thread must still be running.
    pub(crate) fn read(&self) -> Usage {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; the clock is a live thread's CPU clock.
        unsafe { libc::clock_gettime(self.clock, &mut ts) };
        let cpu = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
        let task = format!("/proc/self/task/{}", self.tid);
        // Fields 14 and 15 of `stat` (utime, stime), counted after the `(comm)` field,
        // which may hold spaces.
        let stat = std::fs::read_to_string(format!("{task}/stat")).unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let field = |i: usize| -> u64 {
            after_comm
                .split_whitespace()
                .nth(i)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        // After `)`: state is field 3, so utime (14) is index 11 and stime (15) index 12.
        let ticks = (field(11), field(12));
        let status = std::fs::read_to_string(format!("{task}/status")).unwrap_or_default();
        let count = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Usage {
            cpu,
            user: Duration::ZERO,
            vcsw: count("voluntary_ctxt_switches:"),
            ivcsw: count("nonvoluntary_ctxt_switches:"),
            ticks,
        }
    }
}
