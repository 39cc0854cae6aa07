//! Reaps children whose [`Process`](super::Process) was dropped before they exited.
//!
//! One thread for the whole process, started on the first orphan. It holds each orphan's pid
//! and pidfd, sleeps in `poll(2)` on the pidfds, and reaps with `waitpid(WNOHANG)` whatever
//! exited; with no orphans left it sleeps on a condition variable. So a dropped `Process`
//! never leaves a zombie behind, whether or not its loop still runs, and nothing in corio
//! installs a `SIGCHLD` handler (which would reap other libraries' children).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Condvar, Mutex, Once};
use std::time::Duration;

/// How long an orphan adopted while the thread sleeps in `poll` may wait to be looked at.
const ROUND: Duration = Duration::from_millis(50);

static ORPHANS: Mutex<Vec<(i32, OwnedFd)>> = Mutex::new(Vec::new());
static ARRIVED: Condvar = Condvar::new();
static START: Once = Once::new();

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
            crate::runtime::diag::emit(
                crate::runtime::diag::Level::Error,
                &format!("cannot start the child reaper thread: {e}"),
            );
        }
    });
    ORPHANS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((pid, pidfd));
    ARRIVED.notify_one();
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
            fds.extend(orphans.iter().map(|(_, fd)| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }));
        }
        // Only this thread removes orphans (and closes their pidfds), so the fds polled here
        // stay open while it sleeps.
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                ROUND.as_millis() as i32,
            )
        };
    }
}
