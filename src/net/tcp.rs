//! TCP: [`TcpListener`] (with [`TcpListenerBuilder`] for `SO_REUSEPORT` and the backlog) and
//! [`TcpStream`].

use std::io;
use std::net::{self, Shutdown, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::evented::{
    self, Evented, evented_socket_impls, listener_methods, stream_methods, stream_read_write_impls,
};
use super::{ToSocketAddrs, resolve};
use crate::error::{SocketError, SocketOp};
use crate::runtime::Dir;

/// The listen backlog [`TcpListener::bind`] uses: the kernel caps it at `net.core.somaxconn`.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Options for a [`TcpListener`]: `SO_REUSEADDR` (on by default), `SO_REUSEPORT`, the listen
/// backlog.
///
/// `reuse_port(true)` lets several listeners, one per loop thread, bind the same address; the
/// kernel spreads incoming connections between them. That is how corio uses more than one
/// core: one loop per core, each with its own listener (as uvloop and gunicorn deployments do).
///
/// ```
/// use corio::net::TcpListener;
/// corio::run(|| {
///     let a = TcpListener::builder().reuse_port(true).backlog(128).bind("127.0.0.1:0").unwrap();
///     let addr = a.local_addr().unwrap();
///     let b = TcpListener::builder().reuse_port(true).bind(addr).unwrap();
///     assert_eq!(b.local_addr().unwrap(), addr);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct TcpListenerBuilder {
    reuse_address: bool,
    reuse_port: bool,
    backlog: u32,
    only_v6: Option<bool>,
}

impl Default for TcpListenerBuilder {
    fn default() -> Self {
        TcpListenerBuilder {
            reuse_address: true,
            reuse_port: false,
            backlog: DEFAULT_BACKLOG,
            only_v6: None,
        }
    }
}

impl TcpListenerBuilder {
    /// `SO_REUSEADDR`: rebind a port whose old connections linger in `TIME_WAIT`. On by
    /// default, as in asyncio.
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT`: several sockets may bind the same address and share its connections.
    /// Off by default.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The listen backlog: how many finished handshakes the kernel queues before `accept`.
    /// [`DEFAULT_BACKLOG`] by default; the kernel caps it at `net.core.somaxconn`.
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    /// `IPV6_V6ONLY` for an IPv6 address (the system default otherwise).
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = Some(on);
        self
    }

    /// Binds and listens on the first of `addr`'s addresses that works.
    ///
    /// # Errors
    ///
    /// The last address's bind error (`AddrInUse`, ...), naming that address (a
    /// [`SocketError`] inside, of the same kind), a failed lookup, or no running loop.
    pub fn bind(&self, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        resolve(&addr)?.try_each(|a| {
            self.bind_one(a)
                .map_err(|e| SocketError::wrap(SocketOp::Bind, a, e))
        })
    }

    fn bind_one(&self, addr: SocketAddr) -> io::Result<TcpListener> {
        let sock =
            evented::new_socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if self.reuse_address {
            sock.set_reuse_address(true)?;
        }
        if self.reuse_port {
            set_reuse_port(&sock)?;
        }
        if let (Some(v6only), SocketAddr::V6(_)) = (self.only_v6, addr) {
            sock.set_only_v6(v6only)?;
        }
        sock.bind(&addr.into())?;
        sock.listen(self.backlog.min(i32::MAX as u32) as i32)?;
        Ok(TcpListener {
            inner: Evented::new(net::TcpListener::from(sock))?,
        })
    }
}

#[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
fn set_reuse_port(sock: &socket2::Socket) -> io::Result<()> {
    sock.set_reuse_port(true)
}

#[cfg(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))]
fn set_reuse_port(_: &socket2::Socket) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "SO_REUSEPORT is not available on this platform",
    ))
}

/// A TCP socket listening for connections (asyncio's `loop.sock_accept` on a listening
/// socket).
///
/// ```
/// use corio::net::{TcpListener, TcpStream};
/// corio::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = corio::spawn(move || TcpStream::connect(addr).unwrap().local_addr().unwrap());
///     let (_conn, peer) = listener.accept().unwrap();
///     assert_eq!(peer, client.join().unwrap());
/// });
/// ```
///
/// A `TcpListener` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::TcpListener>();
/// ```
pub struct TcpListener {
    inner: Evented<net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` with `SO_REUSEADDR` and a backlog of [`DEFAULT_BACKLOG`] and starts
    /// listening. Port 0 picks a free port; [`local_addr`](Self::local_addr) tells which.
    ///
    /// # Errors
    ///
    /// As [`TcpListenerBuilder::bind`].
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        TcpListenerBuilder::default().bind(addr)
    }

    /// Options for a listener: `reuse_port`, the backlog, `SO_REUSEADDR`.
    pub fn builder() -> TcpListenerBuilder {
        TcpListenerBuilder::default()
    }
}

/// A TCP connection.
///
/// Reads and writes park the coroutine until the socket is ready. `TcpStream` implements
/// [`Read`](std::io::Read) and [`Write`](std::io::Write), also for `&TcpStream`, so two tasks
/// can share one stream (in an `Rc`): one reading while the other writes.
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use corio::net::{TcpListener, TcpStream};
/// corio::run(|| {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = listener.local_addr().unwrap();
///     corio::spawn(move || {
///         let (mut conn, _) = listener.accept().unwrap();
///         conn.write_all(b"first line\nsecond line\n").unwrap();
///     });
///     let stream = TcpStream::connect(addr).unwrap();
///     let lines: Vec<String> = BufReader::new(stream).lines().map(Result::unwrap).collect();
///     assert_eq!(lines, ["first line", "second line"]);
/// });
/// ```
///
/// A `TcpStream` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::TcpStream>();
/// ```
pub struct TcpStream {
    inner: Evented<net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying its addresses in order: a non-blocking connect that parks
    /// until the handshake ends. There is no timeout of its own: wrap the call in
    /// [`wait_for`](crate::wait_for).
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio::net::{TcpListener, TcpStream};
    /// corio::run(|| {
    ///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let s = corio::wait_for(Duration::from_secs(10), || TcpStream::connect(addr))
    ///         .unwrap()
    ///         .unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), addr);
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// The last address's error, naming that address (a [`SocketError`] inside, of the
    /// same kind: `connect to 127.0.0.1:1 failed: Connection refused (os error 111)`):
    /// `ConnectionRefused`, `TimedOut` (the kernel gave up), no running loop; or a failed
    /// lookup.
    ///
    /// # Cancel safety
    ///
    /// A cancelled connect closes the half-open socket.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        resolve(&addr)?
            .try_each(|a| connect_one(a).map_err(|e| SocketError::wrap(SocketOp::Connect, a, e)))
    }

