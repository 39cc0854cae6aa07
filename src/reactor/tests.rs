//! Tests of the reactor's registrations and readiness.

use super::*;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

#[test]
fn level_watch_reports_until_removed() {
    let r: Reactor<u32> = Reactor::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    r.watch(b.as_raw_fd(), Dir::Read, 7).unwrap();
    a.write_all(b"x").unwrap();
    for _ in 0..2 {
        let mut out = Vec::new();
        r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
        assert_eq!(out, vec![7], "level-triggered: reported while readable");
    }
    assert_eq!(r.unwatch(b.as_raw_fd(), Dir::Read), Some(7));
    assert_eq!(r.unwatch(b.as_raw_fd(), Dir::Read), None);
    let mut out = Vec::new();
    r.poll(Some(Duration::ZERO), &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(r.len(), 0);
}

#[test]
fn source_waiter_is_one_shot() {
    let r: Reactor<u32> = Reactor::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let key = r.register(b.as_raw_fd()).unwrap();
    assert!(r.is_ready(key, Dir::Read));
    r.clear_ready(key, Dir::Read);
    assert!(r.wait_ready(key, Dir::Read, || 1));
    a.write_all(b"x").unwrap();
    let mut out = Vec::new();
    r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    assert_eq!(out, vec![1]);
    assert!(r.is_ready(key, Dir::Read));
    r.deregister(key);
    assert_eq!(r.len(), 0);
}

#[test]
fn notify_wakes_an_unbounded_wait_again_and_again() {
    // The direct epoll_wait must hand polling's one-shot notifier back for re-arming,
    // or the second notification would be lost and this test would hang.
    let r: Reactor<u32> = Reactor::new().unwrap();
    let p = r.poller().clone();
    for _ in 0..3 {
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.notify().unwrap();
        });
        let mut out = Vec::new();
        r.poll(None, &mut out).unwrap();
        assert!(out.is_empty());
        t.join().unwrap();
    }
}

#[test]
fn short_timeouts_keep_sub_millisecond_precision() {
    // A 300 µs wait rounded up to epoll_wait's whole milliseconds lasts 1 ms or more every
    // time; kept precise, it ends well before. Each wait must last its 300 µs; the fastest
    // of up to 200 must end before 1 ms (a busy machine only makes waits longer, and one
    // quick wait is all the upper bound needs).
    let r: Reactor<u32> = Reactor::new().unwrap();
    let mut out = Vec::new();
    let mut fastest = Duration::MAX;
    for _ in 0..200 {
        let t0 = std::time::Instant::now();
        r.poll(Some(Duration::from_micros(300)), &mut out).unwrap();
        let took = t0.elapsed();
        assert!(took >= Duration::from_micros(300), "{took:?}");
        fastest = fastest.min(took);
        if fastest < Duration::from_micros(900) {
            break;
        }
    }
    assert!(out.is_empty());
    assert!(
        fastest < Duration::from_micros(900),
        "the fastest 300 µs wait took {fastest:?}: rounded to whole milliseconds"
    );
}

#[test]
fn two_waiters_of_one_direction_are_both_notified() {
    let r: Reactor<u32> = Reactor::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let key = r.register(b.as_raw_fd()).unwrap();
    r.clear_ready(key, Dir::Read);
    r.clear_ready(key, Dir::Write);
    assert!(r.wait_ready(key, Dir::Read, || 1));
    assert!(r.wait_ready(key, Dir::Read, || 2));
    assert!(r.wait_ready(key, Dir::Read, || 3));
    assert_eq!(r.cancel_wait(key, Dir::Read, |n| *n == 2), Some(2));
    assert_eq!(r.cancel_wait(key, Dir::Read, |n| *n == 2), None);
    a.write_all(b"x").unwrap();
    let mut out = Vec::new();
    r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    assert_eq!(out, vec![1, 3]);
    r.deregister(key);
}

#[test]
fn level_sources_are_reported_only_while_someone_waits() {
    let r: Reactor<u32> = Reactor::new_level().unwrap();
    let (_a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let key = r.register(b.as_raw_fd()).unwrap();
    let mut out = Vec::new();
    let n = r.poll(Some(Duration::ZERO), &mut out).unwrap();
    assert_eq!(
        (n, out.len()),
        (0, 0),
        "writable, but nobody waits: no event"
    );
    r.clear_ready(key, Dir::Write);
    assert!(r.wait_ready(key, Dir::Write, || 9));
    r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    assert_eq!(out, vec![9]);
    out.clear();
    let n = r.poll(Some(Duration::ZERO), &mut out).unwrap();
    assert_eq!((n, out.len()), (0, 0), "the interest left with the waiter");
    r.clear_ready(key, Dir::Read);
    assert!(r.wait_ready(key, Dir::Read, || 3));
    assert_eq!(r.cancel_wait(key, Dir::Read, |n| *n == 3), Some(3));
    let n = r.poll(Some(Duration::ZERO), &mut out).unwrap();
    assert_eq!(n, 0);
    r.deregister(key);
}

/// A registration is one cache line with room for waiters the size of the loop's (a task
/// waker or a callback, 24 bytes with its tag): everything a message touches in one miss.
#[test]
fn entry_is_one_cache_line() {
    type Notification = (Box<u8>, u64, u64);
    assert_eq!(std::mem::size_of::<Option<Notification>>(), 24);
    assert_eq!(std::mem::size_of::<Entry<Notification>>(), 64);
    assert_eq!(std::mem::align_of::<Entry<Notification>>(), 64);
}

/// A short read marks a source drained only when its last read event said no FIN is queued.
#[test]
fn short_read_clears_readable_only_without_a_possible_fin() {
    let r: Reactor<u32> = Reactor::new().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let key = r.register(b.as_raw_fd()).unwrap();
    r.short_read(key);
    assert!(
        r.is_ready(key, Dir::Read),
        "no event seen yet: a FIN may be queued, keep reading"
    );
    a.write_all(b"x").unwrap();
    let mut out = Vec::new();
    r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    r.short_read(key);
    assert!(
        !r.is_ready(key, Dir::Read),
        "the event said no FIN: a short read drained the socket"
    );
    drop(a);
    r.poll(Some(Duration::from_secs(5)), &mut out).unwrap();
    r.short_read(key);
    assert!(
        r.is_ready(key, Dir::Read),
        "the peer closed: the FIN must still be read"
    );
    r.deregister(key);
}
