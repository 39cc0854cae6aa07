//! Unix signals delivered on the loop's thread (asyncio's `add_signal_handler` in
//! `unix_events.py`), and [`wait`], a coroutine that parks until a signal arrives.
//!
//! ```no_run
//! use corio::signal::{self, SIGINT, SIGTERM};
//! corio::run(|| {
//!     let server = corio::start_server("127.0.0.1:0", |_r, _w| ()).unwrap();
//!     // A handler is a callback on the loop's thread: here SIGTERM sets an event...
//!     let quit = corio::Event::new();
//!     let q = quit.clone();
//!     corio::runtime::add_signal_handler(SIGTERM, move || q.set()).unwrap();
//!     // ...and Ctrl+C, awaited by a task, sets it too.
//!     let q = quit.clone();
//!     corio::spawn(move || {
//!         signal::wait(SIGINT).unwrap(); // parks this task until Ctrl+C
//!         q.set();
//!     });
//!     quit.wait();
//!     server.close(); // then `run` returns
//! });
//! ```
//!
//! (A handler that calls `corio::runtime::stop()` stops the loop under `run`'s main
//! coroutine, which `run` reports as an error, as `asyncio.run` does: end the main coroutine
//! instead.)
//!
//! # How a signal travels
//!
//! The C handler that the kernel runs does one thing: it writes the signal's number, one byte,
//! into the wake-up pipe of every loop that watches the signal. The read end of that pipe is
//! watched by the loop's reactor like any fd, so the loop wakes, reads the byte and, on its
//! own thread, schedules the signal's handler with `call_soon` and wakes the coroutines parked
//! in [`wait`]. No user code ever runs inside the C handler, and a handler may do anything a
//! callback may (spawn, stop the loop, close a server).
//!
//! # Which loop gets a signal
//!
//! Every loop that watches a signal gets it: with two loops on two threads both watching
//! `SIGTERM`, one `SIGTERM` runs both loops' handlers, whichever thread the kernel picked to
//! interrupt. (asyncio allows signal handlers on the main thread's loop only; corio's loops
//! are peers, so a signal is broadcast.) Signals of one kind that arrive while the loop is
//! busy may be merged into one delivery, as the kernel merges pending signals.
//!
//! # The disposition
//!
//! The first watcher of a signal in the process installs corio's C handler and keeps the
//! disposition it replaced; when the last watcher goes ([`EventLoop::remove_signal_handler`],
//! the end of the last [`wait`], or the loop's close) that disposition is put back, so
//! `SIGINT` kills the process again. `SIGKILL`, `SIGSTOP` and the fault signals (`SIGSEGV`,
//! `SIGBUS`, `SIGILL`, `SIGFPE`) are refused.

mod os;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::{Rc, Weak};

pub use libc::{SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};

use super::callback::{CallOnce, CallRepeat};
use super::core::{Core, EventAction, with_core};
use super::park::park_in;
use super::wait_target::Named;
use super::{Dir, EventLoop, WaitKind, WaitList, get_running_loop as running, wake_all};

