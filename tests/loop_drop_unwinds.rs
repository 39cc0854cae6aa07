//! What is left when a loop ends: dropping or closing an `EventLoop` unwinds every coroutine
//! still parked, and `corio::run` cancels the remaining tasks before it returns.

mod common;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use common::{Drops, Log};
use corio::{EventLoop, Future};

const LONG: Duration = Duration::from_secs(3600);

/// Spawns, on the running loop, one task parked on each kind of wait, plus one that never
/// starts; each holds a guard of `drops`.
fn park_one_of_each(drops: &Drops) {
    let g = drops.guard();
    let _on_future = corio::spawn(move || {
        let _g = g;
        Future::<()>::new().wait()
    });
    let g = drops.guard();
    let _on_sleep = corio::spawn(move || {
        let _g = g;
        corio::sleep(LONG);
    });
    let g = drops.guard();
    let g2 = drops.guard();
    let _on_join = corio::spawn(move || {
        let _g = g;
        let joined = corio::spawn(move || {
            let _g2 = g2;
            corio::sleep(LONG);
        });
        joined.join()
    });
    corio::yield_now();
    corio::yield_now();
    let g = drops.guard();
    let _never_started = corio::spawn(move || {
        let _g = g;
        unreachable!("this task never gets to run");
    });
}

#[test]
fn dropping_a_loop_unwinds_a_coroutine_parked_on_a_future() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let g = drops.guard();
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            Future::<u8>::new().wait()
        });
        corio::yield_now();
    })
    .unwrap();
    assert_eq!(lp.task_count(), 1);
    assert_eq!(drops.count(), 0);
    drop(lp);
    assert_eq!(drops.count(), 1);
}

#[test]
fn dropping_a_loop_unwinds_a_coroutine_parked_on_a_sleep() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let g = drops.guard();
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            corio::sleep(LONG);
        });
        corio::yield_now();
    })
    .unwrap();
    drop(lp);
    assert_eq!(drops.count(), 1);
}

#[test]
fn dropping_a_loop_unwinds_a_coroutine_parked_on_a_join() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let (g1, g2) = (drops.guard(), drops.guard());
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _g1 = g1;
            corio::spawn(move || {
                let _g2 = g2;
                corio::sleep(LONG);
            })
            .join()
        });
        corio::yield_now();
        corio::yield_now();
    })
    .unwrap();
    assert_eq!(lp.task_count(), 2);
    drop(lp);
    assert_eq!(drops.count(), 2);
}

#[test]
fn dropping_a_loop_drops_the_closures_of_tasks_that_never_started() {
    let drops = Drops::new();
    let started = Rc::new(Cell::new(false));
    let lp = EventLoop::new().unwrap();
    let (g, s) = (drops.guard(), started.clone());
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            s.set(true);
        });
    })
    .unwrap();
    drop(lp);
    assert_eq!(drops.count(), 1);
    assert!(!started.get());
}

#[test]
fn dropping_a_loop_unwinds_every_kind_of_parked_coroutine() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let d = drops.clone();
    lp.run_until_complete(move || park_one_of_each(&d)).unwrap();
    assert_eq!(lp.task_count(), 5);
    assert_eq!(drops.count(), 0);
    drop(lp);
    assert_eq!(drops.count(), 5);
}

#[test]
fn close_unwinds_parked_coroutines_and_leaves_no_task() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let d = drops.clone();
    lp.run_until_complete(move || park_one_of_each(&d)).unwrap();
    lp.close().unwrap();
    assert_eq!(drops.count(), 5);
    assert_eq!(lp.task_count(), 0);
}

#[test]
fn unwinding_on_close_runs_drops_innermost_first() {
    struct Named(&'static str, Log<&'static str>);
    impl Drop for Named {
        fn drop(&mut self) {
            self.1.push(self.0);
        }
    }
    fn deeper(log: Log<&'static str>) {
        let _inner = Named("inner", log);
        corio::sleep(LONG);
    }
    let log = Log::new();
    let lp = EventLoop::new().unwrap();
    let l = log.clone();
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _outer = Named("outer", l.clone());
            deeper(l);
        });
        corio::yield_now();
    })
    .unwrap();
    drop(lp);
    assert_eq!(log.get(), ["inner", "outer"]);
}

#[test]
fn a_main_coroutine_left_parked_by_stop_is_unwound_on_drop() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let g = drops.guard();
    let r = lp.run_until_complete(move || {
        let _g = g;
        corio::runtime::stop();
        corio::sleep(LONG);
    });
    assert!(r.is_err());
    assert_eq!(drops.count(), 0, "still parked");
    drop(lp);
    assert_eq!(drops.count(), 1);
}

#[test]
fn corio_run_cancels_remaining_tasks_and_runs_their_drops_before_returning() {
    let drops = Drops::new();
    let d = drops.clone();
    let v = corio::run(move || {
        park_one_of_each(&d);
        assert_eq!(d.count(), 0);
        "main done"
    });
    assert_eq!(v, "main done");
    assert_eq!(drops.count(), 5);
}

