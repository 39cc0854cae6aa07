//! Transports and protocols: asyncio's callback layer under the streams (`transports.py`,
//! `protocols.py`), for code ported from asyncio's protocol style and for servers holding
//! very many mostly idle connections.
//!
//! A [`Protocol`] reacts to events (`connection_made`, `data_received`, `eof_received`,
//! `connection_lost`); a [`Transport`] writes and controls the connection. A connection is
//! no task: its callbacks run as loop callbacks when the socket is ready, so it costs no
//! coroutine stack, only its protocol and a few hundred bytes of bookkeeping. A protocol may
//! still [`spawn`](crate::spawn) coroutines and hand data to them.
//!
//! ```
//! use corio::protocols::{self, BaseProtocol, Protocol, Transport};
//!
//! /// Answers every chunk with its length.
//! #[derive(Default)]
//! struct Count(Option<Transport>);
//!
//! impl BaseProtocol for Count {
//!     fn connection_made(&mut self, t: Transport) {
//!         self.0 = Some(t);
//!     }
//! }
//!
//! impl Protocol for Count {
//!     fn data_received(&mut self, data: &[u8]) {
//!         let t = self.0.as_ref().unwrap();
//!         t.write(format!("{}\n", data.len()).as_bytes());
//!     }
//! }
//!
//! corio::run(|| {
//!     let server = protocols::create_server(Count::default, "127.0.0.1:0").unwrap();
//!     let (mut r, w) = corio::streams::open_connection(server.local_addr().unwrap()).unwrap();
//!     w.write(b"four");
//!     assert_eq!(r.readline().unwrap(), b"4\n");
//!     server.close();
//! });
//! ```
//!
//! # The order of calls
//!
//! As asyncio documents it: `connection_made` first; `data_received` any number of times;
//! at most one `eof_received`; `connection_lost` exactly once, last, always as a loop
//! callback of its own (never from inside [`Transport::write`], [`close`](Transport::close)
//! or [`abort`](Transport::abort)). Writes after `close` are dropped and counted. A panic in a
//! callback closes that connection with an error, goes to the loop's exception handler, and
//! the server goes on.
//!
//! [`streams_bridge`] puts a [`StreamReader`](crate::streams::StreamReader) and
//! [`StreamWriter`](crate::streams::StreamWriter) over any transport (asyncio's
//! `StreamReaderProtocol`).
//!
//! When the loop closes with connections still open, their sockets are closed and their
//! protocols dropped without further calls.

mod bridge;
mod conn;
mod datagram;
mod proto;
mod rt;
mod traits;
mod transport;

use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

pub use bridge::{StreamsBridge, streams_bridge};
pub use conn::DEFAULT_HIGH_WATER;
pub use datagram::{DatagramTransport, create_datagram_endpoint};
pub use proto::{Buffered, StreamProtocol};
pub use traits::{BaseProtocol, BufferedProtocol, DatagramProtocol, Protocol};
pub use transport::Transport;

use self::conn::Conn;
use self::transport::TransportOps;
use crate::net::{TcpListener, TcpStream, ToSocketAddrs, UnixListener, UnixStream};
use crate::runtime::{Exception, ExceptionContext, call_exception_handler};
use crate::streams::{Listener, Server, StreamSocket};

/// Starts a TCP server on `addr` that makes a protocol with `protocol_factory` for every
/// connection and drives it with callbacks (asyncio's `loop.create_server`). Returns the same
/// [`Server`] as [`start_server`](crate::streams::start_server): `close`, `wait_closed`,
/// `serve_forever`, `active_connections` (open transports). `TCP_NODELAY` is set on each
/// connection, as asyncio does.
///
/// A panic in the factory drops that connection and goes to the loop's exception handler.
///
/// # Errors
///
/// As [`TcpListener::bind`].
pub fn create_server<F, P>(protocol_factory: F, addr: impl ToSocketAddrs) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: StreamProtocol,
{
    create_server_on(protocol_factory, TcpListener::bind(addr)?)
}

/// [`create_server`] on a listener made with options (`reuse_port`, a backlog).
///
/// # Errors
///
/// When the listener's address cannot be read.
pub fn create_server_on<F, P>(protocol_factory: F, listener: TcpListener) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: StreamProtocol,
{
    serve(protocol_factory, Listener::Tcp(listener))
}

/// Starts a Unix socket server at `path` (asyncio's `loop.create_unix_server`); see
/// [`create_server`]. The socket file stays when the server closes.
///
/// # Errors
///
/// As [`UnixListener::bind`].
pub fn create_unix_server<F, P>(protocol_factory: F, path: impl AsRef<Path>) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: StreamProtocol,
{
    create_unix_server_on(protocol_factory, UnixListener::bind(path)?)
}

