//! The state machine behind a [`DatagramTransport`]: a queue of datagrams the socket did not
//! take yet, flow control over its size, and the readiness callbacks that receive and send.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};

use super::transport::{DatagramOps, DatagramTransport};
use crate::net::UdpSocket;
use crate::protocols::DatagramProtocol;
use crate::protocols::conn::DEFAULT_HIGH_WATER;
use crate::protocols::rt::{self, Sides, Slot};
use crate::runtime::{Exception, ExceptionContext, call_exception_handler};

/// The largest datagram a read takes (the UDP maximum over IPv4).
const MAX_DATAGRAM: usize = 64 * 1024;

struct State {
    /// Datagrams the socket did not take yet, with their destination.
    queue: VecDeque<(Vec<u8>, Option<SocketAddr>)>,
    queued_bytes: usize,
    high: usize,
    low: usize,
    closing: bool,
    lost: bool,
    read_armed: bool,
    write_armed: bool,
    write_paused: bool,
    dropped: u64,
    /// The remote address the socket is connected to, if it is (asked once, at the start).
    peer: Option<SocketAddr>,
}

struct Endpoint<P: DatagramProtocol> {
    me: Weak<Endpoint<P>>,
    sock: RefCell<Option<UdpSocket>>,
    st: RefCell<State>,
    proto: RefCell<Option<P>>,
    sides: RefCell<Option<Sides>>,
    slot: Cell<Option<Slot>>,
    buf: RefCell<Vec<u8>>,
}

/// Makes the endpoint on `sock`, calls `connection_made` and starts receiving.
pub(super) fn start<P: DatagramProtocol>(sock: UdpSocket, proto: P) -> DatagramTransport {
    let peer = sock.peer_addr().ok();
    let ep = Rc::new_cyclic(|me| Endpoint {
        me: me.clone(),
        sock: RefCell::new(Some(sock)),
        st: RefCell::new(State {
            queue: VecDeque::new(),
            queued_bytes: 0,
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_HIGH_WATER / 4,
            closing: false,
            lost: false,
            read_armed: false,
            write_armed: false,
            write_paused: false,
            dropped: 0,
            peer,
        }),
        proto: RefCell::new(Some(proto)),
        sides: RefCell::new(None),
        slot: Cell::new(None),
        buf: RefCell::new(Vec::new()),
    });
    *ep.sides.borrow_mut() = Some(Sides::new(&ep));
    ep.slot.set(rt::register(ep.clone()));
    let t = DatagramTransport(ep.clone());
    ep.call_proto("connection_made", |p| p.connection_made(t.clone()));
    ep.arm(false);
    t
}

impl<P: DatagramProtocol> Endpoint<P> {
    fn arm(&self, write: bool) {
        {
            let mut st = self.st.borrow_mut();
            let flag = if write {
                &mut st.write_armed
            } else {
                &mut st.read_armed
            };
            if *flag {
                return;
            }
            *flag = true;
            if st.lost || (!write && st.closing) {
                let flag = if write {
                    &mut st.write_armed
                } else {
                    &mut st.read_armed
                };
                *flag = false;
                return;
            }
        }
        let sides = self.sides.borrow();
        let sock = self.sock.borrow();
        let ok = match (&*sides, &*sock) {
            (Some(sides), Some(s)) => sides.arm(&s.evented().src, write),
            _ => true,
        };
        drop((sides, sock));
        if !ok {
            // Its loop is gone: nothing will ever send or receive; close with an error.
            self.shut(true, Some(io::Error::other(rt::LOOP_GONE)));
        }
    }

