//! File-descriptor readiness over `polling`: one registration per fd, readiness turned into
//! notifications for the loop.
//!
//! Two kinds of registration share one slab keyed by the poller key:
//!
//! * **watches** (`add_reader`/`add_writer`): level-triggered, a callback notification that
//!   stays registered and is delivered every time the fd is ready (asyncio's semantics);
//! * **sources** (sockets of the `net` layer): registered once, edge-triggered where the
//!   platform allows, with remembered `readable`/`writable` bits and at most one parked waiter
//!   per direction. An operation tries its syscall first and waits only after `WouldBlock`,
//!   so no re-arming per wait.
//!
//! The reactor is generic over the notification `N` the loop wants back (a waker or a
//! callback), so it knows nothing of tasks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use polling::{Event, Events, PollMode, Poller};
use slab::Slab;

#[cfg(any(target_os = "linux", target_os = "android"))]
mod epoll;

/// One readiness event: `(key, readable, writable, hangup)`. `hangup` is `Some` when the
/// event says whether the peer closed its side (`EPOLLRDHUP`/`EPOLLHUP`, from the direct wait
/// on a source registered for it), `None` when nothing is known.
type Ready = (usize, bool, bool, Option<bool>);

/// Direction of readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// Whether a FIN may be queued behind a source's data (see [`Entry::hup`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hup {
    /// Not registered with `EPOLLRDHUP` (or a watch): events cannot tell, so always possible.
    Unknown,
    /// The last read event said a FIN arrived (or could not say).
    Possible,
    /// The last read event said no FIN is queued: a short read means the socket is drained.
    No,
}

/// One registration. Laid out so that everything a message touches (the flags and both
/// waiter slots) lies in one cache line: with thousands of connections each entry is cold by
/// the time its event or its task comes round, and an entry straddling two lines costs two
/// misses instead of one. The rare extra waiters are boxed to keep the entry at 64 bytes.
#[derive(Debug)]
#[repr(C, align(64))]
struct Entry<N> {
    reader: Option<N>,
    writer: Option<N>,
    /// Sources only: further waiters of a direction whose slot is taken (two tasks reading one
    /// socket, say). Rare, so boxed and absent until needed, beside the one-slot fast path;
    /// all of a direction's waiters are notified together when it becomes ready.
    // One pointer instead of a `Vec`'s three words: what keeps the entry at 64 bytes.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<(Dir, N)>>>,
    fd: RawFd,
    /// `true` for sources (edge-triggered, one-shot waiters), `false` for watches.
    source: bool,
    readable: bool,
    writable: bool,
    /// Sources only: whether a FIN may be queued behind the data. While it is [`Hup::No`], a
    /// short read means the socket is drained.
    hup: Hup,
}

impl<N> Entry<N> {
    fn has_waiter(&self, dir: Dir) -> bool {
        let slot = match dir {
            Dir::Read => self.reader.is_some(),
            Dir::Write => self.writer.is_some(),
        };
        slot || self
            .more
            .as_ref()
            .is_some_and(|m| m.iter().any(|(d, _)| *d == dir))
    }

    fn hup_possible(&self) -> bool {
        self.hup != Hup::No
    }
}

/// The poller plus its registrations.
#[derive(Debug)]
pub(crate) struct Reactor<N> {
    /// Shared with `LoopHandle`s on other threads, which only call `notify`.
    poller: Arc<Poller>,
    events: RefCell<Events>,
    /// Reused buffers for the direct wait.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    epoll_buf: RefCell<epoll::EpollBuf>,
    ready: RefCell<Vec<Ready>>,
    entries: RefCell<Slab<Entry<N>>>,
    /// Watches by fd, so `remove_reader(fd)` finds its registration.
    watches: RefCell<HashMap<RawFd, usize>>,
    edge: bool,
}

impl<N: Clone> Reactor<N> {
    pub(crate) fn new() -> io::Result<Reactor<N>> {
        let poller = Poller::new()?;
        let edge = poller.supports_edge();
        Ok(Reactor {
            poller: Arc::new(poller),
            events: RefCell::new(Events::new()),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            epoll_buf: RefCell::new(epoll::EpollBuf::new()),
            ready: RefCell::new(Vec::new()),
            entries: RefCell::new(Slab::new()),
            watches: RefCell::new(HashMap::new()),
            edge,
        })
    }

