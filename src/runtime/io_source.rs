//! Readiness waits for non-blocking fds, the bridge between the reactor and parked coroutines.
//!
//! An [`IoSource`] registers its fd with the poller once (edge-triggered where the platform
//! allows) and remembers readiness per direction. An operation tries its syscall first; only
//! on `WouldBlock` does it clear the readiness bit and park until the poller reports the fd
//! ready again. No re-arming per wait, no syscall beyond the one that failed.
//!
//! Stream writes save one more syscall: a write that took fewer bytes than offered has
//! filled the kernel's send buffer, so [`IoSource::write_stream`] clears the bit then and the
//! next write parks without trying; the poller sets it again when room frees up. Reads do the
//! same ([`IoSource::read_stream`]) only when the last read event said no FIN is queued
//! behind the data (sources are registered with `EPOLLRDHUP`, read by the reactor's direct
//! wait); otherwise a short read may have left a FIN that no new event would announce, so
//! the read retries until `WouldBlock` before parking.

use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::rc::Rc;

use super::callback::{CallOnce, Callable};
use super::core::{EventAction, with_core};
use super::park;
use super::task_ref::{Header, Waker};
use super::wait_target::Named;
use crate::reactor::Dir;

/// A registered fd. Deregisters on drop; the owner must drop it before closing the fd.
///
/// `!Send` and `!Sync`, and so is every socket built on it: the registration is a key into
/// the loop of the thread that made it, so a source dropped on another thread could not
/// deregister (that thread has no loop, or another one), and the stale registration would
/// keep the loop counting an external wait that can never end. `into_std` on the sockets is
/// the way to hand the fd to another thread.
#[derive(Debug)]
pub(crate) struct IoSource {
    key: usize,
    loop_id: u64,
    _loop_bound: PhantomData<*const ()>,
}

impl IoSource {
    /// Registers `fd` (already non-blocking) with the running loop.
    pub(crate) fn new(fd: RawFd) -> io::Result<IoSource> {
        with_core(|c| {
            c.reactor.register(fd).map(|key| IoSource {
                key,
                loop_id: c.id(),
                _loop_bound: PhantomData,
            })
        })
        .unwrap_or_else(|| Err(no_loop()))
    }

    /// The id of the loop the fd is registered with.
    pub(crate) fn loop_id(&self) -> u64 {
        self.loop_id
    }

