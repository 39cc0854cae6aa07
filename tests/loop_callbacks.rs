//! The event loop seen from callbacks: `call_soon`, `call_later`, `call_at`, handles, `stop`,
//! `close`, fd callbacks, `LoopHandle::call_soon_threadsafe` and deadlock detection
//! (asyncio's `events.py` and `base_events.py`).

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Drops, Log, panic_text};
use corio::runtime::{self, instant_at};
use corio::{EventLoop, Future, LoopHandle, RuntimeError};

// ----- call_soon -----

// cpython: test_base_events.py BaseEventLoopTests.test_call_soon
#[test]
fn call_soon_callbacks_run_in_fifo_order() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    for i in 0..10 {
        let l = log.clone();
        lp.call_soon(move || l.push(i));
    }
    lp.call_soon(runtime::stop);
    lp.run_forever().unwrap();
    assert_eq!(log.get(), (0..10).collect::<Vec<_>>());
}

#[test]
fn callback_scheduled_during_an_iteration_runs_in_the_next_one() {
    // A ticker task yields once per iteration, so its count numbers the iterations. A chain
    // of callbacks, each scheduling the next, must see the count go up by one per link.
    let seen = corio::run(|| {
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = corio::spawn(move || {
            loop {
                t.set(t.get() + 1);
                corio::yield_now();
            }
        });
        corio::yield_now();
        let seen = Log::new();
        let done = Future::<()>::new();
        fn link(n: u32, ticks: Rc<Cell<u32>>, seen: Log<u32>, done: Future<()>) {
            seen.push(ticks.get());
            if n == 0 {
                done.set_result(()).unwrap();
            } else {
                runtime::call_soon(move || link(n - 1, ticks, seen, done));
            }
        }
        let (t, s, d) = (ticks.clone(), seen.clone(), done.clone());
        runtime::call_soon(move || link(4, t, s, d));
        done.wait().unwrap();
        ticker.cancel();
        seen.get()
    });
    assert_eq!(seen.len(), 5);
    for w in seen.windows(2) {
        assert_eq!(w[1], w[0] + 1, "one link per iteration: {seen:?}");
    }
}

#[test]
fn call_soon_inside_a_coroutine_runs_after_it_yields() {
    corio::run(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        runtime::call_soon(move || r.set(true));
        assert!(
            !ran.get(),
            "call_soon never runs the callback synchronously"
        );
        corio::yield_now();
        assert!(ran.get());
    });
}

// cpython: test_base_events.py BaseEventLoopTests.test__add_callback_cancelled_handle
#[test]
fn handle_cancel_prevents_the_call_and_drops_the_callback() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let ran = Rc::new(Cell::new(false));
    let (g, r) = (drops.guard(), ran.clone());
    let h = lp.call_soon(move || {
        let _g = g;
        r.set(true);
    });
    assert!(!h.cancelled());
    h.cancel();
    assert!(h.cancelled());
    assert_eq!(drops.count(), 1, "a cancelled callback is dropped at once");
    lp.run_until_complete(corio::yield_now).unwrap();
    assert!(!ran.get());
}

#[test]
fn a_callback_cancelled_by_an_earlier_one_in_the_same_iteration_does_not_run() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    let victim = Rc::new(RefCell::new(None::<corio::Handle>));
    let v = victim.clone();
    lp.call_soon(move || v.borrow().as_ref().unwrap().cancel());
    let l = log.clone();
    *victim.borrow_mut() = Some(lp.call_soon(move || l.push("victim")));
    let l = log.clone();
    lp.call_soon(move || l.push("bystander"));
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(log.get(), ["bystander"]);
}

#[test]
fn cancelling_a_handle_after_it_ran_changes_nothing() {
    let lp = EventLoop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let h = lp.call_soon(move || c.set(c.get() + 1));
    lp.run_until_complete(corio::yield_now).unwrap();
    h.cancel();
    lp.run_until_complete(corio::yield_now).unwrap();
    assert_eq!(n.get(), 1);
}

