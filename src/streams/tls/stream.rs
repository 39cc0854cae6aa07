//! [`TlsStream`]: a rustls session over a stream socket, read and written without parking
//! (the handshake parks on the socket's readiness).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;

use rustls::Connection;

use super::tls_error;
use crate::runtime::Dir;
use crate::streams::conn::AnyStream;

/// A TLS session over a stream socket (public only inside the sealed trait's stream type).
pub struct TlsStream {
    pub(crate) sock: AnyStream,
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

/// The socket as rustls's `Read`, noting whether a recv got less than it asked for.
struct RawRead<'a> {
    sock: &'a AnyStream,
    short: bool,
}

impl Read for RawRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.recv(buf)?;
        self.short = n < buf.len();
        Ok(n)
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
    pub(crate) fn new(sock: AnyStream, session: Connection) -> TlsStream {
        TlsStream {
            sock,
            tls: RefCell::new(session),
            shut: Cell::new(false),
        }
    }

    /// Runs the handshake to its end, parking while the socket is not ready.
    pub(crate) fn handshake(&self, peer: &str) -> io::Result<()> {
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
    /// socket has nothing more: `WouldBlock`, or a recv that got less than it asked for (so
    /// a short read means the socket is drained, as for a plain socket). `Ok(0)` after the peer's `close_notify`; `WouldBlock` when nothing is there.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.recv_tls(buf) {
            Err(e) if self.shut.get() && e.kind() != io::ErrorKind::WouldBlock => Ok(0),
            r => r,
        }
    }

    fn recv_tls(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut tls = self.tls.borrow_mut();
        let mut n = 0;
        // The last recv got less than it asked for: the socket had no more.
        let mut drained = false;
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
            if drained && n > 0 {
                // A short read, as a plain socket's: the caller's readiness rules take it
                // from here, without a recv that would only say `WouldBlock`.
                return Ok(n);
            }
            let mut rd = RawRead {
                sock: &self.sock,
                short: false,
            };
            match tls.read_tls(&mut rd) {
                Ok(0) => {} // the reader now says EOF, clean or not
                Ok(_) => {
                    drained = rd.short;
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
    pub(crate) fn send(&self, buf: &[u8]) -> io::Result<usize> {
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

    pub(crate) fn pending_out(&self) -> bool {
        self.tls.borrow().wants_write()
    }

    pub(crate) fn send_pending(&self) -> io::Result<()> {
        self.write_out(&mut self.tls.borrow_mut())
    }

    /// Queues `close_notify` and sends it if the socket takes it: it is called once the
    /// writer's buffer is sent, when the socket has room for these few bytes unless the peer
    /// stopped reading (then the peer sees an EOF without `close_notify`).
    pub(crate) fn close_notify(&self) {
        let mut tls = self.tls.borrow_mut();
        tls.send_close_notify();
        let _ = self.write_out(&mut tls);
    }

    /// `Write` (`write_eof`) sends `close_notify` first: a half-close. `Both` sends nothing
    /// more (a clean close has called [`close_notify`](Self::close_notify) already; an abort
    /// or a failure must not look clean).
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Write => self.close_notify(),
            Shutdown::Both => self.shut.set(true),
            Shutdown::Read => {}
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