    /// A reactor that uses level-triggered sources even where edges are available, to test
    /// the fallback.
    #[cfg(test)]
    fn new_level() -> io::Result<Reactor<N>> {
        let mut r = Reactor::new()?;
        r.edge = false;
        Ok(r)
    }

    pub(crate) fn poller(&self) -> &Arc<Poller> {
        &self.poller
    }

    /// Number of registrations (watches and sources).
    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    // ----- watches: add_reader / add_writer -----

    /// Sets the `dir` callback of `fd`, registering the fd on first use; returns the callback
    /// it replaced.
    pub(crate) fn watch(&self, fd: RawFd, dir: Dir, n: N) -> io::Result<Option<N>> {
        let mut watches = self.watches.borrow_mut();
        let mut entries = self.entries.borrow_mut();
        if let Some(&key) = watches.get(&fd) {
            let e = &mut entries[key];
            let old = match dir {
                Dir::Read => e.reader.replace(n),
                Dir::Write => e.writer.replace(n),
            };
            let ev = interest(key, e);
            self.poller
                .modify_with_mode(borrow(fd), ev, PollMode::Level)?;
            return Ok(old);
        }
        let vacant = entries.vacant_entry();
        let key = vacant.key();
        let mut e = Entry {
            reader: None,
            writer: None,
            more: None,
            fd,
            source: false,
            readable: false,
            writable: false,
            hup: Hup::Unknown,
        };
        match dir {
            Dir::Read => e.reader = Some(n),
            Dir::Write => e.writer = Some(n),
        }
        // SAFETY: the fd is deleted from the poller in `unwatch` (or when the loop is dropped)
        // before its registration is forgotten; the caller keeps the fd open meanwhile, as
        // asyncio's add_reader contract says.
        unsafe {
            self.poller
                .add_with_mode(fd, interest(key, &e), PollMode::Level)?
        };
        vacant.insert(e);
        watches.insert(fd, key);
        Ok(None)
    }

    /// Removes the `dir` callback of `fd` and returns it.
    pub(crate) fn unwatch(&self, fd: RawFd, dir: Dir) -> Option<N> {
        let mut watches = self.watches.borrow_mut();
        let mut entries = self.entries.borrow_mut();
        let &key = watches.get(&fd)?;
        let e = &mut entries[key];
        let had = match dir {
            Dir::Read => e.reader.take(),
            Dir::Write => e.writer.take(),
        };
        if e.reader.is_none() && e.writer.is_none() {
            // The fd may be closed already; then the kernel dropped it from epoll itself.
            let _ = self.poller.delete(borrow(fd));
            entries.remove(key);
            watches.remove(&fd);
        } else {
            let ev = interest(key, e);
            let _ = self
                .poller
                .modify_with_mode(borrow(fd), ev, PollMode::Level);
        }
        had
    }

    // ----- sources: registered once, edge-triggered -----

    /// Registers `fd` for both directions and returns its key. Readiness starts `true`, so
    /// the first operation tries its syscall.
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<usize> {
        let mut entries = self.entries.borrow_mut();
        let vacant = entries.vacant_entry();
        let key = vacant.key();
        // Edge-triggered: interested in both directions for good. Where the platform has no
        // edge mode, the interest follows the parked waiters instead (see `wait_ready` and
        // `poll`), or an idle writable socket would be reported on every poll.
        let (mode, ev) = if self.edge {
            (PollMode::Edge, Event::all(key))
        } else {
            (PollMode::Level, Event::none(key))
        };
        // SAFETY: the owner of the fd calls `deregister` before closing it.
        unsafe { self.poller.add_with_mode(fd, ev, mode)? };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let rdhup = self.edge && epoll::add_rdhup(&self.poller, fd, key).is_ok();
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let rdhup = false;
        vacant.insert(Entry {
            reader: None,
            writer: None,
            more: None,
            fd,
            source: true,
            readable: true,
            writable: true,
            hup: if rdhup { Hup::Possible } else { Hup::Unknown },
        });
        Ok(key)
    }