// ----- stop and run_forever -----

#[test]
fn stop_from_a_callback_leaves_what_it_scheduled_for_the_next_run() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.push("first");
        let l2 = l.clone();
        runtime::call_soon(move || l2.push("scheduled while stopping"));
        runtime::stop();
    });
    let l = log.clone();
    lp.call_soon(move || l.push("already ready"));
    lp.run_forever().unwrap();
    assert!(!lp.is_running());
    assert_eq!(log.get(), ["first", "already ready"]);

    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(
        log.get(),
        ["first", "already ready", "scheduled while stopping"]
    );
}

// cpython: test_base_events.py BaseEventLoopTests.test_run_forever_pre_stopped
#[test]
fn run_forever_on_a_pre_stopped_loop_runs_one_iteration_and_returns() {
    let lp = EventLoop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    lp.call_soon(move || {
        c.set(c.get() + 1);
        let c2 = c.clone();
        runtime::call_soon(move || c2.set(c2.get() + 10));
    });
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(n.get(), 1, "only the callbacks ready at the start ran");
}

// cpython: test_events.py EventLoopTestsMixin.test_run_until_complete_stopped
#[test]
fn run_until_complete_stopped_before_the_coroutine_completes_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let r = lp.run_until_complete(|| {
        runtime::stop();
        corio::sleep(Duration::from_millis(100));
    });
    assert_eq!(r.unwrap_err(), RuntimeError::StoppedBeforeComplete);
    assert!(!lp.is_running());
}

// cpython: test_tasks.py BaseTaskTests.test_task_basics
#[test]
fn run_until_complete_returns_the_coroutine_value() {
    let lp = EventLoop::new().unwrap();
    let v = lp
        .run_until_complete(|| {
            let a = corio::spawn(|| 42);
            let b = corio::spawn(|| 1000);
            a.join().unwrap() + b.join().unwrap()
        })
        .unwrap();
    assert_eq!(v, 1042);
    assert!(!lp.is_running());
    assert!(!lp.is_closed());
}

#[test]
fn run_until_complete_leaves_other_tasks_for_the_next_run() {
    let lp = EventLoop::new().unwrap();
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    lp.run_until_complete(move || {
        let _detached = corio::spawn(move || {
            corio::sleep(Duration::from_millis(10));
            d.set(true);
        });
    })
    .unwrap();
    assert_eq!(lp.task_count(), 1, "the sleeping task is still alive");
    assert!(!done.get());
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(50)))
        .unwrap();
    assert!(done.get());
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn is_running_is_true_only_inside_a_run() {
    let lp = EventLoop::new().unwrap();
    assert!(!lp.is_running());
    let inside = lp
        .run_until_complete(|| corio::get_running_loop().is_running())
        .unwrap();
    assert!(inside);
    assert!(!lp.is_running());
}

#[test]
fn get_running_loop_outside_a_loop_panics() {
    let r = catch_unwind(corio::get_running_loop);
    let msg = panic_text(r.unwrap_err().as_ref());
    assert!(msg.contains("no running event loop"), "{msg}");
}

#[test]
fn run_until_complete_of_a_cancelled_main_coroutine_is_a_cancelled_error() {
    let lp = EventLoop::new().unwrap();
    let r = lp.run_until_complete(|| {
        corio::current_task().unwrap().cancel();
        corio::sleep(Duration::from_secs(3600));
    });
    assert_eq!(r.unwrap_err(), RuntimeError::Cancelled);
}

#[test]
fn corio_run_of_a_cancelled_main_coroutine_panics() {
    let r = catch_unwind(|| {
        corio::run(|| {
            corio::current_task().unwrap().cancel();
            corio::yield_now();
        })
    });
    let msg = panic_text(r.unwrap_err().as_ref());
    assert!(msg.contains(&RuntimeError::Cancelled.to_string()), "{msg}");
}

