//! [`SocketError`]: a connect, bind or name lookup that failed, with the address it was for.

use std::fmt;
use std::io;

/// What a [`SocketError`] was trying to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketOp {
    /// Connecting to the address (a stream's handshake, or a datagram socket's peer).
    Connect,
    /// Binding a socket to the address.
    Bind,
    /// Resolving a host name.
    Lookup,
}

impl SocketOp {
    fn verb(self) -> &'static str {
        match self {
            SocketOp::Connect => "connect to",
            SocketOp::Bind => "bind on",
            SocketOp::Lookup => "lookup of",
        }
    }
}

/// A connect, bind or name lookup failed: the OS's error, with the address it was for (as
/// asyncio's "Connect call failed ('127.0.0.1', 1)").
///
/// corio's socket constructors return it inside an [`io::Error`] of the same
/// [`kind`](io::Error::kind) as the OS's error, so matching on the kind works as before and
/// the message names the address: `connect to 127.0.0.1:1 failed: Connection refused (os
/// error 111)`. What std's `io::Error::new(kind, payload)` cannot keep is the OS error code:
/// [`io::Error::raw_os_error`] is `None` on such an error. The code is one step away, in
/// [`raw_os_error`] (this function looks through the wrapper) or the error's
/// [`source()`](std::error::Error::source), the original `io::Error`.
///
/// ```
/// use std::io::ErrorKind;
/// use corio::error::{SocketError, SocketOp};
/// corio::run(|| {
///     let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
///     let e = corio::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
///     assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
///     assert!(e.to_string().starts_with(&format!("connect to 127.0.0.1:{port} failed: ")));
///     assert_eq!(e.raw_os_error(), None, "std's custom errors carry no OS code...");
///     assert_eq!(corio::error::raw_os_error(&e), Some(libc::ECONNREFUSED), "...this does");
///     let inner = e.get_ref().unwrap().downcast_ref::<SocketError>().unwrap();
///     assert_eq!((inner.op(), inner.addr()), (SocketOp::Connect, &*format!("127.0.0.1:{port}")));
/// });
/// ```
#[derive(Debug)]
pub struct SocketError {
    op: SocketOp,
    addr: String,
    source: io::Error,
}

impl SocketError {
    /// Wraps `source`, the error of `op` on `addr`, in an `io::Error` of the same kind.
    pub(crate) fn wrap(op: SocketOp, addr: impl fmt::Display, source: io::Error) -> io::Error {
        io::Error::new(
            source.kind(),
            SocketError {
                op,
                addr: addr.to_string(),
                source,
            },
        )
    }

    /// What failed: a connect, a bind or a lookup.
    pub fn op(&self) -> SocketOp {
        self.op
    }

    /// The address, as written in the message: `127.0.0.1:8080`, `[::1]:80`, a socket
    /// file's path, or `host:port` for a lookup.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The OS error code of the failure, if it came from a syscall.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The original error, without the address.
    pub fn into_source(self) -> io::Error {
        self.source
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} failed: {}",
            self.op.verb(),
            self.addr,
            self.source
        )
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The OS error code of `e`, looking through a [`SocketError`] inside it: what
/// [`io::Error::raw_os_error`] would say of the unwrapped error.
///
/// ```
/// let e = std::io::Error::from_raw_os_error(libc::EMFILE);
/// assert_eq!(corio::error::raw_os_error(&e), Some(libc::EMFILE));
/// ```
pub fn raw_os_error(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
        .or_else(|| e.get_ref()?.downcast_ref::<SocketError>()?.raw_os_error())
}
