//! The event loop seen from callbacks: `call_soon`, `call_later`, `call_at`, handles, `stop`,
//! `run_until_complete` and the loop's clock (asyncio's `events.py` and `base_events.py`).
//! Closing and nesting: `loop_close_and_nesting.rs`; fd callbacks: `loop_fd_callbacks.rs`;
//! threads and deadlocks: `loop_threads_and_deadlock.rs`.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::catch_unwind;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Drops, Log, panic_text};
use corio::runtime::{self, instant_at};
use corio::{EventLoop, Future, RuntimeError};

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

// cpython: test_base_events.py BaseEventLoopTests.test_run_forever_pre_stopped, through
// `run_until_complete` (which runs `run_forever`): one iteration runs, so the coroutine starts.
#[test]
fn a_stop_before_run_until_complete_still_runs_one_iteration() {
    let lp = EventLoop::new().unwrap();
    lp.stop();
    assert_eq!(lp.run_until_complete(|| 7).unwrap(), 7);

    let started = Rc::new(Cell::new(false));
    let s = started.clone();
    lp.stop();
    let r = lp.run_until_complete(move || {
        s.set(true);
        corio::sleep(Duration::from_millis(10));
    });
    assert_eq!(r.unwrap_err(), RuntimeError::StoppedBeforeComplete);
    assert!(started.get(), "the coroutine ran its first step");
}

// cpython: test_events.py EventLoopTestsMixin.test_call_soon_threadsafe and
// test_call_soon_threadsafe_same_thread: one queue, so a callback posted from a thread (or
// from the loop's own thread before it runs) before a `call_soon` runs before it.
#[test]
fn call_soon_threadsafe_before_call_soon_runs_first() {
    for from_thread in [false, true] {
        let lp = EventLoop::new().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let handle = lp.handle();
        let l = log.clone();
        let post = move || {
            handle
                .call_soon_threadsafe(move || l.lock().unwrap().push("hello"))
                .unwrap()
        };
        if from_thread {
            std::thread::spawn(post).join().unwrap();
        } else {
            post();
        }
        let l = log.clone();
        lp.call_soon(move || {
            l.lock().unwrap().push("world");
            runtime::stop();
        });
        lp.run_forever().unwrap();
        assert_eq!(*log.lock().unwrap(), ["hello", "world"], "{from_thread}");
    }
}

// asyncio clears `_stopping` when a run ends: a stop asked for as the coroutine finished does
// not stop the next run.
#[test]
fn a_stop_during_a_run_that_completes_does_not_carry_into_the_next_run() {
    let lp = EventLoop::new().unwrap();
    let one = lp.run_until_complete(|| {
        runtime::stop();
        1
    });
    assert_eq!(one.unwrap(), 1);
    assert_eq!(lp.run_until_complete(|| 2).unwrap(), 2);
    let fired = Rc::new(Cell::new(false));
    let f = fired.clone();
    lp.call_later(Duration::from_millis(5), move || {
        f.set(true);
        runtime::stop();
    });
    lp.run_forever().unwrap();
    assert!(fired.get(), "run_forever ran until its own stop");
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