#[test]
fn a_loop_built_with_settings_uses_them() {
    let lp = EventLoop::builder()
        .stack_size(64 * 1024)
        .max_pooled_stacks(0)
        .build()
        .unwrap();
    assert_eq!(lp.default_stack_size(), 64 * 1024);
    lp.run_until_complete(|| corio::spawn(|| 1).join().unwrap())
        .unwrap();
    assert_eq!(
        lp.pooled_stacks(),
        0,
        "no stack kept with max_pooled_stacks(0)"
    );

    let pooled = EventLoop::new().unwrap();
    assert_eq!(
        pooled.default_stack_size(),
        corio::runtime::DEFAULT_STACK_SIZE
    );
    pooled
        .run_until_complete(|| corio::spawn(|| 1).join().unwrap())
        .unwrap();
    assert!(
        pooled.pooled_stacks() >= 1,
        "finished stacks are kept for reuse"
    );
}

// ----- timers -----

#[test]
fn call_at_timers_fire_in_deadline_order() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    let base = Instant::now();
    for ms in [30u64, 10, 20] {
        let l = log.clone();
        lp.call_at(base + Duration::from_millis(ms), move || l.push(ms));
    }
    lp.run_until_complete(move || corio::sleep_until(base + Duration::from_millis(60)))
        .unwrap();
    assert_eq!(log.get(), [10, 20, 30]);
}

#[test]
fn call_later_timers_fire_in_deadline_order() {
    corio::run(|| {
        let log = Log::new();
        // Far apart, so that no stall between two calls can reorder the deadlines.
        for ms in [200u64, 5, 100] {
            let l = log.clone();
            runtime::call_later(Duration::from_millis(ms), move || l.push(ms));
        }
        corio::sleep(Duration::from_millis(300));
        assert_eq!(log.get(), [5, 100, 200]);
    });
}

#[test]
fn timers_with_equal_deadlines_fire_in_scheduling_order() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    let when = Instant::now() + Duration::from_millis(5);
    for i in 0..8 {
        let l = log.clone();
        lp.call_at(when, move || l.push(i));
    }
    lp.run_until_complete(move || corio::sleep_until(when + Duration::from_millis(5)))
        .unwrap();
    assert_eq!(log.get(), (0..8).collect::<Vec<_>>());
}

// cpython: test_base_events.py BaseEventLoopTests.test_call_later_negative_delays
#[test]
fn call_at_deadlines_in_the_past_fire_in_deadline_order() {
    let lp = EventLoop::new().unwrap();
    let log = Log::new();
    let now = Instant::now();
    let l = log.clone();
    lp.call_at(now - Duration::from_millis(1), move || l.push("a"));
    let l = log.clone();
    lp.call_at(now - Duration::from_millis(2), move || l.push("b"));
    lp.run_until_complete(corio::yield_now).unwrap();
    assert_eq!(log.get(), ["b", "a"]);
}

// cpython: test_base_events.py BaseEventLoopTests.test_time_and_call_at
#[test]
fn call_at_fires_no_earlier_than_its_deadline() {
    let lp = EventLoop::new().unwrap();
    let delay = 0.05;
    let when = lp.time() + delay;
    let fired_at = Rc::new(Cell::new(0.0));
    let f = fired_at.clone();
    lp.call_at(instant_at(when), move || {
        f.set(runtime::time());
        runtime::stop();
    });
    let t0 = lp.time();
    lp.run_forever().unwrap();
    assert!(fired_at.get() >= when - 1e-6, "fired early");
    assert!(lp.time() - t0 >= delay - 0.001);
}

#[test]
fn timer_handle_cancel_prevents_the_call_and_drops_the_callback() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let ran = Rc::new(Cell::new(false));
    let (g, r) = (drops.guard(), ran.clone());
    let th = lp.call_later(Duration::from_millis(1), move || {
        let _g = g;
        r.set(true);
    });
    assert!(!th.cancelled());
    th.cancel();
    assert!(th.cancelled());
    assert_eq!(
        drops.count(),
        1,
        "a cancelled timer's callback is dropped at once"
    );
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(20)))
        .unwrap();
    assert!(!ran.get());
}

