//! TLS over streams (feature `tls`, with rustls): asyncio's `ssl=` parameter.
//!
//! [`open_tls_connection`] and [`start_tls_server`] are [`open_connection`](super::open_connection)
//! and [`start_server`](super::start_server) with a rustls configuration;
//! [`StreamWriter::start_tls`] and [`StreamWriter::start_tls_server_side`] upgrade a plain
//! connection (asyncio's `StreamWriter.start_tls`, as for STARTTLS). The handshake is done
//! before they return (within [`TLS_HANDSHAKE_TIMEOUT`], asyncio's `ssl_handshake_timeout`),
//! and the reader and writer then have the same API as over a plain socket:
//!
//! * a read returns what the session decrypted, reading the socket as needed; an empty read
//!   is the peer's `close_notify` (a clean close). A socket that ends without one is an
//!   `UnexpectedEof` error, since the data may have been cut short;
//! * `write` encrypts and sends what the socket takes and buffers the rest, as on a plain
//!   socket; `drain` has the same meaning (bytes not yet taken by the socket);
//! * [`close`](StreamWriter::close) sends `close_notify` once the buffer is out, then shuts
//!   the socket down (when the socket has no room for it, the close waits until it has,
//!   as it waits for buffered bytes; [`wait_closed`](StreamWriter::wait_closed) returns
//!   once it is sent); [`write_eof`](StreamWriter::write_eof) sends `close_notify` and a FIN
//!   (TLS 1.3 half-close); [`abort`](StreamWriter::abort) sends no `close_notify`.
//!
//! The session is one more kind of stream under the reader and writer: a plain connection
//! pays nothing for it beyond a match on the stream's kind.

mod stream;

use std::error::Error;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::conn::{AnyStream, Conn};
use super::server::Listener;
use super::{HandlerResult, Server, StreamReader, StreamWriter};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};

pub use self::stream::TlsStream;

/// How long a TLS handshake may take before it fails with `TimedOut`: 60 seconds, asyncio's
/// default `ssl_handshake_timeout`.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connects to a TCP server and does a TLS handshake as a client (asyncio's
/// `open_connection(host, port, ssl=context, server_hostname=...)`). `server_name` is the
/// name the server's certificate must be valid for (a DNS name or an IP address);
/// `config` holds the trusted roots and protocol versions. `TCP_NODELAY` is set.
///
/// ```no_run
/// use std::sync::Arc;
/// use corio::streams;
///
/// # fn roots() -> rustls::RootCertStore { rustls::RootCertStore::empty() }
/// corio::run(|| {
///     let config = rustls::ClientConfig::builder()
///         .with_root_certificates(roots())
///         .with_no_client_auth();
///     let (mut reader, writer) =
///         streams::open_tls_connection("example.com:443", "example.com", Arc::new(config)).unwrap();
///     writer.write(b"GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
///     let status = reader.readline().unwrap();
///     println!("{}", String::from_utf8_lossy(&status));
/// });
/// ```
///
/// # Errors
///
/// As [`open_connection`](super::open_connection); `InvalidInput` for a `server_name` that
/// is neither a DNS name nor an IP address; `InvalidData` when the handshake fails (a
/// certificate not valid for `server_name`, an untrusted one, no common protocol version),
/// with a message naming the server; `TimedOut` after [`TLS_HANDSHAKE_TIMEOUT`].
///
/// # Cancel safety
///
/// A cancelled call closes its socket.
pub fn open_tls_connection(
    addr: impl ToSocketAddrs,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let session = client_session(server_name, config)?;
    let s = TcpStream::connect(addr)?;
    let _ = s.set_nodelay(true);
    upgrade(AnyStream::Tcp(s), session, server_name, None)
}

/// Starts a TCP server whose connections are TLS (asyncio's `start_server(..., ssl=context)`):
/// each accepted connection does its handshake in its own task, then runs
/// `handler(reader, writer)` as [`start_server`](super::start_server) does. A failed
/// handshake (a peer that sends no TLS, an unknown protocol, a timeout) goes to the loop's
/// exception handler with the peer's address, and the server goes on.
///
/// ```
/// use std::sync::Arc;
/// use corio::streams::{self, StreamReader, StreamWriter};
///
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// let chain = vec![cert.cert.der().clone()];
/// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
/// let server_config =
///     rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(chain, key).unwrap();
/// let mut roots = rustls::RootCertStore::empty();
/// roots.add(cert.cert.der().clone()).unwrap();
/// let client_config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
///
/// corio::run(|| {
///     let server = streams::start_tls_server("127.0.0.1:0", Arc::new(server_config), |mut r: StreamReader, w: StreamWriter| {
///         let line = r.readline()?;
///         w.write(&line);
///         w.close()
///     })
///     .unwrap();
///     let addr = server.local_addr().unwrap();
///     let (mut r, w) = streams::open_tls_connection(addr, "localhost", Arc::new(client_config)).unwrap();
///     w.write(b"hello over TLS\n");
///     assert_eq!(r.readline().unwrap(), b"hello over TLS\n");
///     assert!(r.read(100).unwrap().is_empty(), "close_notify reads as EOF");
/// });
/// ```
///
/// # Errors
///
/// As [`TcpListener::bind`].
pub fn start_tls_server<H, R>(
    addr: impl ToSocketAddrs,
    config: Arc<ServerConfig>,
    handler: H,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    start_tls_server_on(TcpListener::bind(addr)?, config, handler)
}

