//! Virtual time: the clock jumps to the next timer when only the loop itself can end a wait,
//! and waits in real time while the outside world (a socket, an executor job, a thread with a
//! `LoopHandle`) still can.

mod common;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{LIMIT, Watchdog};

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn wait_for_an_hour_times_out_at_once_at_exactly_the_virtual_deadline() {
    let _w = Watchdog::start(LIMIT);
    let real = Instant::now();
    let (r, elapsed) = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let r = corio::wait_for(HOUR, || corio::Event::new().wait());
        (r, corio::runtime::now() - t0)
    });
    assert!(r.is_err(), "timed out");
    assert_eq!(elapsed, HOUR, "exactly at the deadline");
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
}

#[test]
fn retry_with_exponential_backoff_attempts_at_the_expected_times() {
    let _w = Watchdog::start(LIMIT);
    let real = Instant::now();
    let attempts = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let mut at = Vec::new();
        let mut backoff = Duration::from_secs(1);
        loop {
            at.push((corio::runtime::now() - t0).as_secs());
            // The operation "fails" twelve times; the backoff doubles up to its cap.
            if at.len() == 12 {
                break;
            }
            corio::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(600));
        }
        at
    });
    // 1, 2, 4, ... 512, then capped at 600.
    assert_eq!(
        attempts,
        [0, 1, 3, 7, 15, 31, 63, 127, 255, 511, 1023, 1623]
    );
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
}

#[test]
fn timeout_inside_a_task_group_inside_shield() {
    let _w = Watchdog::start(LIMIT);
    let out = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let inner = corio::spawn(move || {
            corio::task_group(|tg| {
                let slow = tg.spawn(move || {
                    corio::wait_for(Duration::from_secs(30), || corio::sleep(HOUR)).is_err()
                });
                let fast = tg.spawn(move || {
                    corio::sleep(Duration::from_secs(5));
                    corio::runtime::now() - t0
                });
                (slow, fast)
            })
            .map(|(slow, fast)| (slow.join().unwrap(), fast.join().unwrap()))
            .unwrap()
        });
        // The waiter is cancelled at 10 s; the shielded group goes on to its end.
        let waiter = {
            let inner_ref = Rc::new(inner);
            let i = inner_ref.clone();
            let waiter = corio::spawn(move || corio::shield(&i));
            (waiter, inner_ref)
        };
        corio::sleep(Duration::from_secs(10));
        waiter.0.cancel();
        assert!(waiter.0.join().unwrap_err().is_cancelled());
        let (timed_out, fast_at) = corio::shield(&waiter.1).unwrap();
        (timed_out, fast_at, corio::runtime::now() - t0)
    });
    assert_eq!(
        out,
        (true, Duration::from_secs(5), Duration::from_secs(30)),
        "the inner timeout fired at 30 s, after the shield's waiter was cancelled at 10 s"
    );
}

#[test]
fn a_socket_peer_answering_after_50ms_real_time_holds_the_clock() {
    let _w = Watchdog::start(LIMIT);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        s.write_all(b"pong").unwrap();
        let mut buf = [0; 1];
        let _ = s.read(&mut buf); // until the client closes
    });
    let log = corio::testing::run(move || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let t0 = corio::runtime::now();
        let l = log.clone();
        let timer = corio::spawn(move || {
            corio::sleep(Duration::from_secs(10));
            l.borrow_mut().push("timer");
        });
        let s = corio::net::TcpStream::connect(addr).unwrap();
        let mut buf = [0; 4];
        let r = corio::wait_for(Duration::from_secs(5), || (&s).read_exact(&mut buf));
        let read_at = corio::runtime::now() - t0;
        log.borrow_mut().push("read");
        assert!(r.unwrap().is_ok());
        assert_eq!(&buf, b"pong");
        // The clock moved by the real time waited for the peer (the read was outstanding:
        // no jump), short of the timer's 10 s.
        assert!(read_at > Duration::ZERO, "{read_at:?}");
        assert!(read_at < Duration::from_secs(10), "{read_at:?}");
        drop(s);
        timer.join().unwrap();
        log.borrow().clone()
    });
    peer.join().unwrap();
    assert_eq!(log, ["read", "timer"], "no timer fired early");
}

#[test]
fn an_executor_job_in_flight_holds_time_still() {
    let _w = Watchdog::start(LIMIT);
    let (job_done_at, sleeper_done_at) = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let sleeper = corio::spawn(move || {
            corio::sleep(HOUR);
            corio::runtime::now() - t0
        });
        corio::to_thread(|| std::thread::sleep(Duration::from_millis(30))).unwrap();
        let job_done_at = corio::runtime::now() - t0;
        (job_done_at, sleeper.join().unwrap())
    });
    assert!(job_done_at > Duration::ZERO, "{job_done_at:?}");
    assert!(
        job_done_at < HOUR,
        "the clock did not jump over the job: {job_done_at:?}"
    );
    assert_eq!(sleeper_done_at, HOUR);
}

