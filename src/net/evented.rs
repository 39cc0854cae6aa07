//! A socket and its registration with the loop, plus the few socket calls std does not make
//! non-blocking in one step.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

use crate::runtime::Dir;
use crate::runtime::IoSource;

/// A non-blocking socket registered with the running loop.
///
/// Field order matters: `src` is dropped first, so the registration is removed while the fd
/// is still open, and `io` closes the fd after it.
pub(crate) struct Evented<S> {
    pub(crate) src: IoSource,
    pub(crate) io: S,
}

impl<S: AsFd> Evented<S> {
    /// Registers `io`, which must already be non-blocking.
    pub(crate) fn new(io: S) -> io::Result<Evented<S>> {
        let src = IoSource::new(io.as_fd().as_raw_fd())?;
        Ok(Evented { src, io })
    }

    /// Removes the registration and gives the socket back (still non-blocking).
    pub(crate) fn into_inner(self) -> S {
        let Evented { src, io } = self;
        drop(src);
        io
    }

    /// Runs `op` on the socket, parking on `WouldBlock` until it is ready in `dir`.
    #[inline]
    pub(crate) fn io<R>(&self, dir: Dir, mut op: impl FnMut(&S) -> io::Result<R>) -> io::Result<R> {
        self.src.io(dir, || op(&self.io))
    }

    /// A stream write of `want` bytes; see `IoSource::write_stream`.
    #[inline]
    pub(crate) fn write_stream(
        &self,
        want: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream(Dir::Write, want, op)
    }

    /// A stream read into a buffer of `want` bytes; see `IoSource::read_stream`. `Ok(0)` at
    /// once for an empty buffer.
    #[inline]
    pub(crate) fn read_stream(
        &self,
        want: usize,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        self.stream(Dir::Read, want, op)
    }

    /// A stream transfer of `want` bytes in `dir`: the syscall at once for nothing to transfer
    /// (it cannot block), else through the source, which parks while it would.
    #[inline(always)]
    fn stream(
        &self,
        dir: Dir,
        want: usize,
        mut op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if want == 0 {
            return op(&self.io);
        }
        match dir {
            Dir::Read => self.src.read_stream(want, || op(&self.io)),
            Dir::Write => self.src.write_stream(want, || op(&self.io)),
        }
    }

    /// A stream's `read_vectored`: parks until at least one byte (or EOF) is there.
    pub(crate) fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize>
    where
        for<'a> &'a S: Read,
    {
        let want = bufs.iter().map(|b| b.len()).sum();
        self.read_stream(want, |s| (&*s).read_vectored(bufs))
    }

    /// A stream socket's `write_vectored`: parks until the socket takes at least one byte.
    /// One `sendmsg` with [`SEND_FLAGS`], so a closed peer is `EPIPE`, not `SIGPIPE` (std's
    /// `write_vectored` is a `writev`, which has no such flag).
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>
    where
        S: AsFd,
    {
        let want = bufs.iter().map(|b| b.len()).sum();
        self.write_stream(want, |s| send_vectored(s, bufs))
    }

    /// Parks until a connection is queued on this listening socket and accepts it.
    pub(crate) fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        self.io(Dir::Read, accept)
    }

    /// Accepts a queued connection without parking: `WouldBlock` if none is queued, which
    /// also clears the read readiness.
    pub(crate) fn accept_nowait(&self) -> io::Result<(Socket, SockAddr)> {
        match accept(&self.io) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.src.clear_ready(Dir::Read);
                Err(e)
            }
            r => r,
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Evented<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io.fmt(f)
    }
}

/// The first block where sockets can be made non-blocking and close-on-exec in the same
/// syscall that makes them (`SOCK_NONBLOCK`, `accept4`), the second elsewhere.
macro_rules! with_atomic_flags {
    ($yes:block else $no:block) => {{
        #[cfg(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "illumos",
            target_os = "linux",
            target_os = "netbsd",
            target_os = "openbsd",
        ))]
        let r = $yes;
        #[cfg(not(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "illumos",
            target_os = "linux",
            target_os = "netbsd",
            target_os = "openbsd",
        )))]
        let r = $no;
        r
    }};
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn new_socket(domain: Domain, ty: Type, proto: Option<Protocol>) -> io::Result<Socket> {
    with_atomic_flags! {
        { Socket::new(domain, ty.nonblocking(), proto) }
        else {
            let s = Socket::new(domain, ty, proto)?;
            s.set_nonblocking(true)?;
            Ok(s)
        }
    }
}

/// Accepts one connection as a non-blocking, close-on-exec socket: one `accept4` where the
/// platform has it.
pub(crate) fn accept(listener: &impl AsFd) -> io::Result<(Socket, SockAddr)> {
    let sock = sock_ref(listener);
    with_atomic_flags! {
        { sock.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) }
        else {
            let (s, a) = sock.accept()?;
            s.set_nonblocking(true)?;
            Ok((s, a))
        }
    }
}

