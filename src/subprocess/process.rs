//! [`Process`]: a running child, its pipes, and waiting for its exit over a pidfd.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Output};

use crate::net::evented::Evented;
use crate::runtime::Dir;
use crate::streams::{StreamReader, StreamWriter};

/// A child process started by [`Command::spawn`](super::Command::spawn) (asyncio's
/// `asyncio.subprocess.Process`).
///
/// Its pipes are streams: [`stdin`](Self::stdin) is a [`StreamWriter`] (closing it closes the
/// pipe, so the child reads EOF), [`stdout`](Self::stdout) and [`stderr`](Self::stderr) are
/// [`StreamReader`]s. Each is `Some` when it was asked for with `Stdio::piped()`; take them
/// out (`Option::take`) to move them into other tasks.
///
/// [`wait`](Self::wait) parks until the child exits. The loop learns of the exit from a pidfd
/// (Linux 5.3+) registered with its reactor like a socket: no `SIGCHLD` handler, no thread.
///
/// # Dropping
///
/// Dropping a `Process` does not kill the child (as in asyncio and std). If the child has not
/// been reaped yet, its pid and pidfd go to a process-wide reaper thread, which reaps it when
/// it exits, so no zombie is left behind. To stop the child first, call [`kill`](Self::kill)
/// and [`wait`](Self::wait).
///
/// A `Process` belongs to its loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::subprocess::Process>();
/// ```
pub struct Process {
    /// The child's stdin, when piped.
    pub stdin: Option<StreamWriter>,
    /// The child's stdout, when piped.
    pub stdout: Option<StreamReader>,
    /// The child's stderr, when piped.
    pub stderr: Option<StreamReader>,
    pid: i32,
    pidfd: Option<Evented<OwnedFd>>,
    status: Cell<Option<ExitStatus>>,
}

/// `waitpid(pid, WNOHANG)`: the exit status once the child `pid` has exited (and is reaped
/// now), `None` while it runs. An error (the child was reaped elsewhere) counts as exited,
/// with status 255.
pub(super) fn reap(pid: i32) -> Option<ExitStatus> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        match r {
            0 => return None,
            r if r == pid => return Some(ExitStatus::from_raw(status)),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return Some(ExitStatus::from_raw(255 << 8)),
        }
    }
}

/// A pidfd for child `pid`, which must not have been reaped yet.
pub(super) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("pidfd_open failed ({e}); corio's subprocesses need Linux 5.3 or later"),
        ));
    }
    // SAFETY: the syscall returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Process {
    pub(super) fn new(
        pid: i32,
        pidfd: OwnedFd,
        stdin: Option<StreamWriter>,
        stdout: Option<StreamReader>,
        stderr: Option<StreamReader>,
    ) -> io::Result<Process> {
        let pidfd = Evented::new(pidfd)?;
        Ok(Process {
            stdin,
            stdout,
            stderr,
            pid,
            pidfd: Some(pidfd),
            status: Cell::new(None),
        })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// The exit status if the child has exited, without parking (reaping it if it just did).
    ///
    /// # Errors
    ///
    /// None today; the `Result` matches `std::process::Child::try_wait`.
    pub fn try_wait(&self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status.get() {
            return Ok(Some(s));
        }
        let s = reap(self.pid);
        self.status.set(s);
        Ok(s)
    }

    /// asyncio's `returncode`: `None` while the child runs, its exit code once it exited, or
    /// minus the signal's number if a signal killed it (`-9` after [`kill`](Self::kill)).
    pub fn returncode(&self) -> Option<i32> {
        let s = self.try_wait().ok().flatten()?;
        s.code().or_else(|| s.signal().map(|n| -n))
    }

    /// Parks until the child exits and returns its status (asyncio's `wait`; the code as an
    /// integer is [`returncode`](Self::returncode)). Waiting again returns the same status.
    ///
    /// With `stdout` or `stderr` piped, read them (or use [`communicate`](Self::communicate))
    /// while waiting: a child blocked on a full pipe never exits.
    ///
    /// # Errors
    ///
    /// When the pidfd cannot be polled (the `Process` is used on another loop).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled wait leaves the child running and this `Process` able to
    /// wait again (or to hand the child to the reaper when dropped).
    pub fn wait(&self) -> io::Result<ExitStatus> {
        if let Some(s) = self.status.get() {
            return Ok(s);
        }
        // A new registration starts ready, so the first `try_wait` runs before any park.
        let pidfd = self.pidfd.as_ref().expect("present until drop");
        pidfd.io(Dir::Read, |_| match self.try_wait()? {
            Some(s) => Ok(s),
            None => Err(io::ErrorKind::WouldBlock.into()),
        })
    }

    /// Sends `input` to stdin (then closes it), reads stdout and stderr to their ends at the
    /// same time, and waits for the exit (asyncio's `communicate`). Pipes that were not asked
    /// for give empty output; a child that exits without reading all of `input` is not an
    /// error.
    ///
    /// # Errors
    ///
    /// A read error of stdout or stderr, or as [`wait`](Self::wait).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the pipes are taken out of `self` and what was read so far is lost;
    /// the child is still waitable.
    pub fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<Output> {
        if let Some(stdin) = self.stdin.take() {
            if let Some(data) = input {
                stdin.write(data);
            }
            // Sent in the background as the child reads; a child that exits early just
            // leaves the rest unsent.
            let _ = stdin.close();
        }
        let stderr = self.stderr.take().map(|mut r| {
            let task = crate::spawn(move || read_all(&mut r));
            CancelOnDrop(Some(task))
        });
        let out = match self.stdout.take() {
            Some(mut r) => read_all(&mut r)?,
            None => Vec::new(),
        };
        let err = match stderr {
            Some(mut t) => {
                t.0.take()
                    .expect("joined once")
                    .join()
                    .map_err(|e| io::Error::other(format!("reading stderr failed: {e}")))??
            }
            None => Vec::new(),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout: out,
            stderr: err,
        })
    }

    /// Sends signal `sig` to the child (asyncio's `send_signal`); does nothing once the child
    /// has been reaped.
    ///
    /// # Errors
    ///
    /// The `kill(2)` error (`EINVAL` for a bad signal number).
    pub fn send_signal(&self, sig: i32) -> io::Result<()> {
        if self.status.get().is_some() {
            return Ok(());
        }
        // SAFETY: the child is not reaped yet (only this Process reaps it), so `pid` still
        // names it, at worst as a zombie, never a recycled pid.
        if unsafe { libc::kill(self.pid, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sends `SIGTERM` (asyncio's `terminate`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL` (asyncio's `kill`).
    ///
    /// # Errors
    ///
    /// As [`send_signal`](Self::send_signal).
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }
}

fn read_all(r: &mut StreamReader) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    loop {
        let chunk = r.read(64 * 1024)?;
        if chunk.is_empty() {
            return Ok(all);
        }
        all.extend_from_slice(&chunk);
    }
}

struct CancelOnDrop<T: 'static>(Option<crate::Task<T>>);

impl<T: 'static> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(t) = self.0.take() {
            t.cancel();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let Some(pidfd) = self.pidfd.take() else {
            return;
        };
        let fd = pidfd.into_inner();
        if self.try_wait().ok().flatten().is_none() {
            super::reaper::adopt(self.pid, fd);
        }
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("returncode", &self.status.get().map(|s| s.into_raw()))
            .finish_non_exhaustive()
    }
}
