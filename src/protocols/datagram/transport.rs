//! [`DatagramTransport`]: the handle a datagram protocol sends and closes its endpoint through
//! (asyncio's `DatagramTransport`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// A UDP endpoint seen from its protocol (asyncio's `DatagramTransport`).
///
/// ```
/// use corio::protocols::{self, DatagramProtocol, DatagramTransport};
/// use std::net::SocketAddr;
///
/// /// Sends every datagram back where it came from.
/// #[derive(Default)]
/// struct Echo(Option<DatagramTransport>);
///
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, t: DatagramTransport) {
///         self.0 = Some(t);
///     }
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         self.0.as_ref().unwrap().sendto(data, Some(addr));
///     }
/// }
///
/// corio::run(|| {
///     let server = protocols::create_datagram_endpoint(Echo::default, Some("127.0.0.1:0"), None::<&str>).unwrap();
///     let client = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
///     client.send_to(b"ping", server.local_addr().unwrap()).unwrap();
///     let mut buf = [0; 16];
///     let (n, _) = client.recv_from(&mut buf).unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     server.close();
/// });
/// ```
///
/// It belongs to its loop's thread (`!Send`). Used while that loop does not run (between two
/// runs), it schedules its work on its own loop: queued datagrams, `error_received` and
/// `connection_lost` come in that loop's next run. Used after its loop closed, it is lost
/// with an error.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::protocols::DatagramTransport>();
/// ```
#[derive(Clone)]
pub struct DatagramTransport(pub(super) Rc<dyn DatagramOps>);

/// What an endpoint offers its handles; implemented by the endpoint state machine.
pub(super) trait DatagramOps {
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>);
    fn close(&self, abort: bool);
    fn is_closing(&self) -> bool;
    fn buffer_size(&self) -> usize;
    fn set_limits(&self, high: usize, low: usize);
    fn dropped(&self) -> u64;
    fn addr(&self, peer: bool) -> io::Result<SocketAddr>;
}

impl DatagramTransport {
    /// Sends `data` to `addr` (`None`: the connected peer); never parks. A datagram the
    /// socket cannot take now is queued. Errors (no address, an address other than the
    /// remote one of a connected endpoint — asyncio's `ValueError` —, a send failure) go to
    /// [`error_received`](crate::protocols::DatagramProtocol::error_received) as a loop callback; datagrams
    /// sent after [`close`](Self::close) are dropped and counted.
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) {
        self.0.sendto(data, addr)
    }

    /// Stops receiving and closes once the queue is sent; `connection_lost(None)` follows as
    /// a loop callback.
    pub fn close(&self) {
        self.0.close(false)
    }

    /// Closes at once, dropping the queue; `connection_lost(None)` follows.
    pub fn abort(&self) {
        self.0.close(true)
    }

    /// `true` once closing or closed.
    pub fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    /// Bytes of queued datagrams.
    pub fn get_write_buffer_size(&self) -> usize {
        self.0.buffer_size()
    }

    /// Sets the queue's high- and low-water marks, in bytes (a `low` above `high` is taken as
    /// `high`).
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        self.0.set_limits(high, low)
    }

    /// How many datagrams were dropped because the endpoint was closing or closed.
    pub fn dropped_writes(&self) -> u64 {
        self.0.dropped()
    }

    /// The local address.
    ///
    /// # Errors
    ///
    /// `NotConnected` once closed.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.addr(false)
    }

    /// The remote address of a connected endpoint.
    ///
    /// # Errors
    ///
    /// `NotConnected` without a remote address, or once closed.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.addr(true)
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramTransport")
            .field("local", &self.local_addr().ok())
            .field("closing", &self.is_closing())
            .finish()
    }
}
