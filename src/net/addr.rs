//! Socket addresses: the [`ToSocketAddrs`] argument trait and the one place where a host name
//! is resolved.
//!
//! std's `ToSocketAddrs` resolves host names with a blocking `getaddrinfo`, which would stall
//! every coroutine on the loop. corio's trait is implemented for the same types, so the same
//! arguments work (`"127.0.0.1:8080"`, `("::1", 80)`, a `SocketAddr`, ...), but turning one
//! into addresses never blocks: numeric addresses are parsed, `localhost` is the loopback
//! addresses, and any other name is looked up on the executor's threads by [`resolve`].

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::{SocketError, SocketOp};

/// What an address argument stands for, before any name lookup.
#[derive(Debug)]
pub enum Addrs {
    /// One address (the common case; no allocation).
    One(SocketAddr),
    /// Several addresses, tried in order.
    Many(Vec<SocketAddr>),
    /// A host name and port that need a lookup.
    Name(String, u16),
}

pub(crate) mod sealed {
    use super::Addrs;
    use std::io;

    /// Keeps [`ToSocketAddrs`](super::ToSocketAddrs) implemented by corio only.
    pub trait Sealed {
        /// The addresses this argument stands for, without looking names up.
        #[doc(hidden)]
        fn to_addrs(&self) -> io::Result<Addrs>;
    }
}

/// Types that can be turned into socket addresses without blocking: the same set that std's
/// [`std::net::ToSocketAddrs`] is implemented for.
///
/// Numeric addresses (`"127.0.0.1:8080"`, `("::1", 80)`, `SocketAddr`, `(IpAddr, u16)`, a slice
/// of addresses) and the name `localhost` (the loopback addresses, 127.0.0.1 first) need no
/// lookup. Other host names are resolved with [`lookup_host`](super::lookup_host) on the
/// executor's thread pool, while the coroutine parks; never by a blocking call on the loop's
/// thread.
///
/// ```
/// use corio::net::TcpListener;
/// corio::run(|| {
///     let l = TcpListener::bind("127.0.0.1:0").unwrap();
///     assert!(l.local_addr().unwrap().ip().is_loopback());
///     let l = TcpListener::bind(("localhost", 0)).unwrap();
///     assert!(l.local_addr().unwrap().ip().is_loopback());
/// });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

impl<T: sealed::Sealed + ?Sized> ToSocketAddrs for T {}

macro_rules! one {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            fn to_addrs(&self) -> io::Result<Addrs> {
                Ok(Addrs::One(SocketAddr::from(*self)))
            }
        }
    )*};
}

one!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for (&str, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        host_port(self.0, self.1)
    }
}

impl sealed::Sealed for (String, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        host_port(&self.0, self.1)
    }
}

impl sealed::Sealed for str {
    fn to_addrs(&self) -> io::Result<Addrs> {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(Addrs::One(a));
        }
        let (host, port) = self
            .rsplit_once(':')
            .ok_or_else(|| invalid(self, "an address needs a port, as in \"127.0.0.1:8080\""))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| invalid(self, "the port is not a number from 0 to 65535"))?;
        host_port(host, port)
    }
}

impl sealed::Sealed for String {
    fn to_addrs(&self) -> io::Result<Addrs> {
        self.as_str().to_addrs()
    }
}

impl sealed::Sealed for [SocketAddr] {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(match self {
            [a] => Addrs::One(*a),
            _ => Addrs::Many(self.to_vec()),
        })
    }
}

impl<const N: usize> sealed::Sealed for [SocketAddr; N] {
    fn to_addrs(&self) -> io::Result<Addrs> {
        self[..].to_addrs()
    }
}

impl sealed::Sealed for Vec<SocketAddr> {
    fn to_addrs(&self) -> io::Result<Addrs> {
        self[..].to_addrs()
    }
}

impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn to_addrs(&self) -> io::Result<Addrs> {
        (**self).to_addrs()
    }
}

fn host_port(host: &str, port: u16) -> io::Result<Addrs> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Addrs::One(SocketAddr::new(ip, port)));
    }
    Ok(Addrs::Name(host.to_owned(), port))
}

/// `InvalidInput`, naming the address argument that could not be used.
fn invalid(addr: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid address {addr:?}: {why}"),
    )
}

/// The addresses an argument stands for. Host names other than `localhost` are looked up on
/// the executor's thread pool ([`lookup_host`](super::lookup_host), asyncio's
/// `getaddrinfo`), so the loop does not block; every socket constructor comes through here.
pub(crate) fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Addrs> {
    match addr.to_addrs()? {
        Addrs::Name(host, port) if host.eq_ignore_ascii_case("localhost") => Ok(Addrs::Many(vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ])),
        Addrs::Name(host, port) => {
            let found = super::lookup_host(&host, port)?;
            if found.is_empty() {
                let e = io::Error::new(io::ErrorKind::NotFound, "the name has no addresses");
                return Err(SocketError::wrap(
                    SocketOp::Lookup,
                    format_args!("{host}:{port}"),
                    e,
                ));
            }
            Ok(Addrs::Many(found))
        }
        a => Ok(a),
    }
}

impl Addrs {
    /// The first address.
    pub(crate) fn first(&self) -> io::Result<SocketAddr> {
        match self {
            Addrs::One(a) => Ok(*a),
            Addrs::Many(v) => v.first().copied().ok_or_else(no_address),
            Addrs::Name(..) => Err(no_address()),
        }
    }

    /// Tries `f` on each address in turn; the first success, or the last error.
    pub(crate) fn try_each<T>(
        &self,
        mut f: impl FnMut(SocketAddr) -> io::Result<T>,
    ) -> io::Result<T> {
        match self {
            Addrs::One(a) => f(*a),
            Addrs::Many(v) => {
                let mut last = None;
                for a in v {
                    match f(*a) {
                        Ok(t) => return Ok(t),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.unwrap_or_else(no_address))
            }
            Addrs::Name(..) => Err(no_address()),
        }
    }
}

fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any address",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(a: &(impl ToSocketAddrs + ?Sized)) -> SocketAddr {
        resolve(a).unwrap().first().unwrap()
    }

    #[test]
    fn numeric_forms_parse_without_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(one("127.0.0.1:80"), v4);
        assert_eq!(one(&String::from("[::1]:80")), v6);
        assert_eq!(one(&("127.0.0.1", 80)), v4);
        assert_eq!(one(&("::1", 80)), v6);
        assert_eq!(one(&("[::1]", 80)), v6);
        assert_eq!(one(&(Ipv4Addr::LOCALHOST, 80)), v4);
        assert_eq!(one(&v6), v6);
        assert_eq!(one(&[v4, v6][..]), v4);
    }

    #[test]
    fn localhost_is_loopback_and_a_missing_port_is_refused() {
        match resolve("localhost:7").unwrap() {
            Addrs::Many(v) => assert!(v.iter().all(|a| a.ip().is_loopback() && a.port() == 7)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve("no-port").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }
}
