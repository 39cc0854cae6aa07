//! [`StreamWriter`]: buffered writes of a connection (asyncio's `StreamWriter` over its
//! socket transport).
//!
//! Ground rules:
//! * `write` never parks. It tries one `send` when nothing is buffered (no copy for the bytes
//!   the socket takes), buffers the rest, and arms a flush: a loop callback that runs when
//!   the socket is writable, like the `add_writer` callback of asyncio's transport. So bytes
//!   go out even if nobody calls `drain`;
//! * the armed callback holds the writer's state strongly; the reactor owns it (not the
//!   state), so there is no cycle: a writer dropped with bytes still buffered lingers until
//!   they are sent, then closes, and the loop's close drops it for good;
//! * `drain` parks while the buffer is above the high-water mark, until the flush brings it
//!   down to the low-water mark, as asyncio's `pause_writing`/`resume_writing` do;
//! * wakers are woken after the `RefCell` borrow ends.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net as unix;
use std::rc::{Rc, Weak};

use super::conn::Conn;

mod buffer;
mod flush;

use self::buffer::{Eof, Shared, State};
use self::flush::{arm_flush, close, eof_when_sent, flush};
use crate::runtime::Dir;
use crate::runtime::{Ticket, WaitKind, WaitList};
use crate::streams::SendBuffer;

