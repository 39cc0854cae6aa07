//! Sending the buffer: the flush callback armed on the socket's write readiness (asyncio's
//! transport `add_writer` callback), and closing once the buffer is sent.

use std::io;
use std::net::Shutdown;
use std::rc::Rc;

use super::buffer::{Eof, Shared};
use crate::runtime::Dir;

/// Closes once the buffer is sent (at once if it is empty), and wakes whoever that releases.
pub(super) fn close(sh: &Rc<Shared>) {
    let mut st = sh.st.borrow_mut();
    if st.closing || st.closed {
        return;
    }
    st.closing = true;
    if st.buffered() == 0 && !st.armed {
        sh.conn.close_notify();
        st.finish_close(&sh.conn);
    }
    let woken = st.take_wakers();
    drop(st);
    woken.wake();
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
        match conn.send(&st.buf[st.pos..]) {
            Ok(n) => {
                st.consumed(n);
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
    let rearm = !st.closed && (st.buffered() > 0 || conn.pending_out());
    if rearm {
        st.armed = true;
    } else if !st.closed {
        if st.eof == Eof::Pending {
            st.eof = Eof::Sent;
            if let Err(e) = conn.shutdown(Shutdown::Write) {
                st.fail(&e, conn);
            }
        }
        if st.closing {
            conn.close_notify();
            st.finish_close(conn);
        }
    }
    let woken = st.take_wakers();
    drop(st);
    woken.wake();
    if rearm {
        arm_flush(sh);
    }
}
