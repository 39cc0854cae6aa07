//! One end of a pipe as a stream: a child process's stdin (write end) or stdout/stderr (read
//! end), for [`subprocess`](crate::subprocess).

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use super::conn::{AnyStream, Conn};
use super::{StreamReader, StreamWriter};
use crate::net::evented::Evented;

/// A non-blocking pipe end registered with the loop.
pub struct PipeEnd {
    pub(crate) ev: Evented<File>,
    /// Set once a write end was shut down (its pipe closed).
    shut: Cell<bool>,
}

impl PipeEnd {
    fn new(fd: OwnedFd) -> io::Result<PipeEnd> {
        let file = File::from(fd);
        set_nonblocking(&file)?;
        Ok(PipeEnd {
            ev: Evented::new(file)?,
            shut: Cell::new(false),
        })
    }

    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.ev.io).read(buf)
    }

    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        if self.shut.get() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the pipe was closed",
            ));
        }
        (&self.ev.io).write(buf)
    }

    /// A pipe has no half-close: shutting the write direction closes the pipe, so the reader
    /// at the other end sees EOF. The fd number is kept (pointing at `/dev/null`) until the
    /// stream is dropped, so the loop's registration of it stays valid: closing the pipe's
    /// last fd removed it from the poller already, and the final deregistration of a number
    /// the poller does not know is harmless.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        if how == std::net::Shutdown::Read || self.shut.replace(true) {
            return Ok(());
        }
        let null = File::options().write(true).open("/dev/null")?;
        // SAFETY: both fds are open and owned (by `null` and by `self.ev.io`); dup3 replaces
        // the second with a copy of the first, atomically, keeping it close-on-exec.
        if unsafe { libc::dup3(null.as_raw_fd(), self.ev.io.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // Closing the pipe took it out of the poller: what still waits on it (an armed
        // flush) runs now and finds the stream closed.
        self.ev.src.fire_waiters();
        Ok(())
    }
}

fn set_nonblocking(f: &File) -> io::Result<()> {
    let fd = f.as_raw_fd();
    // SAFETY: fcntl on an fd we own, with flag arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl fmt::Debug for PipeEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipeEnd")
            .field("fd", &self.ev.io.as_raw_fd())
            .field("closed", &self.shut.get())
            .finish()
    }
}

/// A reader over the read end of a pipe (made non-blocking and registered with the running
/// loop).
pub(crate) fn pipe_reader(fd: OwnedFd) -> io::Result<StreamReader> {
    let conn = Rc::new(Conn::new(AnyStream::Pipe(PipeEnd::new(fd)?)));
    Ok(StreamReader::new(conn))
}

/// A writer over the write end of a pipe; closing it closes the pipe.
pub(crate) fn pipe_writer(fd: OwnedFd) -> io::Result<StreamWriter> {
    let conn = Rc::new(Conn::new(AnyStream::Pipe(PipeEnd::new(fd)?)));
    Ok(StreamWriter::new(conn))
}
