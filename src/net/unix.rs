//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Type};

use super::evented::{
    self, Evented, evented_socket_impls, listener_methods, stream_methods, stream_read_write_impls,
};
use super::tcp::DEFAULT_BACKLOG;
use crate::error::{SocketError, SocketOp};
use crate::runtime::Dir;

/// A Unix stream socket listening for connections.
///
/// ```
/// use corio::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("corio-doc-ul-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("sock");
/// corio::run(move || {
///     let listener = UnixListener::bind(&path).unwrap();
///     let p = path.clone();
///     let client = corio::spawn(move || UnixStream::connect(&p).unwrap());
///     let (_conn, _peer) = listener.accept().unwrap();
///     assert_eq!(client.join().unwrap().peer_addr().unwrap().as_pathname(), Some(&*path));
/// });
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
///
/// A `UnixListener` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::UnixListener>();
/// ```
pub struct UnixListener {
    inner: Evented<net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` (which must not exist yet) and listens with a backlog of
    /// [`DEFAULT_BACKLOG`](super::DEFAULT_BACKLOG). The socket file stays after the
    /// listener is dropped; remove it yourself.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if `path` exists, `InvalidInput` for a path too long for a socket
    /// address, the other `bind` errors, or no running loop; each names the path (a
    /// [`SocketError`] inside, of the same kind).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let bind = || {
            let sock = evented::new_socket(Domain::UNIX, Type::STREAM, None)?;
            sock.bind(&SockAddr::unix(path)?)?;
            sock.listen(DEFAULT_BACKLOG as i32)?;
            Ok(UnixListener {
                inner: Evented::new(net::UnixListener::from(sock))?,
            })
        };
        bind().map_err(|e| SocketError::wrap(SocketOp::Bind, path.display(), e))
    }
}

/// A Unix stream connection; like [`TcpStream`](super::TcpStream), it implements
/// [`Read`](std::io::Read) and [`Write`](std::io::Write), also for `&UnixStream`.
///
/// ```
/// use std::io::{Read, Write};
/// use corio::net::UnixStream;
/// corio::run(|| {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     a.write_all(b"over there").unwrap();
///     drop(a);
///     let mut got = String::new();
///     b.read_to_string(&mut got).unwrap();
///     assert_eq!(got, "over there");
/// });
/// ```
///
/// A `UnixStream` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::UnixStream>();
/// ```
pub struct UnixStream {
    inner: Evented<net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`. A listener whose backlog is full makes this park
    /// and retry (Unix sockets refuse with `EAGAIN` instead of queueing the handshake).
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is at `path`, `ConnectionRefused` if nobody listens there, or no
    /// running loop; each names the path (a [`SocketError`] inside, of the same kind).
    ///
    /// # Cancel safety
    ///
    /// A cancelled connect closes its socket.
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        UnixStream::connect_path(path)
            .map_err(|e| SocketError::wrap(SocketOp::Connect, path.display(), e))
    }

    fn connect_path(path: &Path) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let mut backoff = Duration::from_millis(1);
        loop {
            let sock = evented::new_socket(Domain::UNIX, Type::STREAM, None)?;
            match sock.connect(&addr) {
                Ok(()) => return UnixStream::from_registered(net::UnixStream::from(sock)),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    let s = UnixStream::from_registered(net::UnixStream::from(sock))?;
                    evented::finish_connect(&s.inner)?;
                    return Ok(s);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // The listener's backlog is full: nothing to wait on but time.
                    crate::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A connected pair of streams (`socketpair`).
    ///
    /// # Errors
    ///
    /// As `socketpair`, or no running loop.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    fn from_registered(s: net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            inner: Evented::new(s)?,
        })
    }

    fn accepted(sock: socket2::Socket, addr: SockAddr) -> io::Result<(UnixStream, SocketAddr)> {
        let stream = UnixStream::from_registered(net::UnixStream::from(sock))?;
        let addr = match addr.as_unix() {
            Some(a) => a,
            None => stream.peer_addr()?,
        };
        Ok((stream, addr))
    }

    /// The socket and its registration, for the streams layer.
    pub(crate) fn evented(&self) -> &Evented<net::UnixStream> {
        &self.inner
    }

    /// Reads into `buf`, parking until at least one byte (or EOF: `Ok(0)`) is there.
    ///
    /// # Errors
    ///
    /// As `recv`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled read has read nothing.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read_stream(buf.len(), |s| evented::recv(s, &mut *buf))
    }

    /// Writes some of `buf`, parking until the socket takes at least one byte. A closed peer
    /// is a `BrokenPipe` error, never a `SIGPIPE`.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` when the peer is gone, and the other `send` errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled write has written nothing.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write_stream(buf.len(), |s| evented::send(s, buf))
    }

