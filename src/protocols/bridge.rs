//! A streams pair over a transport (asyncio's `StreamReaderProtocol`): [`streams_bridge`].
//!
//! corio's [`StreamReader`] and [`StreamWriter`] work on a socket directly (that is what
//! makes them cheap), so the bridge gives them one end of a Unix socket pair and pipes the
//! other end to the transport, both ways, with each side's flow control passed on: when the
//! transport's buffer is over its high-water mark the pipe stops reading from the pair (and
//! the writer's `drain` parks on the pair's full buffer), and when the reader falls behind
//! the pair's buffer fills and the transport stops reading. It costs a socket pair and one
//! copy through the kernel each way; for a plain TCP or Unix connection use
//! [`open_connection`](crate::streams::open_connection) or
//! [`split`](crate::streams::split), which have neither.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use super::{BaseProtocol, Protocol, Transport};
use crate::net::UnixStream;
use crate::streams::{self, LostLink, StreamReader, StreamWriter};

/// What the streams may write before the transport exists: past it the pipe stops reading
/// from the pair, so the writer's `drain` parks (the streams' default high-water mark).
const PENDING_HIGH: usize = streams::DEFAULT_HIGH_WATER;

/// One end of the pipe: where its bytes go, and bytes that came before that end existed.
#[derive(Default)]
struct End {
    transport: Option<Transport>,
    pending: Vec<u8>,
    eof_pending: bool,
    close_pending: bool,
    /// The transport's peer sent its EOF.
    real_eof: bool,
    /// The streams side sent its EOF (write_eof or close).
    pipe_eof: bool,
}

type Shared = Rc<RefCell<End>>;

/// The protocol to give the transport: see [`streams_bridge`].
pub struct StreamsBridge {
    /// The pair end's transport (bytes from the transport go there).
    pipe: Transport,
    /// This side, filled in by `connection_made`; the pipe end's protocol writes to it.
    me: Shared,
    /// The streams' connection, to record the error the transport was lost with.
    streams: LostLink,
    /// `connection_made` ran: from then on `connection_lost` closes the pipe; before it,
    /// dropping the protocol does (a connection that never came).
    made: bool,
}

/// The pair end's protocol: what the streams write goes to the real transport.
struct PipeEnd {
    real: Shared,
    /// Its own transport, to stop reading the pair while the real one does not exist yet.
    pipe: Option<Transport>,
}

impl PipeEnd {
    fn write_to_real(&mut self, data: &[u8]) {
        let mut e = self.real.borrow_mut();
        match &e.transport {
            Some(t) => {
                let t = t.clone();
                drop(e);
                t.write(data);
            }
            None => {
                e.pending.extend_from_slice(data);
                if e.pending.len() >= PENDING_HIGH
                    && let Some(p) = &self.pipe
                {
                    p.pause_reading();
                }
            }
        }
    }
}

impl BaseProtocol for PipeEnd {
    fn connection_made(&mut self, t: Transport) {
        self.pipe = Some(t);
    }
    fn connection_lost(&mut self, _exc: Option<io::Error>) {
        // The streams side closed: close the real connection once its buffer is sent.
        let mut e = self.real.borrow_mut();
        match e.transport.clone() {
            Some(t) => {
                drop(e);
                t.close();
            }
            None => e.close_pending = true,
        }
    }
    fn pause_writing(&mut self) {
        // The streams reader is behind: stop reading the real connection.
        if let Some(t) = self.real.borrow().transport.clone() {
            t.pause_reading();
        }
    }
    fn resume_writing(&mut self) {
        if let Some(t) = self.real.borrow().transport.clone() {
            t.resume_reading();
        }
    }
}

impl Protocol for PipeEnd {
    fn data_received(&mut self, data: &[u8]) {
        self.write_to_real(data);
    }
    fn eof_received(&mut self) -> bool {
        let mut e = self.real.borrow_mut();
        e.pipe_eof = true;
        let both = e.real_eof;
        match e.transport.clone() {
            Some(t) => {
                drop(e);
                t.write_eof();
            }
            None => e.eof_pending = true,
        }
        // Keep the pipe open while the streams may still read what the transport sends;
        // once both sides have sent their EOF, close (and the transport with it).
        !both
    }
}