    /// Runs `f` as a loop callback of its own on the endpoint's loop, running or not (an
    /// endpoint used between two runs gets it in the next run); `Err(f)` when that loop is
    /// gone or the endpoint's socket is.
    fn later<F: FnOnce() + 'static>(&self, f: F) -> Result<(), F> {
        let id = self
            .sock
            .borrow()
            .as_ref()
            .map(|s| s.evented().src.loop_id());
        match id {
            Some(id) => crate::runtime::call_soon_on(id, f),
            None => Err(f),
        }
    }

    fn call_proto<R>(&self, what: &'static str, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let mut g = self.proto.try_borrow_mut().ok()?;
        let p = g.as_mut()?;
        match catch_unwind(AssertUnwindSafe(|| f(p))) {
            Ok(r) => Some(r),
            Err(payload) => {
                drop(g);
                let mut ctx = ExceptionContext::new(format!(
                    "datagram protocol callback {what} panicked; its endpoint is closed"
                ));
                ctx.exception = Some(Exception::Panic(payload));
                call_exception_handler(ctx);
                self.shut(
                    true,
                    Some(io::Error::other(format!("the protocol's {what} panicked"))),
                );
                None
            }
        }
    }

    /// Calls `error_received` as a loop callback of its own.
    fn report_later(&self, e: io::Error) {
        let Some(me) = self.me.upgrade() else { return };
        // With the loop gone there is nobody to tell.
        let _ = self.later(move || {
            me.call_proto("error_received", |p| p.error_received(e));
        });
    }

    /// `close` (after the queue is sent) or `abort` (dropping it).
    fn shut(&self, abort: bool, exc: Option<io::Error>) {
        let mut st = self.st.borrow_mut();
        if st.lost || (st.closing && !abort) {
            return;
        }
        st.closing = true;
        if abort {
            st.queue.clear();
            st.queued_bytes = 0;
        }
        let flushed = st.queue.is_empty();
        drop(st);
        if flushed {
            self.finish(exc);
        }
    }

    /// Schedules `connection_lost`, once.
    fn finish(&self, exc: Option<io::Error>) {
        if std::mem::replace(&mut self.st.borrow_mut().lost, true) {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        // With the loop gone, at once: the protocol still hears of it and the socket closes.
        if let Err(lost) = self.later(move || me.call_lost(exc)) {
            lost();
        }
    }

    fn call_lost(&self, exc: Option<io::Error>) {
        let proto = self.proto.borrow_mut().take();
        if let Some(mut p) = proto
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| p.connection_lost(exc)))
        {
            let mut ctx = ExceptionContext::new("datagram protocol connection_lost panicked");
            ctx.exception = Some(Exception::Panic(payload));
            call_exception_handler(ctx);
        }
        rt::Teardown::teardown(self);
    }

    fn flow(&self) {
        let mut st = self.st.borrow_mut();
        let change = if !st.write_paused && st.queued_bytes > st.high {
            st.write_paused = true;
            Some(true)
        } else if st.write_paused && st.queued_bytes <= st.low {
            st.write_paused = false;
            Some(false)
        } else {
            None
        };
        drop(st);
        let Some(pause) = change else { return };
        if self.proto.try_borrow_mut().is_err() {
            // Inside another callback of this protocol: as a loop callback of its own.
            let Some(me) = self.me.upgrade() else { return };
            let _ = self.later(move || me.call_flow(pause));
        } else {
            self.call_flow(pause);
        }
    }

    fn call_flow(&self, pause: bool) {
        if pause {
            self.call_proto("pause_writing", |p| p.pause_writing());
        } else {
            self.call_proto("resume_writing", |p| p.resume_writing());
        }
    }
}

fn send_one(s: &UdpSocket, data: &[u8], addr: Option<SocketAddr>) -> io::Result<usize> {
    let io = &s.evented().io;
    match addr {
        Some(a) => io.send_to(data, a),
        None => io.send(data),
    }
}

