//! [`StreamReader`]: buffered reads of a connection (asyncio's `StreamReader`).

mod buffer;

use std::fmt;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use super::conn::{Conn, ends_connection};
use super::writer::WriterLink;
use crate::error::{IncompleteRead, LimitOverrun, ReadError};
use buffer::find;

/// The default limit of [`StreamReader::readuntil`] and [`readline`](StreamReader::readline):
/// 64 KiB, as in asyncio.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The reading half of a connection (asyncio's `StreamReader`).
///
/// Every read parks the coroutine until data is there. Each `recv` syscall asks for up to
/// 64 KiB and lands in one buffer per thread (an idle connection holds none); what the call
/// does not return stays in this reader's buffer for the next call. A [`read`](Self::read)
/// on an empty buffer (but the first) instead receives straight into the `Vec` it returns,
/// with no copy, asking for half as much again as recent reads brought; one that fills that `Vec`
/// returns it as it is, and the next asks for 64 KiB. No allocation per read beyond the
/// `Vec` returned. Once a `recv` finds the socket empty, the next read parks at once and
/// makes its one `recv` when the poller reports data.
///
/// It also implements [`Read`] and [`BufRead`], so std parsers can consume it.
///
/// ```
/// use corio::net::UnixStream;
/// use corio::streams;
/// corio::run(|| {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (mut reader, _w) = streams::split(a);
///     let (_r, writer) = streams::split(b);
///     writer.write(b"HELO mail.example\r\nQUIT\r\n");
///     assert_eq!(reader.readuntil(b"\r\n").unwrap(), b"HELO mail.example\r\n");
///     assert_eq!(reader.readexactly(4).unwrap(), b"QUIT");
///     assert_eq!(reader.buffer(), b"\r\n");
/// });
/// ```
///
/// # Cancel safety
///
/// Every method is cancel safe: bytes are taken off the socket only at the moment they are
/// stored (returned or kept in the buffer), never before a park. A `readexactly` or
/// `readuntil` cancelled half-way leaves what it had gathered in the buffer, where the next
/// read finds it.
///
/// A `StreamReader` belongs to its loop's thread (`!Send`), like the socket under it.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::streams::StreamReader>();
/// ```
pub struct StreamReader {
    conn: Rc<Conn>,
    /// Buffered bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// A read returned 0: the peer will send nothing more.
    eof: bool,
    /// How many bytes a `read` on an empty buffer may expect, learnt from the last ones: it
    /// sizes the `Vec` it receives into.
    last_read: u32,
    limit: usize,
    /// The connection's writer, which a failed read ends too (none for a pipe's reader).
    writer: Option<WriterLink>,
}

impl StreamReader {
    pub(crate) fn new(conn: Rc<Conn>) -> StreamReader {
        StreamReader {
            conn,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            last_read: 0,
            limit: DEFAULT_LIMIT,
            writer: None,
        }
    }

    /// Links the reader to its connection's writer: a read that fails ends the writer too.
    pub(crate) fn linked_to(mut self, writer: WriterLink) -> StreamReader {
        self.writer = Some(writer);
        self
    }

    /// The error that ended the connection, if any (see `Conn::failed`): what every read
    /// that would go to the socket reports from then on.
    #[inline]
    fn check_failed(&self) -> io::Result<()> {
        self.conn.check_failed()
    }

    /// Records the error of a read: if it ends the connection, later reads report it again
    /// and the writer ends with it (asyncio's transport closes on a fatal read error).
    #[cold]
    fn read_failed(&mut self, e: io::Error) -> io::Error {
        if self.conn.failed.get().is_none() && ends_connection(&e) {
            self.conn.set_failed(&e);
            if let Some(w) = &self.writer {
                w.fail(&e);
            }
        }
        e
    }

