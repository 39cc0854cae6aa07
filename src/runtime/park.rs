//! Parking the running task: the park/wake API every waiting primitive in corio is built on,
//! and cancellation, which is delivered at a park.
//!
//! Ground rules:
//! * a task is `Scheduled` at most once: the ready queue never holds it twice;
//! * a [`Waker`] is good for the **next** park of its task only. `park` bumps the task's
//!   token when it returns, so a stale waker left in some waiter list cannot wake a later,
//!   unrelated park; primitives therefore need no defence against spurious wake-ups from
//!   stale wakers (they still re-check their condition in a loop);
//! * a wake-up that arrives while the task runs (it woke itself, or a callback did before it
//!   parked) is remembered in `notified`, and the next park returns at once;
//! * cancellation is delivered at a park: `park` unwinds with [`Cancelled`]. Requests are
//!   counted as asyncio counts them (`Task.cancelling()`/`uncancel()`): delivery does not
//!   lower the count, `uncancel` does, so a timeout scope can tell its own request from an
//!   outer one.

use std::cell::RefCell;
use std::panic::resume_unwind;

use super::core::Core;
use super::current::{current_or_panic, current_ptr_or_panic, current_ref};
use super::task_ref::{Header, State, TaskRef, Waker};
use super::wait_list::{Ticket, WaitKind, WaitList};
use super::wait_target::{WaitTarget, target_ptr};
use crate::coro;
use crate::error::Cancelled;

/// Parks the current task until a [`Waker`] for it is woken or it is cancelled, and reports
/// `what` it waits on meanwhile (read by `corio::tasks()` and the deadlock report only for
/// parked tasks, so it needs no reset afterwards).
///
/// The wait is *durable*: only another task of this loop or one of its timers can end it.
/// Waits the outside world ends use [`park_external`].
///
/// # Panics
///
/// Outside a coroutine. Unwinds with [`Cancelled`] if the task is cancelled.
#[inline(always)]
pub(crate) fn park_on(what: &dyn WaitTarget) {
    park(what, false);
}

/// [`park_on`] for a wait the outside world ends (a socket or fd, an executor job, a
/// `ThreadQueue`, a foreign std future): counted on the loop for as long as the task is
/// parked, so virtual time does not jump over it and no deadlock is reported meanwhile.
#[inline]
pub(crate) fn park_external(what: &dyn WaitTarget) {
    park(what, true);
}

#[inline(always)]
fn park(what: &dyn WaitTarget, external: bool) {
    let h = current_or_panic();
    if unwinding(h) {
        suspend_while_unwinding(h);
    }
    deliver_cancel(h);
    if h.notified.replace(false) {
        h.token.set(h.token.get().wrapping_add(1));
        return;
    }
    h.waiting_on.set(target_ptr(what));
    h.external.set(external);
    h.state.set(State::Parked);
    if external {
        let core = h.core();
        // Counted back down below, or by the loop's close if the task is unwound here.
        core.external_begin();
        switch_out(h, true);
        core.external_end();
    } else {
        switch_out(h, false);
    }
    h.notified.set(false);
    h.token.set(h.token.get().wrapping_add(1));
    deliver_cancel(h);
}

/// Debug mode: keeps the backtrace of the park under way for `dump_tasks()` (called from
/// `Core::hand_off`, which checks for debug mode on every switch out anyway).
#[cold]
pub(super) fn capture_park_trace(h: &Header) {
    let trace = std::backtrace::Backtrace::force_capture();
    let core = h.core();
    core.park_traces
        .borrow_mut()
        .insert(h.registry_key.get(), trace);
}

impl Core {
    /// The text of the backtrace of the last park of the task under `key`, if one was kept
    /// (debug mode).
    pub(super) fn park_trace_text(&self, key: usize) -> Option<String> {
        self.park_traces.borrow().get(&key).map(|b| b.to_string())
    }
}

