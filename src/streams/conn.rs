//! The connection a reader and a writer share: a TCP or Unix stream socket, one end of a
//! pipe, or (with the feature `tls`) a TLS session over a socket.

use std::cell::{Cell, OnceCell};
use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net as unix;

use crate::net::{TcpStream, UnixStream};
use crate::runtime::IoSource;

/// A stream socket of either kind (public only inside the sealed trait that makes it).
#[derive(Debug)]
pub enum AnyStream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain.
    Unix(UnixStream),
    /// One end of a pipe (a child process's stdin, stdout or stderr).
    Pipe(super::pipe::PipeEnd),
    /// TLS over a TCP or Unix socket.
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsStream>),
}

impl AnyStream {
    /// The socket's registration with the loop.
    pub(crate) fn src(&self) -> &IoSource {
        match self {
            AnyStream::Tcp(s) => &s.evented().src,
            AnyStream::Unix(s) => &s.evented().src,
            AnyStream::Pipe(p) => &p.ev.src,
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.sock.src(),
        }
    }

    /// One `recv` syscall (for TLS: what the session has decrypted, reading the socket as
    /// needed), without parking.
    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AnyStream::Tcp(s) => crate::net::recv(&s.evented().io, buf),
            AnyStream::Unix(s) => crate::net::recv(&s.evented().io, buf),
            AnyStream::Pipe(p) => p.recv(buf),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.recv(buf),
        }
    }

    /// The socket to [`recv_uninit`] from; `None` for a pipe (no `recv` there) and for TLS
    /// (whose bytes come out of a session).
    #[inline]
    pub(crate) fn socket_fd(&self) -> Option<RawFd> {
        match self {
            AnyStream::Tcp(s) => Some(s.evented().io.as_raw_fd()),
            AnyStream::Unix(s) => Some(s.evented().io.as_raw_fd()),
            _ => None,
        }
    }

    /// One `send` syscall (for TLS: encrypt and send), without parking; a gone peer is
    /// `EPIPE`, never `SIGPIPE`.
    #[inline]
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AnyStream::Tcp(s) => crate::net::send_nosignal(&s.evented().io, buf),
            AnyStream::Unix(s) => crate::net::send_nosignal(&s.evented().io, buf),
            AnyStream::Pipe(p) => p.send(buf),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.send(buf),
        }
    }

    /// [`send`](Self::send) of several buffers in one syscall where the socket allows it.
    #[cfg(feature = "tls")]
    pub(crate) fn send_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            AnyStream::Tcp(s) => crate::net::send_vectored(&s.evented().io, bufs),
            AnyStream::Unix(s) => crate::net::send_vectored(&s.evented().io, bufs),
            _ => {
                let first = bufs.iter().find(|b| !b.is_empty());
                first.map_or(Ok(0), |b| self.send(b))
            }
        }
    }

    /// Before a clean close: a TLS session sends `close_notify`; a plain socket has nothing
    /// to send.
    pub(crate) fn close_notify(&self) {
        #[cfg(feature = "tls")]
        if let AnyStream::Tls(t) = self {
            t.close_notify();
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            AnyStream::Tcp(s) => s.shutdown(how),
            AnyStream::Unix(s) => s.shutdown(how),
            AnyStream::Pipe(p) => p.shutdown(how),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.shutdown(how),
        }
    }

    /// Whether bytes already accepted by [`send`](Self::send) wait to go out (TLS records
    /// the socket did not take yet); never for a plain socket.
    #[inline]
    pub(crate) fn pending_out(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.pending_out(),
            _ => false,
        }
    }

    /// Sends what [`pending_out`](Self::pending_out) reports, as far as the socket takes it.
    pub(crate) fn send_pending(&self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.send_pending(),
            _ => Ok(()),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            AnyStream::Tcp(s) => s.peer_addr(),
            AnyStream::Unix(_) | AnyStream::Pipe(_) => Err(not_inet()),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.sock.peer_addr(),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            AnyStream::Tcp(s) => s.local_addr(),
            AnyStream::Unix(_) | AnyStream::Pipe(_) => Err(not_inet()),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.sock.local_addr(),
        }
    }

    pub(crate) fn peer_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        match self {
            AnyStream::Unix(s) => s.peer_addr(),
            AnyStream::Tcp(_) | AnyStream::Pipe(_) => Err(not_unix()),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.sock.peer_unix_addr(),
        }
    }

    pub(crate) fn local_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        match self {
            AnyStream::Unix(s) => s.local_addr(),
            AnyStream::Tcp(_) | AnyStream::Pipe(_) => Err(not_unix()),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.sock.local_unix_addr(),
        }
    }
}

