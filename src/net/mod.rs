//! Non-blocking sockets for coroutines: [`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`UnixListener`], [`UnixStream`], [`UnixDatagram`] (asyncio's `sock_*` loop methods, as
//! socket types).
//!
//! Every socket is non-blocking and registered with the loop's poller once, when it is made
//! (edge-triggered on Linux and the BSDs). An operation tries its syscall first and parks the
//! coroutine only on `WouldBlock`, until the poller reports the socket ready; no re-arming per
//! wait. A stream write that comes back short has filled the kernel's buffer, so the next
//! write parks without a syscall that would only say `WouldBlock`. Dropping a socket removes
//! its registration, then closes the fd.
//!
//! [`TcpStream`] and [`UnixStream`] implement [`std::io::Read`] and [`std::io::Write`] (also
//! for `&TcpStream`, so one task can read while another writes), so std code and parsers work
//! inside coroutines unchanged:
//!
//! ```
//! use std::io::{Read, Write};
//! use corio::net::{TcpListener, TcpStream};
//!
//! corio::run(|| {
//!     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = corio::spawn(move || {
//!         let (mut conn, _peer) = listener.accept().unwrap();
//!         let mut buf = [0; 5];
//!         conn.read_exact(&mut buf).unwrap();
//!         conn.write_all(&buf).unwrap();
//!     });
//!     let mut client = TcpStream::connect(addr).unwrap();
//!     client.write_all(b"hello").unwrap();
//!     let mut echo = String::new();
//!     server.join().unwrap();
//!     client.read_to_string(&mut echo).unwrap();
//!     assert_eq!(echo, "hello");
//! });
//! ```
//!
//! Address arguments take [`ToSocketAddrs`], corio's non-blocking twin of std's trait: host
//! names are resolved on the thread pool ([`lookup_host`]) while the coroutine parks. A connect has no timeout of its own;
//! wrap it in [`wait_for`](crate::wait_for).
//!
//! Sockets belong to the loop they were made on: made outside a running loop they fail with
//! an error, and used on another loop they return one.

mod addr;
pub(crate) mod evented;
mod lookup;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use lookup::lookup_host;
pub use tcp::{DEFAULT_BACKLOG, TcpListener, TcpListenerBuilder, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

pub(crate) use addr::resolve;
pub(crate) use evented::recv;
pub(crate) use evented::send as send_nosignal;
#[cfg(feature = "tls")]
pub(crate) use evented::send_vectored;