/// The usual name of a signal: `"SIGINT"` for [`SIGINT`], and so on; `"signal N"` for the
/// rest.
///
/// ```
/// assert_eq!(corio::signal::name(corio::signal::SIGTERM), "SIGTERM");
/// ```
pub fn name(sig: i32) -> String {
    let known = [
        (SIGINT, "SIGINT"),
        (SIGTERM, "SIGTERM"),
        (SIGHUP, "SIGHUP"),
        (SIGQUIT, "SIGQUIT"),
        (SIGUSR1, "SIGUSR1"),
        (SIGUSR2, "SIGUSR2"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == sig)
        .map_or_else(|| format!("signal {sig}"), |(_, name)| (*name).to_string())
}

/// What one loop knows about the signals it watches.
pub(crate) struct LoopSignals {
    /// The wake-up pipe: the C handler writes into `write`, the reactor watches `read`.
    read: OwnedFd,
    write: OwnedFd,
    watching: Cell<bool>,
    per_signal: RefCell<HashMap<i32, Entry>>,
}

#[derive(Default)]
struct Entry {
    handler: Option<Rc<dyn Fn()>>,
    /// The coroutines parked in [`wait`]; a delivery takes (grants) them all.
    waiters: Rc<RefCell<WaitList>>,
}

impl Entry {
    fn wanted(&self) -> bool {
        self.handler.is_some() || self.waiters.borrow().len() > 0
    }
}

impl LoopSignals {
    fn new() -> io::Result<LoopSignals> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds `pipe2` writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `pipe2` succeeded, so both fds are open and ours alone.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(LoopSignals {
            read,
            write,
            watching: Cell::new(false),
            per_signal: RefCell::new(HashMap::new()),
        })
    }

    /// The loop's signal state, made on first use.
    fn of(core: &Core) -> io::Result<Rc<LoopSignals>> {
        let mut slot = core.signals.borrow_mut();
        if let Some(s) = &*slot {
            return Ok(s.clone());
        }
        let s = Rc::new(LoopSignals::new()?);
        *slot = Some(s.clone());
        Ok(s)
    }

    /// Starts watching `sig` for this loop unless it already does.
    fn want(&self, core: &Core, sig: i32) -> io::Result<()> {
        let fresh = !self
            .per_signal
            .borrow()
            .get(&sig)
            .is_some_and(Entry::wanted);
        if fresh {
            os::subscribe(sig, self.write.as_raw_fd())?;
        }
        self.per_signal.borrow_mut().entry(sig).or_default();
        if !self.watching.get() {
            let me = core
                .signals
                .borrow()
                .as_ref()
                .map(Rc::downgrade)
                .unwrap_or_default();
            let cb = CallRepeat::new_rc(move || dispatch(&me));
            if let Err(e) =
                core.reactor
                    .watch(self.read.as_raw_fd(), Dir::Read, EventAction::Call(cb))
            {
                if fresh {
                    os::unsubscribe(sig, self.write.as_raw_fd());
                    self.per_signal.borrow_mut().remove(&sig);
                }
                return Err(e);
            }
            self.watching.set(true);
            // Signals come from outside the loop: the watch is an external wait.
            core.external_begin();
        }
        Ok(())
    }

    /// Stops watching `sig` if nothing wants it any more, and stops watching the pipe when
    /// no signal is wanted (so an idle loop is not kept alive by it).
    fn release(&self, core: &Core, sig: i32) {
        let mut per = self.per_signal.borrow_mut();
        if per.get(&sig).is_some_and(|e| !e.wanted()) {
            per.remove(&sig);
            os::unsubscribe(sig, self.write.as_raw_fd());
        }
        if per.is_empty() && self.watching.replace(false) {
            core.external_end();
            if let Some(EventAction::Call(cb)) =
                core.reactor.unwatch(self.read.as_raw_fd(), Dir::Read)
            {
                cb.cancel();
            }
            // Signals that came in meanwhile were for watchers that are gone: a later watcher
            // must not get them.
            self.read_pending(|_| {});
        }
    }
}

impl Drop for LoopSignals {
    fn drop(&mut self) {
        for (&sig, _) in self.per_signal.borrow().iter() {
            os::unsubscribe(sig, self.write.as_raw_fd());
        }
        // No C handler may still hold our write end when the fds close.
        os::quiesce();
    }
}

/// The pipe is readable: read the signal numbers and deliver each on this thread.
fn dispatch(me: &Weak<LoopSignals>) {
    let Some(me) = me.upgrade() else { return };
    me.read_pending(|sig| deliver(&me, sig));
}

impl LoopSignals {
    /// Reads the signal numbers in the pipe, calling `f` with each.
    fn read_pending(&self, mut f: impl FnMut(i32)) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: `buf` is writable for its length; the fd is our open, non-blocking read
            // end.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            buf[..n as usize].iter().for_each(|&sig| f(i32::from(sig)));
        }
    }
}

fn deliver(me: &LoopSignals, sig: i32) {
    let (handler, waiters) = {
        let per = me.per_signal.borrow();
        let Some(e) = per.get(&sig) else { return };
        (e.handler.clone(), e.waiters.clone())
    };
    wake_all(&waiters);
    if let Some(h) = handler {
        with_core(|c| c.call_soon(CallOnce::new_rc(move || h())));
    }
}

