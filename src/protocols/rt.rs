//! Everything the protocols layer uses of the loop's internals, in one place: readiness
//! callbacks on a socket's registration (no allocation per wait), and the per-loop registry
//! of open connections that the loop's close tears down.
//!
//! A connection's two readiness callbacks (`Side`) and the connection itself refer to each
//! other; the registry owns the connection until it is lost. Teardown (on `connection_lost`,
//! or when the loop closes with the connection still open) breaks those cycles.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use slab::Slab;

use crate::runtime::{Callable, Dir, IoSource, at_loop_close, is_running_here, running_loop_id};

/// Why a transport used after its loop closed (or from another thread's loop) ends.
pub(crate) const LOOP_GONE: &str = "the transport's event loop is closed";

/// What a connection does when its socket is ready in one direction.
pub(crate) trait OnReady: 'static {
    fn on_readable(&self);
    fn on_writable(&self);
}

/// One direction's readiness callback of a connection. Registered with the reactor by
/// reference count, again after each call: nothing is allocated per event.
struct Side<C: OnReady> {
    conn: Rc<C>,
    write: bool,
}

impl<C: OnReady> Callable for Side<C> {
    fn call(&self) {
        if self.write {
            self.conn.on_writable()
        } else {
            self.conn.on_readable()
        }
    }
    fn cancel(&self) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// A connection's pair of readiness callbacks.
pub(crate) struct Sides {
    read: Rc<dyn Callable>,
    write: Rc<dyn Callable>,
}

impl Sides {
    /// The callbacks of `conn` (each holds it: drop the `Sides` to break the cycle).
    pub(crate) fn new<C: OnReady>(conn: &Rc<C>) -> Sides {
        Sides {
            read: Rc::new(Side {
                conn: conn.clone(),
                write: false,
            }),
            write: Rc::new(Side {
                conn: conn.clone(),
                write: true,
            }),
        }
    }

    /// Calls `on_readable`/`on_writable` once, as a loop callback, when `src` is ready in
    /// that direction. Used while the source's loop does not run (between two runs), the
    /// call comes in that loop's next run, ready or not: it tries the I/O and arms again.
    /// `false` when that loop is gone (closed, dropped), where nothing will ever call it.
    #[inline]
    pub(crate) fn arm(&self, src: &IoSource, write: bool) -> bool {
        let (dir, cb) = if write {
            (Dir::Write, &self.write)
        } else {
            (Dir::Read, &self.read)
        };
        src.call_rc_when_ready(dir, cb) || arm_off_loop(src, cb)
    }
}

#[cold]
fn arm_off_loop(src: &IoSource, cb: &Rc<dyn Callable>) -> bool {
    let cb = cb.clone();
    crate::runtime::call_soon_on(src.loop_id(), move || cb.call()).is_ok()
}

/// `true` while a loop runs on this thread.
pub(crate) fn loop_running() -> bool {
    is_running_here()
}

/// Socket readiness bookkeeping a readiness callback does itself.
pub(crate) fn not_readable(src: &IoSource) {
    src.clear_ready(Dir::Read);
}

pub(crate) fn not_writable(src: &IoSource) {
    src.clear_ready(Dir::Write);
}

pub(crate) fn short_read(src: &IoSource) {
    src.short_read();
}

/// A connection the loop's close must tear down if it is still open.
pub(crate) trait Teardown: 'static {
    /// Drops the socket, the protocol and the callbacks, without calling the protocol.
    fn teardown(&self);
}

type Registry = HashMap<u64, Slab<Rc<dyn Teardown>>>;

thread_local! {
    /// Open connections of each loop of this thread, by loop id.
    static OPEN: RefCell<Registry> = RefCell::new(HashMap::new());
}

/// A connection's place in the registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    loop_id: u64,
    key: usize,
}

/// Records an open connection of the running loop; `None` outside a loop. The first record
/// of a loop asks the loop to tear its connections down when it closes.
pub(crate) fn register(conn: Rc<dyn Teardown>) -> Option<Slot> {
    let loop_id = running_loop_id()?;
    // An open connection waits on its peer: an external wait of the loop until it is lost.
    crate::runtime::external_wait_begin();
    let (key, first) = OPEN.with(|o| {
        let mut o = o.borrow_mut();
        let first = !o.contains_key(&loop_id);
        (o.entry(loop_id).or_default().insert(conn), first)
    });
    if first {
        at_loop_close(Box::new(move || close_all(loop_id)));
    }
    Some(Slot { loop_id, key })
}

/// Forgets a connection (it was lost); the caller drops the returned value outside the
/// registry's borrow.
pub(crate) fn unregister(slot: Slot) -> Option<Rc<dyn Teardown>> {
    let conn = OPEN.with(|o| {
        o.borrow_mut()
            .get_mut(&slot.loop_id)
            .and_then(|s| s.try_remove(slot.key))
    });
    if conn.is_some() {
        crate::runtime::external_wait_end(slot.loop_id);
    }
    conn
}

/// How many connections of the running loop are open (for tests and leak checks).
pub(crate) fn open_count() -> usize {
    let Some(id) = running_loop_id() else {
        return 0;
    };
    OPEN.with(|o| o.borrow().get(&id).map_or(0, Slab::len))
}

fn close_all(loop_id: u64) {
    // Teardown may drop user values whose `Drop` opens or closes other connections: take
    // the loop's set out first, and go on until none is left.
    loop {
        let conns = OPEN.with(|o| o.borrow_mut().remove(&loop_id));
        let Some(conns) = conns else { break };
        if conns.is_empty() {
            break;
        }
        for (_, c) in conns {
            c.teardown();
        }
    }
}