/// One `recv` on a socket, without parking: into `buf`, initialised bytes or uninitialised
/// ones (a `Vec`'s spare capacity; the kernel only writes into it). Returns how many bytes
/// came.
///
/// This and [`send`] are the socket syscalls of every read and write of a connection, so
/// they go through `rustix`, which on Linux makes the system call inline. glibc's `recv`
/// and `send` are pthread cancellation points and bracket the call with two atomic
/// read-modify-writes of the thread's cancellation state (`__pthread_enable_asynccancel`
/// and `..._disable_...`), about 5% of the echo server's user time on the bench's
/// 1,000-connection row; corio never uses thread cancellation.
#[inline]
pub(crate) fn recv(sock: &impl AsFd, buf: impl rustix::buffer::Buffer<u8>) -> io::Result<usize> {
    let (_, got) = rustix::net::recv(sock, buf, rustix::net::RecvFlags::empty())?;
    Ok(got)
}

/// The flags of every send on a connection: a closed peer is `EPIPE`, not `SIGPIPE`, where
/// the platform has `MSG_NOSIGNAL`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
const SEND_FLAGS: rustix::net::SendFlags = rustix::net::SendFlags::NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
const SEND_FLAGS: rustix::net::SendFlags = rustix::net::SendFlags::empty();

/// `send` that reports a closed peer as `EPIPE` instead of raising `SIGPIPE` ([`SEND_FLAGS`]).
/// See [`recv`] for why it is `rustix`'s.
#[inline]
pub(crate) fn send(sock: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(sock, buf, SEND_FLAGS)?)
}

/// [`send`] of several buffers in one `sendmsg`, with the same flags (`writev`, which std's
/// `write_vectored` makes, has none: a closed peer would raise `SIGPIPE`).
pub(crate) fn send_vectored(sock: &impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut no_control = rustix::net::SendAncillaryBuffer::default();
    Ok(rustix::net::sendmsg(
        sock,
        bufs,
        &mut no_control,
        SEND_FLAGS,
    )?)
}

/// A `socket2` view of any socket, for options std lacks.
pub(crate) fn sock_ref(s: &impl AsFd) -> SockRef<'_> {
    SockRef::from(s)
}

/// Whether a connect error means "in progress, wait for writability".
pub(crate) fn connect_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock
}

/// Parks until a non-blocking connect finishes, then reports its outcome (`SO_ERROR`).
pub(crate) fn finish_connect<S: AsFd>(ev: &Evented<S>) -> io::Result<()> {
    loop {
        ev.src.wait(Dir::Write)?;
        let sock = sock_ref(&ev.io);
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        match sock.peer_addr() {
            Ok(_) => return Ok(()),
            // Woken before the handshake ended (a stale readiness event): wait again.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `write_all` over a stream's parking `write`: `WriteZero` if it takes nothing.
pub(crate) fn write_all(
    mut buf: &[u8],
    mut write: impl FnMut(&[u8]) -> io::Result<usize>,
) -> io::Result<()> {
    while !buf.is_empty() {
        match write(buf)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => buf = &buf[n..],
        }
    }
    Ok(())
}

/// The methods every connected stream has besides its reads and writes (`TcpStream`,
/// `UnixStream`): the pending error, both addresses, and the std conversions.
macro_rules! stream_methods {
    ($stream:ident, $std:ty, $addr:ty) => {
        impl $stream {
            /// The pending socket error (`SO_ERROR`), which reading it clears.
            ///
            /// # Errors
            ///
            /// As `getsockopt`.
            pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
                self.inner.io.take_error()
            }

            /// The remote address.
            ///
            /// # Errors
            ///
            /// As `getpeername`: `NotConnected` once the connection is gone.
            pub fn peer_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.io.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            ///
            /// As `getsockname`.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.io.local_addr()
            }

            /// Takes over a connected std stream: makes it non-blocking and registers it with
            /// the running loop.
            ///
            /// # Errors
            ///
            /// When it cannot be made non-blocking or registered (no running loop).
            pub fn from_std(stream: $std) -> ::std::io::Result<$stream> {
                stream.set_nonblocking(true)?;
                $stream::from_registered(stream)
            }

            /// Removes the stream from the loop and gives the std stream back. It is still in
            /// non-blocking mode; call `set_nonblocking(false)` for blocking use.
            pub fn into_std(self) -> $std {
                self.inner.into_inner()
            }
        }
    };
}