#[test]
fn tasks_left_by_corio_run_see_a_cancellation() {
    let log = Log::new();
    let l = log.clone();
    corio::run(move || {
        for i in 0..3 {
            let l = l.clone();
            let _t = corio::spawn(move || {
                let r = corio::catch_cancel(|| corio::sleep(LONG));
                l.push((i, r.is_err()));
            });
        }
        corio::yield_now();
    });
    assert_eq!(log.get(), [(0, true), (1, true), (2, true)]);
}

#[test]
fn a_task_that_keeps_catching_its_cancel_is_unwound_by_force_at_the_end_of_run() {
    let drops = Drops::new();
    let caught = Rc::new(Cell::new(0));
    let after_loop = Rc::new(Cell::new(false));
    let (g, c, a) = (drops.guard(), caught.clone(), after_loop.clone());
    corio::run(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            loop {
                if corio::catch_cancel(|| corio::sleep(LONG)).is_err() {
                    c.set(c.get() + 1);
                } else {
                    break;
                }
            }
            a.set(true);
        });
        corio::yield_now();
    });
    assert_eq!(drops.count(), 1, "unwound by force");
    assert!(caught.get() >= 1, "the task did catch the ordinary cancels");
    assert!(!after_loop.get(), "the forced unwind cannot be caught");
}

#[test]
fn a_task_that_catches_its_cancel_and_waits_forever_does_not_hang_run() {
    let drops = Drops::new();
    let g = drops.guard();
    corio::run(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            let _ = corio::catch_cancel(|| corio::sleep(LONG));
            Future::<()>::new().wait()
        });
        corio::yield_now();
    });
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_task_that_caught_its_cancel_and_parked_again_is_unwound_on_close() {
    let drops = Drops::new();
    let lp = EventLoop::new().unwrap();
    let g = drops.guard();
    let t = lp
        .run_until_complete(move || {
            let t = corio::spawn(move || {
                let _g = g;
                let _ = corio::catch_cancel(|| corio::sleep(LONG));
                corio::sleep(LONG);
            });
            corio::yield_now();
            t.cancel();
            corio::yield_now();
            assert!(!t.is_done(), "caught its cancel and parked again");
            t
        })
        .unwrap();
    lp.close().unwrap();
    assert_eq!(drops.count(), 1);
    assert!(t.is_done());
    assert!(t.is_cancelled());
}

#[test]
fn catch_unwind_around_a_parking_call_does_not_stop_the_forced_unwind() {
    // A generic catch_unwind swallows the first forced unwind; the next park unwinds again.
    let drops = Drops::new();
    let swallowed = Rc::new(Cell::new(0));
    let lp = EventLoop::new().unwrap();
    let (g, s) = (drops.guard(), swallowed.clone());
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _g = g;
            if catch_unwind(AssertUnwindSafe(|| corio::sleep(LONG))).is_err() {
                s.set(s.get() + 1);
            }
            corio::sleep(LONG);
        });
        corio::yield_now();
    })
    .unwrap();
    drop(lp);
    assert_eq!(swallowed.get(), 1);
    assert_eq!(drops.count(), 1);
}

#[test]
fn a_future_waited_on_by_an_unwound_coroutine_is_left_usable() {
    let fut = Future::<u32>::new();
    let lp = EventLoop::new().unwrap();
    let f = fut.clone();
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || f.wait());
        corio::yield_now();
    })
    .unwrap();
    drop(lp);
    // Whatever the unwind did to it, the future is in a consistent, readable state.
    assert!(fut.done() == fut.cancelled());
    if !fut.done() {
        fut.set_result(1).unwrap();
        assert_eq!(fut.result().unwrap(), 1);
    }
}

// A task that swallows every cancellation and yields again at once never lets the loop
// sleep; `run` still ends (where asyncio.run would spin forever), under virtual time too,
// whose clock does not move while work stays ready, and the task is unwound by force.
#[test]
fn a_task_that_swallows_every_cancel_and_keeps_yielding_does_not_hang_run() {
    for virtual_time in [false, true] {
        let drops = Drops::new();
        let caught = Rc::new(Cell::new(0u32));
        let (g, c) = (drops.guard(), caught.clone());
        let body = move || {
            corio::spawn(move || {
                let _g = g;
                loop {
                    if corio::catch_cancel(corio::yield_now).is_err() {
                        c.set(c.get() + 1);
                    }
                }
            });
            corio::yield_now();
        };
        if virtual_time {
            corio::testing::run(body);
        } else {
            corio::run(body);
        }
        assert_eq!(
            drops.count(),
            1,
            "unwound by force (virtual time: {virtual_time})"
        );
        assert!(caught.get() >= 2, "cancelled again after the first one");
    }
}
