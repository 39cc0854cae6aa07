//! Name resolution through the executor (asyncio's `loop.getaddrinfo`).

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use crate::error::{SocketError, SocketOp};

/// Resolves `host` to socket addresses with `port`, as std's resolver (`ToSocketAddrs`, the
/// system's `getaddrinfo`) does, without blocking the loop: the lookup runs on a thread of the
/// loop's default [`Executor`](crate::executor::Executor) and only the calling coroutine
/// parks (asyncio's `loop.getaddrinfo`). An IP address literal is parsed in place, with no
/// thread and no lookup.
///
/// ```
/// corio::run(|| {
///     let addrs = corio::net::lookup_host("localhost", 8080).unwrap();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
///
///     let literal = corio::net::lookup_host("::1", 53).unwrap();
///     assert_eq!(literal, ["[::1]:53".parse().unwrap()]);
/// });
/// ```
///
/// # Errors
///
/// The resolver's error when the name cannot be resolved, of the kind std gives it, naming
/// `host:port` (a [`SocketError`](crate::error::SocketError) inside: `lookup of
/// db.example.invalid:5432 failed: failed to lookup address information: ...`);
/// `InvalidInput` for a host that is not a valid C string. If the resolver thread panicked,
/// or the executor was shut down, an `io::Error` of kind `Other` says so.
///
/// # Cancel safety
///
/// If the coroutine is cancelled, the lookup still ends on its thread, and its answer is
/// dropped.
///
/// # Panics
///
/// Outside a coroutine, unless `host` is an IP address literal.
pub fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let owned = host.to_owned();
    match crate::executor::to_thread(move || {
        (owned.as_str(), port)
            .to_socket_addrs()
            .map(|addrs| addrs.collect::<Vec<_>>())
    }) {
        Ok(r) => {
            r.map_err(|e| SocketError::wrap(SocketOp::Lookup, format_args!("{host}:{port}"), e))
        }
        Err(e) => Err(io::Error::other(format!(
            "corio::net::lookup_host({host:?}): the resolver thread failed: {e}"
        ))),
    }
}
