//! Busy polling (`EventLoopBuilder::busy_poll`): an idle loop polls without blocking for a
//! while before it sleeps. Nothing the loop owes anyone may be lost or late because of it:
//! I/O found while spinning wakes its task, timers fire in order and never early, work from
//! other threads ends the spin at once, and an idle loop still goes to sleep after the
//! window.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use corio::runtime::EventLoopBuilder;

fn busy(window: Duration) -> EventLoopBuilder {
    EventLoopBuilder::new().busy_poll(window)
}

#[test]
fn busy_poll_timers_fire_in_order_and_never_early() {
    // The window is far longer than the timers: the spin must stop at the next deadline.
    let fired = busy(Duration::from_secs(5)).run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let start = corio::runtime::time();
        for (name, ms) in [("c", 30u64), ("a", 10), ("b", 20)] {
            let log = log.clone();
            corio::runtime::call_later(Duration::from_millis(ms), move || {
                log.borrow_mut()
                    .push((name, corio::runtime::time() - start, ms));
            });
        }
        corio::sleep(Duration::from_millis(40));
        log.take()
    });
    let names: Vec<&str> = fired.iter().map(|f| f.0).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for (name, at, ms) in fired {
        assert!(
            at >= ms as f64 / 1000.0,
            "timer {name} fired at {at} s, before its {ms} ms"
        );
        assert!(at < 4.0, "timer {name} waited for the spin window: {at} s");
    }
}

#[test]
fn busy_poll_wakes_a_reader_when_bytes_arrive_from_another_thread() {
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"ping").unwrap();
        let mut back = [0u8; 4];
        b.read_exact(&mut back).unwrap();
        back
    });
    let (got, took) = busy(Duration::from_secs(30)).run(move || {
        let start = corio::runtime::time();
        let mut s = corio::net::UnixStream::from_std(a).unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        (buf, corio::runtime::time() - start)
    });
    assert_eq!(&got, b"ping");
    assert_eq!(&writer.join().unwrap(), b"pong");
    assert!(took < 10.0, "the read waited for the spin window: {took} s");
}

thread_local! {
    /// The loop thread's future that work from another thread completes.
    static HANDED_OVER: RefCell<Option<corio::Future<u32>>> = const { RefCell::new(None) };
}

#[test]
fn busy_poll_ends_the_spin_for_work_from_another_thread() {
    let took = busy(Duration::from_secs(30)).run(|| {
        let start = corio::runtime::time();
        let fut = corio::Future::<u32>::new();
        HANDED_OVER.with(|h| *h.borrow_mut() = Some(fut.clone()));
        let handle = corio::runtime::loop_handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            // Runs on the loop's thread, where the future is.
            handle
                .call_soon_threadsafe(|| {
                    let f = HANDED_OVER.with(|h| h.borrow_mut().take()).unwrap();
                    f.set_result(5).unwrap();
                })
                .unwrap();
        });
        assert_eq!(fut.wait().unwrap(), 5);
        corio::runtime::time() - start
    });
    assert!(
        took < 10.0,
        "the loop spun on past the handed-over work: {took} s"
    );
}

#[test]
fn busy_poll_idle_loop_sleeps_after_the_window() {
    let cpu = busy(Duration::from_millis(1)).run(|| {
        let cpu0 = common::thread_cpu_time();
        for _ in 0..10 {
            corio::sleep(Duration::from_millis(30));
        }
        common::thread_cpu_time() - cpu0
    });
    // Ten idle spells of 30 ms, each spinning at most 1 ms before sleeping: about 10 ms of
    // CPU. Spinning through the sleeps would take 300 ms.
    assert!(
        cpu < Duration::from_millis(150),
        "the idle loop used {cpu:?} of CPU"
    );
}

#[test]
fn busy_poll_streams_echo_round_trips_keep_every_byte() {
    let total = busy(Duration::from_micros(200)).run(|| {
        let server = corio::streams::start_server(
            "127.0.0.1:0",
            |mut r: corio::streams::StreamReader,
             w: corio::streams::StreamWriter|
             -> std::io::Result<()> {
                loop {
                    let data = r.read(4096)?;
                    if data.is_empty() {
                        return w.close();
                    }
                    w.write(&data);
                    w.drain()?;
                }
            },
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let serving = corio::spawn(move || server.serve_forever());
        let clients: Vec<_> = (0..8u8)
            .map(|c| {
                corio::spawn(move || {
                    let (mut r, w) = corio::streams::open_connection(addr).unwrap();
                    let mut n = 0;
                    for i in 0..100u32 {
                        let msg = vec![c ^ i as u8; 1 + (i as usize * 37) % 3000];
                        w.write(&msg);
                        w.drain().unwrap();
                        assert_eq!(r.readexactly(msg.len()).unwrap(), msg);
                        n += msg.len();
                    }
                    n
                })
            })
            .collect();
        let total: usize = clients.into_iter().map(|t| t.join().unwrap()).sum();
        serving.cancel();
        total
    });
    let per_client: usize = (0..100).map(|i| 1 + (i * 37) % 3000).sum();
    assert_eq!(total, 8 * per_client);
}
