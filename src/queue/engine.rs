//! The state every handle of one queue shares, and the waiting logic of `put`, `get` and
//! `join` (asyncio's `Queue` methods, with direct hand-off).
//!
//! Ground rules:
//! * a parked getter exists only while the store is empty: `put` hands its item straight to
//!   the oldest parked getter, and only stores it when none is parked;
//! * an item handed to a getter, and a free place granted to a putter, belong to that waiter
//!   until it resumes: newcomers calling `get_nowait`/`put_nowait` cannot take them, so a
//!   parked waiter is never starved by a busy neighbour;
//! * both count against `maxsize` until their waiter resumes: `items + handed + reserved`
//!   never exceeds `maxsize` (bounded queues), so a cancelled getter can always give its item
//!   back without overfilling the queue;
//! * a waiter cancelled after it was handed something gives it back (the item to the next
//!   getter or back into the store, the place to the next putter) in its guard's `Drop`;
//! * no borrow of `state` is held across a park, and no item is dropped inside one (an
//!   item's `Drop` may use the queue).

use std::cell::RefCell;
use std::fmt;

use super::store::Store;
use super::waiters::{WaiterState, Waiters};
use crate::error::{
    GetNowaitError, PutNowaitError, QueueEmpty, QueueFull, QueueShutDown, TaskDoneError,
};
use std::panic::Location;

use crate::runtime::{Site, WaitKind};

/// One queue: its store, its waiters and its counters.
pub(crate) struct Engine<T, S> {
    state: RefCell<State<T, S>>,
    /// Where the queue was made, for the deadlock report.
    created: &'static Location<'static>,
}

struct State<T, S> {
    items: S,
    /// 0 means unbounded.
    maxsize: usize,
    /// Coroutines parked in `get`; a woken one holds its item in its slot.
    getters: Waiters<T>,
    /// Coroutines parked in `put`; a woken one holds a free place (counted in `reserved`).
    putters: Waiters<()>,
    /// Coroutines parked in `join`.
    joiners: Waiters<()>,
    /// Items handed to woken getters that have not resumed yet.
    handed: usize,
    /// Free places granted to woken putters that have not resumed yet.
    reserved: usize,
    /// Items put and not yet marked done with `task_done`.
    unfinished: usize,
    shutdown: bool,
}

impl<T, S: Store<T>> State<T, S> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.items.len() + self.handed + self.reserved >= self.maxsize
    }

    fn try_put(&mut self, item: T) -> Result<(), PutNowaitError<T>> {
        if self.shutdown {
            return Err(QueueShutDown(item).into());
        }
        if self.full() {
            return Err(QueueFull(item).into());
        }
        self.unfinished += 1;
        match self.getters.wake_first(item) {
            Ok(()) => self.handed += 1,
            Err(item) => self.items.push(item),
        }
        Ok(())
    }

    fn try_get(&mut self) -> Result<T, GetNowaitError> {
        match self.items.pop() {
            Some(item) => {
                self.grant_putters();
                Ok(item)
            }
            None if self.shutdown => Err(QueueShutDown(()).into()),
            None => Err(QueueEmpty.into()),
        }
    }

    /// Wakes parked putters, oldest first, for as many free places as there are.
    fn grant_putters(&mut self) {
        while !self.full() && self.putters.wake_first(()).is_ok() {
            self.reserved += 1;
        }
    }

    /// An item a cancelled getter had been handed: to the next parked getter, or else back
    /// into the store where it would be had it never left. Occupancy does not change.
    fn give_back(&mut self, item: T) {
        match self.getters.wake_first(item) {
            Ok(()) => self.handed += 1,
            Err(item) => self.items.give_back(item),
        }
    }
}

/// Which waiter list a guard belongs to.
#[derive(Clone, Copy)]
enum Role {
    Get,
    Put,
    Join,
}

impl<T, S: Store<T>> Engine<T, S> {
    #[track_caller]
    pub(crate) fn new(items: S, maxsize: usize) -> Self {
        Engine {
            created: Location::caller(),
            state: RefCell::new(State {
                items,
                maxsize,
                getters: Waiters::new(WaitKind::QueueGet),
                putters: Waiters::new(WaitKind::QueuePut),
                joiners: Waiters::new(WaitKind::QueueJoin),
                handed: 0,
                reserved: 0,
                unfinished: 0,
                shutdown: false,
            }),
        }
    }

    pub(crate) fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    pub(crate) fn qsize(&self) -> usize {
        self.state.borrow().items.len()
    }

    pub(crate) fn full(&self) -> bool {
        self.state.borrow().full()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.borrow().shutdown
    }

    pub(crate) fn put_nowait(&self, item: T) -> Result<(), PutNowaitError<T>> {
        self.state.borrow_mut().try_put(item)
    }

    pub(crate) fn get_nowait(&self) -> Result<T, GetNowaitError> {
        self.state.borrow_mut().try_get()
    }

    pub(crate) fn put(&self, mut item: T) -> Result<(), QueueShutDown<T>> {
        loop {
            let key = {
                let mut s = self.state.borrow_mut();
                match s.try_put(item) {
                    Ok(()) => return Ok(()),
                    Err(PutNowaitError::ShutDown(e)) => return Err(e),
                    Err(PutNowaitError::Full(e)) => item = e.0,
                }
                s.putters.push_current()
            };
            self.wait(Role::Put, putters, key, |s, slot| {
                if let WaiterState::Granted(()) = slot {
                    // The place was kept for us: release it, to take it in the retry.
                    s.reserved -= 1;
                }
            });
        }
    }