    /// Forgets a source; the fd must still be open. Its parked notifications are dropped
    /// after the borrow ends: a callback may hold the last reference to another socket, whose
    /// drop deregisters that one.
    pub(crate) fn deregister(&self, key: usize) {
        let removed = self.entries.borrow_mut().try_remove(key);
        if let Some(e) = &removed {
            let _ = self.poller.delete(borrow(e.fd));
        }
        drop(removed);
    }

    /// Whether the source was last seen ready in `dir` (`true` for an unknown key, so the
    /// caller tries its syscall).
    #[inline]
    pub(crate) fn is_ready(&self, key: usize, dir: Dir) -> bool {
        let entries = self.entries.borrow();
        match (entries.get(key), dir) {
            (Some(e), Dir::Read) => e.readable,
            (Some(e), Dir::Write) => e.writable,
            (None, _) => true,
        }
    }

    /// Records that an operation got `WouldBlock`: the source is not ready in `dir` until the
    /// poller says so again.
    #[inline]
    pub(crate) fn clear_ready(&self, key: usize, dir: Dir) {
        if let Some(e) = self.entries.borrow_mut().get_mut(key) {
            match dir {
                Dir::Read => e.readable = false,
                Dir::Write => e.writable = false,
            }
        }
    }

    /// Records a read that got fewer bytes than it asked for: not readable if the last read
    /// event said no FIN is queued behind the data (the socket is drained; the next read
    /// parks without trying).
    #[inline]
    pub(crate) fn short_read(&self, key: usize) {
        if let Some(e) = self.entries.borrow_mut().get_mut(key) {
            e.readable &= e.hup_possible();
        }
    }

    /// Parks the notification `make` makes until the source is ready in `dir`; `false` if ready.
    #[inline]
    pub(crate) fn wait_ready(&self, key: usize, dir: Dir, make: impl FnOnce() -> N) -> bool {
        let mut entries = self.entries.borrow_mut();
        let Some(e) = entries.get_mut(key) else {
            return false;
        };
        let (ready, slot) = match dir {
            Dir::Read => (e.readable, &mut e.reader),
            Dir::Write => (e.writable, &mut e.writer),
        };
        if ready {
            return false;
        }
        let n = make();
        match slot {
            None => *slot = Some(n),
            Some(_) => e.more.get_or_insert_default().push((dir, n)),
        }
        if !self.edge {
            let ev = interest(key, e);
            let _ = self
                .poller
                .modify_with_mode(borrow(e.fd), ev, PollMode::Level);
        }
        true
    }

    /// Marks the source ready both ways and hands over its parked notifications: its fd was
    /// closed under the registration (a pipe's write end replaced by `dup3`), so no event
    /// will come for them.
    pub(crate) fn fire(&self, key: usize, out: &mut Vec<N>) {
        if let Some(e) = self.entries.borrow_mut().get_mut(key) {
            (e.readable, e.writable) = (true, true);
            out.extend(e.reader.take().into_iter().chain(e.writer.take()));
            out.extend(e.more.take().into_iter().flat_map(|m| *m).map(|(_, n)| n));
        }
    }

    /// Takes out the parked notification of `dir` that `is_mine` recognises (a cancelled
    /// wait), leaving other waiters in place, for the caller to drop outside the borrow.
    #[inline]
    pub(crate) fn cancel_wait(
        &self,
        key: usize,
        dir: Dir,
        is_mine: impl Fn(&N) -> bool,
    ) -> Option<N> {
        let mut entries = self.entries.borrow_mut();
        let e = entries.get_mut(key)?;
        let slot = match dir {
            Dir::Read => &mut e.reader,
            Dir::Write => &mut e.writer,
        };
        let removed = if slot.as_ref().is_some_and(&is_mine) {
            slot.take()
        } else {
            let more = e.more.as_mut()?;
            let i = more.iter().position(|(d, n)| *d == dir && is_mine(n))?;
            let removed = more.remove(i).1;
            if more.is_empty() {
                e.more = None;
            }
            Some(removed)
        };
        if !self.edge {
            let ev = interest(key, e);
            let _ = self
                .poller
                .modify_with_mode(borrow(e.fd), ev, PollMode::Level);
        }
        removed
    }