    pub(crate) fn from_registered(stream: net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: Evented::new(stream)?,
        })
    }

    fn accepted(sock: Socket, addr: SockAddr) -> io::Result<(TcpStream, SocketAddr)> {
        let stream = TcpStream::from_registered(net::TcpStream::from(sock))?;
        let addr = addr
            .as_socket()
            .ok_or_else(|| io::Error::other("accept returned a non-IP address"))?;
        Ok((stream, addr))
    }

    /// The socket and its registration, for the streams layer.
    pub(crate) fn evented(&self) -> &Evented<net::TcpStream> {
        &self.inner
    }

    /// Reads into `buf`, parking until at least one byte (or EOF: `Ok(0)`) is there.
    ///
    /// # Errors
    ///
    /// `ConnectionReset` when the peer reset the connection, and the other `recv` errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled read has read nothing.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read_stream(buf.len(), |s| evented::recv(s, &mut *buf))
    }

    /// Writes some of `buf`, parking until the socket takes at least one byte.
    ///
    /// # Errors
    ///
    /// `BrokenPipe` or `ConnectionReset` when the peer is gone, and the other `send` errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled write has written nothing.
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .write_stream(buf.len(), |s| evented::send(s, buf))
    }

    /// Writes all of `buf`, parking while the socket's send buffer is full.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); `WriteZero` if the socket takes nothing.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled call may have written part of `buf`, and does not say how
    /// much.
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        evented::write_all(buf, |b| self.write(b))
    }

    /// Reads into `buf` without taking the bytes from the socket (`MSG_PEEK`), parking until
    /// there is at least one.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.peek(buf))
    }

    /// Shuts down the read half, the write half (sends FIN: the peer reads EOF) or both.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.io.shutdown(how)
    }

    /// `TCP_NODELAY`: send small writes at once instead of batching them (Nagle's algorithm
    /// off).
    ///
    /// # Errors
    ///
    /// As `setsockopt`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.io.set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    ///
    /// As `getsockopt`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.io.nodelay()
    }

    /// `SO_LINGER`. `Some(Duration::ZERO)` makes closing the socket send a reset (RST)
    /// instead of a FIN, dropping unsent data.
    ///
    /// # Errors
    ///
    /// As `setsockopt`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        evented::sock_ref(&self.inner.io).set_linger(linger)
    }
}

fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
    let sock = evented::new_socket(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    let pending = match sock.connect(&addr.into()) {
        Ok(()) => false,
        Err(e) if evented::connect_in_progress(&e) => true,
        Err(e) => return Err(e),
    };
    // Registered after `connect`, so the registration's first readiness report is the
    // handshake's end (or an already finished one), not the unconnected socket's.
    let stream = TcpStream::from_registered(net::TcpStream::from(sock))?;
    if pending {
        evented::finish_connect(&stream.inner)?;
    }
    Ok(stream)
}

listener_methods!(TcpListener, TcpStream, net::TcpListener, SocketAddr);
evented_socket_impls!(TcpListener, TcpStream);
stream_methods!(TcpStream, net::TcpStream, SocketAddr);
stream_read_write_impls!(TcpStream);

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    fn registrations() -> usize {
        crate::runtime::registered_fds()
    }

    #[test]
    fn each_socket_is_registered_once_and_deregistered_on_drop() {
        crate::run(|| {
            let before = registrations();
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            assert_eq!(registrations(), before + 1);
            let client = crate::spawn(move || TcpStream::connect(addr).unwrap());
            let (server, _) = listener.accept().unwrap();
            let client = client.join().unwrap();
            assert_eq!(registrations(), before + 3);
            // Many waits on one socket add no registration.
            for _ in 0..10 {
                let c = crate::spawn(crate::yield_now);
                c.join().unwrap();
                server.write_all(b"x").unwrap();
                let mut b = [0u8; 1];
                (&client).read_exact(&mut b).unwrap();
            }
            assert_eq!(registrations(), before + 3);
            let std_client = client.into_std();
            assert_eq!(registrations(), before + 2, "into_std deregisters");
            drop((listener, server, std_client));
            assert_eq!(registrations(), before);
        });
    }
}