/// The methods every listener has besides binding (`TcpListener`, `UnixListener`): accept,
/// with and without parking, readiness for accept loops, the bound address, and the std
/// conversions.
macro_rules! listener_methods {
    ($listener:ident, $stream:ident, $std:ty, $addr:ty) => {
        impl $listener {
            /// Parks until a connection arrives and returns it with the peer's address (for a
            /// Unix socket, usually unnamed). The new stream is non-blocking and registered
            /// with the loop.
            ///
            /// # Errors
            ///
            /// What `accept4` reports: `EMFILE` when the process is out of file descriptors
            /// (the listener stays usable; try again later), `ECONNABORTED`, ...
            ///
            /// # Cancel safety
            ///
            /// Cancel safe: a cancelled accept has taken no connection, which stays queued.
            pub fn accept(&self) -> ::std::io::Result<($stream, $addr)> {
                let (sock, addr) = self.inner.accept()?;
                $stream::accepted(sock, addr)
            }

            /// Accepts a connection if one is queued, without parking: `WouldBlock` if none
            /// is. For accept loops driven by readiness callbacks.
            pub(crate) fn accept_nowait(&self) -> ::std::io::Result<($stream, $addr)> {
                let (sock, addr) = self.inner.accept_nowait()?;
                $stream::accepted(sock, addr)
            }

            /// Runs `f` once, as a loop callback, when a connection may be waiting.
            pub(crate) fn call_when_readable(&self, f: impl FnOnce() + 'static) -> bool {
                self.inner
                    .src
                    .call_when_ready($crate::runtime::Dir::Read, f)
            }

            /// The address the listener is bound to.
            ///
            /// # Errors
            ///
            /// As `getsockname`.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.inner.io.local_addr()
            }

            /// Takes over a std listener: makes it non-blocking and registers it with the
            /// running loop.
            ///
            /// # Errors
            ///
            /// When it cannot be made non-blocking or registered (no running loop).
            pub fn from_std(listener: $std) -> ::std::io::Result<$listener> {
                listener.set_nonblocking(true)?;
                Ok($listener {
                    inner: Evented::new(listener)?,
                })
            }

            /// Removes the listener from the loop and gives the std listener back. It is
            /// still in non-blocking mode; call `set_nonblocking(false)` for blocking use.
            pub fn into_std(self) -> $std {
                self.inner.into_inner()
            }
        }
    };
}

/// `Debug`, `AsRawFd` and `AsFd` for a socket type whose `inner` field is an [`Evented`].
macro_rules! evented_socket_impls {
    ($($ty:ident),+ $(,)?) => {$(
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.inner).finish()
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.inner.io)
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(&self.inner.io)
            }
        }
    )+};
}
pub(crate) use evented_socket_impls;
pub(crate) use listener_methods;
pub(crate) use stream_methods;

/// `std::io::Read` and `std::io::Write` for a stream type and for a shared reference to it,
/// on top of its inherent parking `read` and `write` and its `inner: Evented<_>` field.
macro_rules! stream_read_write_impls {
    ($ty:ident) => {
        stream_read_write_impls!(@for $ty, $ty);
        stream_read_write_impls!(@for $ty, &$ty);
    };
    (@for $ty:ident, $self_ty:ty) => {
        impl ::std::io::Read for $self_ty {
            fn read(&mut self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                $ty::read(self, buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                self.inner.read_vectored(bufs)
            }
        }

        impl ::std::io::Write for $self_ty {
            fn write(&mut self, buf: &[u8]) -> ::std::io::Result<usize> {
                $ty::write(self, buf)
            }

            fn write_vectored(&mut self, bufs: &[::std::io::IoSlice<'_>]) -> ::std::io::Result<usize> {
                self.inner.write_vectored(bufs)
            }

            fn flush(&mut self) -> ::std::io::Result<()> {
                Ok(())
            }
        }
    };
}
pub(crate) use stream_read_write_impls;

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `SIGPIPE` is pending for this thread, taking it if so.
    fn take_pending_sigpipe() -> bool {
        // SAFETY: plain signal-set calls on sets we own; `sigtimedwait` with a zero timeout
        // only takes a pending SIGPIPE of this thread, where it is blocked.
        unsafe {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut pending);
            if libc::sigismember(&pending, libc::SIGPIPE) != 1 {
                return false;
            }
            let mut only: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut only);
            libc::sigaddset(&mut only, libc::SIGPIPE);
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&only, std::ptr::null_mut(), &zero);
            true
        }
    }

    #[test]
    fn sends_to_a_closed_peer_are_epipe_without_raising_sigpipe() {
        // Blocked, a signal stays pending even though Rust programs ignore SIGPIPE: so this
        // thread can see whether a send raised it.
        // SAFETY: changes this test thread's own signal mask, restored below.
        let old = unsafe {
            let mut block: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut block);
            libc::sigaddset(&mut block, libc::SIGPIPE);
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
            old
        };
        take_pending_sigpipe();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        let one = send(&a, b"x").unwrap_err();
        let raised_by_send = take_pending_sigpipe();
        let many = send_vectored(&a, &[IoSlice::new(b"x"), IoSlice::new(b"y")]).unwrap_err();
        let raised_by_send_vectored = take_pending_sigpipe();
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        assert_eq!(one.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(many.kind(), io::ErrorKind::BrokenPipe);
        assert!(!raised_by_send, "send raised SIGPIPE");
        assert!(!raised_by_send_vectored, "send_vectored raised SIGPIPE");
    }
}
