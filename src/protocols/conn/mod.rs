//! A stream connection driven by readiness callbacks: the state machine behind a
//! [`Transport`] (asyncio's `_SelectorSocketTransport`).
//!
//! Ground rules, which keep every callback re-entrancy safe:
//! - the protocol is called only while no borrow of the connection's state is held, so a
//!   callback may call any transport method;
//! - the protocol is called only from loop callbacks (readiness, `call_soon`) or from a
//!   transport method made outside the protocol's own callbacks (`pause_writing` in `write`);
//!   a flow-control event that falls inside a callback of the same protocol is delivered
//!   right after that callback returns;
//! - `connection_lost` is always a loop callback of its own, scheduled once.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};

mod ops;
mod state;

use super::proto::StreamProto;
use super::rt::{self, Sides, Slot};
use super::{Transport, TransportOps};
use crate::runtime::{Exception, ExceptionContext, call_exception_handler};
use crate::streams::{Active, AnyStream};

pub use state::DEFAULT_HIGH_WATER;
use state::{Eof, State};

/// One connection. `P` is the protocol adapter (plain or buffered).
pub(crate) struct Conn<P: StreamProto> {
    me: Weak<Conn<P>>,
    /// `None` once lost: the socket is closed.
    sock: RefCell<Option<AnyStream>>,
    st: RefCell<State>,
    /// `None` once `connection_lost` has been called.
    proto: RefCell<Option<P>>,
    sides: RefCell<Option<Sides>>,
    slot: Cell<Option<Slot>>,
    /// Counts the connection in its server, if a server accepted it.
    active: RefCell<Option<Active>>,
    peer: Option<SocketAddr>,
}

impl<P: StreamProto> Conn<P> {
    /// Makes the connection, calls `connection_made` and starts reading.
    pub(crate) fn start(
        sock: AnyStream,
        proto: P,
        peer: Option<SocketAddr>,
        active: Option<Active>,
    ) -> Transport {
        let conn = Rc::new_cyclic(|me| Conn {
            me: me.clone(),
            sock: RefCell::new(Some(sock)),
            st: RefCell::new(State::new()),
            proto: RefCell::new(Some(proto)),
            sides: RefCell::new(None),
            slot: Cell::new(None),
            active: RefCell::new(active),
            peer,
        });
        *conn.sides.borrow_mut() = Some(Sides::new(&conn));
        conn.slot.set(rt::register(conn.clone()));
        let transport = Transport(conn.clone());
        conn.call_proto("connection_made", |p| p.made(transport.clone()));
        conn.arm(false);
        transport
    }

    /// Registers the readiness callback of one direction, unless one is outstanding or not
    /// wanted.
    fn arm(&self, write: bool) {
        {
            let mut st = self.st.borrow_mut();
            if write {
                if st.write_armed || st.lost {
                    return;
                }
                st.write_armed = true;
            } else {
                if st.read_armed || !st.is_reading() {
                    return;
                }
                st.read_armed = true;
            }
        }
        let sides = self.sides.borrow();
        let ok = match (&*sides, &*self.sock.borrow()) {
            (Some(sides), Some(sock)) => sides.arm(sock.src(), write),
            _ => false,
        };
        drop(sides);
        if !ok {
            self.force_close(Some(io::Error::other(rt::LOOP_GONE)));
        }
    }

    /// The loop the socket is registered with, while the connection has one.
    fn loop_id(&self) -> Option<u64> {
        self.sock.borrow().as_ref().map(|s| s.src().loop_id())
    }

    /// Calls the protocol, catching a panic (which closes the connection and goes to the
    /// exception handler). `None` if the protocol is gone, busy, or panicked.
    fn call_proto<R>(&self, what: &'static str, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut g = self.proto.try_borrow_mut().ok()?;
        let p = g.as_mut()?;
        match catch_unwind(AssertUnwindSafe(|| f(p))) {
            Ok(r) => {
                drop(g);
                self.deliver_owed_flow();
                Some(r)
            }
            Err(payload) => {
                drop(g);
                self.callback_panicked(what, payload);
                None
            }
        }
    }

    #[cold]
    fn callback_panicked(&self, what: &'static str, payload: Box<dyn std::any::Any + Send>) {
        let msg = crate::error::panic_message(payload.as_ref())
            .unwrap_or("<non-string payload>")
            .to_owned();
        let mut ctx = ExceptionContext::new(format!(
            "protocol callback {what} panicked; its connection is closed"
        ));
        ctx.exception = Some(Exception::Panic(payload));
        ctx.peer_addr = self.peer;
        call_exception_handler(ctx);
        self.force_close(Some(io::Error::other(format!(
            "the protocol's {what} panicked: {msg}"
        ))));
    }

    /// Tells the protocol about a crossing of a water mark: now if it is free, else right
    /// after its current callback.
    fn flow(&self, change: Option<bool>) {
        let Some(pause) = change else { return };
        let free = matches!(self.proto.try_borrow_mut(), Ok(g) if g.is_some());
        if free {
            self.call_flow(pause);
        } else {
            let mut st = self.st.borrow_mut();
            // A pause and a resume both owed cancel out: the protocol saw neither.
            st.flow_owed = match st.flow_owed {
                Some(p) if p != pause => None,
                _ => Some(pause),
            };
        }
    }

