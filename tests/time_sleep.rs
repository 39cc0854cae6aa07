//! `sleep`, `sleep_until` and `yield_now` (asyncio's `sleep`), and an idle loop that sleeps in
//! the poller instead of spinning.

mod common;

use std::cell::{Cell, RefCell};
use std::panic::catch_unwind;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{Drops, Log};
use corio::{CurrentTask, EventLoop, Future, RuntimeError};

#[test]
fn sleeps_wake_in_deadline_order() {
    let log = corio::run(|| {
        let log = Log::new();
        let base = Instant::now();
        let tasks: Vec<_> = [30u64, 10, 20, 0, 15]
            .into_iter()
            .map(|ms| {
                let l = log.clone();
                corio::spawn(move || {
                    corio::sleep_until(base + Duration::from_millis(ms));
                    l.push(ms);
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, [0, 10, 15, 20, 30]);
}

#[test]
fn sleeps_with_equal_deadlines_wake_in_the_order_they_slept() {
    let log = corio::run(|| {
        let log = Log::new();
        let when = Instant::now() + Duration::from_millis(5);
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let l = log.clone();
                corio::spawn(move || {
                    corio::sleep_until(when);
                    l.push(i);
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, [0, 1, 2, 3, 4, 5]);
}

// cpython: test_tasks.py BaseTaskTests.test_sleep
#[test]
fn sleep_lasts_at_least_its_duration() {
    let (a, b) = corio::run(|| {
        let t0 = Instant::now();
        corio::sleep(Duration::from_millis(15));
        let a = t0.elapsed();
        corio::sleep(Duration::from_millis(15));
        (a, t0.elapsed())
    });
    assert!(a >= Duration::from_millis(15));
    assert!(b >= Duration::from_millis(30));
}

#[test]
fn sleep_until_a_past_deadline_returns_on_the_next_iteration() {
    corio::run(|| {
        let other_ran = Rc::new(Cell::new(false));
        let o = other_ran.clone();
        let _t = corio::spawn(move || o.set(true));
        corio::sleep_until(Instant::now() - Duration::from_millis(1));
        assert!(other_ran.get(), "it still suspended once");
    });
}

#[test]
fn sleep_until_a_passed_deadline_lets_each_ready_task_run_exactly_once() {
    // asyncio's sleep with a delay of zero or less: one bare yield.
    corio::run(|| {
        let n = Rc::new(Cell::new(0));
        let c = n.clone();
        let spinner = corio::spawn(move || {
            for _ in 0..10 {
                c.set(c.get() + 1);
                corio::yield_now();
            }
        });
        corio::yield_now();
        assert_eq!(n.get(), 1);
        let past = corio::runtime::now();
        corio::sleep_until(past);
        assert_eq!(n.get(), 2, "one turn of the other task, as yield_now");
        spinner.cancel();
    });
}

#[test]
fn sleep_until_a_passed_deadline_wakes_after_an_earlier_timer_already_due() {
    // A timer due but not yet fired keeps its place: a later deadline, even one passed
    // already, does not overtake it.
    let log = corio::run(|| {
        let log = Log::new();
        let base = Instant::now();
        let l = log.clone();
        let _early = corio::spawn(move || {
            corio::sleep_until(base + Duration::from_millis(5));
            l.push("early");
        });
        corio::yield_now(); // it arms its timer
        // The loop does not run meanwhile: the timer is due, not yet fired.
        std::thread::sleep(Duration::from_millis(20));
        corio::sleep_until(base + Duration::from_millis(10));
        log.push("late");
        corio::yield_now();
        log.get()
    });
    assert_eq!(log, ["early", "late"]);
}

#[test]
fn sleep_until_a_passed_virtual_deadline_moves_no_clock() {
    corio::testing::run(|| {
        let t0 = corio::runtime::now();
        corio::sleep(Duration::from_secs(60));
        corio::sleep_until(t0 + Duration::from_secs(30));
        assert_eq!(corio::runtime::now() - t0, Duration::from_secs(60));
    });
}

#[test]
fn sleep_zero_yields_to_other_ready_tasks() {
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let _t = corio::spawn(move || l.push("task"));
        log.push("before");
        corio::sleep(Duration::ZERO);
        log.push("after");
        assert_eq!(log.get(), ["before", "task", "after"]);
    });
}

#[test]
fn yield_now_lets_every_ready_task_run_once() {
    corio::run(|| {
        let n = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let c = n.clone();
                corio::spawn(move || {
                    c.set(c.get() + 1);
                    corio::yield_now();
                    c.set(c.get() + 10);
                })
            })
            .collect();
        corio::yield_now();
        assert_eq!(n.get(), 3, "each ran up to its own yield");
        corio::yield_now();
        assert_eq!(n.get(), 33);
        for t in tasks {
            t.join().unwrap();
        }
    });
}

#[test]
fn sleep_zero_is_a_cancellation_point() {
    corio::run(|| {
        let t = corio::spawn(|| {
            corio::current_task().unwrap().cancel();
            corio::sleep(Duration::ZERO);
            "not reached"
        });
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_sleep_cancel
#[test]
fn a_cancelled_sleep_removes_its_timer() {
    // The main coroutine then waits on a future nothing can set. With the sleep's timer gone,
    // the loop sees a deadlock at once; a timer left behind would hold it for 5 s.
    let lp = EventLoop::new().unwrap();
    let t0 = Instant::now();
    let r = lp.run_until_complete(|| {
        let sleeper = corio::spawn(|| corio::sleep(Duration::from_secs(5)));
        corio::yield_now();
        sleeper.cancel();
        assert!(sleeper.join().unwrap_err().is_cancelled());
        Future::<()>::new().wait()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "the loop waited for a cancelled sleep: {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_cancelled_timer_handle_removes_its_timer() {
    let lp = EventLoop::new().unwrap();
    let t0 = Instant::now();
    let r = lp.run_until_complete(|| {
        let th = corio::runtime::call_later(Duration::from_secs(5), || {});
        corio::yield_now();
        th.cancel();
        Future::<()>::new().wait()
    });
    assert!(matches!(r, Err(RuntimeError::Deadlock(_))), "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn cancelling_a_sleeping_task_wakes_it_before_its_deadline() {
    let t0 = Instant::now();
    corio::run(|| {
        let drops = Drops::new();
        let g = drops.guard();
        let t = corio::spawn(move || {
            let _g = g;
            corio::sleep(Duration::from_secs(5000));
        });
        corio::runtime::call_later(Duration::from_millis(10), move || {
            t.cancel();
        });
        while drops.count() == 0 {
            corio::sleep(Duration::from_millis(5));
        }
    });
    assert!(t0.elapsed() < Duration::from_secs(60));
}

#[test]
fn sleeping_for_duration_max_does_not_overflow() {
    corio::run(|| {
        let t = corio::spawn(|| corio::sleep(Duration::MAX));
        corio::yield_now();
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn a_sleep_woken_early_keeps_sleeping_until_its_deadline() {
    // A cancel that is withdrawn before it is delivered still wakes the parked task: the
    // sleep must notice its timer is pending and park again.
    corio::run(|| {
        let slot = Rc::new(RefCell::new(None::<CurrentTask>));
        let s = slot.clone();
        let t = corio::spawn(move || {
            *s.borrow_mut() = corio::current_task();
            let t0 = Instant::now();
            corio::sleep(Duration::from_millis(30));
            t0.elapsed()
        });
        corio::yield_now();
        let sleeper = slot.borrow_mut().take().unwrap();
        assert!(sleeper.cancel());
        assert_eq!(sleeper.uncancel(), 0);
        assert!(t.join().unwrap() >= Duration::from_millis(30));
    });
}

#[test]
fn sleep_outside_a_loop_panics() {
    assert!(catch_unwind(|| corio::sleep(Duration::from_millis(1))).is_err());
    assert!(catch_unwind(corio::yield_now).is_err());
}

#[test]
fn sleep_in_a_callback_panics_without_killing_the_loop() {
    corio::run(|| {
        let failed = Rc::new(Cell::new(None));
        let f = failed.clone();
        corio::runtime::call_soon(move || {
            f.set(Some(catch_unwind(corio::yield_now).is_err()));
        });
        corio::yield_now();
        assert_eq!(failed.get(), Some(true), "parking needs a coroutine");
    });
}

#[test]
fn an_idle_loop_sleeps_in_the_poller() {
    let (cpu, wall) = corio::run(|| {
        let t0 = Instant::now();
        let c0 = common::thread_cpu_time();
        corio::sleep(Duration::from_secs(1));
        (common::thread_cpu_time() - c0, t0.elapsed())
    });
    assert!(wall >= Duration::from_secs(1));
    assert!(
        cpu < Duration::from_millis(200),
        "a 1 s sleep burned {cpu:?} of CPU"
    );
}

#[test]
fn an_idle_loop_with_a_sleeping_task_sleeps_in_the_poller() {
    let cpu = corio::run(|| {
        let c0 = common::thread_cpu_time();
        let t = corio::spawn(|| corio::sleep(Duration::from_millis(500)));
        t.join().unwrap();
        common::thread_cpu_time() - c0
    });
    assert!(cpu < Duration::from_millis(200), "burned {cpu:?}");
}

#[test]
fn thousands_of_timers_fire_by_deadline_then_scheduling_order_some_cancelled() {
    // Pseudo-random deadlines over a few distinct values (many ties), scheduled as callbacks
    // and as sleeping tasks, every third callback cancelled: the firing order must be the
    // (deadline, scheduling order) one, run after run. The callbacks' timers are scheduled
    // here, in order; the tasks' when each task first runs, after all of them, in spawn order.
    let (fired, expected) = corio::testing::run(|| {
        let log = Log::new();
        let base = Instant::now();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut expected = Vec::new();
        let mut tasks = Vec::new();
        for i in 0..3000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = base + Duration::from_millis(x % 40);
            let l = log.clone();
            if i % 2 == 0 {
                let h = corio::runtime::call_at(at, move || l.push(i));
                if i % 3 == 0 {
                    h.cancel();
                    continue;
                }
                expected.push((at, i, i));
            } else {
                tasks.push(corio::spawn(move || {
                    corio::sleep_until(at);
                    l.push(i);
                }));
                expected.push((at, 3000 + i, i));
            }
        }
        for t in tasks {
            t.join().unwrap();
        }
        corio::sleep(Duration::from_millis(50));
        expected.sort();
        (
            log.get(),
            expected.into_iter().map(|(_, _, i)| i).collect::<Vec<_>>(),
        )
    });
    assert_eq!(fired.len(), expected.len());
    assert_eq!(fired, expected);
}
