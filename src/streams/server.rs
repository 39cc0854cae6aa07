//! [`Server`]: accepts connections and runs a handler task for each (asyncio's `Server` as
//! `start_server` returns it).
//!
//! The accept loop is a readiness callback on the listening socket, as in asyncio's
//! `_accept_connection`: no task, no stack. Each event accepts what is queued (up to a
//! batch, then lets other work run), and spawns one task per connection. Accept errors never
//! stop the server: an `EMFILE`-like shortage backs off (10 ms, doubling up to 1 s) and
//! tries again; a connection that died in the queue is skipped.
//!
//! A handler's `Err` goes to the loop's exception handler with the peer's address (asyncio's
//! "Unhandled exception in client_connected_cb"), and so does an accept failure.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::net as unix;
use std::rc::Rc;
use std::time::Duration;

use super::conn::{AnyStream, Conn};
use super::{StreamReader, StreamWriter};
use crate::net::{TcpListener, UnixListener};
use crate::runtime::{Exception, ExceptionContext, TimerHandle, call_exception_handler};
use crate::sync::Event;

/// How many connections one readiness event accepts before other work gets a turn.
const ACCEPT_BATCH: usize = 128;
/// First and longest pause after an accept error such as `EMFILE`.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

pub(crate) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// A connection and, for TCP, its peer's address (which `accept` gives at no cost).
    fn accept_nowait(&self) -> io::Result<(AnyStream, Option<SocketAddr>)> {
        match self {
            Listener::Tcp(l) => {
                let (s, peer) = l.accept_nowait()?;
                // Small writes go out at once, as asyncio sets TCP_NODELAY on its transports.
                let _ = s.set_nodelay(true);
                Ok((AnyStream::Tcp(s), Some(peer)))
            }
            Listener::Unix(l) => l.accept_nowait().map(|(s, _)| (AnyStream::Unix(s), None)),
        }
    }

    fn call_when_readable(&self, f: impl FnOnce() + 'static) -> bool {
        match self {
            Listener::Tcp(l) => l.call_when_readable(f),
            Listener::Unix(l) => l.call_when_readable(f),
        }
    }
}

enum LocalAddr {
    Tcp(SocketAddr),
    Unix(unix::SocketAddr),
}

/// What a connection handler may return: `()`, or a `Result` whose `Err` goes to the loop's
/// exception handler (see [`set_exception_handler`](crate::set_exception_handler)) with the
/// peer's address, as asyncio reports an exception escaping `client_connected_cb`.
///
/// ```
/// use corio::streams::{self, StreamReader, StreamWriter};
/// fn handler(_r: StreamReader, _w: StreamWriter) -> std::io::Result<()> {
///     Err(std::io::Error::other("this reaches the exception handler"))
/// }
/// corio::run(|| streams::start_server("127.0.0.1:0", handler).unwrap().close());
/// ```
pub trait HandlerResult: 'static {
    /// The error to report, if the handler failed.
    fn into_error(self) -> Option<Box<dyn Error>>;
}

impl HandlerResult for () {
    fn into_error(self) -> Option<Box<dyn Error>> {
        None
    }
}

impl<T: 'static, E: Into<Box<dyn Error>> + 'static> HandlerResult for Result<T, E> {
    fn into_error(self) -> Option<Box<dyn Error>> {
        self.err().map(Into::into)
    }
}

/// What the server does with each accepted connection: spawn a handler task (streams) or
/// make a transport (protocols). `Active` counts the connection until it is dropped.
pub(crate) type OnConn = dyn Fn(AnyStream, Option<SocketAddr>, Active);

struct Inner {
    /// `None` once closed: dropping it closes the listening socket.
    listener: RefCell<Option<Rc<Listener>>>,
    local: LocalAddr,
    on_conn: Box<OnConn>,
    closed: Cell<bool>,
    serving_forever: Cell<bool>,
    /// Handler tasks still running.
    active: Cell<usize>,
    /// Set by `close`: `serve_forever` returns.
    closed_ev: Event,
    /// Set once closed and every handler has ended: `wait_closed` returns.
    done_ev: Event,
    backoff: Cell<Duration>,
    retry: RefCell<Option<TimerHandle>>,
}

