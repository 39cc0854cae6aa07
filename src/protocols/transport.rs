//! [`Transport`]: the handle a stream protocol writes and controls its connection through
//! (asyncio's `Transport`).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

/// What a connection offers its handles; implemented by the connection state machine.
pub(crate) trait TransportOps {
    fn write(&self, data: &[u8]);
    fn writelines(&self, chunks: &mut dyn Iterator<Item = &[u8]>);
    fn write_eof(&self);
    fn close(&self);
    fn abort(&self);
    fn is_closing(&self) -> bool;
    fn pause_reading(&self);
    fn resume_reading(&self);
    fn is_reading(&self) -> bool;
    fn set_write_buffer_limits(&self, high: usize, low: usize);
    fn write_buffer_limits(&self) -> (usize, usize);
    fn write_buffer_size(&self) -> usize;
    fn dropped_writes(&self) -> u64;
    fn peer_addr(&self) -> io::Result<SocketAddr>;
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A stream connection seen from its protocol (asyncio's `Transport`): writes that never
/// park, flow control, and the connection's end.
///
/// `write` sends at once when nothing is buffered and the socket takes the bytes; what it
/// does not take is buffered and sent when the socket is writable. The protocol hears of a
/// full buffer through [`pause_writing`](super::BaseProtocol::pause_writing) (above the
/// high-water mark, 64 KiB by default) and
/// [`resume_writing`](super::BaseProtocol::resume_writing) (at or below the low-water mark, a
/// quarter of the high one).
///
/// A `Transport` is a cheap handle (clone it freely); the connection lives until it is lost,
/// whether handles remain or not, and handles of a lost connection do nothing.
/// It belongs to its loop's thread (`!Send`). Used while that loop does not run (between two
/// runs, or from a task of another loop on the thread), it schedules its work on its own
/// loop, as asyncio's transport does: the bytes go out and `connection_lost` comes in that
/// loop's next run. Used after its loop closed, it is lost with an error.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::protocols::Transport>();
/// ```
#[derive(Clone)]
pub struct Transport(pub(crate) Rc<dyn TransportOps>);

impl Transport {
    /// Queues `data` for sending; never parks. Data written after [`close`](Self::close),
    /// [`abort`](Self::abort), [`write_eof`](Self::write_eof) or a failure of the connection
    /// is dropped and counted ([`dropped_writes`](Self::dropped_writes)), never an error.
    pub fn write(&self, data: &[u8]) {
        self.0.write(data)
    }

    /// Queues every chunk of `chunks`, sent together.
    pub fn writelines<I>(&self, chunks: I)
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let chunks: Vec<I::Item> = chunks.into_iter().collect();
        self.0.writelines(&mut chunks.iter().map(AsRef::as_ref))
    }

    /// Closes the writing side once the buffer is sent (`shutdown(SHUT_WR)`); reading goes
    /// on. Later writes are dropped.
    pub fn write_eof(&self) {
        self.0.write_eof()
    }

    /// `true`: stream sockets can half-close.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Stops reading and closes the connection once the buffer is sent; the protocol then
    /// gets `connection_lost(None)` as a loop callback. Closing twice does nothing.
    pub fn close(&self) {
        self.0.close()
    }

    /// Closes the connection at once, dropping the buffer; the protocol then gets
    /// `connection_lost(None)` as a loop callback.
    pub fn abort(&self) {
        self.0.abort()
    }

    /// `true` once the transport is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    /// Stops delivering data until [`resume_reading`](Self::resume_reading); the kernel's
    /// receive buffer fills and the peer is slowed by TCP's own flow control.
    pub fn pause_reading(&self) {
        self.0.pause_reading()
    }

    /// Delivers data again after [`pause_reading`](Self::pause_reading).
    pub fn resume_reading(&self) {
        self.0.resume_reading()
    }

    /// `true` while data is delivered: not paused, not closing, no EOF yet.
    pub fn is_reading(&self) -> bool {
        self.0.is_reading()
    }

    /// Sets the write buffer's high- and low-water marks, in bytes (a `low` above `high` is
    /// taken as `high`). asyncio's defaults are 64 KiB and a quarter of it.
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) {
        self.0.set_write_buffer_limits(high, low)
    }

    /// The high- and low-water marks, in bytes.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.0.write_buffer_limits()
    }

    /// Bytes buffered, not yet sent.
    pub fn get_write_buffer_size(&self) -> usize {
        self.0.write_buffer_size()
    }

    /// How many writes were dropped because the transport was closing or closed.
    pub fn dropped_writes(&self) -> u64 {
        self.0.dropped_writes()
    }

    /// The peer's address of a TCP connection.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a Unix socket, `NotConnected` once the connection is lost.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address of a TCP connection.
    ///
    /// # Errors
    ///
    /// As [`peer_addr`](Self::peer_addr).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("peer", &self.peer_addr().ok())
            .field("closing", &self.is_closing())
            .field("buffered", &self.get_write_buffer_size())
            .finish()
    }
}