#[test]
fn a_loop_handle_alive_holds_time_and_its_drop_lets_it_jump() {
    let _w = Watchdog::start(LIMIT);
    let (set_at, slept) = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let ev = corio::Event::new();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = corio::runtime::loop_handle();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            rx.recv().unwrap();
            handle.call_soon_threadsafe(|| ()).unwrap();
            // the handle is dropped here
        });
        let e = ev.clone();
        corio::runtime::call_soon(move || {
            tx.send(()).unwrap();
            e.set();
        });
        // With the handle alive the 1-hour timeout does not jump: the event comes first.
        corio::wait_for(HOUR, || ev.wait()).unwrap();
        let set_at = corio::runtime::now() - t0;
        corio::to_thread(move || thread.join().unwrap()).unwrap();
        let t1 = corio::runtime::now();
        corio::sleep(HOUR); // no handle left: a jump
        (set_at, corio::runtime::now() - t1)
    });
    assert!(set_at < HOUR, "{set_at:?}");
    assert_eq!(slept, HOUR);
}

#[test]
fn advance_moves_the_clock_and_fires_what_is_due() {
    let _w = Watchdog::start(LIMIT);
    corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let fired = Rc::new(RefCell::new(Vec::new()));
        for s in [3, 1, 2] {
            let f = fired.clone();
            corio::runtime::call_later(Duration::from_secs(s), move || f.borrow_mut().push(s));
        }
        corio::testing::advance(Duration::from_millis(1500));
        corio::yield_now();
        assert_eq!(*fired.borrow(), [1]);
        assert_eq!(corio::runtime::now() - t0, Duration::from_millis(1500));
        corio::testing::advance(Duration::from_secs(2));
        corio::yield_now();
        assert_eq!(*fired.borrow(), [1, 2, 3]);
    });
}

#[test]
fn advance_on_a_real_clock_loop_is_refused() {
    let r = std::panic::catch_unwind(|| corio::run(|| corio::testing::advance(HOUR)));
    let msg = r.unwrap_err();
    let msg = msg
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| msg.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("real time"), "{msg}");
}

#[test]
fn equal_deadlines_fire_in_scheduling_order_under_virtual_time() {
    let order = corio::testing::run(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let l = log.clone();
                corio::spawn(move || {
                    corio::sleep(Duration::from_secs(if i % 2 == 0 { 60 } else { 30 }));
                    l.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.borrow().clone()
    });
    assert_eq!(order, [1, 3, 0, 2, 4]);
}

#[test]
fn a_thread_queue_fed_by_a_thread_holds_the_clock() {
    let _w = Watchdog::start(LIMIT);
    let (got, at) = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let q = corio::ThreadQueue::new(0);
        let producer = q.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            producer.blocking_put(7).unwrap();
        });
        // The getter waits on a thread: the 1-hour timeout must not jump ahead of it.
        let got = corio::wait_for(HOUR, || q.get()).unwrap().unwrap();
        let at = corio::runtime::now() - t0;
        corio::to_thread(move || thread.join().unwrap()).unwrap();
        (got, at)
    });
    assert_eq!(got, 7);
    assert!(at > Duration::ZERO && at < HOUR, "{at:?}");
}

#[test]
fn an_add_reader_watch_holds_the_clock_until_removed() {
    let _w = Watchdog::start(LIMIT);
    let (fired_at, slept) = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let readable = corio::Event::new();
        let r = readable.clone();
        corio::runtime::add_reader(&b, move || r.set()).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            (&a).write_all(b"x").unwrap();
            a
        });
        corio::wait_for(HOUR, || readable.wait()).unwrap();
        let fired_at = corio::runtime::now() - t0;
        assert!(corio::runtime::remove_reader(&b));
        let _a = corio::to_thread(move || writer.join().unwrap()).unwrap();
        let t1 = corio::runtime::now();
        corio::sleep(HOUR); // no watch left: a jump
        (fired_at, corio::runtime::now() - t1)
    });
    assert!(fired_at < HOUR, "{fired_at:?}");
    assert_eq!(slept, HOUR);
}

#[test]
fn a_foreign_future_driven_by_block_on_holds_the_clock() {
    let _w = Watchdog::start(LIMIT);
    let at = corio::testing::run(|| {
        let t0 = corio::runtime::now();
        let (tx, rx) = async_channel::bounded::<u32>(1);
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send_blocking(1).unwrap();
        });
        let v = corio::wait_for(HOUR, || corio::compat::block_on(rx.recv())).unwrap();
        assert_eq!(v.unwrap(), 1);
        let at = corio::runtime::now() - t0;
        corio::to_thread(move || thread.join().unwrap()).unwrap();
        at
    });
    assert!(
        at > Duration::ZERO && at < HOUR,
        "the clock did not jump: {at:?}"
    );
}