impl EventLoop {
    /// Runs `f` on the loop's thread, as a callback, whenever the process gets signal `sig`
    /// (asyncio's `loop.add_signal_handler`). Replaces an earlier handler of `sig` on this
    /// loop. See the [`signal`](crate::signal) module for how a signal gets here and which
    /// loop gets it.
    ///
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// corio::run(|| {
    ///     let got = Rc::new(Cell::new(false));
    ///     let g = got.clone();
    ///     corio::runtime::add_signal_handler(corio::signal::SIGUSR2, move || g.set(true)).unwrap();
    ///     unsafe { libc::raise(corio::signal::SIGUSR2) };
    ///     while !got.get() {
    ///         corio::sleep(std::time::Duration::from_millis(1));
    ///     }
    ///     assert!(corio::runtime::remove_signal_handler(corio::signal::SIGUSR2));
    /// });
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a signal that cannot be caught or is a fault signal, or no signal at
    /// all; the OS error when the handler cannot be installed.
    pub fn add_signal_handler<F: Fn() + 'static>(&self, sig: i32, f: F) -> io::Result<()> {
        os::check(sig)?;
        let sigs = LoopSignals::of(&self.core)?;
        sigs.want(&self.core, sig)?;
        if let Some(e) = sigs.per_signal.borrow_mut().get_mut(&sig) {
            e.handler = Some(Rc::new(f));
        }
        Ok(())
    }

    /// Removes the handler of `sig` (asyncio's `loop.remove_signal_handler`); returns whether
    /// there was one. When no loop watches `sig` any more, its former disposition is back.
    pub fn remove_signal_handler(&self, sig: i32) -> bool {
        let Some(sigs) = self.core.signals.borrow().clone() else {
            return false;
        };
        let had = sigs
            .per_signal
            .borrow_mut()
            .get_mut(&sig)
            .and_then(|e| e.handler.take())
            .is_some();
        sigs.release(&self.core, sig);
        had
    }
}

/// [`EventLoop::add_signal_handler`] on the running loop.
///
/// # Errors
///
/// As [`EventLoop::add_signal_handler`].
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn add_signal_handler<F: Fn() + 'static>(sig: i32, f: F) -> io::Result<()> {
    running().add_signal_handler(sig, f)
}

/// [`EventLoop::remove_signal_handler`] on the running loop.
///
/// # Panics
///
/// If no loop runs on this thread.
pub fn remove_signal_handler(sig: i32) -> bool {
    running().remove_signal_handler(sig)
}

/// Parks the calling coroutine until the process gets signal `sig`.
///
/// While some coroutine waits, the loop watches `sig` (a handler added with
/// [`add_signal_handler`] still runs too); when the last one stops waiting, the signal's
/// former disposition is back. A signal that arrives while nobody waits and no handler is set
/// gets that disposition (for `SIGINT`, the end of the process), so a program that means to
/// catch every `SIGINT` keeps waiting, or sets a handler.
///
/// ```no_run
/// corio::run(|| {
///     corio::signal::wait(corio::signal::SIGINT).unwrap();
///     println!("interrupted, shutting down");
/// });
/// ```
///
/// # Errors
///
/// As [`EventLoop::add_signal_handler`].
///
/// # Panics
///
/// Outside a coroutine.
///
/// # Cancel safety
///
/// A cancelled wait stops watching (if it was the last watcher) and loses nothing.
pub fn wait(sig: i32) -> io::Result<()> {
    os::check(sig)?;
    let lp = running();
    let sigs = LoopSignals::of(&lp.core)?;
    sigs.want(&lp.core, sig)?;
    struct Leave<'a>(&'a LoopSignals, &'a Core, i32);
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            self.0.release(self.1, self.2);
        }
    }
    let _leave = Leave(&sigs, &lp.core, sig);
    let waiters = sigs
        .per_signal
        .borrow()
        .get(&sig)
        .map(|e| e.waiters.clone())
        .unwrap_or_default();
    // Granted (taken off the list) by the next delivery; a cancelled wait leaves the list
    // before `_leave` releases the signal.
    // External: the pipe's watch counts as an external wait while any signal is wanted.
    park_in(&waiters, WaitKind::Signal, &Named("signal"));
    Ok(())
}