/// A running server: it accepts connections and runs the handler in a task per connection
/// (asyncio's `Server`). Made by [`start_server`](super::start_server) and friends; it
/// accepts from the moment it is made. [`protocols::create_server`](crate::protocols::create_server)
/// makes the same `Server`, driving each connection with a protocol instead of a task; its
/// [`active_connections`](Self::active_connections) are then open transports.
///
/// Dropping the `Server` value does not stop it (a dropped [`Task`](crate::Task) runs on
/// too); [`close`](Self::close) does. The loop's end closes it with everything else.
///
/// ```
/// use corio::streams::{self, StreamReader, StreamWriter};
/// corio::run(|| {
///     let server = streams::start_server("127.0.0.1:0", |mut r: StreamReader, w: StreamWriter| {
///         let line = r.readline()?;
///         w.write(&line);
///         w.drain()
///     })
///     .unwrap();
///     let (mut r, w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
///     w.write(b"hello\n");
///     assert_eq!(r.readline().unwrap(), b"hello\n");
///     server.close();
///     server.wait_closed();
///     assert!(!server.is_serving());
/// });
/// ```
///
/// A `Server` belongs to its loop's thread (`!Send`), like its listeners.
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::streams::Server>();
/// ```
pub struct Server {
    inner: Rc<Inner>,
}

impl Server {
    pub(crate) fn start<H, R>(listener: Listener, handler: H) -> io::Result<Server>
    where
        H: Fn(StreamReader, StreamWriter) -> R + 'static,
        R: HandlerResult,
    {
        let handler: Rc<Handler> = Rc::new(move |r, w, peer| {
            if let Some(e) = handler(r, w).into_error() {
                handler_failed(e, peer);
            }
        });
        Server::start_with(
            listener,
            Box::new(move |sock, peer, active| spawn_handler(&handler, sock, peer, active)),
        )
    }

    /// A server that hands each accepted connection to `on_conn`.
    pub(crate) fn start_with(listener: Listener, on_conn: Box<OnConn>) -> io::Result<Server> {
        let local = match &listener {
            Listener::Tcp(l) => LocalAddr::Tcp(l.local_addr()?),
            Listener::Unix(l) => LocalAddr::Unix(l.local_addr()?),
        };
        let inner = Rc::new(Inner {
            listener: RefCell::new(Some(Rc::new(listener))),
            local,
            on_conn,
            closed: Cell::new(false),
            serving_forever: Cell::new(false),
            active: Cell::new(0),
            closed_ev: Event::new(),
            done_ev: Event::new(),
            backoff: Cell::new(Duration::ZERO),
            retry: RefCell::new(None),
        });
        arm(&inner);
        Ok(Server { inner })
    }

    /// The address a TCP server listens on (with the port picked for port 0).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a Unix server (see [`local_unix_addr`](Self::local_unix_addr)).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner.local {
            LocalAddr::Tcp(a) => Ok(*a),
            LocalAddr::Unix(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a Unix server has no IP address; use local_unix_addr",
            )),
        }
    }

    /// The address a Unix server listens on.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a TCP server.
    pub fn local_unix_addr(&self) -> io::Result<unix::SocketAddr> {
        match &self.inner.local {
            LocalAddr::Unix(a) => Ok(a.clone()),
            LocalAddr::Tcp(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a TCP server has no Unix address; use local_addr",
            )),
        }
    }

    /// `true` until [`close`](Self::close).
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.get()
    }

    /// How many connection handlers are running.
    pub fn active_connections(&self) -> usize {
        self.inner.active.get()
    }

    /// Stops accepting and closes the listening socket. Connections already accepted go on;
    /// [`wait_closed`](Self::wait_closed) waits for their handlers. Does not park; closing
    /// twice does nothing.
    pub fn close(&self) {
        close(&self.inner);
    }

    /// Parks until the server is closed and every connection handler has ended (asyncio
    /// 3.12's `wait_closed`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub fn wait_closed(&self) {
        self.inner.done_ev.wait();
    }

    /// Parks until the server is closed (asyncio's `serve_forever`). Cancelling the calling
    /// task closes the server.
    ///
    /// # Errors
    ///
    /// If the server is closed already, or another task is in `serve_forever`.
    ///
    /// # Cancel safety
    ///
    /// A cancelled `serve_forever` closes the server.
    pub fn serve_forever(&self) -> io::Result<()> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(io::Error::other("the server is closed"));
        }
        if inner.serving_forever.replace(true) {
            return Err(io::Error::other(
                "the server is already being served by serve_forever",
            ));
        }
        struct Guard<'a>(&'a Rc<Inner>);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                self.0.serving_forever.set(false);
                if std::thread::panicking() {
                    close(self.0);
                }
            }
        }
        let _g = Guard(inner);
        inner.closed_ev.wait();
        Ok(())
    }
}