/// [`create_unix_server`] on a listener made elsewhere.
///
/// # Errors
///
/// When the listener's address cannot be read.
pub fn create_unix_server_on<F, P>(
    protocol_factory: F,
    listener: UnixListener,
) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: StreamProtocol,
{
    serve(protocol_factory, Listener::Unix(listener))
}

fn serve<F, P>(protocol_factory: F, listener: Listener) -> io::Result<Server>
where
    F: Fn() -> P + 'static,
    P: StreamProtocol,
{
    Server::start_with(
        listener,
        Box::new(move |sock, peer, active| {
            if let Some(p) = make(&protocol_factory, peer) {
                Conn::start(sock, p, peer, Some(active));
            }
        }),
    )
}

/// Calls the factory; a panic goes to the exception handler and gives `None`.
fn make<P>(factory: &impl Fn() -> P, peer: Option<SocketAddr>) -> Option<P> {
    match catch_unwind(AssertUnwindSafe(factory)) {
        Ok(p) => Some(p),
        Err(payload) => {
            let mut ctx =
                ExceptionContext::new("the protocol factory panicked; the connection is dropped");
            ctx.exception = Some(Exception::Panic(payload));
            ctx.peer_addr = peer;
            call_exception_handler(ctx);
            None
        }
    }
}

/// Connects to a TCP server and drives the connection with a protocol made by
/// `protocol_factory` (asyncio's `loop.create_connection`). Parks until connected;
/// `connection_made` has run when it returns. `TCP_NODELAY` is set.
///
/// asyncio returns `(transport, protocol)`; here the connection owns the protocol, so share
/// state with it through an `Rc` it holds.
///
/// # Errors
///
/// As [`TcpStream::connect`]; a panic in the factory is passed on.
///
/// # Cancel safety
///
/// A cancelled call closes its half-open socket; no protocol was made.
pub fn create_connection<F, P>(
    protocol_factory: F,
    addr: impl ToSocketAddrs,
) -> io::Result<Transport>
where
    F: FnOnce() -> P,
    P: StreamProtocol,
{
    let s = TcpStream::connect(addr)?;
    let _ = s.set_nodelay(true);
    connect_accepted_socket(protocol_factory, s)
}

/// [`create_connection`] to a Unix socket server (asyncio's `loop.create_unix_connection`).
///
/// # Errors
///
/// As [`UnixStream::connect`].
///
/// # Cancel safety
///
/// As [`create_connection`].
pub fn create_unix_connection<F, P>(
    protocol_factory: F,
    path: impl AsRef<Path>,
) -> io::Result<Transport>
where
    F: FnOnce() -> P,
    P: StreamProtocol,
{
    connect_accepted_socket(protocol_factory, UnixStream::connect(path)?)
}

/// Drives an already connected socket (accepted elsewhere, or one end of a pair) with a
/// protocol (asyncio's `loop.connect_accepted_socket`). `connection_made` has run when it
/// returns.
///
/// ```
/// use corio::protocols::{self, BaseProtocol, Protocol};
/// use std::{cell::RefCell, rc::Rc};
///
/// struct Log(Rc<RefCell<Vec<String>>>);
/// impl BaseProtocol for Log {
///     fn connection_lost(&mut self, _exc: Option<std::io::Error>) {
///         self.0.borrow_mut().push("lost".into());
///     }
/// }
/// impl Protocol for Log {
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.borrow_mut().push(String::from_utf8_lossy(data).into());
///     }
///     fn eof_received(&mut self) -> bool {
///         self.0.borrow_mut().push("eof".into());
///         false
///     }
/// }
///
/// corio::run(|| {
///     let (a, b) = corio::net::UnixStream::pair().unwrap();
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let l = log.clone();
///     protocols::connect_accepted_socket(move || Log(l), a).unwrap();
///     b.write_all(b"hi").unwrap();
///     drop(b);
///     while log.borrow().last().map(String::as_str) != Some("lost") {
///         corio::yield_now();
///     }
///     assert_eq!(*log.borrow(), ["hi", "eof", "lost"]);
/// });
/// ```
///
/// # Errors
///
/// Outside a running loop; a panic in the factory is passed on.
pub fn connect_accepted_socket<F, P>(
    protocol_factory: F,
    sock: impl StreamSocket,
) -> io::Result<Transport>
where
    F: FnOnce() -> P,
    P: StreamProtocol,
{
    if !rt::loop_running() {
        return Err(io::Error::other(
            "no running event loop: transports work inside corio::run or a spawned task",
        ));
    }
    let sock = sock.into_any_stream();
    let peer = sock.peer_addr().ok();
    Ok(Conn::start(sock, protocol_factory(), peer, None))
}

/// How many transports of the running loop are open: made and not yet lost (0 outside a
/// loop). For leak checks.
pub fn open_transports() -> usize {
    rt::open_count()
}
