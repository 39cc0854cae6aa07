//! Reaps children whose [`Process`](super::Process) was dropped before they exited.
//!
//! One thread for the whole process, started on the first orphan. It holds each orphan's pid
//! and pidfd, sleeps in `poll(2)` on the pidfds and an eventfd that a new orphan's arrival
//! writes to, and reaps with `waitpid(WNOHANG)` whatever exited; with no orphans left it
//! sleeps on a condition variable. It never wakes on a timer. So a dropped `Process`
//! never leaves a zombie behind, whether or not its loop still runs, and nothing in corio
//! installs a `SIGCHLD` handler (which would reap other libraries' children).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Condvar, Mutex, Once, OnceLock};

static ORPHANS: Mutex<Vec<(i32, OwnedFd)>> = Mutex::new(Vec::new());
static ARRIVED: Condvar = Condvar::new();
static START: Once = Once::new();
/// Written to when an orphan arrives, so the thread's `poll` takes it in at once; `None`
/// if it could not be made (then the thread looks again every 50 ms).
static WAKE: OnceLock<Option<OwnedFd>> = OnceLock::new();

fn wake_fd() -> Option<i32> {
    WAKE.get_or_init(|| {
        // SAFETY: eventfd takes an initial value and flags and returns a new fd or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        // SAFETY: a new fd that nothing else owns.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    })
    .as_ref()
    .map(AsRawFd::as_raw_fd)
}

/// Hands child `pid` (not yet reaped) and its pidfd to the reaper thread.
pub(super) fn adopt(pid: i32, pidfd: OwnedFd) {
    if super::process::reap(pid).is_some() {
        return;
    }
    START.call_once(|| {
        let started = std::thread::Builder::new()
            .name("corio-reaper".into())
            .spawn(run);
        if let Err(e) = started {
            crate::runtime::emit_report(
                crate::runtime::ReportLevel::Error,
                &format!("cannot start the child reaper thread: {e}"),
            );
        }
    });
    ORPHANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, pidfd));
    ARRIVED.notify_one();
    if let Some(fd) = wake_fd() {
        let one = 1u64;
        // SAFETY: an 8-byte write of a local into our eventfd.
        unsafe { libc::write(fd, (&raw const one).cast(), 8) };
    }
}

fn run() {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        {
            let mut orphans = ORPHANS.lock().unwrap_or_else(|e| e.into_inner());
            orphans.retain(|(pid, _)| super::process::reap(*pid).is_none());
            while orphans.is_empty() {
                orphans = ARRIVED.wait(orphans).unwrap_or_else(|e| e.into_inner());
            }
            fds.clear();
            let wake = wake_fd();
            let all = orphans.iter().map(|(_, fd)| fd.as_raw_fd()).chain(wake);
            fds.extend(all.map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }));
        }
        let timeout = if wake_fd().is_some() { -1 } else { 50 };
        // Only this thread removes orphans (and closes their pidfds), so the fds polled here
        // stay open while it sleeps.
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if let Some(fd) = wake_fd() {
            let mut n = 0u64;
            // SAFETY: an 8-byte read into a local from our non-blocking eventfd.
            unsafe { libc::read(fd, (&raw mut n).cast(), 8) };
        }
    }
}
