//! Starting a child without holding the loop: the `fork`/`exec` (or `posix_spawn`) runs on a
//! thread of the loop's default executor while the spawning coroutine parks, so the loop's
//! other tasks run meanwhile; the child's fds come back to the loop, which registers them.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use super::{process, reaper};

/// A started child on its way to the loop: its pid, pidfd and piped stdio. Dropped before it
/// gets there (the spawning task was cancelled while the child started), it kills the child
/// and hands it to the reaper, as asyncio kills a child whose creation was cancelled.
pub(super) struct Spawned {
    pub(super) pid: i32,
    pidfd: Option<OwnedFd>,
    pub(super) stdin: Option<OwnedFd>,
    pub(super) stdout: Option<OwnedFd>,
    pub(super) stderr: Option<OwnedFd>,
}

impl Spawned {
    /// The pidfd, now owned by the caller; `Drop` no longer kills the child.
    pub(super) fn take_pidfd(&mut self) -> OwnedFd {
        self.pidfd.take().expect("the pidfd is taken once")
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Some(fd) = self.pidfd.take() {
            // SAFETY: kill(2) on our own child, not reaped yet (only its pidfd's owner reaps
            // it), so the pid still names it.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            reaper::adopt(self.pid, fd);
        }
    }
}

/// Starts the child of `cmd` on the calling thread (this blocks it until the child runs its
/// program or fails to) and opens its pidfd.
fn start(cmd: &Mutex<std::process::Command>, program: &OsStr) -> io::Result<Spawned> {
    let mut cmd = cmd.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program:?}: {e}")))?;
    drop(cmd);
    let pid = child.id() as i32;
    let pidfd = match process::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    // From here on the child is reaped through its pidfd's owner: `Spawned`, then `Process`.
    Ok(Spawned {
        pid,
        pidfd: Some(pidfd),
        stdin: child.stdin.take().map(OwnedFd::from),
        stdout: child.stdout.take().map(OwnedFd::from),
        stderr: child.stderr.take().map(OwnedFd::from),
    })
}

/// Starts the child of `cmd` off the loop's thread when called from a coroutine: on the
/// default executor, parking the coroutine until the child runs. Outside a coroutine (a loop
/// callback), or when the executor takes no more work (the loop is closing), it starts the
/// child here, blocking the thread for that long.
///
/// # Cancel safety
///
/// If the coroutine is cancelled while the child starts, the child is killed and reaped
/// once it has started; the command can be spawned again.
pub(super) fn spawn(
    cmd: &Arc<Mutex<std::process::Command>>,
    program: &OsStr,
) -> io::Result<Spawned> {
    if crate::runtime::current_header().is_none() {
        return start(cmd, program);
    }
    let (job_cmd, job_program) = (cmd.clone(), program.to_owned());
    match crate::executor::run_in_executor(move || start(&job_cmd, &job_program)) {
        Ok(r) => r,
        // The executor is shut down or could not start a thread: start it here.
        Err(e) if e.is_cancelled() => start(cmd, program),
        Err(e) => Err(io::Error::other(format!("cannot run {program:?}: {e}"))),
    }
}