/// Lets every other ready task run once, then continues (asyncio's `sleep(0)`).
pub(crate) fn yield_now() {
    let p = current_ptr_or_panic();
    // SAFETY: see `current_ptr`.
    let h = unsafe { p.as_ref() };
    if unwinding(h) {
        suspend_while_unwinding(h);
    }
    deliver_cancel(h);
    let task = current_ref(p);
    h.state.set(State::Scheduled);
    h.core().schedule(task);
    switch_out(h, false);
    deliver_cancel(h);
}

/// Gives the running task's turn away until it is scheduled again: runs the loop's next task
/// steps in its place while that is all the loop would do ([`Core::hand_off`]), else switches
/// to the loop.
///
/// `link`: record where the task's parent link is, for the loop to prefetch that line too
/// before the task resumes (see [`park_point`]). External parks do (sockets above all: the
/// case of thousands of cold tasks resumed one after another); durable parks and yields skip
/// the lookup, and so does every park where the loop has no prefetch (not x86-64).
#[inline]
fn switch_out(h: &Header, link: bool) {
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let link = if link && cfg!(target_arch = "x86_64") {
        coro::current_parent_link()
    } else {
        0
    };
    h.parked_sp.set(park_point(sp, link));
    if h.core().hand_off(h) {
        h.state.set(State::Running);
    } else {
        coro::suspend();
    }
}

/// What [`Header::parked_sp`] records for a task switching out at `sp`: the line of `sp`,
/// with the distance up to the line of its parent link (`link`, near its stack's top) in
/// lines in the six bits below, or 0 there when that is 64 lines or more (or unknown). The
/// loop's prefetch before the task resumes takes both lines from one word: the header has no
/// room for another.
#[inline]
pub(crate) fn park_point(sp: usize, link: usize) -> usize {
    let lines = (link & !63).wrapping_sub(sp & !63) / 64;
    (sp & !63) | if lines < 64 { lines } else { 0 }
}

/// The line of the parent link a [`park_point`] records, if it records one.
#[inline]
pub(crate) fn park_link_line(point: usize) -> Option<usize> {
    let lines = point & 63;
    (lines != 0).then(|| (point & !63) + lines * 64)
}

#[inline]
fn deliver_cancel(h: &Header) {
    if h.closing.get() {
        closing_park();
    }
    if h.take_cancel() {
        resume_unwind(Box::new(Cancelled));
    }
}

#[cold]
fn closing_park() {
    {
        // The loop is unwinding this coroutine by force and user code stopped that unwind (a
        // generic `catch_unwind`), then tried to park. Suspending hands control back to
        // corosensei's `force_unwind`, which throws its own unwind again from here. A
        // `Cancelled` payload of ours would instead end the coroutine with a foreign panic that
        // `force_unwind` passes on, out of `EventLoop::close` and the loop's `Drop`.
        coro::suspend();
        unreachable!("a coroutine being unwound by force is never resumed normally");
    }
}

/// `true` if the running task's coroutine is being unwound (a panic or a cancellation
/// passing through a `Drop` on its stack), where parking cannot work.
///
/// `std::thread::panicking()` answers for the whole thread, not for one coroutine. It
/// answers for this one when the loop was entered by a thread that was not panicking: no
/// other coroutine can be halfway through an unwind when this one parks, since a coroutine
/// never parks while it unwinds (that aborts, below), and the loop's own stack is not
/// unwinding while it runs a task. A loop entered during a panic (`corio::run` inside a
/// `Drop`) sees `panicking()` true all along; there it cannot tell, and the park goes on
/// (a park from a `Drop` during a task's unwind is then not reported).
#[inline]
fn unwinding(h: &Header) -> bool {
    std::thread::panicking() && !h.core().entered_panicking()
}

#[cold]
fn suspend_while_unwinding(h: &Header) -> ! {
    eprintln!(
        "corio: task '{}' tried to park while unwinding (a Drop implementation waited on a lock, \
         queue, sleep or socket during a cancel or panic); Drop must never park. Aborting.",
        h.display_name()
    );
    std::process::abort()
}