    // ----- polling -----

    /// Waits up to `timeout` (`None`: forever) and appends the notifications of ready
    /// registrations to `out`. Returns the number of poller events.
    pub(crate) fn poll(&self, timeout: Option<Duration>, out: &mut Vec<N>) -> io::Result<usize> {
        let mut ready = self.ready.borrow_mut();
        ready.clear();
        self.wait(timeout, &mut ready)?;
        let mut entries = self.entries.borrow_mut();
        for &(key, readable, writable, hangup) in ready.iter() {
            let Some(e) = entries.get_mut(key) else {
                continue;
            };
            if e.source {
                if readable {
                    e.readable = true;
                    if e.hup != Hup::Unknown {
                        e.hup = if hangup.unwrap_or(true) {
                            Hup::Possible
                        } else {
                            Hup::No
                        };
                    }
                    out.extend(e.reader.take());
                }
                if writable {
                    e.writable = true;
                    out.extend(e.writer.take());
                }
                if let Some(more) = e.more.as_mut() {
                    take_ready(more, e.readable, e.writable, out);
                    if more.is_empty() {
                        e.more = None;
                    }
                }
                if !self.edge {
                    let ev = interest(key, e);
                    let _ = self
                        .poller
                        .modify_with_mode(borrow(e.fd), ev, PollMode::Level);
                }
            } else {
                if readable {
                    out.extend(e.reader.clone());
                }
                if writable {
                    out.extend(e.writer.clone());
                }
            }
        }
        Ok(ready.len())
    }

    /// Collects readiness: one direct `epoll_wait` where it can (see `epoll.rs`), else
    /// `Poller::wait`.
    fn wait(&self, timeout: Option<Duration>, ready: &mut Vec<Ready>) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let timeout = match epoll::wait(
            &self.poller,
            timeout,
            &mut self.epoll_buf.borrow_mut(),
            ready,
        )? {
            epoll::Waited::Done => return Ok(()),
            // The notifier fired: polling drains and re-arms it; must not block.
            epoll::Waited::Notified => Some(Duration::ZERO),
            epoll::Waited::NeedsPrecision => timeout,
        };
        let t = if ready.is_empty() {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let mut events = self.events.borrow_mut();
        events.clear();
        self.poller.wait(&mut events, t)?;
        ready.extend(
            events
                .iter()
                .map(|ev| (ev.key, ev.readable, ev.writable, None)),
        );
        Ok(())
    }

    /// Deletes every registration from the poller and returns their notifications, so the
    /// loop can drop them outside any borrow.
    pub(crate) fn clear(&self) -> Vec<N> {
        let mut out = Vec::new();
        let mut entries = self.entries.borrow_mut();
        for e in entries.drain() {
            let _ = self.poller.delete(borrow(e.fd));
            out.extend(e.reader);
            out.extend(e.writer);
            out.extend(e.more.into_iter().flat_map(|m| *m).map(|(_, n)| n));
        }
        self.watches.borrow_mut().clear();
        out
    }
}

/// Moves the extra waiters of the directions that are ready to `out`, in arrival order.
fn take_ready<N>(more: &mut Vec<(Dir, N)>, readable: bool, writable: bool, out: &mut Vec<N>) {
    let mut i = 0;
    while i < more.len() {
        let ready = match more[i].0 {
            Dir::Read => readable,
            Dir::Write => writable,
        };
        if ready {
            out.push(more.remove(i).1);
        } else {
            i += 1;
        }
    }
}

fn interest<N>(key: usize, e: &Entry<N>) -> Event {
    match (e.has_waiter(Dir::Read), e.has_waiter(Dir::Write)) {
        (true, true) => Event::all(key),
        (true, false) => Event::readable(key),
        (false, true) => Event::writable(key),
        (false, false) => Event::none(key),
    }
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: used only for the duration of one poller call on an fd that its owner keeps
    // open while it is registered (see `watch` and `register`).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

#[cfg(test)]
mod tests;
