//! Sending the buffer: the flush callback armed on the socket's write readiness (asyncio's
//! transport `add_writer` callback), and closing once the buffer is sent.

use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use super::buffer::{Eof, Shared, State};
use crate::runtime::Dir;
use crate::streams::conn::Conn;

/// Closes once the buffer is sent (at once if it is empty), and wakes whoever that releases.
pub(super) fn close(sh: &Rc<Shared>) {
    let mut st = sh.st.borrow_mut();
    if st.closing || st.closed {
        return;
    }
    st.closing = true;
    let arm = st.buffered() == 0 && !st.armed && !finish_when_sent(&mut st, &sh.conn);
    if arm {
        st.armed = true;
    }
    let woken = st.take_wakers();
    drop(st);
    woken.wake();
    if arm {
        arm_flush(sh);
    }
}

/// The end of a clean close, once the buffer is out: a TLS session's `close_notify`, then
/// the shutdown. `false` when the socket has no room for the `close_notify` now (the send
/// cleared the write readiness): it stays queued in the session, and the caller arms the
/// flush, which sends it when the socket is writable and closes then; that waits as long as
/// buffered bytes would (until the peer reads, or an error or `abort` ends the
/// connection). A send that failed outright (the peer is gone) closes at once, as before:
/// the `close_notify` is best effort, not an error of the close.
fn finish_when_sent(st: &mut State, conn: &Conn) -> bool {
    if !close_notify_out(conn) {
        return false;
    }
    st.finish_close(conn);
    true
}

/// The half-close (`write_eof`) once the buffer is out: a TLS session's `close_notify`, then
/// the socket's write shutdown. `Ok(false)` when the socket has no room for the
/// `close_notify` now: the end stays [`Eof::Pending`] and the caller arms the flush, which
/// shuts the writing side once it is sent, as [`finish_when_sent`] does for a close.
pub(super) fn eof_when_sent(st: &mut State, conn: &Conn) -> io::Result<bool> {
    if !close_notify_out(conn) {
        st.eof = Eof::Pending;
        return Ok(false);
    }
    st.eof = Eof::Sent;
    conn.shutdown(Shutdown::Write).map(|()| true)
}

/// Queues a TLS session's `close_notify` (nothing for plain TCP) and sends what the socket
/// takes of it: `false` while part of it still waits for write readiness.
fn close_notify_out(conn: &Conn) -> bool {
    conn.close_notify();
    !conn.pending_out() || conn.src().is_ready(Dir::Write)
}

/// Registers the flush to run when the socket is writable.
pub(super) fn arm_flush(sh: &Rc<Shared>) {
    let s = sh.clone();
    if !sh.conn.src().call_when_ready(Dir::Write, move || flush(&s)) {
        let e = io::Error::other("the socket belongs to another event loop");
        let mut st = sh.st.borrow_mut();
        st.armed = false;
        st.fail(&e, &sh.conn);
        let woken = st.take_wakers();
        drop(st);
        woken.wake();
    }
}

/// Sends what the socket takes of the buffer; re-arms if some is left. Runs as a loop
/// callback (or inline from `writelines`), never parks.
pub(super) fn flush(sh: &Rc<Shared>) {
    let conn = &sh.conn;
    let mut st = sh.st.borrow_mut();
    st.armed = false;
    if st.closed {
        return;
    }
    while st.buffered() > 0 {
        let want = st.buffered();
        match conn.send(st.out.unsent()) {
            Ok(n) => {
                st.out.consumed(n);
                if n < want {
                    conn.src().clear_ready(Dir::Write);
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.src().clear_ready(Dir::Write);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                st.fail(&e, conn);
                break;
            }
        }
    }
    if !st.closed && st.buffered() == 0 && conn.pending_out() {
        // TLS records accepted with the last bytes, which the socket did not take yet.
        if let Err(e) = conn.send_pending() {
            st.fail(&e, conn);
        }
    }
    let mut rearm = !st.closed && (st.buffered() > 0 || conn.pending_out());
    if !rearm && !st.closed {
        if st.eof == Eof::Pending {
            match eof_when_sent(&mut st, conn) {
                Ok(true) => {}
                Ok(false) => rearm = true,
                Err(e) => st.fail(&e, conn),
            }
        }
        if !rearm && st.closing && !st.closed {
            rearm = !finish_when_sent(&mut st, conn);
        }
    }
    if rearm {
        st.armed = true;
    }
    let woken = st.take_wakers();
    drop(st);
    woken.wake();
    if rearm {
        arm_flush(sh);
    }
}
