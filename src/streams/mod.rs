//! High-level connections: [`open_connection`], [`start_server`], [`Server`],
//! [`StreamReader`], [`StreamWriter`] (asyncio's `streams.py`).
//!
//! A connection is a reader and a writer over one socket. The reader buffers what arrives
//! and offers `read`, `readexactly`, `readline` and `readuntil`; the writer's `write` never
//! parks and `drain` is the flow control. The code reads like 2014-era asyncio without
//! `yield from`:
//!
//! ```
//! use corio::streams::{self, StreamReader, StreamWriter};
//!
//! fn echo(mut reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
//!     loop {
//!         let data = reader.read(64 * 1024)?;
//!         if data.is_empty() {
//!             return writer.close();
//!         }
//!         writer.write(&data);
//!         writer.drain()?;
//!     }
//! }
//!
//! corio::run(|| {
//!     let server = streams::start_server("127.0.0.1:0", echo).unwrap();
//!     let (mut reader, writer) = streams::open_connection(server.local_addr().unwrap()).unwrap();
//!     writer.write(b"hello, ");
//!     writer.write(b"world\n");
//!     assert_eq!(reader.readline().unwrap(), b"hello, world\n");
//!     writer.write_eof().unwrap();
//!     assert!(reader.read(100).unwrap().is_empty(), "the server closed after our EOF");
//! });
//! ```
//!
//! The reader and the writer share the socket: it is closed when both are dropped (the
//! writer first sends what it still buffers). Dropping or [closing](StreamWriter::close) the
//! writer shuts the connection down in both directions.

mod conn;
mod graceful;
mod pipe;
mod reader;
mod send_buffer;
mod server;
#[cfg(feature = "tls")]
mod tls;
mod writer;

use std::io;
use std::path::Path;
use std::rc::{Rc, Weak};

pub use graceful::ShutdownSummary;
pub use reader::{DEFAULT_LIMIT, StreamReader};
pub use server::{HandlerResult, Server};
#[cfg(feature = "tls")]
pub use tls::{TLS_HANDSHAKE_TIMEOUT, open_tls_connection, start_tls_server, start_tls_server_on};
pub use writer::{DEFAULT_HIGH_WATER, StreamWriter};

pub(crate) use self::conn::AnyStream;
use self::conn::Conn;
pub(crate) use self::pipe::{pipe_reader, pipe_writer};
pub(crate) use self::send_buffer::SendBuffer;
pub(crate) use self::server::{Active, Listener};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs, UnixListener, UnixStream};

/// Connects to a TCP server and returns the connection's reader and writer (asyncio's
/// `open_connection`). `TCP_NODELAY` is set, as asyncio does.
///
/// # Errors
///
/// As [`TcpStream::connect`]: `ConnectionRefused`, an address that cannot be resolved
/// without blocking, ...
///
/// # Cancel safety
///
/// A cancelled call closes its half-open socket.
pub fn open_connection(addr: impl ToSocketAddrs) -> io::Result<(StreamReader, StreamWriter)> {
    let s = TcpStream::connect(addr)?;
    let _ = s.set_nodelay(true);
    Ok(split(s))
}

/// Connects to a Unix socket server and returns the connection's reader and writer
/// (asyncio's `open_unix_connection`).
///
/// # Errors
///
/// As [`UnixStream::connect`].
///
/// # Cancel safety
///
/// A cancelled call closes its socket.
pub fn open_unix_connection(path: impl AsRef<Path>) -> io::Result<(StreamReader, StreamWriter)> {
    Ok(split(UnixStream::connect(path)?))
}

/// Starts a TCP server on `addr` that runs `handler(reader, writer)` in a new task for every
/// connection (asyncio's `start_server`). It accepts from the start; call
/// [`Server::serve_forever`] to park until it is closed. The handler returns `()` or a
/// `Result`; an `Err` goes to the loop's exception handler with the peer's address (see
/// [`HandlerResult`]).
///
/// # Errors
///
/// As [`TcpListener::bind`].
pub fn start_server<H, R>(addr: impl ToSocketAddrs, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    start_server_on(TcpListener::bind(addr)?, handler)
}