    /// Writes all of `buf`, parking while the send buffer is full.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); `WriteZero` if the socket takes nothing.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled call may have written part of `buf`.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        evented::write_all(buf, |b| self.write(b))
    }

    /// Shuts down the read half, the write half (the peer reads EOF) or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.io.shutdown(how)
    }
}

stream_methods!(UnixStream, net::UnixStream, SocketAddr);
stream_read_write_impls!(UnixStream);

/// A Unix datagram socket.
///
/// ```
/// use corio::net::UnixDatagram;
/// corio::run(|| {
///     let (a, b) = UnixDatagram::pair().unwrap();
///     a.send(b"one").unwrap();
///     a.send(b"two").unwrap();
///     let mut buf = [0; 8];
///     let n = b.recv(&mut buf).unwrap();
///     assert_eq!(&buf[..n], b"one", "datagrams keep their boundaries");
/// });
/// ```
///
/// A `UnixDatagram` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::UnixDatagram>();
/// ```
pub struct UnixDatagram {
    inner: Evented<net::UnixDatagram>,
}

impl UnixDatagram {
    /// Binds to `path` (which must not exist yet).
    ///
    /// # Errors
    ///
    /// `AddrInUse` if `path` exists, the other `bind` errors, or no running loop; each names
    /// the path (a [`SocketError`] inside, of the same kind).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        net::UnixDatagram::bind(path)
            .and_then(UnixDatagram::from_std)
            .map_err(|e| SocketError::wrap(SocketOp::Bind, path.display(), e))
    }

    /// A socket bound to no address: it can send, and receive replies only once connected.
    ///
    /// # Errors
    ///
    /// As `socket`, or no running loop.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair of datagram sockets (`socketpair`).
    ///
    /// # Errors
    ///
    /// As `socketpair`, or no running loop.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Sets the default peer for [`send`](Self::send) and [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As `connect(2)`, naming the path (a [`SocketError`] inside, of the same kind).
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let path = path.as_ref();
        self.inner
            .io
            .connect(path)
            .map_err(|e| SocketError::wrap(SocketOp::Connect, path.display(), e))
    }

    /// Sends a datagram to the connected peer, parking while the peer's queue is full.
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer, and the other `send` errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled send has sent nothing.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Dir::Write, |s| s.send(buf))
    }

    /// Receives a datagram from the connected peer, parking until one arrives.
    ///
    /// # Errors
    ///
    /// As `recv`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled receive has taken nothing.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.recv(buf))
    }

    /// Sends a datagram to the socket at `path`.
    ///
    /// # Errors
    ///
    /// As `sendto`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner.io(Dir::Write, |s| s.send_to(buf, path))
    }

    /// Receives a datagram and says who sent it.
    ///
    /// # Errors
    ///
    /// As `recvfrom`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Dir::Read, |s| s.recv_from(buf))
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// As `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.peer_addr()
    }

    /// Takes over a std socket: makes it non-blocking and registers it with the running loop.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered (no running loop).
    pub fn from_std(sock: net::UnixDatagram) -> io::Result<UnixDatagram> {
        sock.set_nonblocking(true)?;
        Ok(UnixDatagram {
            inner: Evented::new(sock)?,
        })
    }

    /// Removes the socket from the loop and gives the std socket back, still non-blocking.
    pub fn into_std(self) -> net::UnixDatagram {
        self.inner.into_inner()
    }
}

listener_methods!(UnixListener, UnixStream, net::UnixListener, SocketAddr);
evented_socket_impls!(UnixListener, UnixStream, UnixDatagram);
