//! Readiness waits for non-blocking fds, the bridge between the reactor and parked coroutines.
//!
//! An [`IoSource`] registers its fd with the poller once (edge-triggered where the platform
//! allows) and remembers readiness per direction. An operation tries its syscall first; only
//! on `WouldBlock` does it clear the readiness bit and park until the poller reports the fd
//! ready again. No re-arming per wait, no syscall beyond the one that failed.
// The socket layer is the user of this module; its tests live below.
#![cfg_attr(not(test), allow(dead_code))]

use std::io;
use std::os::fd::RawFd;

use super::core::{Notify, with_core};
use super::raw::{self, Waker};
use crate::reactor::Dir;

/// A registered fd. Deregisters on drop; the owner must drop it before closing the fd.
#[derive(Debug)]
pub(crate) struct IoSource {
    key: usize,
    loop_id: u64,
}

impl IoSource {
    /// Registers `fd` (already non-blocking) with the running loop.
    pub(crate) fn new(fd: RawFd) -> io::Result<IoSource> {
        with_core(|c| {
            c.reactor.register(fd).map(|key| IoSource {
                key,
                loop_id: c.id(),
            })
        })
        .unwrap_or_else(|| Err(io::Error::other(crate::error::SpawnError::NoLoop)))
    }

    /// Runs `op` until it does not return `WouldBlock`, parking between tries until the fd is
    /// ready in `dir`.
    ///
    /// # Cancel safety
    ///
    /// A cancelled wait leaves nothing registered; the operation did not happen.
    pub(crate) fn io<R>(&self, dir: Dir, mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(dir)?,
                r => return r,
            }
        }
    }

    /// Parks until the poller reports the fd ready in `dir` (after an operation hit
    /// `WouldBlock`).
    pub(crate) fn wait(&self, dir: Dir) -> io::Result<()> {
        let key = self.key;
        let same_loop = with_core(|c| c.id() == self.loop_id).unwrap_or(false);
        if !same_loop {
            return Err(io::Error::other("the socket belongs to another event loop"));
        }
        with_core(|c| c.reactor.clear_ready(key, dir));
        let parked = with_core(|c| {
            c.reactor
                .wait_ready(key, dir, Notify::Wake(Waker::current()))
        })
        .unwrap_or(false);
        if !parked {
            return Ok(());
        }
        struct Unregister(usize, Dir);
        impl Drop for Unregister {
            fn drop(&mut self) {
                with_core(|c| c.reactor.cancel_wait(self.0, self.1));
            }
        }
        let _g = Unregister(key, dir);
        raw::park_on(if dir == Dir::Read { "read" } else { "write" });
        Ok(())
    }
}

impl Drop for IoSource {
    fn drop(&mut self) {
        with_core(|c| {
            if c.id() == self.loop_id {
                c.reactor.deregister(self.key)
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn read_parks_until_the_peer_writes() {
        let got = crate::run(|| {
            let (a, b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            b.set_nonblocking(true).unwrap();
            let src = IoSource::new(b.as_raw_fd()).unwrap();
            let writer = crate::spawn(move || {
                crate::sleep(std::time::Duration::from_millis(5));
                (&a).write_all(b"ping").unwrap();
                a
            });
            let mut buf = [0u8; 16];
            let n = src.io(Dir::Read, || (&b).read(&mut buf)).unwrap();
            let _a = writer.join().unwrap();
            buf[..n].to_vec()
        });
        assert_eq!(got, b"ping");
    }

    #[test]
    fn cancelled_read_leaves_no_waiter() {
        crate::run(|| {
            let (_a, b) = UnixStream::pair().unwrap();
            b.set_nonblocking(true).unwrap();
            let fd = b.as_raw_fd();
            let t = crate::spawn(move || {
                let src = IoSource::new(fd).unwrap();
                let mut buf = [0u8; 4];
                let _ = src.io(Dir::Read, || (&b).read(&mut buf));
            });
            crate::yield_now();
            t.cancel();
            assert!(t.join().unwrap_err().is_cancelled());
            assert_eq!(
                with_core(|c| c.reactor.len()),
                Some(0),
                "deregistered on drop"
            );
        });
    }
}