/// [`start_server`] on a listener made with options, such as `reuse_port` for one server
/// per loop thread on the same port:
///
/// ```
/// use corio::net::TcpListener;
/// use corio::streams::{self, StreamReader, StreamWriter};
/// corio::run(|| {
///     let listener = TcpListener::builder().reuse_port(true).bind("127.0.0.1:0").unwrap();
///     let server = streams::start_server_on(listener, |_r: StreamReader, _w: StreamWriter| ()).unwrap();
///     assert!(server.is_serving());
/// });
/// ```
///
/// # Errors
///
/// When the listener's address cannot be read.
pub fn start_server_on<H, R>(listener: TcpListener, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    Server::start(Listener::Tcp(listener), handler)
}

/// Starts a Unix socket server at `path` (asyncio's `start_unix_server`); see
/// [`start_server`]. The socket file stays when the server closes; remove it yourself.
///
/// # Errors
///
/// As [`UnixListener::bind`].
pub fn start_unix_server<H, R>(path: impl AsRef<Path>, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    start_unix_server_on(UnixListener::bind(path)?, handler)
}

/// [`start_unix_server`] on a listener made elsewhere.
///
/// # Errors
///
/// When the listener's address cannot be read.
pub fn start_unix_server_on<H, R>(listener: UnixListener, handler: H) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    Server::start(Listener::Unix(listener), handler)
}

/// Stream sockets a reader and writer can be made over: [`TcpStream`] and [`UnixStream`].
pub trait StreamSocket: sealed::Sealed {}

impl StreamSocket for TcpStream {}
impl StreamSocket for UnixStream {}

pub(crate) mod sealed {
    pub trait Sealed {
        fn into_any_stream(self) -> super::AnyStream;
    }

    impl Sealed for crate::net::TcpStream {
        fn into_any_stream(self) -> super::AnyStream {
            super::AnyStream::Tcp(self)
        }
    }

    impl Sealed for crate::net::UnixStream {
        fn into_any_stream(self) -> super::AnyStream {
            super::AnyStream::Unix(self)
        }
    }
}

/// Wraps a connected socket in a reader and a writer that share it.
///
/// ```
/// use corio::net::UnixStream;
/// use corio::streams;
/// corio::run(|| {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (mut ra, wa) = streams::split(a);
///     let (mut rb, wb) = streams::split(b);
///     wa.write(b"ping\n");
///     assert_eq!(rb.readline().unwrap(), b"ping\n");
///     wb.write(b"pong\n");
///     assert_eq!(ra.readline().unwrap(), b"pong\n");
/// });
/// ```
pub fn split(stream: impl StreamSocket) -> (StreamReader, StreamWriter) {
    pair(Rc::new(Conn::new(stream.into_any_stream())))
}

/// [`split`], and a link that records an error the connection was lost with elsewhere
/// (the transport under a streams bridge): the reader reports it instead of the end of the
/// stream.
pub(crate) fn split_linked(stream: impl StreamSocket) -> (StreamReader, StreamWriter, LostLink) {
    let conn = Rc::new(Conn::new(stream.into_any_stream()));
    let link = LostLink(Rc::downgrade(&conn));
    let (reader, writer) = pair(conn);
    (reader, writer, link)
}

/// See [`split_linked`]; it keeps nothing open.
#[derive(Debug)]
pub(crate) struct LostLink(Weak<Conn>);

impl LostLink {
    /// Records `e` as the error that ended the connection (the first one recorded stays).
    pub(crate) fn lost(&self, e: &io::Error) {
        if let Some(conn) = self.0.upgrade() {
            conn.set_failed(e);
        }
    }
}

/// The reader and the writer of one connection, the reader linked to the writer (a failed
/// read ends the writer too).
pub(crate) fn pair(conn: Rc<Conn>) -> (StreamReader, StreamWriter) {
    let writer = StreamWriter::new(conn.clone());
    let reader = StreamReader::new(conn).linked_to(writer.link());
    (reader, writer)
}
