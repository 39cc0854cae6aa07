//! A connection's write buffer and flags: what is unsent, where `write_eof` and `close`
//! stand, and which water mark the buffer last crossed.

/// asyncio's default high-water mark of a transport's write buffer: 64 KiB (the low-water
/// mark defaults to a quarter of the high one).
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;

use crate::streams::SendBuffer;

/// Where `write_eof` stands.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Eof {
    No,
    /// Asked for; sent once the buffer is empty.
    Pending,
    Sent,
}

pub(super) struct State {
    /// The unsent bytes and the water marks.
    pub(super) out: SendBuffer,
    /// `close`, `abort` or a failure: no more reads, writes are dropped.
    pub(super) closing: bool,
    /// `connection_lost` is scheduled (or done).
    pub(super) lost: bool,
    pub(super) eof: Eof,
    /// The peer's EOF was seen.
    pub(super) eof_received: bool,
    /// `pause_reading` is in force.
    pub(super) read_paused: bool,
    pub(super) read_armed: bool,
    pub(super) write_armed: bool,
    /// `pause_writing` was delivered (or is owed) and `resume_writing` not yet.
    pub(super) write_paused: bool,
    /// A flow-control call owed to the protocol, which was busy in another callback:
    /// `Some(true)` pause, `Some(false)` resume.
    pub(super) flow_owed: Option<bool>,
    /// Writes dropped because the transport was closing or closed.
    pub(super) dropped: u64,
}

impl State {
    /// An empty buffer with asyncio's default water marks.
    pub(super) fn new() -> State {
        State {
            out: SendBuffer::new(DEFAULT_HIGH_WATER),
            closing: false,
            lost: false,
            eof: Eof::No,
            eof_received: false,
            read_paused: false,
            read_armed: false,
            write_armed: false,
            write_paused: false,
            flow_owed: None,
            dropped: 0,
        }
    }

    #[inline]
    pub(super) fn buffered(&self) -> usize {
        self.out.buffered()
    }

    pub(super) fn is_reading(&self) -> bool {
        !self.closing && !self.read_paused && !self.eof_received
    }

    /// The flow-control call the buffer's size asks for now, if any.
    pub(super) fn flow_change(&mut self) -> Option<bool> {
        let size = self.buffered();
        if !self.write_paused && size > self.out.high {
            self.write_paused = true;
            Some(true)
        } else if self.write_paused && size <= self.out.low {
            self.write_paused = false;
            Some(false)
        } else {
            None
        }
    }
}
