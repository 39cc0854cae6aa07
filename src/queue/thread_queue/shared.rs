//! The state one `ThreadQueue`'s handles share, behind one `parking_lot` mutex, and the
//! waiting logic both sides use.
//!
//! Ground rules for the shared state (one `parking_lot` mutex around all of it):
//! * items stay in `items` until a getter takes them: nothing is handed to a waiter, so a
//!   waiter that leaves loses nothing;
//! * each wait list holds exactly the waiters not yet woken; whoever wakes a waiter removes
//!   it in the same critical section, so nobody is woken twice, and every put (get) that finds
//!   a getter (putter) waiting wakes one;
//! * a coroutine woken and then cancelled before it could take its turn passes the turn on to
//!   the next waiter of its list (if the turn is still there: an item, a free place);
//! * wakes are sent after the lock is released: a coroutine is woken through its loop's
//!   thread-safe path (no syscall unless the loop sleeps), a thread through `unpark`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::Thread;

use parking_lot::{Mutex, MutexGuard};

use crate::error::QueueShutDown;
use crate::runtime::SendWaker;
use crate::runtime::{Ticket, WaitKind, WaitList};

pub(super) struct Shared<T> {
    pub(super) state: Mutex<State<T>>,
    pub(super) maxsize: usize,
}

pub(super) struct State<T> {
    pub(super) items: VecDeque<T>,
    pub(super) closed: bool,
    pub(super) getters: WaitList<Waiter>,
    pub(super) putters: WaitList<Waiter>,
}

pub(super) enum Waiter {
    Coro(SendWaker),
    Thread(Arc<ThreadSignal>),
}

/// Parks and wakes one blocked OS thread.
pub(super) struct ThreadSignal {
    woken: AtomicBool,
    thread: Thread,
}

impl Waiter {
    pub(super) fn wake(self) {
        match self {
            Waiter::Coro(w) => w.wake(),
            Waiter::Thread(s) => {
                s.woken.store(true, Ordering::Release);
                s.thread.unpark();
            }
        }
    }
}

impl<T> State<T> {
    pub(super) fn full(&self, maxsize: usize) -> bool {
        maxsize > 0 && self.items.len() >= maxsize
    }
}

/// Which wait list a waiter is on.
#[derive(Clone, Copy)]
pub(super) enum Side {
    Get,
    Put,
}

impl Side {
    pub(super) fn kind(self) -> WaitKind {
        match self {
            Side::Get => WaitKind::ThreadQueueGet,
            Side::Put => WaitKind::ThreadQueuePut,
        }
    }
}

impl<T> Shared<T> {
    pub(super) fn list(st: &mut State<T>, side: Side) -> &mut WaitList<Waiter> {
        match side {
            Side::Get => &mut st.getters,
            Side::Put => &mut st.putters,
        }
    }

    /// Parks the current coroutine on `side` until woken; returns with the lock held again.
    pub(super) fn park_coro<'a>(
        &'a self,
        mut st: MutexGuard<'a, State<T>>,
        side: Side,
    ) -> MutexGuard<'a, State<T>> {
        let key = Self::list(&mut st, side).push(side.kind(), Waiter::Coro(SendWaker::current()));
        drop(st);
        let guard = LeaveOnCancel {
            shared: self,
            side,
            key,
        };
        crate::runtime::park_external(&side.kind());
        std::mem::forget(guard);
        let mut st = self.state.lock();
        Self::list(&mut st, side).remove(key); // still there only after a spurious wake
        st
    }

    /// Parks the current OS thread on `side` until woken; returns with the lock held again.
    pub(super) fn park_thread<'a>(
        &'a self,
        mut st: MutexGuard<'a, State<T>>,
        side: Side,
    ) -> MutexGuard<'a, State<T>> {
        let signal = Arc::new(ThreadSignal {
            woken: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        Self::list(&mut st, side).push(side.kind(), Waiter::Thread(signal.clone()));
        drop(st);
        while !signal.woken.load(Ordering::Acquire) {
            std::thread::park();
        }
        self.state.lock()
    }

    /// Puts `item`, waiting with `park` (a coroutine's or an OS thread's) while the queue is
    /// full; both sides' `put` share this loop.
    pub(super) fn put_with<'a>(
        &'a self,
        mut item: T,
        park: impl Fn(MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>>,
    ) -> Result<(), QueueShutDown<T>> {
        let mut st = self.state.lock();
        loop {
            if st.closed {
                return Err(QueueShutDown(item));
            }
            match self.try_put(&mut st, item) {
                Ok(getter) => {
                    drop(st);
                    if let Some(w) = getter {
                        w.wake();
                    }
                    return Ok(());
                }
                Err(back) => item = back,
            }
            st = park(st);
        }
    }

    /// Takes an item, waiting with `park` while the queue is empty; both sides' `get` share
    /// this loop.
    pub(super) fn get_with<'a>(
        &'a self,
        park: impl Fn(MutexGuard<'a, State<T>>) -> MutexGuard<'a, State<T>>,
    ) -> Result<T, QueueShutDown> {
        let mut st = self.state.lock();
        loop {
            if let Some((item, putter)) = self.try_get(&mut st) {
                drop(st);
                if let Some(w) = putter {
                    w.wake();
                }
                return Ok(item);
            }
            if st.closed {
                return Err(QueueShutDown(()));
            }
            st = park(st);
        }
    }

    /// Takes an item if there is one, and the putter its place goes to.
    pub(super) fn try_get(&self, st: &mut State<T>) -> Option<(T, Option<Waiter>)> {
        let item = st.items.pop_front()?;
        let putter = if self.maxsize > 0 {
            st.putters.pop()
        } else {
            None
        };
        Some((item, putter))
    }

    /// Puts `item` if there is room, and returns the getter to wake; gives `item` back if not.
    pub(super) fn try_put(&self, st: &mut State<T>, item: T) -> Result<Option<Waiter>, T> {
        if st.full(self.maxsize) {
            return Err(item);
        }
        st.items.push_back(item);
        Ok(st.getters.pop())
    }
}

/// Takes a coroutine off its wait list when it unwinds out of the park (cancelled, or the
/// loop closing). If it had been woken already, the turn it was given goes to the next waiter.
struct LeaveOnCancel<'a, T> {
    shared: &'a Shared<T>,
    side: Side,
    key: Ticket,
}

impl<T> Drop for LeaveOnCancel<'_, T> {
    fn drop(&mut self) {
        let mut st = self.shared.state.lock();
        if Shared::list(&mut st, self.side).remove(self.key).is_some() {
            return; // never woken: nothing to pass on
        }
        let next = match self.side {
            Side::Get if !st.items.is_empty() => st.getters.pop(),
            Side::Put if !st.full(self.shared.maxsize) => st.putters.pop(),
            _ => None,
        };
        drop(st);
        if let Some(w) = next {
            w.wake();
        }
    }
}
