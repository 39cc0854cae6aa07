//! UDP endpoints: [`DatagramTransport`] and [`create_datagram_endpoint`] (asyncio's
//! `_SelectorDatagramTransport`). The same ground rules as stream connections (see
//! `conn/mod.rs`): the protocol is called from loop callbacks only, never while the
//! endpoint's state is borrowed, and `connection_lost` is a loop callback of its own.
//!
//! `transport.rs` is the public handle; `endpoint.rs` the state machine behind it.

use std::io;
use std::net::SocketAddr;

mod endpoint;
mod transport;

pub use transport::DatagramTransport;

use super::DatagramProtocol;
use crate::net::{ToSocketAddrs, UdpSocket};

/// Opens a UDP endpoint (asyncio's `loop.create_datagram_endpoint`): bound to `local_addr`
/// (an ephemeral port of the remote's family when `None`), connected to `remote_addr` if
/// given. `connection_made` has run when it returns.
///
/// # Errors
///
/// As [`UdpSocket::bind`] and [`UdpSocket::connect`]; `InvalidInput` when both addresses
/// are `None`. A panic in the factory is passed on.
pub fn create_datagram_endpoint<F, P>(
    protocol_factory: F,
    local_addr: Option<impl ToSocketAddrs>,
    remote_addr: Option<impl ToSocketAddrs>,
) -> io::Result<DatagramTransport>
where
    F: FnOnce() -> P,
    P: DatagramProtocol,
{
    let sock = match (local_addr, &remote_addr) {
        (Some(l), _) => UdpSocket::bind(l)?,
        (None, Some(r)) => {
            let first = crate::net::resolve(r)?.first()?;
            let any: SocketAddr = if first.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            UdpSocket::bind(any)?
        }
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create_datagram_endpoint needs a local or a remote address",
            ));
        }
    };
    if let Some(r) = remote_addr {
        sock.connect(r)?;
    }
    Ok(endpoint::start(sock, protocol_factory()))
}
