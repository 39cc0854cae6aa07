//! The writer's state: the buffer with its water marks, the end-of-file and close flags, the
//! first error, and the drain and close wait lists.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use super::super::conn::Conn;
use crate::runtime::WaitList;
use crate::streams::SendBuffer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eof {
    No,
    /// Asked for: the write side shuts down once the buffer is sent.
    Pending,
    Sent,
}

/// An `io::Error` kept to be reported more than once.
#[derive(Debug, Clone)]
pub(super) struct SavedError {
    kind: io::ErrorKind,
    os: Option<i32>,
    msg: String,
}

impl SavedError {
    pub(super) fn new(e: &io::Error) -> SavedError {
        SavedError {
            kind: e.kind(),
            os: e.raw_os_error(),
            msg: e.to_string(),
        }
    }

    pub(super) fn to_io(&self) -> io::Error {
        match self.os {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(self.kind, self.msg.clone()),
        }
    }
}

#[derive(Debug)]
pub(super) struct State {
    /// The unsent bytes and the water marks.
    pub(super) out: SendBuffer,
    /// Above the high-water mark, not yet back at the low one: `drain` parks.
    pub(super) paused: bool,
    /// A flush callback is registered (or scheduled).
    pub(super) armed: bool,
    pub(super) eof: Eof,
    /// `close` was called; the socket shuts down once the buffer is sent.
    pub(super) closing: bool,
    /// Shut down (closed, or lost on an error).
    pub(super) closed: bool,
    pub(super) error: Option<SavedError>,
    /// Data was written after `write_eof` and dropped: the next `drain` says so.
    pub(super) dropped_after_eof: bool,
    pub(super) drain_waiters: WaitList,
    pub(super) close_waiters: WaitList,
}

impl State {
    #[inline]
    pub(super) fn buffered(&self) -> usize {
        self.out.buffered()
    }

    /// Records a fatal error: drops the buffer and ends the connection.
    pub(super) fn fail(&mut self, e: &io::Error, conn: &Conn) {
        if self.error.is_none() {
            self.error = Some(SavedError::new(e));
        }
        self.out.discard();
        self.finish_close(conn);
    }

    pub(super) fn finish_close(&mut self, conn: &Conn) {
        if !self.closed {
            self.closed = true;
            conn.closed.set(true);
            let _ = conn.shutdown(Shutdown::Both);
        }
    }

    /// Waiters to wake once the borrow ends: drainers if the buffer is low enough (or the
    /// connection is gone), closers if it is closed.
    pub(super) fn take_wakers(&mut self) -> Woken {
        if self.paused && (self.closed || self.buffered() <= self.out.low) {
            self.paused = false;
        }
        Woken {
            drainers: if self.paused {
                WaitList::new()
            } else {
                self.drain_waiters.take()
            },
            closers: if self.closed {
                self.close_waiters.take()
            } else {
                WaitList::new()
            },
        }
    }

    pub(super) fn list(&mut self, closers: bool) -> &mut WaitList {
        if closers {
            &mut self.close_waiters
        } else {
            &mut self.drain_waiters
        }
    }
}

/// Waiters taken off a writer's lists, to be woken after its borrow ends.
pub(super) struct Woken {
    drainers: WaitList,
    closers: WaitList,
}

impl Woken {
    pub(super) fn wake(self) {
        self.drainers.wake_all_taken();
        self.closers.wake_all_taken();
    }
}

pub(super) struct Shared {
    pub(super) conn: Rc<Conn>,
    pub(super) st: RefCell<State>,
}