/// The default high-water mark of a [`StreamWriter`]'s buffer: 64 KiB, as in asyncio. The
/// low-water mark is a quarter of the high one.
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The writing half of a connection (asyncio's `StreamWriter`).
///
/// [`write`](Self::write) never parks: it sends at once what the socket takes and buffers
/// the rest, which the loop sends when the socket is writable. [`drain`](Self::drain) is the
/// flow control: it parks while the buffer is above the high-water mark (64 KiB by default)
/// until it is down to the low-water mark (a quarter of it).
///
/// ```
/// use corio::net::UnixStream;
/// use corio::streams;
/// corio::run(|| {
///     let (a, b) = UnixStream::pair().unwrap();
///     let (_r, writer) = streams::split(a);
///     let (mut reader, _w) = streams::split(b);
///     writer.write(b"ping\n");
///     writer.drain().unwrap();
///     writer.write_eof().unwrap();
///     assert_eq!(reader.readline().unwrap(), b"ping\n");
///     assert_eq!(reader.readline().unwrap(), b"", "EOF after write_eof");
/// });
/// ```
///
/// Dropping the writer closes the connection (as [`close`](Self::close) does): bytes still
/// buffered are sent first, in the background, for as long as the peer takes them
/// ([`abort`](Self::abort) drops them instead).
///
/// Every method takes `&self`, so tasks can share a writer in an `Rc` (many producers writing
/// to one connection); writes from different tasks are never interleaved within one call.
///
/// A `StreamWriter` belongs to its loop's thread (`!Send`), like the socket under it.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::streams::StreamWriter>();
/// ```
pub struct StreamWriter {
    shared: Rc<Shared>,
}

impl StreamWriter {
    pub(crate) fn new(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter {
            shared: Rc::new(Shared {
                conn,
                st: RefCell::new(State {
                    out: SendBuffer::new(DEFAULT_HIGH_WATER),
                    paused: false,
                    armed: false,
                    eof: Eof::No,
                    closing: false,
                    closed: false,
                    error: None,
                    dropped_after_eof: false,
                    drain_waiters: WaitList::new(),
                    close_waiters: WaitList::new(),
                }),
            }),
        }
    }

    /// A link its connection's reader keeps, to end the writer when a read fails.
    pub(crate) fn link(&self) -> WriterLink {
        WriterLink(Rc::downgrade(&self.shared))
    }

    /// Queues `data` for sending; never parks. When nothing is buffered, the bytes go
    /// straight to the socket with no copy; what it does not take is buffered and sent when
    /// it is writable.
    ///
    /// Data written after [`close`](Self::close) or [`write_eof`](Self::write_eof), or after
    /// the connection failed, is dropped; the next [`drain`](Self::drain) reports it
    /// (`ConnectionReset` once closed, `BrokenPipe` after `write_eof`, or the connection's
    /// error).
    pub fn write(&self, data: &[u8]) {
        let sh = &self.shared;
        let mut st = sh.st.borrow_mut();
        if data.is_empty() || st.closing || st.closed {
            return;
        }
        if st.eof != Eof::No {
            st.dropped_after_eof = true;
            return;
        }
        if st.buffered() == 0 && !st.armed && sh.conn.src().is_ready(Dir::Write) {
            let sent = sh.conn.send(data);
            // (A TLS session may hold records the socket did not take: flush them later.)
            if matches!(sent, Ok(n) if n == data.len()) && !sh.conn.pending_out() {
                return;
            }
            return self.write_rest(st, data, Some(sent));
        }
        self.write_rest(st, data, None)
    }

    /// The rest of [`write`](Self::write) once the socket did not take everything at once
    /// (`sent`: what the one `send` tried did): buffer, arm the flush, or record the error.
    #[inline(never)]
    fn write_rest(
        &self,
        mut st: std::cell::RefMut<'_, State>,
        data: &[u8],
        sent: Option<io::Result<usize>>,
    ) {
        let sh = &self.shared;
        let mut data = data;
        if let Some(sent) = sent {
            match sent {
                Ok(n) => {
                    data = &data[n..];
                    sh.conn.src().clear_ready(Dir::Write);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    sh.conn.src().clear_ready(Dir::Write);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    st.fail(&e, &sh.conn);
                    let woken = st.take_wakers();
                    drop(st);
                    woken.wake();
                    return;
                }
            }
        }
        st.out.append(data);
        pause_above_high(&mut st);
        let arm = !st.armed;
        st.armed = true;
        drop(st);
        if arm {
            arm_flush(sh);
        }
    }

    /// Queues every buffer of `lines`, sent together (one `send` when the socket takes it
    /// all). Never parks.
    pub fn writelines<I>(&self, lines: I)
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let sh = &self.shared;
        let mut st = sh.st.borrow_mut();
        if st.closing || st.closed {
            return;
        }
        if st.eof != Eof::No {
            st.dropped_after_eof = true;
            return;
        }
        for l in lines {
            st.out.append(l.as_ref());
        }
        let arm = st.buffered() > 0 && !st.armed;
        if arm {
            st.armed = true;
        }
        // Flush now if the socket is writable: one syscall for all the lines. As for `write`
        // (and asyncio's `_maybe_pause_protocol`), the buffer is held against the high-water
        // mark after that send, not before it.
        let flush_now = arm && sh.conn.src().is_ready(Dir::Write);
        if !flush_now {
            pause_above_high(&mut st);
        }
        drop(st);
        if flush_now {
            flush(sh);
            pause_above_high(&mut sh.st.borrow_mut());
        } else if arm {
            arm_flush(sh);
        }
    }

    /// Parks while the buffer is above the high-water mark, until the loop has sent it down
    /// to the low-water mark (asyncio's `drain`). Returns at once otherwise.
    ///
    /// # Errors
    ///
    /// The error that ended the connection (`ConnectionReset`, `BrokenPipe`, ...),
    /// `ConnectionReset` if the writer was closed, `BrokenPipe` if data written after
    /// [`write_eof`](Self::write_eof) was dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the buffered bytes are still sent.
    #[inline]
    pub fn drain(&self) -> io::Result<()> {
        // The common case, a buffer below the high-water mark on a healthy connection, is a
        // few loads in the caller's frame; the rest is out of line.
        {
            let st = self.shared.st.borrow();
            if !st.paused && st.error.is_none() && !st.closed && !st.dropped_after_eof {
                return Ok(());
            }
        }
        self.drain_slow()
    }

    #[inline(never)]
    fn drain_slow(&self) -> io::Result<()> {
        let sh = &self.shared;
        loop {
            let ticket = {
                let mut st = sh.st.borrow_mut();
                if let Some(e) = &st.error {
                    return Err(e.to_io());
                }
                if st.closed {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the connection is closed",
                    ));
                }
                if std::mem::take(&mut st.dropped_after_eof) {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "data written after write_eof was dropped",
                    ));
                }
                if !st.paused {
                    return Ok(());
                }
                st.drain_waiters.push_current(WaitKind::Drain)
            };
            let _g = AbandonGuard {
                sh,
                closers: false,
                ticket,
            };
            crate::runtime::park_external(&WaitKind::Drain);
        }
    }

    /// Closes the write side once the buffer is sent (TCP sends FIN): the peer reads EOF,
    /// and this side can still read. Later writes are dropped.
    ///
    /// # Errors
    ///
    /// The `shutdown` error, when it happens at once (nothing buffered).
    pub fn write_eof(&self) -> io::Result<()> {
        let sh = &self.shared;
        let mut st = sh.st.borrow_mut();
        if st.closing || st.closed || st.eof != Eof::No {
            return Ok(());
        }
        if st.buffered() == 0 && !st.armed {
            if !eof_when_sent(&mut st, &sh.conn)? {
                st.armed = true;
                drop(st);
                arm_flush(sh);
            }
            Ok(())
        } else {
            st.eof = Eof::Pending;
            Ok(())
        }
    }

    /// `true`: TCP and Unix stream sockets can half-close.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes the connection once the buffer is sent (asyncio's `close`): both directions
    /// shut down, so the reader reads EOF too. Does not park; [`wait_closed`](Self::wait_closed)
    /// waits for the end. Closing twice does nothing.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for close errors and lets a handler end with
    /// `return writer.close();`.
    pub fn close(&self) -> io::Result<()> {
        close(&self.shared);
        Ok(())
    }

    /// Closes the connection now (asyncio's `transport.abort()`): buffered bytes are dropped
    /// and both directions shut down at once. For a peer that stopped reading, where
    /// [`close`](Self::close) would wait forever to send the buffer.
    pub fn abort(&self) {
        let sh = &self.shared;
        let mut st = sh.st.borrow_mut();
        st.closing = true;
        st.out.discard();
        // The shutdown also wakes an armed flush, which then lets go of the connection.
        st.finish_close(&sh.conn);
        let woken = st.take_wakers();
        drop(st);
        woken.wake();
    }

    /// `true` once [`close`](Self::close) was called or the connection was lost (a send or
    /// a read of its reader failed).
    pub fn is_closing(&self) -> bool {
        let st = self.shared.st.borrow();
        st.closing || st.closed
    }

    /// Parks until the connection is closed: [`close`](Self::close) was called and the buffer
    /// sent, or the connection failed.
    ///
    /// A failure is seen by an operation on the socket: a send of this writer's, or a read
    /// of the connection's [`StreamReader`](crate::StreamReader) (a reset it reads ends the
    /// writer too, as asyncio's transport closes on a fatal read error). A connection that
    /// nobody reads or writes learns of a reset only at its next read or write: asyncio's
    /// transport, which always reads, would see it at once.
    ///
    /// # Errors
    ///
    /// The error that ended the connection, if one did.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait_closed(&self) -> io::Result<()> {
        let sh = &self.shared;
        loop {
            let ticket = {
                let mut st = sh.st.borrow_mut();
                if st.closed {
                    return match &st.error {
                        Some(e) => Err(e.to_io()),
                        None => Ok(()),
                    };
                }
                st.close_waiters.push_current(WaitKind::WaitClosed)
            };
            let _g = AbandonGuard {
                sh,
                closers: true,
                ticket,
            };
            crate::runtime::park_external(&WaitKind::WaitClosed);
        }
    }

    /// Sets the high- and low-water marks of the buffer, in bytes (asyncio's
    /// `set_write_buffer_limits`). A `low` above `high` is taken as `high`.
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        let mut st = self.shared.st.borrow_mut();
        st.out.set_limits(high, low);
        pause_above_high(&mut st);
        let woken = st.take_wakers();
        drop(st);
        woken.wake();
    }

    /// The high- and low-water marks, in bytes.
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        let st = self.shared.st.borrow();
        (st.out.high, st.out.low)
    }

    /// How many bytes are buffered, not yet sent.
    pub fn write_buffer_size(&self) -> usize {
        self.shared.st.borrow().buffered()
    }

    /// The remote address of a TCP connection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on a Unix socket (see [`peer_unix_addr`](Self::peer_unix_addr)),
    /// `NotConnected` once the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared.conn.peer_addr()
    }

    /// The local address of a TCP connection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on a Unix socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.conn.local_addr()
    }

    /// The remote address of a Unix connection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on a TCP socket.
    pub fn peer_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        self.shared.conn.peer_unix_addr()
    }

    /// The local address of a Unix connection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` on a TCP socket.
    pub fn local_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        self.shared.conn.local_unix_addr()
    }
}

