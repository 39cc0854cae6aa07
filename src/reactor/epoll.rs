//! A direct `epoll_wait` on the poller's own epoll fd, for the common waits.
//!
//! `polling::Poller::wait` costs five syscalls on Linux (it arms a timerfd for the timeout,
//! re-arms it, waits, drains and re-arms its notifier eventfd). For a wait with no timeout, a
//! zero timeout, or one long enough that millisecond rounding does not matter, one
//! `epoll_wait` on the same epoll fd gives the same events: registrations still go through
//! `polling`, which stores each source's key in the event's data. The only event that needs
//! `polling`'s own handling is its notifier (key `usize::MAX`, registered one-shot): when it
//! shows up here, the caller hands over to `Poller::wait`, which drains and re-arms it.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use polling::Poller;

/// `polling`'s key for its notifier and timer fds.
const NOTIFY_KEY: u64 = usize::MAX as u64;

/// Timeouts at least this long are rounded up to whole milliseconds and waited on directly.
const LONG_ENOUGH: Duration = Duration::from_millis(50);

use super::Ready;

/// Reused buffer of raw epoll events.
#[derive(Debug)]
pub(super) struct EpollBuf {
    events: Vec<libc::epoll_event>,
}

impl EpollBuf {
    pub(super) fn new() -> EpollBuf {
        EpollBuf {
            events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
        }
    }
}

/// What a direct wait did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Waited {
    /// Events (if any) are in `out`.
    Done,
    /// As `Done`, but `polling`'s notifier fired too: call `Poller::wait` with a zero timeout
    /// so it drains and re-arms it.
    Notified,
    /// The timeout is too short for millisecond rounding: use `Poller::wait`.
    NeedsPrecision,
}

/// Waits directly when `timeout` allows.
pub(super) fn wait(
    poller: &Poller,
    timeout: Option<Duration>,
    buf: &mut EpollBuf,
    out: &mut Vec<Ready>,
) -> io::Result<Waited> {
    let ms: libc::c_int = match timeout {
        None => -1,
        Some(d) if d.is_zero() => 0,
        Some(d) if d >= LONG_ENOUGH => d
            .as_nanos()
            .div_ceil(1_000_000)
            .min(libc::c_int::MAX as u128) as libc::c_int,
        Some(_) => return Ok(Waited::NeedsPrecision),
    };
    let n = loop {
        // SAFETY: the buffer holds `len` initialised epoll_event structs that the kernel may
        // overwrite; the fd is the poller's epoll fd, alive while `poller` is borrowed.
        let n = unsafe {
            libc::epoll_wait(
                poller.as_raw_fd(),
                buf.events.as_mut_ptr(),
                buf.events.len() as libc::c_int,
                ms,
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        if ms != 0 {
            // A signal cut the wait short: let the loop look around and come back.
            break 0;
        }
    };
    let mut notified = false;
    for ev in &buf.events[..n] {
        let (flags, key) = (ev.events as libc::c_int, ev.u64);
        if key == NOTIFY_KEY {
            notified = true;
            continue;
        }
        let readable =
            flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI) != 0;
        let writable = flags & (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        let hangup = flags & (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) != 0;
        out.push((key as usize, readable, writable, Some(hangup)));
    }
    if n == buf.events.len() {
        buf.events
            .resize(n * 2, libc::epoll_event { events: 0, u64: 0 });
    }
    Ok(if notified {
        Waited::Notified
    } else {
        Waited::Done
    })
}

/// Adds `EPOLLRDHUP` to an edge-triggered source that `polling` registered for both
/// directions, so events tell whether the peer closed its side. Same key, same mode; polling
/// never modifies edge-triggered sources afterwards.
pub(super) fn add_rdhup(poller: &Poller, fd: std::os::fd::RawFd, key: usize) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: key as u64,
    };
    // SAFETY: EPOLL_CTL_MOD on the poller's epoll fd for an fd the caller just registered
    // there and keeps open; `ev` is a valid event struct for the call's duration.
    let rc = unsafe { libc::epoll_ctl(poller.as_raw_fd(), libc::EPOLL_CTL_MOD, fd, &mut ev) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polling::Events;

    /// Keys of the events a raw, non-blocking `epoll_wait` on the poller's fd returns now.
    fn raw_keys(poller: &Poller) -> Vec<u64> {
        let mut buf = EpollBuf::new();
        let mut out = Vec::new();
        let mut keys = Vec::new();
        // Through `wait` itself, so what is pinned is what the reactor sees.
        let w = wait(poller, Some(Duration::ZERO), &mut buf, &mut out).unwrap();
        if w == Waited::Notified {
            keys.push(NOTIFY_KEY);
        }
        keys.extend(out.iter().map(|r| r.0 as u64));
        keys
    }

    /// What the direct wait assumes of `polling` (the reason its version is pinned): its
    /// notifier shows up in the raw epoll events under `NOTIFY_KEY`, one-shot (gone after
    /// one report until re-armed), and `Poller::wait` drains and re-arms it so that the next
    /// `notify` is seen again. If a new `polling` changes any of this, a direct wait would
    /// swallow a wake-up from another thread and the loop would sleep on.
    #[test]
    fn polling_notifier_is_a_one_shot_event_under_the_reserved_key() {
        let poller = Poller::new().unwrap();
        assert_eq!(raw_keys(&poller), [], "nothing pending at first");
        poller.notify().unwrap();
        assert_eq!(
            raw_keys(&poller),
            [NOTIFY_KEY],
            "notify is an event under NOTIFY_KEY"
        );
        assert_eq!(
            raw_keys(&poller),
            [],
            "one-shot: reported once until re-armed"
        );
        poller.notify().unwrap();
        assert_eq!(
            raw_keys(&poller),
            [],
            "not re-armed yet: a direct wait alone would lose this notification"
        );
        let mut events = Events::new();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(raw_keys(&poller), [], "Poller::wait drained the notifier");
        for _ in 0..3 {
            poller.notify().unwrap();
            assert_eq!(
                raw_keys(&poller),
                [NOTIFY_KEY],
                "after Poller::wait, the next notify is seen again"
            );
            poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        }
    }

    /// Sources' own keys come back unchanged in the raw event data, also after the
    /// `EPOLLRDHUP` modification.
    #[test]
    fn source_keys_come_back_in_the_raw_event_data() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let poller = Poller::new().unwrap();
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        // SAFETY: `b` outlives its registration (deleted below).
        unsafe {
            poller
                .add_with_mode(&b, polling::Event::all(42), polling::PollMode::Edge)
                .unwrap()
        };
        add_rdhup(&poller, b.as_raw_fd(), 42).unwrap();
        assert_eq!(raw_keys(&poller), [42], "writable at once");
        a.write_all(b"x").unwrap();
        let mut buf = EpollBuf::new();
        let mut out = Vec::new();
        wait(&poller, Some(Duration::ZERO), &mut buf, &mut out).unwrap();
        assert_eq!(
            out,
            [(42, true, true, Some(false))],
            "readable, no FIN queued"
        );
        drop(a);
        out.clear();
        wait(&poller, Some(Duration::ZERO), &mut buf, &mut out).unwrap();
        assert_eq!(
            out,
            [(42, true, true, Some(true))],
            "the peer closed: hangup"
        );
        poller.delete(&b).unwrap();
    }
}