    fn call_flow(&self, pause: bool) {
        if pause {
            self.call_proto("pause_writing", |p| p.pause_writing());
        } else {
            self.call_proto("resume_writing", |p| p.resume_writing());
        }
    }

    fn deliver_owed_flow(&self) {
        let owed = self.st.borrow_mut().flow_owed.take();
        if let Some(pause) = owed {
            self.call_flow(pause);
        }
    }

    /// asyncio's `_force_close`: drops the buffer, stops reading, schedules
    /// `connection_lost(exc)`.
    pub(crate) fn force_close(&self, exc: Option<io::Error>) {
        let mut st = self.st.borrow_mut();
        if st.lost {
            return;
        }
        st.out.discard();
        st.closing = true;
        drop(st);
        self.schedule_lost(exc);
    }

    fn schedule_lost(&self, exc: Option<io::Error>) {
        if std::mem::replace(&mut self.st.borrow_mut().lost, true) {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        // A loop callback of its own, on the connection's loop, running or not (used between
        // two runs, it comes in the next run); with that loop gone, torn down at once.
        let scheduled = self
            .loop_id()
            .is_some_and(|id| crate::runtime::call_soon_on(id, move || me.call_lost(exc)).is_ok());
        if !scheduled {
            self.teardown_now();
        }
    }

    /// The last call: `connection_lost`, then the socket closes and the protocol is dropped.
    fn call_lost(&self, exc: Option<io::Error>) {
        let proto = self.proto.borrow_mut().take();
        if let Some(mut p) = proto {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| p.lost(exc))) {
                let mut ctx = ExceptionContext::new("protocol callback connection_lost panicked");
                ctx.exception = Some(Exception::Panic(payload));
                ctx.peer_addr = self.peer;
                call_exception_handler(ctx);
            }
            drop(p);
        }
        self.teardown_now();
    }

    fn teardown_now(&self) {
        let sock = self.sock.borrow_mut().take();
        drop(sock);
        let proto = self.proto.borrow_mut().take();
        drop(proto);
        let sides = self.sides.borrow_mut().take();
        drop(sides);
        let active = self.active.borrow_mut().take();
        drop(active);
        if let Some(slot) = self.slot.take() {
            drop(rt::unregister(slot));
        }
    }

    /// One read, delivered to the protocol (asyncio reads once per readiness event).
    fn read_ready(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.read_armed = false;
            if !st.is_reading() {
                return;
            }
        }
        let sock = self.sock.borrow();
        let Some(s) = sock.as_ref() else { return };
        let got = self.call_proto("data_received", |p| p.receive(&mut |buf| s.recv(buf)));
        let src = s.src();
        match got {
            None => {}
            Some(Ok((0, want))) if want > 0 => {
                drop(sock);
                self.eof_seen();
                return;
            }
            Some(Ok((n, want))) if n < want => rt::short_read(src),
            Some(Ok(_)) => {}
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => rt::not_readable(src),
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Some(Err(e)) => {
                drop(sock);
                self.force_close(Some(e));
                return;
            }
        }
        drop(sock);
        self.arm(false);
    }

    /// asyncio's `_read_ready__on_eof`.
    fn eof_seen(&self) {
        self.st.borrow_mut().eof_received = true;
        match self.call_proto("eof_received", |p| p.eof()) {
            Some(true) => {}
            Some(false) => self.close(),
            None => {}
        }
    }

    /// Sends what the socket takes of the buffer; re-arms if some is left.
    fn write_ready(&self) {
        let sock = self.sock.borrow();
        let mut st = self.st.borrow_mut();
        st.write_armed = false;
        let Some(s) = sock.as_ref() else { return };
        if st.lost {
            return;
        }
        let mut failed = None;
        while st.buffered() > 0 {
            let want = st.buffered();
            match s.send(st.out.unsent()) {
                Ok(n) => {
                    st.out.consumed(n);
                    if n < want {
                        rt::not_writable(s.src());
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    rt::not_writable(s.src());
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            drop((st, sock));
            return self.force_close(Some(e));
        }
        let flow = st.flow_change();
        let left = st.buffered();
        let mut lost = false;
        let mut shut = None;
        if left == 0 {
            if st.eof == Eof::Pending {
                st.eof = Eof::Sent;
                shut = s.shutdown(Shutdown::Write).err();
            }
            lost = st.closing;
        }
        drop((st, sock));
        self.flow(flow);
        if let Some(e) = shut {
            return self.force_close(Some(e));
        }
        if lost {
            self.schedule_lost(None);
        } else if left > 0 {
            self.arm(true);
        }
    }
}

impl<P: StreamProto> rt::OnReady for Conn<P> {
    fn on_readable(&self) {
        self.read_ready()
    }
    fn on_writable(&self) {
        self.write_ready()
    }
}

impl<P: StreamProto> rt::Teardown for Conn<P> {
    fn teardown(&self) {
        self.st.borrow_mut().lost = true;
        self.slot.set(None);
        self.teardown_now();
    }
}
