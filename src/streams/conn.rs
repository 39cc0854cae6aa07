//! The connection a reader and a writer share: a TCP or Unix stream socket.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
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
}

impl AnyStream {
    /// The socket's registration with the loop.
    pub(crate) fn src(&self) -> &IoSource {
        match self {
            AnyStream::Tcp(s) => &s.evented().src,
            AnyStream::Unix(s) => &s.evented().src,
            AnyStream::Pipe(p) => &p.ev.src,
        }
    }

    /// One `recv` syscall, without parking.
    #[inline]
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AnyStream::Tcp(s) => (&s.evented().io).read(buf),
            AnyStream::Unix(s) => (&s.evented().io).read(buf),
            AnyStream::Pipe(p) => p.recv(buf),
        }
    }

    /// One `send` syscall, without parking; a gone peer is `EPIPE`, never `SIGPIPE`.
    #[inline]
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            AnyStream::Tcp(s) => (&s.evented().io).write(buf),
            AnyStream::Unix(s) => crate::net::send_nosignal(&s.evented().io, buf),
            AnyStream::Pipe(p) => p.send(buf),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            AnyStream::Tcp(s) => s.shutdown(how),
            AnyStream::Unix(s) => s.shutdown(how),
            AnyStream::Pipe(p) => p.shutdown(how),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            AnyStream::Tcp(s) => s.peer_addr(),
            AnyStream::Unix(_) | AnyStream::Pipe(_) => Err(not_inet()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            AnyStream::Tcp(s) => s.local_addr(),
            AnyStream::Unix(_) | AnyStream::Pipe(_) => Err(not_inet()),
        }
    }
}

/// A stream socket shared (in an `Rc`) by a [`StreamReader`](super::StreamReader) and a
/// [`StreamWriter`](super::StreamWriter). The socket closes when both are gone and no write
/// is left to flush.
pub(crate) struct Conn {
    sock: AnyStream,
    /// Set once the writer has closed the connection (or lost it): the reader is at EOF as
    /// soon as its buffer is empty.
    pub(crate) closed: Cell<bool>,
}

impl Conn {
    pub(crate) fn new(sock: AnyStream) -> Conn {
        Conn {
            sock,
            closed: Cell::new(false),
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

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()
    }

    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    pub(crate) fn peer_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        match &self.sock {
            AnyStream::Unix(s) => s.peer_addr(),
            AnyStream::Tcp(_) | AnyStream::Pipe(_) => Err(not_unix()),
        }
    }

    pub(crate) fn local_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        match &self.sock {
            AnyStream::Unix(s) => s.local_addr(),
            AnyStream::Tcp(_) | AnyStream::Pipe(_) => Err(not_unix()),
        }
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
        }
    }
}