#[test]
fn timer_handle_when_is_the_deadline() {
    let lp = EventLoop::new().unwrap();
    let when = Instant::now() + Duration::from_secs(3600);
    let th = lp.call_at(when, || {});
    assert_eq!(th.when(), when);
    let before = Instant::now();
    let th2 = lp.call_later(Duration::from_secs(10), || {});
    assert!(th2.when() >= before + Duration::from_secs(10));
    assert!(th2.when() <= Instant::now() + Duration::from_secs(10));
    th.cancel();
    th2.cancel();
}

#[test]
fn cancelling_a_timer_handle_after_it_fired_changes_nothing() {
    let lp = EventLoop::new().unwrap();
    let n = Rc::new(Cell::new(0));
    let c = n.clone();
    let th = lp.call_later(Duration::from_millis(1), move || c.set(c.get() + 1));
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(20)))
        .unwrap();
    th.cancel();
    assert_eq!(n.get(), 1);
}

#[test]
fn cancelling_one_of_several_timers_keeps_the_others() {
    corio::run(|| {
        let log = Log::new();
        let base = Instant::now();
        let mut handles = Vec::new();
        for i in 0..5u64 {
            let l = log.clone();
            let when = base + Duration::from_millis(i + 1);
            handles.push(runtime::call_at(when, move || l.push(i)));
        }
        handles[1].cancel();
        handles[3].cancel();
        corio::sleep_until(base + Duration::from_millis(30));
        assert_eq!(log.get(), [0, 2, 4]);
    });
}

// ----- time -----

#[test]
fn time_is_monotonic_and_advances_across_a_sleep() {
    corio::run(|| {
        let mut last = runtime::time();
        for _ in 0..1000 {
            let t = runtime::time();
            assert!(t >= last);
            last = t;
        }
        let t0 = runtime::time();
        corio::sleep(Duration::from_millis(20));
        let t1 = corio::get_running_loop().time();
        assert!(t1 - t0 >= 0.0199, "slept {}s", t1 - t0);
    });
}

#[test]
fn instant_at_converts_loop_time_back_to_an_instant() {
    let before = Instant::now();
    let t = runtime::time();
    let after = Instant::now();
    let i = instant_at(t);
    let slack = Duration::from_millis(1);
    assert!(i + slack >= before && i <= after + slack);
    assert!(instant_at(t + 1.0) >= before + Duration::from_millis(999));
}

// ----- close -----

// cpython: test_base_events.py BaseEventLoopTests.test_close
#[test]
fn close_is_idempotent_and_a_closed_loop_cannot_run() {
    let lp = EventLoop::new().unwrap();
    assert!(!lp.is_closed());
    lp.close().unwrap();
    assert!(lp.is_closed());
    lp.close().unwrap();
    lp.close().unwrap();
    assert_eq!(lp.run_forever().unwrap_err(), RuntimeError::Closed);
    assert_eq!(
        lp.run_until_complete(|| 1).unwrap_err(),
        RuntimeError::Closed
    );
}

// cpython: test_events.py EventLoopTestsMixin.test_close_running_event_loop
#[test]
fn close_while_running_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let r = lp
        .run_until_complete(|| corio::get_running_loop().close())
        .unwrap();
    assert_eq!(r.unwrap_err(), RuntimeError::Running);
    assert!(!lp.is_closed());
    assert_eq!(lp.run_until_complete(|| 5).unwrap(), 5);
}

#[test]
fn close_drops_pending_callbacks_and_timers_without_running_them() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let ran = Rc::new(Cell::new(0));
    let (g, r) = (drops.guard(), ran.clone());
    let _ = lp.call_soon(move || {
        let _g = g;
        r.set(r.get() + 1);
    });
    let (g, r) = (drops.guard(), ran.clone());
    let _ = lp.call_later(Duration::from_secs(3600), move || {
        let _g = g;
        r.set(r.get() + 1);
    });
    lp.close().unwrap();
    assert_eq!(drops.count(), 2);
    assert_eq!(ran.get(), 0);
}

