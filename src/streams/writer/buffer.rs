//! The writer's state: the buffer with its water marks, the end-of-file and close flags, the
//! first error, and the drain and close wait lists.

use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use super::super::conn::{Conn, SavedError};
use crate::runtime::WaitList;
use crate::streams::SendBuffer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eof {
    No,
    /// Asked for: the write side shuts down once the buffer is sent.
    Pending,
    Sent,
}

/// `#[repr(C)]`, in the order a `write` and a `drain` read it: the flags, the error's
/// pointer, then the buffer (its `Vec` and `pos`; the water marks follow, read only when bytes
/// stay buffered), the wait lists last. Everything the common write and drain read (with the
/// `Rc<Conn>` and the borrow flag before it) then spans 64 bytes, at most two cache lines:
/// with thousands of connections the state is cold by its task's turn, and left to Rust's
/// layout the flags sat at the state's far end, a third line.
#[derive(Debug)]
#[repr(C)]
pub(super) struct State {
    /// Above the high-water mark, not yet back at the low one: `drain` parks.
    pub(super) paused: bool,
    /// A flush callback is registered (or scheduled).
    pub(super) armed: bool,
    pub(super) eof: Eof,
    /// `close` was called; the socket shuts down once the buffer is sent.
    pub(super) closing: bool,
    /// Shut down (closed, or lost on an error).
    pub(super) closed: bool,
    /// Data was written after `write_eof` and dropped: the next `drain` says so.
    pub(super) dropped_after_eof: bool,
    /// The first error; boxed, so that `drain`'s check of it is one pointer among the hot bytes.
    pub(super) error: Option<Box<SavedError>>,
    /// The unsent bytes and the water marks.
    pub(super) out: SendBuffer,
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
            self.error = Some(Box::new(SavedError::new(e)));
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

/// What a writer's clones share: the connection first, beside the state's borrow flag and
/// hot fields (see [`State`]), 64 bytes in all.
#[repr(C)]
pub(super) struct Shared {
    pub(super) conn: Rc<Conn>,
    pub(super) st: RefCell<State>,
}

#[cfg(test)]
mod tests {
    use super::super::StreamWriter;
    use super::*;
    use crate::streams::conn::AnyStream;

    /// A write and a drain on a healthy connection read 64 contiguous bytes of the shared
    /// state: the connection, the borrow flag, the flags, the error and the buffer's `Vec`
    /// and `pos`.
    #[test]
    fn a_writes_and_drains_fields_span_64_bytes() {
        crate::run(|| {
            let (a, _b) = crate::net::UnixStream::pair().unwrap();
            let w = StreamWriter::new(Rc::new(Conn::new(AnyStream::Unix(a))));
            let sh: &Shared = &w.shared;
            let st = sh.st.borrow();
            let at = |p: *const u8| p as usize;
            let first = at(std::ptr::from_ref(&sh.conn).cast());
            let ends = [
                at(std::ptr::from_ref(&sh.conn).cast()) + 8,
                at(std::ptr::from_ref(&st.paused).cast()) + 1,
                at(std::ptr::from_ref(&st.armed).cast()) + 1,
                at(std::ptr::from_ref(&st.eof).cast()) + 1,
                at(std::ptr::from_ref(&st.closing).cast()) + 1,
                at(std::ptr::from_ref(&st.closed).cast()) + 1,
                at(std::ptr::from_ref(&st.dropped_after_eof).cast()) + 1,
                at(std::ptr::from_ref(&st.error).cast()) + 8,
                // The `Vec` and `pos` (`SendBuffer`'s own test pins them first).
                at(std::ptr::from_ref(&st.out).cast()) + SendBuffer::HOT_BYTES,
            ];
            for end in ends {
                assert!(
                    end - first <= 64,
                    "a hot field ends {} bytes in",
                    end - first
                );
            }
        });
    }
}