/// Whether a read or send error ends the connection: an error from the socket (a reset, a
/// timeout, a broken pipe) or a TLS session's (`InvalidData`). Not one made by the runtime
/// itself about the call (no running loop, another loop's socket), which says nothing of the
/// connection.
pub(crate) fn ends_connection(e: &io::Error) -> bool {
    e.raw_os_error().is_some() || e.kind() == io::ErrorKind::InvalidData
}

/// An `io::Error` kept to be reported more than once.
#[derive(Debug, Clone)]
pub(crate) struct SavedError {
    kind: io::ErrorKind,
    os: Option<i32>,
    msg: String,
}

impl SavedError {
    pub(crate) fn new(e: &io::Error) -> SavedError {
        SavedError {
            kind: e.kind(),
            os: e.raw_os_error(),
            msg: e.to_string(),
        }
    }

    pub(crate) fn to_io(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.msg.clone()),
        }
    }
}

/// A stream shared (in an `Rc`) by a [`StreamReader`](super::StreamReader) and a
/// [`StreamWriter`](super::StreamWriter). The socket closes when both are gone and no write
/// is left to flush.
pub(crate) struct Conn {
    pub(crate) sock: AnyStream,
    /// Set once the writer has closed the connection (or lost it): the reader is at EOF as
    /// soon as its buffer is empty.
    pub(crate) closed: Cell<bool>,
    /// The error that ended the connection, once a read met it or the transport under a
    /// bridge lost it with one: every later read that would go to the socket reports it
    /// again, and so does a read that meets the end of the stream (a reset is not mistaken
    /// for the peer's clean close, which is what the socket says after reporting it once).
    pub(crate) failed: OnceCell<Box<SavedError>>,
}

impl Conn {
    pub(crate) fn new(sock: AnyStream) -> Conn {
        Conn {
            sock,
            closed: Cell::new(false),
            failed: OnceCell::new(),
        }
    }

    /// Records the error that ended the connection (the first one stays).
    #[cold]
    pub(crate) fn set_failed(&self, e: &io::Error) {
        let _ = self.failed.set(Box::new(SavedError::new(e)));
    }

    /// The recorded error, as a fresh `io::Error`.
    #[inline]
    pub(crate) fn check_failed(&self) -> io::Result<()> {
        match self.failed.get() {
            None => Ok(()),
            Some(e) => Err(e.to_io()),
        }
    }

    pub(crate) fn src(&self) -> &IoSource {
        self.sock.src()
    }

    /// One `recv` syscall, without parking.
    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.recv(buf)
    }

    /// One `send` syscall, without parking; a gone peer is `EPIPE`, never `SIGPIPE`.
    #[inline]
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.sock.send(buf)
    }

    /// See [`AnyStream::pending_out`].
    #[inline]
    pub(crate) fn pending_out(&self) -> bool {
        self.sock.pending_out()
    }

    /// See [`AnyStream::send_pending`].
    pub(crate) fn send_pending(&self) -> io::Result<()> {
        self.sock.send_pending()
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// See [`AnyStream::close_notify`].
    pub(crate) fn close_notify(&self) {
        self.sock.close_notify()
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    pub(crate) fn peer_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        self.sock.peer_unix_addr()
    }

    pub(crate) fn local_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        self.sock.local_unix_addr()
    }
}

fn not_inet() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not an IP connection: a Unix socket (use peer_unix_addr/local_unix_addr) or a pipe",
    )
}

fn not_unix() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "not a Unix socket connection: a TCP socket (use peer_addr/local_addr) or a pipe",
    )
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sock {
            AnyStream::Tcp(s) => s.fmt(f),
            AnyStream::Unix(s) => s.fmt(f),
            AnyStream::Pipe(p) => p.fmt(f),
            #[cfg(feature = "tls")]
            AnyStream::Tls(t) => t.fmt(f),
        }
    }
}

/// One `recv` syscall on the socket `fd` (from [`AnyStream::socket_fd`]) into `buf`, possibly
/// uninitialised (a `Vec`'s spare capacity), without parking.
#[inline]
pub(crate) fn recv_uninit(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: the caller's stream owns `fd`, open for the whole call, and the borrow ends
    // with it.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    crate::net::recv(&fd, buf)
}