// cpython: test_events.py EventLoopTestsMixin.test_add_fds_after_closing
#[test]
fn add_reader_or_writer_after_close_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    lp.close().unwrap();
    assert!(lp.add_reader(&a, || {}).is_err());
    assert!(lp.add_writer(&a, || {}).is_err());
}

// cpython: test_events.py EventLoopTestsMixin.test_remove_fds_after_closing
#[test]
fn close_removes_fd_callbacks() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = UnixStream::pair().unwrap();
    let drops = Drops::new();
    let g = drops.guard();
    lp.add_reader(&a, move || {
        let _ = &g;
    })
    .unwrap();
    lp.add_writer(&a, || {}).unwrap();
    lp.close().unwrap();
    assert_eq!(drops.count(), 1, "the reader callback was dropped");
    assert!(!lp.remove_reader(&a));
    assert!(!lp.remove_writer(&a));
}

// ----- nested runs -----

// cpython: test_events.py EventLoopTestsMixin.test_run_until_complete_nesting
#[test]
fn nested_run_until_complete_is_a_nested_run_error() {
    let lp = EventLoop::new().unwrap();
    let (same, other) = lp
        .run_until_complete(|| {
            let same = corio::get_running_loop().run_until_complete(|| 1);
            let other = EventLoop::new().unwrap().run_until_complete(|| 2);
            (same, other)
        })
        .unwrap();
    assert_eq!(same.unwrap_err(), RuntimeError::NestedRun);
    assert_eq!(other.unwrap_err(), RuntimeError::NestedRun);
}

#[test]
fn nested_run_forever_is_a_nested_run_error() {
    let r = corio::run(|| EventLoop::new().unwrap().run_forever());
    assert_eq!(r.unwrap_err(), RuntimeError::NestedRun);
}

#[test]
fn nested_corio_run_panics_instead_of_hanging() {
    let msg = corio::run(|| {
        let r = catch_unwind(|| corio::run(|| 1));
        panic_text(r.unwrap_err().as_ref())
    });
    assert!(msg.contains("already running"), "{msg}");
    assert!(msg.contains(&RuntimeError::NestedRun.to_string()), "{msg}");
}

// ----- panicking callbacks -----

#[test]
fn panicking_callback_does_not_stop_the_loop() {
    corio::run(|| {
        let log = Log::new();
        runtime::call_soon(|| panic!("callback failure"));
        let l = log.clone();
        runtime::call_soon(move || l.push("next callback"));
        let l = log.clone();
        runtime::call_later(Duration::from_millis(1), move || l.push("timer"));
        corio::sleep(Duration::from_millis(20));
        assert_eq!(log.get(), ["next callback", "timer"]);
    });
}

const CALLBACK_CHILD: &str = "CORIO_TEST_CALLBACK_PANIC_CHILD";

#[test]
fn child_panicking_callback() {
    if !common::is_child(CALLBACK_CHILD) {
        return;
    }
    corio::run(|| {
        runtime::call_soon(|| panic!("callback-marker-7731"));
        corio::yield_now();
        corio::yield_now();
    });
}

#[test]
fn panicking_callback_is_reported_once_on_stderr() {
    let out = common::run_child("child_panicking_callback", CALLBACK_CHILD);
    let n = common::count_lines(
        &out.stderr,
        &["corio: Exception in callback", "callback-marker-7731"],
    );
    assert_eq!(n, 1, "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
}

// ----- fd callbacks -----

fn pair() -> (Rc<UnixStream>, Rc<UnixStream>) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (Rc::new(a), Rc::new(b))
}