impl StreamWriter {
    /// The connection under the writer.
    #[cfg(feature = "tls")]
    pub(super) fn conn(&self) -> &Conn {
        &self.shared.conn
    }

    /// Lets go of an idle connection without closing it (for `start_tls`).
    #[cfg(feature = "tls")]
    pub(super) fn into_conn(self) -> io::Result<Rc<Conn>> {
        let conn = self.shared.conn.clone();
        let mut st = self.shared.st.borrow_mut();
        let busy = if st.closing || st.closed || st.eof != Eof::No {
            Some("the writer is closed")
        } else if st.buffered() > 0 || st.armed || conn.pending_out() {
            Some("the writer still has data to send; drain it first")
        } else {
            None
        };
        if let Some(why) = busy {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("start_tls: {why}"),
            ));
        }
        // Closed as far as this writer knows, so its drop leaves the socket alone.
        st.closed = true;
        drop(st);
        Ok(conn)
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        close(&self.shared);
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.st.borrow();
        f.debug_struct("StreamWriter")
            .field("conn", &self.shared.conn)
            .field("buffered", &st.buffered())
            .field("closing", &st.closing)
            .field("closed", &st.closed)
            .finish()
    }
}

/// Takes a waiter off its list when its park returns or unwinds (a woken waiter is no
/// longer there; a wake-all grants nothing that would need passing on).
struct AbandonGuard<'a> {
    sh: &'a Shared,
    closers: bool,
    ticket: Ticket,
}

