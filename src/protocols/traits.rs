//! The callback interfaces a user implements (asyncio's `protocols.py`).

use std::io;
use std::net::SocketAddr;

use super::{DatagramTransport, Transport};

/// What every stream protocol receives (asyncio's `BaseProtocol`): the connection's start and
/// end, and flow control for writing.
///
/// Every callback runs on the loop's thread as a loop callback (never on a coroutine stack,
/// never from inside a [`Transport`] call), so a callback must not park: it may call the
/// transport, [`spawn`](crate::spawn) a task and hand data to it, or use any non-parking call.
/// A panic in a callback closes that connection (the protocol then gets
/// [`connection_lost`](Self::connection_lost) with an error) and goes to the loop's exception
/// handler; the loop and the other connections go on.
pub trait BaseProtocol: 'static {
    /// The connection is made; `transport` is its handle, to keep for writing. Called first,
    /// exactly once.
    fn connection_made(&mut self, transport: Transport) {
        let _ = transport;
    }

    /// The connection is closed: `None` after a clean [`close`](Transport::close), an `EOF` the
    /// protocol did not keep open, or an [`abort`](Transport::abort); `Some(error)` when the
    /// socket failed or a callback panicked. Called last, exactly once, always as a loop
    /// callback of its own. The protocol is dropped right after.
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        let _ = exc;
    }

    /// The transport's write buffer went over its high-water mark: stop producing until
    /// [`resume_writing`](Self::resume_writing). Called from the [`Transport::write`] that
    /// crossed the mark, or (when that write was made inside another callback of this
    /// protocol) right after that callback returns.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to its low-water mark after a
    /// [`pause_writing`](Self::pause_writing).
    fn resume_writing(&mut self) {}
}

/// A stream protocol that receives data as byte slices (asyncio's `Protocol`).
///
/// The calls follow asyncio's order: `connection_made`, then any number of `data_received`,
/// then at most one `eof_received`, then `connection_lost` once.
///
/// ```
/// use corio::protocols::{self, BaseProtocol, Protocol, Transport};
///
/// /// Echoes every byte back.
/// #[derive(Default)]
/// struct Echo(Option<Transport>);
///
/// impl BaseProtocol for Echo {
///     fn connection_made(&mut self, t: Transport) {
///         self.0 = Some(t);
///     }
/// }
///
/// impl Protocol for Echo {
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data);
///     }
/// }
///
/// corio::run(|| {
///     let server = protocols::create_server(Echo::default, "127.0.0.1:0").unwrap();
///     let (mut r, w) = corio::streams::open_connection(server.local_addr().unwrap()).unwrap();
///     w.write(b"ping\n");
///     assert_eq!(r.readline().unwrap(), b"ping\n");
/// });
/// ```
pub trait Protocol: BaseProtocol {
    /// Bytes arrived. The slice is only valid during the call: copy what you keep.
    fn data_received(&mut self, data: &[u8]);

    /// The peer closed its writing side. Return `true` to keep the connection open for
    /// writing (close it later yourself), `false` (the default) to close it.
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// A stream protocol that lends its own buffer for reads, with no copy (asyncio's
/// `BufferedProtocol`). Give it to [`create_server`](super::create_server) and friends
/// wrapped in [`Buffered`](super::Buffered).
pub trait BufferedProtocol: BaseProtocol {
    /// A buffer for the next read, at least one byte long; `size_hint` is what the transport
    /// would like (64 KiB), not a requirement. An empty buffer is an error that closes the
    /// connection.
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8];

    /// The first `nbytes` of the buffer from [`get_buffer`](Self::get_buffer) were filled.
    fn buffer_updated(&mut self, nbytes: usize);

    /// As [`Protocol::eof_received`].
    fn eof_received(&mut self) -> bool {
        false
    }
}

/// A datagram protocol (asyncio's `DatagramProtocol`), for
/// [`create_datagram_endpoint`](super::create_datagram_endpoint).
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; `transport` sends. Called first, exactly once.
    fn connection_made(&mut self, transport: DatagramTransport) {
        let _ = transport;
    }

    /// A datagram arrived from `addr`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr);

    /// A send or a receive failed (an ICMP "port unreachable" shows up as
    /// `ConnectionRefused` on a connected endpoint). The endpoint stays open.
    fn error_received(&mut self, exc: io::Error) {
        let _ = exc;
    }

    /// The endpoint is closed; called last, exactly once, as a loop callback of its own.
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        let _ = exc;
    }

    /// The send buffer went over its high-water mark.
    fn pause_writing(&mut self) {}

    /// The send buffer drained to its low-water mark.
    fn resume_writing(&mut self) {}
}