    /// Reads up to `n` bytes: what is buffered, or else what one read of the socket brings
    /// (parking until something does). An empty `Vec` means the end of the stream (or
    /// `n == 0`).
    ///
    /// # Errors
    ///
    /// The socket's error (`ConnectionReset`, ...). Once a read met an error that ends the
    /// connection, every later read that would go to the socket reports it again (the
    /// socket itself would say EOF), and the connection's writer is closed with it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn read(&mut self, n: usize) -> io::Result<Vec<u8>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.buffered() > 0 {
            return Ok(self.take(n));
        }
        if self.eof {
            return Ok(Vec::new());
        }
        let cap = self.direct_capacity();
        match self.conn.sock.socket_fd() {
            Some(fd) if n >= cap && self.last_read > 0 => self.read_direct(fd, cap),
            _ => self.read_scratch(n),
        }
    }

    /// Reads exactly `n` bytes, parking until they have all arrived.
    ///
    /// The buffer grows with what arrives, not with `n`: a length prefix read from the wire
    /// (`readexactly(u32::MAX as usize)`) from a peer that then closes costs only the bytes it
    /// sent, and ends in [`ReadError::IncompleteRead`].
    ///
    /// ```
    /// use corio::net::UnixStream;
    /// use corio::streams;
    /// corio::run(|| {
    ///     let (a, b) = UnixStream::pair().unwrap();
    ///     let (mut reader, _w) = streams::split(a);
    ///     let (_r, writer) = streams::split(b);
    ///     writer.write(b"abc");
    ///     writer.close().unwrap();
    ///     let err = reader.readexactly(5).unwrap_err();
    ///     assert_eq!(err.partial(), Some(&b"abc"[..]));
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReadError::IncompleteRead`] if the stream ends first: it holds the bytes that came
    /// and `expected: Some(n)`; the buffer is then empty. [`ReadError::Io`] for the socket's
    /// errors. The limit does not apply.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the bytes gathered so far stay buffered.
    pub fn readexactly(&mut self, n: usize) -> Result<Vec<u8>, ReadError> {
        while self.buffered() < n {
            if self.eof {
                return Err(IncompleteRead {
                    partial: self.take_all(),
                    expected: Some(n),
                }
                .into());
            }
            self.grow_towards(n);
            self.fill()?;
        }
        Ok(self.take(n))
    }

    /// Reads up to and including the next `\n` (asyncio's `readline`).
    ///
    /// At the end of the stream it returns what is left, possibly a last line without `\n`,
    /// then empty `Vec`s.
    ///
    /// # Errors
    ///
    /// [`ReadError::LimitOverrun`] if the line is longer than the [limit](Self::set_limit):
    /// as in asyncio the overlong line is dropped from the buffer (up to and including its
    /// `\n` if it came, else everything buffered). [`ReadError::Io`] for the socket's errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a line read in part stays buffered.
    pub fn readline(&mut self) -> Result<Vec<u8>, ReadError> {
        match self.readuntil(b"\n") {
            Ok(line) => Ok(line),
            Err(ReadError::IncompleteRead(e)) => Ok(e.partial),
            Err(ReadError::LimitOverrun(e)) => {
                let at_sep = self.buffer().get(e.consumed..).unwrap_or_default();
                if at_sep.starts_with(b"\n") {
                    self.consume_buffered(e.consumed + 1);
                } else {
                    self.consume_buffered(usize::MAX);
                }
                Err(e.into())
            }
            Err(e) => Err(e),
        }
    }

    /// Reads up to and including the first occurrence of `separator`, parking until it has
    /// arrived.
    ///
    /// ```
    /// use corio::net::UnixStream;
    /// use corio::streams;
    /// corio::run(|| {
    ///     let (a, b) = UnixStream::pair().unwrap();
    ///     let (mut reader, _w) = streams::split(a);
    ///     let (_r, writer) = streams::split(b);
    ///     reader.set_limit(8);
    ///     writer.write(b"0123456789;");
    ///     let e = reader.readuntil(b";").unwrap_err();
    ///     assert!(matches!(e, corio::error::ReadError::LimitOverrun(_)));
    ///     assert_eq!(reader.buffer(), b"0123456789;", "the data stays buffered");
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReadError::LimitOverrun`] if the separator is not within the
    /// [limit](Self::set_limit) (64 KiB by default): the data stays in the buffer and
    /// `consumed` says how much of it to read to go on. [`ReadError::IncompleteRead`] if the
    /// stream ends first: it holds everything buffered (`expected: None`), and the buffer is
    /// then empty. An empty separator is an `InvalidInput` error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: what arrived stays buffered.
    pub fn readuntil(&mut self, separator: &[u8]) -> Result<Vec<u8>, ReadError> {
        let seplen = separator.len();
        if seplen == 0 {
            return Err(ReadError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Separator should be at least one-byte string",
            )));
        }
        // asyncio's algorithm: search only what was not searched yet, and give up once the
        // bytes searched without a match exceed the limit.
        let mut offset = 0;
        let mut looked_ahead = false;
        let isep = loop {
            let buffered = self.buffered();
            if buffered >= seplen + offset {
                if let Some(i) = find(&self.buffer()[offset..], separator) {
                    break offset + i;
                }
                offset = buffered + 1 - seplen;
                if offset > self.limit {
                    // Before giving up, take in what has already arrived (asyncio's buffer
                    // would hold it): the separator may be there.
                    if !looked_ahead && matches!(self.try_fill(true)?, Some(n) if n > 0) {
                        looked_ahead = true;
                        continue;
                    }
                    return Err(LimitOverrun {
                        consumed: offset,
                        found: false,
                    }
                    .into());
                }
            }
            if self.eof {
                return Err(IncompleteRead {
                    partial: self.take_all(),
                    expected: None,
                }
                .into());
            }
            self.fill()?;
        };
        if isep > self.limit {
            return Err(LimitOverrun {
                consumed: isep,
                found: true,
            }
            .into());
        }
        Ok(self.take(isep + seplen))
    }

    /// `true` when the buffer is empty and the stream has ended: the peer's EOF arrived, or
    /// the connection was closed on this side. Never parks; it may make one non-blocking
    /// `recv` to notice an EOF that arrived after the last data (what it reads is buffered).
    ///
    /// After a close on this side, bytes the peer sent before it and not read yet count as
    /// buffered (asyncio's transport would have read them into the buffer), so `at_eof` and
    /// [`read`](Self::read) agree: `false` while a read would still return data. After the
    /// connection failed (a reset), `false` too, as in asyncio: reads report the error, not
    /// an end.
    pub fn at_eof(&mut self) -> bool {
        if self.buffered() > 0 || self.conn.failed.get().is_some() {
            return false;
        }
        if self.eof {
            return true;
        }
        let closed = self.conn.closed.get();
        let _ = self.try_fill(closed);
        self.buffered() == 0 && (self.eof || closed)
    }

    /// The bytes received and not yet read.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// The limit for [`readuntil`](Self::readuntil) and [`readline`](Self::readline), in
    /// bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit for [`readuntil`](Self::readuntil) and [`readline`](Self::readline)
    /// (at least 1; 0 is taken as 1).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    /// Lets go of the connection (for `start_tls`), unless bytes were read ahead or it ended.
    #[cfg(feature = "tls")]
    pub(super) fn into_conn(self) -> io::Result<Rc<Conn>> {
        let why = match self.buffered() {
            0 if self.eof => "the reader is at EOF".to_string(),
            0 => return Ok(self.conn),
            n => format!("the reader holds {n} bytes read before the handshake"),
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("start_tls: {why}"),
        ))
    }
}

impl Read for StreamReader {
    /// Reads from the buffer if it holds anything; else straight from the socket into `out`,
    /// with no copy in between.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.buffered() > 0 {
            let n = out.len().min(self.buffered());
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.consume_buffered(n);
            return Ok(n);
        }
        if self.eof {
            return Ok(0);
        }
        let n = self.socket_read(out.len(), |conn, _| conn.recv(out))?;
        if n == 0 {
            self.eof = true;
        }
        Ok(n)
    }
}

impl BufRead for StreamReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.buffered() == 0 && !self.eof {
            self.fill()?;
        }
        Ok(self.buffer())
    }

    fn consume(&mut self, amt: usize) {
        self.consume_buffered(amt);
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("conn", &self.conn)
            .field("buffered", &self.buffered())
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}