#[test]
fn add_reader_echo_server_on_a_unix_stream_pair() {
    // The server side of the talk's callback example: echo what arrives, close on EOF.
    let (server, client) = pair();
    let received = corio::run(move || {
        let closed = Future::<bool>::new();
        let (s, c) = (server.clone(), closed.clone());
        runtime::add_reader(&*server, move || {
            let mut buf = [0u8; 64];
            match (&*s).read(&mut buf) {
                Ok(0) => {
                    let was = runtime::remove_reader(&*s);
                    c.set_result(was).unwrap();
                }
                Ok(n) => (&*s).write_all(&buf[..n]).unwrap(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();

        let echoed = Rc::new(RefCell::new(Vec::new()));
        let got = Future::<()>::new();
        let (cl, e, g) = (client.clone(), echoed.clone(), got.clone());
        runtime::add_reader(&*client, move || {
            let mut buf = [0u8; 64];
            if let Ok(n) = (&*cl).read(&mut buf) {
                e.borrow_mut().extend_from_slice(&buf[..n]);
                if e.borrow().len() == 5 && !g.done() {
                    g.set_result(()).unwrap();
                }
            }
        })
        .unwrap();
        (&*client).write_all(b"hello").unwrap();
        got.wait().unwrap();
        assert!(runtime::remove_reader(&*client));
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed.wait().unwrap(), "remove_reader found the reader");
        echoed.borrow().clone()
    });
    assert_eq!(received, b"hello");
}

// cpython: test_events.py EventLoopTestsMixin.test_reader_callback
#[test]
fn add_reader_is_level_triggered() {
    // The reader takes one byte per call: the fd stays readable, so it is called again.
    let (a, b) = pair();
    let (calls, bytes) = corio::run(move || {
        let calls = Rc::new(Cell::new(0));
        let bytes = Rc::new(RefCell::new(Vec::new()));
        let all = Future::<()>::new();
        let (a2, c, by, f) = (a.clone(), calls.clone(), bytes.clone(), all.clone());
        runtime::add_reader(&*a, move || {
            c.set(c.get() + 1);
            let mut one = [0u8; 1];
            if let Ok(1) = (&*a2).read(&mut one) {
                by.borrow_mut().push(one[0]);
                if by.borrow().len() == 3 {
                    f.set_result(()).unwrap();
                }
            }
        })
        .unwrap();
        (&*b).write_all(b"abc").unwrap();
        all.wait().unwrap();
        assert!(runtime::remove_reader(&*a));
        (calls.get(), bytes.borrow().clone())
    });
    assert_eq!(bytes, b"abc");
    assert!(calls >= 3, "called {calls} times");
}

#[test]
fn remove_reader_and_replacing_a_reader_drop_the_old_callback() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = pair();
    let drops = Drops::new();
    let g = drops.guard();
    lp.add_reader(&*a, move || {
        let _ = &g;
    })
    .unwrap();
    let g = drops.guard();
    lp.add_reader(&*a, move || {
        let _ = &g;
    })
    .unwrap();
    assert_eq!(drops.count(), 1, "the replaced reader was dropped");
    assert!(lp.remove_reader(&*a));
    assert_eq!(drops.count(), 2, "the removed reader was dropped");
}

#[test]
fn add_reader_on_a_regular_file_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    assert!(lp.add_reader(&file, || {}).is_err());
    assert!(!lp.remove_reader(&file));
    assert_eq!(
        lp.run_until_complete(|| 1).unwrap(),
        1,
        "the loop is unharmed"
    );
}

#[test]
fn remove_reader_returns_whether_a_reader_was_registered() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = pair();
    assert!(!lp.remove_reader(&*a));
    lp.add_reader(&*a, || {}).unwrap();
    assert!(!lp.remove_writer(&*a), "no writer was registered");
    assert!(lp.remove_reader(&*a));
    assert!(!lp.remove_reader(&*a));
}