/// [`start_tls_server`] on a listener made with options (see
/// [`start_server_on`](super::start_server_on)).
///
/// # Errors
///
/// When the listener's address cannot be read.
pub fn start_tls_server_on<H, R>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handler: H,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> R + 'static,
    R: HandlerResult,
{
    let tls_handler = move |r: StreamReader, w: StreamWriter| -> Result<(), Box<dyn Error>> {
        let (r, w) = w.start_tls_server_side(r, config.clone())?;
        match handler(r, w).into_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    };
    Server::start(Listener::Tcp(listener), tls_handler)
}

impl StreamWriter {
    /// Upgrades this plain connection to TLS as a client (asyncio's `StreamWriter.start_tls`,
    /// as after a STARTTLS command): does the handshake and returns the new reader and writer,
    /// which replace `reader` and `self`. See [`open_tls_connection`] for `server_name` and
    /// `config`.
    ///
    /// Both halves must be idle: nothing buffered in the writer, nothing read ahead in the
    /// reader (bytes the peer sent in clear after its last command would otherwise be lost),
    /// not closed.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when a half is not idle, or the connection is TLS already; else as
    /// [`open_tls_connection`]. On an error the connection is closed.
    ///
    /// # Cancel safety
    ///
    /// A cancelled upgrade closes the connection.
    pub fn start_tls(
        self,
        reader: StreamReader,
        server_name: &str,
        config: Arc<ClientConfig>,
    ) -> io::Result<(StreamReader, StreamWriter)> {
        let session = client_session(server_name, config)?;
        let (sock, limits) = take_socket(reader, self)?;
        upgrade(sock, session, server_name, Some(limits))
    }

    /// Upgrades this plain connection to TLS as the server (asyncio's `loop.start_tls` with
    /// `server_side=True`): does the handshake and returns the new reader and writer. The same
    /// rules as [`start_tls`](Self::start_tls).
    ///
    /// # Errors
    ///
    /// As [`start_tls`](Self::start_tls); `InvalidData` when the client's handshake fails.
    ///
    /// # Cancel safety
    ///
    /// A cancelled upgrade closes the connection.
    pub fn start_tls_server_side(
        self,
        reader: StreamReader,
        config: Arc<ServerConfig>,
    ) -> io::Result<(StreamReader, StreamWriter)> {
        let session = ServerConnection::new(config).map_err(|e| tls_error("TLS setup", &e))?;
        let (sock, limits) = take_socket(reader, self)?;
        upgrade(
            sock,
            Connection::Server(session),
            "the client",
            Some(limits),
        )
    }

    /// `true` when the connection is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.conn().sock, AnyStream::Tls(_))
    }
}

/// The per-connection buffer sizes carried over an upgrade: the reader's limit and the
/// writer's high and low water marks.
type Limits = (usize, (usize, usize));

fn client_session(server_name: &str, config: Arc<ClientConfig>) -> io::Result<Connection> {
    let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TLS: {server_name:?} is not a valid DNS name or IP address"),
        )
    })?;
    let session = ClientConnection::new(config, name).map_err(|e| tls_error("TLS setup", &e))?;
    Ok(Connection::Client(session))
}

/// Takes the socket out of an idle plain connection.
fn take_socket(reader: StreamReader, writer: StreamWriter) -> io::Result<(AnyStream, Limits)> {
    let limit = reader.limit();
    let writer_limits = writer.write_buffer_limits();
    let r = reader.into_conn()?;
    let w = writer.into_conn()?;
    if !Rc::ptr_eq(&r, &w) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "start_tls: the reader and the writer are of different connections",
        ));
    }
    drop(r);
    let conn = Rc::try_unwrap(w).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "start_tls: the connection is still in use",
        )
    })?;
    if matches!(conn.sock, AnyStream::Tls(_)) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "start_tls: the connection is TLS already",
        ));
    }
    Ok((conn.sock, (limit, writer_limits)))
}

/// Wraps `sock` in `session`, does the handshake and splits the connection.
fn upgrade(
    sock: AnyStream,
    session: Connection,
    peer: &str,
    limits: Option<Limits>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let tls = TlsStream::new(sock, session);
    let done = crate::timeout(TLS_HANDSHAKE_TIMEOUT, |_| tls.handshake(peer));
    match done {
        Ok(r) => r?,
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "TLS handshake with {peer} did not finish within {} s",
                    TLS_HANDSHAKE_TIMEOUT.as_secs()
                ),
            ));
        }
    }
    let conn = Rc::new(Conn::new(AnyStream::Tls(Box::new(tls))));
    let (mut reader, writer) = crate::streams::pair(conn);
    if let Some((limit, (high, low))) = limits {
        reader.set_limit(limit);
        writer.set_write_buffer_limits(high, low);
    }
    Ok((reader, writer))
}

fn tls_error(what: &str, e: &rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}