    /// Runs `op` until it does not return `WouldBlock`, parking between tries until the fd is
    /// ready in `dir`. If the fd is known not to be ready, parks before the first try.
    ///
    /// # Cancel safety
    ///
    /// A cancelled wait leaves nothing registered; the operation did not happen.
    #[inline]
    pub(crate) fn io<R>(&self, dir: Dir, mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
        self.park_unless_ready(dir)?;
        loop {
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(dir)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => return r,
            }
        }
    }

    /// [`io`](Self::io) for a write of `want` bytes on a stream socket: a short write (more
    /// than 0, fewer than `want`) marks the fd not writable, since the send buffer is full.
    #[inline]
    pub(crate) fn write_stream(
        &self,
        want: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream_io(Dir::Write, want, op)
    }

    /// [`io`](Self::io) for a read of up to `want` bytes from a stream socket: a short read
    /// (more than 0, fewer than `want`) marks the fd not readable when the poller said no
    /// FIN can be queued behind the data (`EPOLLRDHUP`), saving the `recv` that would only
    /// say `WouldBlock`. Without that knowledge it reads on until `WouldBlock`.
    #[inline]
    pub(crate) fn read_stream(
        &self,
        want: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream_io(Dir::Read, want, op)
    }

    /// [`io`](Self::io) for a stream transfer of up to `want` bytes in `dir`; a short one
    /// clears the readiness it used up (see `write_stream` and `read_stream`).
    #[inline(always)]
    fn stream_io(
        &self,
        dir: Dir,
        want: usize,
        op: impl FnMut() -> io::Result<usize>,
    ) -> io::Result<usize> {
        let r = self.io(dir, op);
        if let Ok(n) = r
            && n > 0
            && n < want
        {
            match dir {
                Dir::Write => self.clear_ready(Dir::Write),
                Dir::Read => self.short_read(),
            }
        }
        r
    }

    /// Whether the fd was last seen ready in `dir` (`true` outside its loop, so the caller
    /// tries its syscall and gets the error there).
    #[inline]
    pub(crate) fn is_ready(&self, dir: Dir) -> bool {
        with_core(|c| c.id() != self.loop_id || c.reactor.is_ready(self.key, dir)).unwrap_or(true)
    }

    /// Records that the fd is not ready in `dir` (an operation got `WouldBlock`).
    #[inline]
    pub(crate) fn clear_ready(&self, dir: Dir) {
        with_core(|c| {
            if c.id() == self.loop_id {
                c.reactor.clear_ready(self.key, dir)
            }
        });
    }

    /// Parks until the poller reports the fd ready in `dir` (after an operation hit
    /// `WouldBlock`).
    ///
    /// # Cancel safety
    ///
    /// A cancelled wait leaves nothing registered.
    pub(crate) fn wait(&self, dir: Dir) -> io::Result<()> {
        self.clear_ready(dir);
        self.park(dir)
    }

    /// Parks until the fd is ready in `dir`; returns at once if it is.
    fn park(&self, dir: Dir) -> io::Result<()> {
        match with_core(|c| c.id() == self.loop_id) {
            Some(true) => self.park_unless_ready(dir),
            Some(false) => Err(io::Error::other(
                "this socket (or pipe, or process) belongs to another event loop; use it on the \
                 loop it was made on",
            )),
            None => Err(no_loop()),
        }
    }

    /// Parks until the fd is ready in `dir` unless it is ready already (or this is not the
    /// source's loop: the caller's syscall then meets the error). One lookup of the
    /// registration both checks the readiness and leaves the waker; the task's waker is made
    /// only when it parks, and moves into the reactor (the guard recognises it by its task
    /// and token, without holding a reference).
    #[inline]
    fn park_unless_ready(&self, dir: Dir) -> io::Result<()> {
        let key = self.key;
        let parked = with_core(|c| {
            if c.id() != self.loop_id {
                return None;
            }
            let mut mine = None;
            c.reactor.wait_ready(key, dir, || {
                let me = Waker::current();
                mine = Some((me.task.as_ptr(), me.token));
                EventAction::Wake(me)
            });
            mine
        });
        match parked {
            Some(Some((task, token))) => {
                park_on_fd(key, dir, task, token);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Runs `f` once, as a loop callback, when the fd is ready in `dir` (asyncio's
    /// `add_writer` for a transport's write buffer); at the next loop iteration if it is ready
    /// already. Dropped unrun if the source is dropped first or the loop closes. Returns
    /// `false` (and drops `f`) outside the source's loop.
    ///
    /// Until it runs or is dropped, the callback counts as an external wait of the loop: the
    /// outside world (a peer connecting, a socket draining) decides when it runs.
    pub(crate) fn call_when_ready(&self, dir: Dir, f: impl FnOnce() + 'static) -> bool {
        with_core(|c| {
            if c.id() != self.loop_id {
                return false;
            }
            c.external_begin();
            let pending = ExternalPending(self.loop_id);
            let cb = CallOnce::new_rc(move || {
                let _pending = pending;
                f()
            });
            if !c
                .reactor
                .wait_ready(self.key, dir, || EventAction::Call(cb.clone()))
            {
                c.call_soon(cb);
            }
            true
        })
        .unwrap_or(false)
    }

    /// Registers `cb` to be called once, as a loop callback, when the fd is ready in `dir`;
    /// at the next loop iteration if it is ready already. Unlike
    /// [`call_when_ready`](Self::call_when_ready) nothing is allocated: the caller keeps one
    /// callback per direction and registers it again after each call (the transports of
    /// `protocols`, whose connections have no stack). At most one registration per direction
    /// may be outstanding. Returns `false` outside the source's loop. Not counted as an
    /// external wait here: the caller counts its connection as one while it is open.
    pub(crate) fn call_rc_when_ready(&self, dir: Dir, cb: &Rc<dyn Callable>) -> bool {
        with_core(|c| {
            if c.id() != self.loop_id {
                return false;
            }
            if !c
                .reactor
                .wait_ready(self.key, dir, || EventAction::Call(cb.clone()))
            {
                c.call_soon(cb.clone());
            }
            true
        })
        .unwrap_or(false)
    }

    /// Records a read that took fewer bytes than asked, made without [`io`](Self::io) (by a
    /// readiness callback): as in [`read_stream`](Self::read_stream), the fd is marked not
    /// readable when the poller said no FIN can be queued behind the data.
    #[inline]
    pub(crate) fn short_read(&self) {
        with_core(|c| {
            if c.id() == self.loop_id {
                c.reactor.short_read(self.key);
            }
        });
    }
}

impl IoSource {
    /// Runs what waits on the fd as if it were ready both ways, for an fd closed under its
    /// registration (no event will come): a parked operation retries and meets the error.
    pub(crate) fn fire_waiters(&self) {
        with_core(|c| {
            if c.id() == self.loop_id {
                let mut fired = Vec::new();
                c.reactor.fire(self.key, &mut fired);
                c.dispatch(fired);
            }
        });
    }
}

/// Parks the current task, whose waker (`task`, `token`) waits in the reactor for `key` to
/// be ready in `dir`; takes that waker back out if the park ends otherwise (a cancellation,
/// or a wake-up from elsewhere).
///
/// Out of line and small: the frames between a user's read and the switch stay few and
/// short, so a resumed task touches few stack lines.
#[inline(never)]
fn park_on_fd(key: usize, dir: Dir, task: NonNull<Header>, token: u32) {
    struct Unregister(usize, Dir, NonNull<Header>, u32);
    impl Drop for Unregister {
        #[inline]
        fn drop(&mut self) {
            let removed = with_core(|c| {
                c.reactor.cancel_wait(self.0, self.1, |n| match n {
                    EventAction::Wake(w) => w.token == self.3 && w.task.as_ptr() == self.2,
                    EventAction::Call(_) => false,
                })
            });
            drop(removed);
        }
    }
    let _g = Unregister(key, dir, task, token);
    park::park_external(if dir == Dir::Read {
        &Named("read")
    } else {
        &Named("write")
    });
}

/// Counts an external wait down when dropped (with the callback that held it, run or not).
struct ExternalPending(u64);

impl Drop for ExternalPending {
    fn drop(&mut self) {
        with_core(|c| {
            if c.id() == self.0 {
                c.external_end();
            }
        });
    }
}

fn no_loop() -> io::Error {
    io::Error::other(
        "no running event loop: corio sockets work inside corio::run or a spawned task",
    )
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

    /// The reactor lays a registration out as one cache line for waiter slots of 24 bytes.
    #[test]
    fn the_loops_notification_fits_the_reactors_slots() {
        assert!(std::mem::size_of::<Option<EventAction>>() <= 24);
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