impl<P: DatagramProtocol> rt::OnReady for Endpoint<P> {
    fn on_readable(&self) {
        {
            let mut st = self.st.borrow_mut();
            st.read_armed = false;
            if st.closing || st.lost {
                return;
            }
        }
        let got = {
            let sock = self.sock.borrow();
            let Some(s) = sock.as_ref() else { return };
            let mut buf = self.buf.borrow_mut();
            if buf.len() < MAX_DATAGRAM {
                buf.resize(MAX_DATAGRAM, 0);
            }
            let r = s.evented().io.recv_from(&mut buf);
            if matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                rt::not_readable(&s.evented().src);
            }
            r
        };
        match got {
            Ok((n, from)) => {
                let buf = std::mem::take(&mut *self.buf.borrow_mut());
                self.call_proto("datagram_received", |p| {
                    p.datagram_received(&buf[..n], from)
                });
                *self.buf.borrow_mut() = buf;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                self.call_proto("error_received", |p| p.error_received(e));
            }
        }
        self.arm(false);
    }

    fn on_writable(&self) {
        let sock = self.sock.borrow();
        let mut st = self.st.borrow_mut();
        st.write_armed = false;
        let Some(s) = sock.as_ref() else { return };
        let mut errors = Vec::new();
        while let Some((data, addr)) = st.queue.front() {
            match send_one(s, data, *addr) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    rt::not_writable(&s.evented().src);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => {
                    let (data, _) = st.queue.pop_front().expect("front exists");
                    st.queued_bytes -= data.len();
                    if let Err(e) = r {
                        errors.push(e);
                    }
                }
            }
        }
        let (left, closing) = (!st.queue.is_empty(), st.closing);
        drop((st, sock));
        for e in errors {
            self.call_proto("error_received", |p| p.error_received(e));
        }
        self.flow();
        if left {
            self.arm(true);
        } else if closing {
            self.finish(None);
        }
    }
}

impl<P: DatagramProtocol> rt::Teardown for Endpoint<P> {
    fn teardown(&self) {
        self.st.borrow_mut().lost = true;
        drop(self.sock.borrow_mut().take());
        drop(self.proto.borrow_mut().take());
        drop(self.sides.borrow_mut().take());
        if let Some(slot) = self.slot.take() {
            drop(rt::unregister(slot));
        }
    }
}

impl<P: DatagramProtocol> DatagramOps for Endpoint<P> {
    fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) {
        let sock = self.sock.borrow();
        let mut st = self.st.borrow_mut();
        let Some(s) = sock.as_ref().filter(|_| !st.closing && !st.lost) else {
            st.dropped += 1;
            return;
        };
        match (addr, st.peer) {
            (None, None) => {
                drop((st, sock));
                return self.report_later(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "sendto without an address on an endpoint with no remote address",
                ));
            }
            // As asyncio's `ValueError`: a connected endpoint sends to its peer only.
            (Some(to), Some(peer)) if to != peer => {
                drop((st, sock));
                return self.report_later(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "sendto {to} on an endpoint connected to {peer}: the address must be \
                         None or the remote address"
                    ),
                ));
            }
            _ => {}
        }
        if st.queue.is_empty() {
            match send_one(s, data, addr) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    rt::not_writable(&s.evented().src)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    drop((st, sock));
                    return self.report_later(e);
                }
            }
        }
        st.queue.push_back((data.to_vec(), addr));
        st.queued_bytes += data.len();
        drop((st, sock));
        self.arm(true);
        self.flow();
    }

    fn close(&self, abort: bool) {
        self.shut(abort, None)
    }

    fn is_closing(&self) -> bool {
        let st = self.st.borrow();
        st.closing || st.lost
    }

    fn buffer_size(&self) -> usize {
        self.st.borrow().queued_bytes
    }

    fn set_limits(&self, high: usize, low: usize) {
        let mut st = self.st.borrow_mut();
        st.high = high;
        st.low = low.min(high);
        drop(st);
        self.flow();
    }

    fn dropped(&self) -> u64 {
        self.st.borrow().dropped
    }

    fn addr(&self, peer: bool) -> io::Result<SocketAddr> {
        match &*self.sock.borrow() {
            Some(s) if peer => s.peer_addr(),
            Some(s) => s.local_addr(),
            None => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}