impl Server {
    /// Parks until the server is closed, like `serve_forever` but beside it (another task
    /// may be in `serve_forever`); a cancelled wait closes the server.
    pub(super) fn wait_stopped(&self) {
        struct Guard<'a>(&'a Rc<Inner>);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    close(self.0);
                }
            }
        }
        let _g = Guard(&self.inner);
        self.inner.closed_ev.wait();
    }

    /// Another handle on the same server, for the tasks of a graceful shutdown.
    pub(super) fn share(&self) -> Server {
        Server {
            inner: self.inner.clone(),
        }
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Server");
        match &self.inner.local {
            LocalAddr::Tcp(a) => d.field("addr", a),
            LocalAddr::Unix(a) => d.field("addr", a),
        };
        d.field("serving", &self.is_serving())
            .field("active", &self.inner.active.get())
            .finish()
    }
}

fn close(inner: &Rc<Inner>) {
    if inner.closed.replace(true) {
        return;
    }
    let listener = inner.listener.borrow_mut().take();
    drop(listener);
    let retry = inner.retry.borrow_mut().take();
    if let Some(t) = retry {
        t.cancel();
    }
    inner.closed_ev.set();
    if inner.active.get() == 0 {
        inner.done_ev.set();
    }
}

/// Runs `accept` when the listener is readable.
fn arm(inner: &Rc<Inner>) {
    let Some(l) = inner.listener.borrow().clone() else {
        return;
    };
    let i = inner.clone();
    l.call_when_readable(move || accept(&i));
}

/// The accept callback: accepts what is queued and spawns a handler for each connection.
fn accept(inner: &Rc<Inner>) {
    let Some(listener) = inner.listener.borrow().clone() else {
        return; // closed
    };
    for _ in 0..ACCEPT_BATCH {
        match listener.accept_nowait() {
            Ok((sock, peer)) => {
                inner.backoff.set(Duration::ZERO);
                inner.active.set(inner.active.get() + 1);
                (inner.on_conn)(sock, peer, Active(inner.clone()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return arm(inner),
            // The connection died in the queue, or a signal: take the next one.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) || e.raw_os_error() == Some(libc::EPROTO) =>
            {
                continue;
            }
            Err(e) => return back_off(inner, &e),
        }
    }
    // More may be queued: let the ready work run, then accept again.
    let i = inner.clone();
    crate::runtime::call_soon(move || accept(&i));
}

/// Out of file descriptors (or memory, or buffers): wait, then try again. The queued
/// connections stay in the kernel's backlog meanwhile.
fn back_off(inner: &Rc<Inner>, e: &io::Error) {
    let delay = (inner.backoff.get() * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
    if inner.backoff.get().is_zero() {
        let mut ctx = ExceptionContext::new(format!(
            "accept failed; the server retries in {delay:?} and backs off"
        ));
        let copy = match e.raw_os_error() {
            Some(code) => io::Error::from_raw_os_error(code),
            None => io::Error::new(e.kind(), e.to_string()),
        };
        ctx.exception = Some(Exception::Error(Box::new(copy)));
        call_exception_handler(ctx);
    }
    inner.backoff.set(delay);
    let i = inner.clone();
    let t = crate::runtime::call_later(delay, move || {
        i.retry.borrow_mut().take();
        accept(&i)
    });
    *inner.retry.borrow_mut() = Some(t);
}

type Handler = dyn Fn(StreamReader, StreamWriter, Option<SocketAddr>);

/// Counts a live connection (a running handler, an open transport); the last one to end
/// after `close` sets `done_ev`.
pub(crate) struct Active(Rc<Inner>);

impl Drop for Active {
    fn drop(&mut self) {
        let n = self.0.active.get() - 1;
        self.0.active.set(n);
        if n == 0 && self.0.closed.get() {
            self.0.done_ev.set();
        }
    }
}

fn spawn_handler(handler: &Rc<Handler>, sock: AnyStream, peer: Option<SocketAddr>, active: Active) {
    let conn = Rc::new(Conn::new(sock));
    let (reader, writer) = super::pair(conn);
    let handler = handler.clone();
    let spawned = crate::Builder::new().spawn(move || {
        let _active = active;
        handler(reader, writer, peer)
    });
    if let Err(e) = spawned {
        // The closure, and with it the connection, was dropped: the peer sees it closed.
        let mut ctx = ExceptionContext::new("no task for a new connection");
        ctx.exception = Some(Exception::Error(Box::new(e)));
        ctx.peer_addr = peer;
        call_exception_handler(ctx);
    }
}

/// A handler returned `Err`: runs in its task, which the report names.
#[cold]
fn handler_failed(e: Box<dyn Error>, peer: Option<SocketAddr>) {
    let mut ctx = ExceptionContext::new("Unhandled error in connection handler").in_current_task();
    ctx.exception = Some(Exception::Error(e));
    ctx.peer_addr = peer;
    call_exception_handler(ctx);
}