impl Drop for AbandonGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.sh.st.borrow_mut();
        let w = st.list(self.closers).remove(self.ticket);
        drop(st);
        drop(w);
    }
}

/// Pauses `drain` while the buffer is above the high-water mark (a connection already closed
/// or failed has nothing to drain: `drain` reports that instead).
fn pause_above_high(st: &mut State) {
    if !st.closed && st.buffered() > st.out.high {
        st.paused = true;
    }
}

/// The reader's way to its connection's writer (without keeping it alive): a connection
/// whose read fails (a reset) is over for the writer too, as an asyncio transport's fatal
/// error closes both directions. The writer then reports the error from `drain`, counts as
/// closing, drops its buffer and wakes its `drain` and `wait_closed` waiters.
#[derive(Debug)]
pub(crate) struct WriterLink(Weak<Shared>);

impl WriterLink {
    /// Ends the writer with the read error `e`, unless it is closed already.
    pub(crate) fn fail(&self, e: &io::Error) {
        let Some(sh) = self.0.upgrade() else {
            return;
        };
        // Never borrowed across a park, and a reader runs no writer code: free here.
        let Ok(mut st) = sh.st.try_borrow_mut() else {
            debug_assert!(
                false,
                "the writer's state is borrowed while its reader fails"
            );
            return;
        };
        if st.closed {
            return;
        }
        st.fail(e, &sh.conn);
        let woken = st.take_wakers();
        drop(st);
        woken.wake();
    }
}