// cpython: test_events.py EventLoopTestsMixin.test_writer_callback
#[test]
fn add_writer_fires_when_writable_and_remove_writer_reports_it() {
    let lp = EventLoop::new().unwrap();
    let (r, w) = pair();
    let data = vec![b'x'; 1024];
    let (w2, d) = (w.clone(), data.clone());
    lp.add_writer(&*w, move || {
        (&*w2).write_all(&d).unwrap();
        runtime::stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert!(lp.remove_writer(&*w));
    assert!(!lp.remove_writer(&*w));
    let mut got = vec![0u8; 4096];
    let n = (&*r).read(&mut got).unwrap();
    assert_eq!(&got[..n], &data[..]);
}

#[test]
fn add_reader_replaces_the_previous_reader_of_the_same_fd() {
    let (a, b) = pair();
    let log = corio::run(move || {
        let log = Log::new();
        let l = log.clone();
        runtime::add_reader(&*a, move || l.push("old")).unwrap();
        let done = Future::<()>::new();
        let (l, a2, d) = (log.clone(), a.clone(), done.clone());
        runtime::add_reader(&*a, move || {
            let mut buf = [0u8; 8];
            let _ = (&*a2).read(&mut buf);
            l.push("new");
            let _ = d.set_result(());
        })
        .unwrap();
        (&*b).write_all(b"x").unwrap();
        done.wait().unwrap();
        assert!(runtime::remove_reader(&*a));
        log.get()
    });
    assert_eq!(log, ["new"]);
}

#[test]
fn reader_and_writer_on_the_same_fd_both_fire() {
    let (a, b) = pair();
    corio::run(move || {
        let wrote = Future::<()>::new();
        let w = wrote.clone();
        runtime::add_writer(&*a, move || {
            let _ = w.set_result(());
        })
        .unwrap();
        let read = Future::<u8>::new();
        let (a2, r) = (a.clone(), read.clone());
        runtime::add_reader(&*a, move || {
            let mut one = [0u8; 1];
            if let Ok(1) = (&*a2).read(&mut one) {
                let _ = r.set_result(one[0]);
            }
        })
        .unwrap();
        wrote.wait().unwrap();
        assert!(runtime::remove_writer(&*a));
        (&*b).write_all(b"z").unwrap();
        assert_eq!(
            read.wait().unwrap(),
            b'z',
            "the reader survived removing the writer"
        );
        assert!(runtime::remove_reader(&*a));
    });
}

#[test]
fn remove_reader_from_inside_its_callback_stops_further_calls() {
    let (a, b) = pair();
    let calls = corio::run(move || {
        let calls = Rc::new(Cell::new(0));
        let (a2, c) = (a.clone(), calls.clone());
        runtime::add_reader(&*a, move || {
            c.set(c.get() + 1);
            let mut one = [0u8; 1];
            let _ = (&*a2).read(&mut one);
            assert!(runtime::remove_reader(&*a2));
        })
        .unwrap();
        (&*b).write_all(b"abc").unwrap();
        for _ in 0..5 {
            corio::sleep(Duration::from_millis(5));
        }
        calls.get()
    });
    assert_eq!(
        calls, 1,
        "two bytes are left unread, yet the reader is gone"
    );
}

#[test]
fn add_reader_callback_can_panic_without_killing_the_loop() {
    let (a, b) = pair();
    corio::run(move || {
        let (a2, fired) = (a.clone(), Rc::new(Cell::new(0)));
        let f = fired.clone();
        runtime::add_reader(&*a, move || {
            f.set(f.get() + 1);
            let _ = runtime::remove_reader(&*a2);
            panic!("reader failure");
        })
        .unwrap();
        (&*b).write_all(b"x").unwrap();
        corio::sleep(Duration::from_millis(20));
        assert_eq!(fired.get(), 1);
    });
}

// ----- threads -----

#[test]
fn loop_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<LoopHandle>();
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    std::thread::spawn(move || drop(h)).join().unwrap();
}

thread_local! {
    /// Reached by callbacks sent from other threads: they run on the loop's thread.
    static WAKE: RefCell<Option<Future<u32>>> = const { RefCell::new(None) };
    static ORDER: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

#[test]
fn call_soon_threadsafe_wakes_a_loop_parked_in_the_poller() {
    // No timers and no fds: the loop blocks in the poller with no timeout, and only the
    // poller's notify can wake it.
    let v = corio::run(|| {
        let fut = Future::new();
        WAKE.with(|w| *w.borrow_mut() = Some(fut.clone()));
        let h = runtime::loop_handle();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            h.call_soon_threadsafe(|| {
                let f = WAKE.with(|w| w.borrow_mut().take()).unwrap();
                f.set_result(7).unwrap();
            })
            .unwrap();
        });
        let v = fut.wait().unwrap();
        th.join().unwrap();
        v
    });
    assert_eq!(v, 7);
}