    pub(crate) fn get(&self) -> Result<T, QueueShutDown> {
        loop {
            let key = {
                let mut s = self.state.borrow_mut();
                match s.try_get() {
                    Ok(item) => return Ok(item),
                    Err(GetNowaitError::ShutDown(e)) => return Err(e),
                    Err(GetNowaitError::Empty(_)) => s.getters.push_current(),
                }
            };
            let handed = self.wait(Role::Get, getters, key, |s, slot| match slot {
                WaiterState::Granted(item) => {
                    s.handed -= 1;
                    s.grant_putters();
                    Some(item)
                }
                WaiterState::Parked(_) | WaiterState::Released => None,
            });
            if let Some(item) = handed {
                return Ok(item);
            }
            // Released by shutdown: the retry reports it, or drains what is left.
        }
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut s = self.state.borrow_mut();
        if s.unfinished == 0 {
            return Err(TaskDoneError);
        }
        s.unfinished -= 1;
        if s.unfinished == 0 {
            s.joiners.release_all();
        }
        Ok(())
    }

    pub(crate) fn join(&self) {
        if self.state.borrow().unfinished == 0 {
            return;
        }
        let key = self.state.borrow_mut().joiners.push_current();
        // Released once the count reached zero, even if new items came since (asyncio's
        // `Event.wait`).
        self.wait(Role::Join, joiners, key, |_, _| ());
    }

    pub(crate) fn shutdown(&self, immediate: bool) {
        let mut dropped = Vec::new();
        {
            let mut s = self.state.borrow_mut();
            s.shutdown = true;
            if immediate {
                s.items.drain_into(&mut dropped);
                let stored = dropped.len();
                s.getters.revoke_granted(&mut dropped);
                s.handed -= dropped.len() - stored;
                s.unfinished = s.unfinished.saturating_sub(dropped.len());
                if s.unfinished == 0 {
                    s.joiners.release_all();
                }
            }
            s.getters.release_all();
            s.putters.release_all();
        }
        drop(dropped); // outside the borrow: an item's Drop may use the queue
    }

    /// Parks until the waiter `key` in `list` is woken, then removes it and lets `woken` see
    /// how it was woken, under the same borrow. If the coroutine is cancelled meanwhile, the
    /// guard removes the waiter and passes on what it had been given.
    fn wait<V, R>(
        &self,
        role: Role,
        list: Select<T, S, V>,
        key: usize,
        woken: impl FnOnce(&mut State<T, S>, WaiterState<V>) -> R,
    ) -> R {
        let guard = WaitGuard {
            engine: self,
            role,
            key,
        };
        let what = list(&mut self.state.borrow_mut()).kind().as_str();
        let site = Site(what, self.created);
        loop {
            crate::runtime::park_on(&site);
            let mut s = self.state.borrow_mut();
            if !list(&mut s).is_parked(key) {
                std::mem::forget(guard);
                let slot = list(&mut s).remove(key);
                return woken(&mut s, slot);
            }
            // A stale wake-up: keep our place, with a waker for the next park.
            list(&mut s).rearm_current(key);
        }
    }

    /// Cleanup of a waiter that stops waiting before it resumed normally (cancelled, or its
    /// stack unwound as the loop closes).
    fn abandon(&self, role: Role, key: usize) {
        let mut s = self.state.borrow_mut();
        match role {
            Role::Get => {
                if let WaiterState::Granted(item) = s.getters.remove(key) {
                    s.handed -= 1;
                    s.give_back(item);
                }
            }
            Role::Put => {
                if let WaiterState::Granted(()) = s.putters.remove(key) {
                    s.reserved -= 1;
                    s.grant_putters();
                }
            }
            Role::Join => {
                s.joiners.remove(key);
            }
        }
    }
}

/// Picks one waiter list out of the state.
type Select<T, S, V> = fn(&mut State<T, S>) -> &mut Waiters<V>;

fn getters<T, S>(s: &mut State<T, S>) -> &mut Waiters<T> {
    &mut s.getters
}

fn putters<T, S>(s: &mut State<T, S>) -> &mut Waiters<()> {
    &mut s.putters
}

fn joiners<T, S>(s: &mut State<T, S>) -> &mut Waiters<()> {
    &mut s.joiners
}

/// Unlinks a waiter whose park unwinds, giving back what it was handed.
struct WaitGuard<'a, T, S: Store<T>> {
    engine: &'a Engine<T, S>,
    role: Role,
    key: usize,
}

impl<T, S: Store<T>> Drop for WaitGuard<'_, T, S> {
    fn drop(&mut self) {
        self.engine.abandon(self.role, self.key);
    }
}

impl<T, S: Store<T>> fmt::Debug for Engine<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        write!(f, "maxsize={} qsize={}", s.maxsize, s.items.len())?;
        if s.getters.parked() > 0 {
            write!(f, " getters={}", s.getters.parked())?;
        }
        if s.putters.parked() > 0 {
            write!(f, " putters={}", s.putters.parked())?;
        }
        if s.unfinished > 0 {
            write!(f, " tasks={}", s.unfinished)?;
        }
        if s.shutdown {
            f.write_str(" shutdown")?;
        }
        Ok(())
    }
}
