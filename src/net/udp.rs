//! UDP: [`UdpSocket`].

use std::io;
use std::net::{self, SocketAddr};

use socket2::{Domain, Protocol, Type};

use super::evented::{self, Evented, evented_socket_impls};
use super::{ToSocketAddrs, resolve};
use crate::error::{SocketError, SocketOp};
use crate::runtime::Dir;

/// A UDP socket (asyncio's `sock_sendto`/`sock_recvfrom`).
///
/// ```
/// use corio::net::UdpSocket;
/// corio::run(|| {
///     let a = UdpSocket::bind("127.0.0.1:0").unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
///
/// A `UdpSocket` belongs to the loop it was made on and is `!Send`: a registration dropped on
/// another thread could not be removed. To use the socket on another thread, take the std socket
/// out with [`into_std`](Self::into_std) (which deregisters it) and send that.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::net::UdpSocket>();
/// ```
pub struct UdpSocket {
    inner: Evented<net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to the first of `addr`'s addresses that works (port 0 picks a free port).
    ///
    /// # Errors
    ///
    /// The last address's bind error, naming that address (a [`SocketError`] inside, of
    /// the same kind), a failed lookup, or no running loop.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        resolve(&addr)?
            .try_each(|a| bind_one(a).map_err(|e| SocketError::wrap(SocketOp::Bind, a, e)))
    }

    /// Sets the default peer: [`send`](Self::send) goes there and only its datagrams are
    /// received. Does not park (UDP has no handshake).
    ///
    /// # Errors
    ///
    /// As `connect(2)`, naming the address (a [`SocketError`] inside, of the same kind), or
    /// a failed lookup.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        resolve(&addr)?.try_each(|a| {
            self.inner
                .io
                .connect(a)
                .map_err(|e| SocketError::wrap(SocketOp::Connect, a, e))
        })
    }

    /// Sends a datagram to the connected peer; parks while the send buffer is full.
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](Self::connect); `ConnectionRefused` when an earlier
    /// datagram was refused by the peer (an ICMP error), and the other `send` errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled send has sent nothing.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.io(Dir::Write, |s| s.send(buf))
    }

    /// Receives a datagram from the connected peer into `buf`, parking until one arrives. A
    /// datagram longer than `buf` is cut short.
    ///
    /// # Errors
    ///
    /// As `recv`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled receive has taken no datagram.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Dir::Read, |s| s.recv(buf))
    }

    /// Sends a datagram to `addr` (the first of its addresses).
    ///
    /// # Errors
    ///
    /// As `sendto`, or an address that cannot be resolved without blocking.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = resolve(&addr)?.first()?;
        self.inner.io(Dir::Write, |s| s.send_to(buf, addr))
    }

    /// Receives a datagram into `buf` and says who sent it, parking until one arrives.
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

    /// Receives a datagram without taking it from the queue.
    ///
    /// # Errors
    ///
    /// As `recvfrom`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.io(Dir::Read, |s| s.peek_from(buf))
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    ///
    /// As `setsockopt`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.io.set_broadcast(on)
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
    /// `NotConnected` without [`connect`](Self::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.io.peer_addr()
    }

    /// Takes over a std socket: makes it non-blocking and registers it with the running loop.
    ///
    /// # Errors
    ///
    /// When it cannot be made non-blocking or registered (no running loop).
    pub fn from_std(sock: net::UdpSocket) -> io::Result<UdpSocket> {
        sock.set_nonblocking(true)?;
        Ok(UdpSocket {
            inner: Evented::new(sock)?,
        })
    }

    /// Removes the socket from the loop and gives the std socket back, still non-blocking.
    pub fn into_std(self) -> net::UdpSocket {
        self.inner.into_inner()
    }

    /// The socket and its registration, for the protocols layer.
    pub(crate) fn evented(&self) -> &Evented<net::UdpSocket> {
        &self.inner
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    let sock = evented::new_socket(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.bind(&addr.into())?;
    Ok(UdpSocket {
        inner: Evented::new(net::UdpSocket::from(sock))?,
    })
}

evented_socket_impls!(UdpSocket);
