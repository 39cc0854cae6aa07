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
//!   the socket down; [`write_eof`](StreamWriter::write_eof) sends `close_notify` and a FIN
//!   (TLS 1.3 half-close); [`abort`](StreamWriter::abort) sends no `close_notify`.
//!
//! The session is one more kind of stream under the reader and writer: a plain connection
//! pays nothing for it beyond a match on the stream's kind.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use super::conn::{AnyStream, Conn};
use super::server::Listener;
use super::{HandlerResult, Server, StreamReader, StreamWriter};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};
use crate::runtime::Dir;

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
    let tls = TlsStream {
        sock,
        tls: RefCell::new(session),
        shut: Cell::new(false),
    };
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
    let (mut reader, writer) = (StreamReader::new(conn.clone()), StreamWriter::new(conn));
    if let Some((limit, (high, low))) = limits {
        reader.set_limit(limit);
        writer.set_write_buffer_limits(high, low);
    }
    Ok((reader, writer))
}

fn tls_error(what: &str, e: &rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

/// A TLS session over a stream socket (public only inside the sealed trait's stream type).
pub struct TlsStream {
    pub(super) sock: AnyStream,
    tls: RefCell<Connection>,
    /// This side shut the socket down in both directions: whatever a read then meets (a
    /// reset, an EOF without `close_notify`) is the end of the stream, as on a plain socket.
    shut: Cell<bool>,
}

/// The socket as rustls's `Read`/`Write`: one syscall each, never parking.
struct Raw<'a>(&'a AnyStream);

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf)
    }
}

impl Write for Raw<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.send_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Runs the handshake to its end, parking while the socket is not ready.
    fn handshake(&self, peer: &str) -> io::Result<()> {
        let src = self.sock.src();
        loop {
            let mut tls = self.tls.borrow_mut();
            if tls.wants_write() {
                match tls.write_tls(&mut Raw(&self.sock)) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        drop(tls);
                        src.wait(Dir::Write)?;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if !tls.is_handshaking() {
                return Ok(());
            }
            match tls.read_tls(&mut Raw(&self.sock)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("TLS handshake with {peer}: the peer closed the connection"),
                    ));
                }
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        // Tell the peer why (an alert), as far as the socket takes it.
                        let _ = self.write_out(&mut tls);
                        return Err(tls_error(&format!("TLS handshake with {peer} failed"), &e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(tls);
                    src.wait(Dir::Read)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Fills `buf` with decrypted bytes, reading the socket until `buf` is full or the
    /// socket has nothing more (so a short read means the socket is drained, as for a plain
    /// socket). `Ok(0)` after the peer's `close_notify`; `WouldBlock` when nothing is there.
    pub(super) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.recv_tls(buf) {
            Err(e) if self.shut.get() && e.kind() != io::ErrorKind::WouldBlock => Ok(0),
            r => r,
        }
    }

    fn recv_tls(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        let mut n = 0;
        // A failure after some bytes is returned by the next call (rustls keeps it).
        let done = |n: usize, e: io::Error| if n > 0 { Ok(n) } else { Err(e) };
        while n < buf.len() {
            match tls.reader().read(&mut buf[n..]) {
                Ok(0) => return Ok(n),
                Ok(k) => {
                    n += k;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return done(n, unclean_eof());
                }
                Err(e) => return done(n, e),
            }
            match tls.read_tls(&mut Raw(&self.sock)) {
                Ok(0) => {} // the reader now says EOF, clean or not
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        let _ = self.write_out(&mut tls);
                        return done(n, tls_error("TLS", &e));
                    }
                    if tls.wants_write() {
                        // A key update's answer: sent now if the socket takes it, else with
                        // the next write.
                        let _ = self.write_out(&mut tls);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return done(n, e),
            }
        }
        Ok(n)
    }

    /// Encrypts and sends as much of `buf` as the socket takes. `Ok(n)` short of `buf.len()`,
    /// or with [`pending_out`](Self::pending_out) left, means the socket is full (and its
    /// readiness was cleared); `WouldBlock` when earlier records still wait.
    pub(super) fn send(&self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        self.write_out(&mut tls)?;
        if tls.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        while n < buf.len() && !tls.wants_write() {
            // rustls takes up to its buffer limit (64 KiB) at a time.
            let k = tls.writer().write(&buf[n..])?;
            n += k;
            self.write_out(&mut tls)?;
            if k == 0 {
                break;
            }
        }
        Ok(n)
    }

    /// Writes the session's pending records until none is left or the socket is full (then
    /// its write readiness is cleared).
    fn write_out(&self, tls: &mut Connection) -> io::Result<()> {
        while tls.wants_write() {
            match tls.write_tls(&mut Raw(&self.sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sock.src().clear_ready(Dir::Write);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) fn pending_out(&self) -> bool {
        self.tls.borrow().wants_write()
    }

    pub(super) fn send_pending(&self) -> io::Result<()> {
        self.write_out(&mut self.tls.borrow_mut())
    }

    /// Queues `close_notify` and sends it if the socket takes it (after a flush it always has
    /// room for the few bytes).
    pub(super) fn close_notify(&self) {
        let mut tls = self.tls.borrow_mut();
        tls.send_close_notify();
        let _ = self.write_out(&mut tls);
    }

    /// `Write` sends `close_notify` first: a half-close.
    pub(super) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            if let Ok(mut tls) = self.tls.try_borrow_mut() {
                if !tls.is_handshaking() && how == Shutdown::Write {
                    tls.send_close_notify();
                    let _ = self.write_out(&mut tls);
                }
            }
        }
        if how == Shutdown::Both {
            self.shut.set(true);
        }
        self.sock.shutdown(how)
    }
}

fn unclean_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "TLS: the peer closed the connection without close_notify (the data may be cut short)",
    )
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let version = self
            .tls
            .try_borrow()
            .ok()
            .and_then(|t| t.protocol_version());
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .field("version", &version)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::time::Duration;

    use crate::net::UnixStream;
    use crate::streams::split;

    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = ck.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// A write the socket takes only part of the records of, with nothing written after it,
    /// still arrives whole: the writer flushes what the session holds.
    #[test]
    fn records_the_socket_did_not_take_are_flushed_without_another_write() {
        let (server_cfg, client_cfg) = configs();
        crate::run(move || {
            let (a, b) = UnixStream::pair().unwrap();
            let small: libc::c_int = 4096;
            // SAFETY: a valid socket fd and a c_int option value of the size passed.
            let rc = unsafe {
                libc::setsockopt(
                    a.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&small as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
            const N: usize = 40_000; // one rustls chunk, several times the send buffer
            let server = crate::spawn(move || {
                let (rb, wb) = split(b);
                let (mut rb, wb) = wb.start_tls_server_side(rb, server_cfg).unwrap();
                let data = rb.readexactly(N).unwrap();
                assert!(data.iter().all(|&x| x == 7));
                wb.write(b"ok\n");
                wb.drain().unwrap();
                (rb, wb)
            });
            let (ra, wa) = split(a);
            let (mut ra, wa) = wa.start_tls(ra, "localhost", client_cfg).unwrap();
            wa.write(&[7; N]);
            assert!(
                wa.conn().pending_out(),
                "premise: the session holds records the socket did not take"
            );
            assert_eq!(wa.write_buffer_size(), 0);
            let reply = crate::timeout(Duration::from_secs(20), |_| ra.readline());
            assert_eq!(reply.expect("the server got every byte").unwrap(), b"ok\n");
            drop(server.join().unwrap());
        });
    }
}