/// Requests cancellation of a task: its current or next park unwinds with `Cancelled`.
/// Returns `false` if the task already ended.
pub(crate) fn cancel(task: &TaskRef) -> bool {
    let h = task.header();
    if h.is_done() {
        return false;
    }
    h.cancel_requests
        .set(h.cancel_requests.get().saturating_add(1));
    if h.state.get() == State::Parked {
        h.state.set(State::Scheduled);
        h.core().schedule(task.clone());
    }
    true
}

/// Queues the current task in `list` and parks it until its entry is taken off the front (a
/// grant or a wake-all). If it is cancelled meanwhile, its entry leaves the list; nothing it
/// was given needs passing on (for waits that grant nothing of their own, such as an event's).
/// `what` describes the primitive the list belongs to.
#[inline]
pub(crate) fn park_in(list: &RefCell<WaitList<Waker>>, kind: WaitKind, what: &dyn WaitTarget) {
    struct Leave<'a> {
        list: &'a RefCell<WaitList<Waker>>,
        ticket: Ticket,
    }
    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            let w = self.list.borrow_mut().remove(self.ticket);
            drop(w);
        }
    }
    let ticket = list.borrow_mut().push_current(kind);
    let leave = Leave { list, ticket };
    park_until_granted(list, ticket, what);
    std::mem::forget(leave);
}

/// Parks the current task until its entry `t` in `list` has been granted (taken off the
/// front). Unwinds with `Cancelled` if the task is cancelled; the caller's drop guard then
/// removes the entry or passes on what it was granted.
#[inline(always)]
pub(crate) fn park_until_granted(
    list: &RefCell<WaitList<Waker>>,
    t: Ticket,
    what: &dyn WaitTarget,
) {
    loop {
        park_on(what);
        let mut l = list.borrow_mut();
        if !l.is_waiting(t) {
            return;
        }
        // Woken by something else: the old waker is spent, leave a fresh one.
        l.rearm(t, Waker::current());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::current::current_header;

    #[test]
    fn a_task_parked_on_a_socket_recorded_the_line_of_its_parent_link() {
        use std::io::Read;
        let (after_yield, recorded, link, base) = crate::run(|| {
            let (a, b) = crate::net::UnixStream::pair().unwrap();
            let t = crate::spawn(move || {
                let h = current_header().expect("inside a task");
                let base = h.parked_sp.get() + super::super::step::FRESH_TOUCH_BYTES;
                crate::yield_now();
                let after_yield = park_link_line(h.parked_sp.get());
                let mut buf = [0u8; 1];
                (&b).read_exact(&mut buf).unwrap(); // parks on the socket: an external park
                let recorded = park_link_line(h.parked_sp.get());
                (
                    after_yield,
                    recorded,
                    crate::coro::current_parent_link(),
                    base,
                )
            });
            crate::yield_now();
            crate::yield_now();
            a.write_all(b"x").unwrap();
            t.join().unwrap()
        });
        // corosensei's parent link is the word 16 bytes below the stack's base.
        assert_eq!(link, base - 16);
        // Recorded only where the loop prefetches it.
        let expected = cfg!(target_arch = "x86_64").then_some(link & !63);
        assert_eq!(recorded, expected);
        assert_eq!(after_yield, None, "a yield records no link");
    }

    #[test]
    fn park_points_carry_the_parent_links_line_up_to_63_lines_above() {
        let sp = 0x7000_0000_1048;
        let point = park_point(sp, 0x7000_0000_1600 - 16);
        assert_eq!(point & !63, 0x7000_0000_1040);
        assert_eq!(park_link_line(point), Some(0x7000_0000_15c0));
        // Too far, unknown, or in the switch point's own line: nothing recorded.
        assert_eq!(park_link_line(park_point(sp, sp + 64 * 64)), None);
        assert_eq!(park_link_line(park_point(sp, 0)), None);
        assert_eq!(park_link_line(park_point(sp, sp + 8)), None);
        assert_eq!(
            park_link_line(park_point(sp, sp - 64)),
            None,
            "a link below"
        );
        assert_eq!(
            park_link_line(park_point(sp, sp + 63 * 64)),
            Some(0x7000_0000_1040 + 63 * 64)
        );
    }
}