// cpython: test_events.py EventLoopTestsMixin.test_call_soon_threadsafe
#[test]
fn call_soon_threadsafe_callbacks_from_one_thread_run_in_order() {
    let order = corio::run(|| {
        let fut = Future::new();
        WAKE.with(|w| *w.borrow_mut() = Some(fut.clone()));
        let h = runtime::loop_handle();
        let th = std::thread::spawn(move || {
            for i in 0..5 {
                h.call_soon_threadsafe(move || ORDER.with(|o| o.borrow_mut().push(i)))
                    .unwrap();
            }
            h.call_soon_threadsafe(|| {
                let f = WAKE.with(|w| w.borrow_mut().take()).unwrap();
                f.set_result(0).unwrap();
            })
            .unwrap();
        });
        fut.wait().unwrap();
        th.join().unwrap();
        ORDER.with(|o| o.borrow().clone())
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn call_soon_threadsafe_after_close_is_closed_and_drops_the_callback() {
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    assert!(!h.is_closed());
    lp.close().unwrap();
    assert!(h.is_closed());
    let dropped = Arc::new(AtomicUsize::new(0));
    let c = Count(dropped.clone());
    let r = std::thread::spawn(move || h.call_soon_threadsafe(move || drop(c)))
        .join()
        .unwrap();
    assert_eq!(r.unwrap_err(), RuntimeError::Closed);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[test]
fn call_soon_threadsafe_after_the_loop_was_dropped_is_closed() {
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    drop(lp);
    assert_eq!(
        h.call_soon_threadsafe(|| {}).unwrap_err(),
        RuntimeError::Closed
    );
}

// ----- deadlock detection -----

#[test]
fn waiting_on_a_future_nobody_can_set_is_a_deadlock_error() {
    let lp = EventLoop::new().unwrap();
    let drops = Drops::new();
    let g = drops.guard();
    let r = lp.run_until_complete(move || {
        let _g = g;
        Future::<u32>::new().wait()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert_eq!(drops.count(), 1, "the main coroutine was unwound");
    assert_eq!(
        lp.run_until_complete(|| 5).unwrap(),
        5,
        "the loop is usable again"
    );
}

#[test]
fn deadlock_through_a_join_is_detected() {
    let lp = EventLoop::new().unwrap();
    let inner = Future::<()>::new();
    let f = inner.clone();
    let r = lp.run_until_complete(move || {
        let t = corio::spawn(move || f.wait());
        t.join()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert_eq!(
        lp.task_count(),
        0,
        "the joined task was cancelled with the main one"
    );
    assert!(inner.cancelled());
}

#[test]
fn corio_run_on_a_deadlock_panics_with_the_deadlock_message() {
    let r = catch_unwind(AssertUnwindSafe(|| {
        corio::run(|| Future::<u8>::new().wait())
    }));
    let msg = panic_text(r.unwrap_err().as_ref());
    assert!(msg.contains("deadlock"), "{msg}");
}

#[test]
fn a_pending_timer_is_not_a_deadlock() {
    let lp = EventLoop::new().unwrap();
    let r = lp.run_until_complete(|| {
        let fut = Future::new();
        let f = fut.clone();
        runtime::call_later(Duration::from_millis(10), move || f.set_result(3).unwrap());
        fut.wait().unwrap()
    });
    assert_eq!(r.unwrap(), 3);
}