impl BaseProtocol for StreamsBridge {
    fn connection_made(&mut self, t: Transport) {
        self.made = true;
        let (pending, eof, close) = {
            let mut e = self.me.borrow_mut();
            e.transport = Some(t.clone());
            (
                std::mem::take(&mut e.pending),
                e.eof_pending,
                e.close_pending,
            )
        };
        if !pending.is_empty() {
            t.write(&pending);
        }
        if eof {
            t.write_eof();
        }
        if close {
            t.close();
        } else {
            // Reading the pair may have stopped on what piled up before (`PENDING_HIGH`).
            self.pipe.resume_reading();
        }
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        // asyncio's `StreamReaderProtocol`: an error is the reader's exception, not an EOF.
        // The pipe still closes, so a reader parked on it wakes and meets the error.
        if let Some(e) = exc {
            self.streams.lost(&e);
        }
        self.pipe.close();
    }
    fn pause_writing(&mut self) {
        // The real connection is behind: stop taking what the streams write.
        self.pipe.pause_reading();
    }
    fn resume_writing(&mut self) {
        self.pipe.resume_reading();
    }
}

impl Protocol for StreamsBridge {
    fn data_received(&mut self, data: &[u8]) {
        self.pipe.write(data);
    }
    fn eof_received(&mut self) -> bool {
        let both = {
            let mut e = self.me.borrow_mut();
            e.real_eof = true;
            e.pipe_eof
        };
        self.pipe.write_eof();
        // Keep the transport open while the streams writer may still answer; once both
        // sides have sent their EOF, close (and the pipe with it).
        !both
    }
}

impl Drop for StreamsBridge {
    fn drop(&mut self) {
        // The connection never came (`create_connection` failed, or the protocol was never
        // used): close the pipe, or it would stay open with its streams waiting on it.
        if !self.made && !self.pipe.is_closing() {
            self.pipe.close();
        }
    }
}

impl std::fmt::Debug for StreamsBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsBridge")
            .field("pipe", &self.pipe)
            .finish()
    }
}

/// A streams pair over any transport (asyncio's `StreamReaderProtocol`): returns the
/// protocol to give the transport, and the [`StreamReader`] and [`StreamWriter`] that read
/// what the transport receives and write through it. The writer's `write_eof` or `close`
/// becomes the transport's `write_eof` once the buffers are sent; the transport's EOF is the
/// reader's; once both sides have sent their EOF the transport and the pipe close. A
/// transport lost with an error (a reset) gives the reader that error, as asyncio's
/// `StreamReaderProtocol` does, after the bytes that came before it. What the writer writes
/// before the transport exists is held up to the writer's high-water mark (then `drain`
/// parks); if the protocol is dropped unused (the connection failed), the streams see the
/// pipe close.
///
/// ```
/// use corio::protocols;
/// corio::run(|| {
///     let server = corio::streams::start_server("127.0.0.1:0", |mut r, w| {
///         let line = r.readline()?;
///         w.write(&line);
///         w.close()
///     })
///     .unwrap();
///     let (proto, mut reader, writer) = protocols::streams_bridge().unwrap();
///     protocols::create_connection(move || proto, server.local_addr().unwrap()).unwrap();
///     writer.write(b"through a transport\n");
///     assert_eq!(reader.readline().unwrap(), b"through a transport\n");
/// });
/// ```
///
/// # Errors
///
/// When the socket pair cannot be made (out of file descriptors) or outside a running loop.
pub fn streams_bridge() -> io::Result<(StreamsBridge, StreamReader, StreamWriter)> {
    let (ours, theirs) = UnixStream::pair()?;
    let me: Shared = Rc::new(RefCell::new(End::default()));
    let real = me.clone();
    let pipe = super::connect_accepted_socket(move || PipeEnd { real, pipe: None }, ours)?;
    let (reader, writer, streams) = streams::split_linked(theirs);
    Ok((
        StreamsBridge {
            pipe,
            me,
            streams,
            made: false,
        },
        reader,
        writer,
    ))
}
