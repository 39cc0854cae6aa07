//! Tasks from spawn to end: join, names, ordering, panics, spawn errors and the report of a
//! failure nobody retrieved (asyncio's `Task`, tasks.py). Cancellation: `task_cancellation.rs`.

mod common;

use std::cell::Cell;
use std::hint::black_box;
use std::panic::catch_unwind;
use std::rc::Rc;
use std::time::Duration;

use common::Log;
use corio::{Builder, EventLoop, Future, SpawnError};

const LONG: Duration = Duration::from_secs(3600);

// ----- spawn and join -----

#[test]
fn spawn_and_join_return_the_task_value() {
    let v = corio::run(|| {
        let t = corio::spawn(|| {
            corio::yield_now();
            String::from("done")
        });
        t.join().unwrap()
    });
    assert_eq!(v, "done");
}

#[test]
fn join_of_a_task_that_already_ended_returns_at_once() {
    corio::run(|| {
        let t = corio::spawn(|| 5);
        corio::yield_now();
        assert!(t.is_done());
        assert_eq!(t.join().unwrap(), 5);
    });
}

#[test]
fn join_outside_a_coroutine_works_once_the_task_ended() {
    let lp = EventLoop::new().unwrap();
    let t = lp
        .run_until_complete(|| {
            let t = corio::spawn(|| 9);
            corio::yield_now();
            t
        })
        .unwrap();
    assert!(t.is_done());
    assert_eq!(t.join().unwrap(), 9);
}

#[test]
fn builder_sets_the_task_name() {
    corio::run(|| {
        let t = Builder::new()
            .name("worker")
            .spawn(|| corio::current_task().unwrap().name())
            .unwrap();
        assert_eq!(t.name(), "worker");
        assert_eq!(t.join().unwrap(), "worker");
    });
}

#[test]
fn builder_stack_size_gives_a_task_more_stack_than_the_default() {
    // Two MiB of locals (and their copies) overflow the default stack (at most 1 MiB) but fit
    // in 16 MiB.
    const BIG: usize = 2 * 1024 * 1024;
    const { assert!(BIG > corio::runtime::DEFAULT_STACK_SIZE) };
    let sum = corio::run(|| {
        let t = Builder::new()
            .stack_size(16 * 1024 * 1024)
            .spawn(|| {
                let buf = black_box([1u8; BIG]);
                corio::yield_now();
                black_box(&buf).iter().map(|&b| b as usize).sum::<usize>()
            })
            .unwrap();
        t.join().unwrap()
    });
    assert_eq!(sum, BIG);
}

#[test]
fn builder_accepts_a_small_stack_size() {
    let v = corio::run(|| {
        let t = Builder::new()
            .stack_size(16 * 1024)
            .spawn(|| {
                corio::yield_now();
                3
            })
            .unwrap();
        t.join().unwrap()
    });
    assert_eq!(v, 3);
}

#[test]
fn tasks_start_in_the_order_they_were_spawned() {
    let log = corio::run(|| {
        let log = Log::new();
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let l = log.clone();
                corio::spawn(move || l.push(i))
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, [0, 1, 2, 3, 4]);
}

#[test]
fn woken_tasks_run_in_the_order_they_were_woken() {
    let log = corio::run(|| {
        let log = Log::new();
        let futs: Vec<Future<()>> = (0..3).map(|_| Future::new()).collect();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (l, f) = (log.clone(), futs[i].clone());
                corio::spawn(move || {
                    f.wait().unwrap();
                    l.push(i);
                })
            })
            .collect();
        corio::yield_now();
        for i in [2, 0, 1] {
            futs[i].set_result(()).unwrap();
        }
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, [2, 0, 1]);
}

#[test]
fn yielding_tasks_interleave_round_robin() {
    let log = corio::run(|| {
        let log = Log::new();
        let tasks: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let l = log.clone();
                corio::spawn(move || {
                    for i in 0..3 {
                        l.push(format!("{name}{i}"));
                        corio::yield_now();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        log.get()
    });
    assert_eq!(log, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn dropping_a_task_handle_does_not_cancel_it() {
    let ran = corio::run(|| {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        drop(corio::spawn(move || {
            corio::sleep(Duration::from_millis(5));
            r.set(true);
        }));
        for _ in 0..400 {
            if ran.get() {
                break;
            }
            corio::sleep(Duration::from_millis(5));
        }
        ran.get()
    });
    assert!(ran);
}

// ----- names and identity -----

#[test]
fn default_name_is_task_dash_id() {
    corio::run(|| {
        let t = corio::spawn(|| corio::current_task().unwrap().id());
        assert_eq!(t.name(), format!("Task-{}", t.id()));
        let id = t.id();
        assert_eq!(t.join().unwrap(), id);
    });
}

#[test]
fn task_ids_are_unique() {
    corio::run(|| {
        let ts: Vec<_> = (0..10).map(|_| corio::spawn(|| ())).collect();
        let mut ids: Vec<u64> = ts.iter().map(|t| t.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
    });
}

#[test]
fn current_task_is_none_outside_a_loop() {
    assert!(corio::current_task().is_none());
}

// cpython: test_tasks.py BaseTaskTests.test_current_task
#[test]
fn current_task_is_main_for_the_main_coroutine() {
    let name = corio::run(|| corio::current_task().unwrap().name());
    assert_eq!(name, "main");
    let lp = EventLoop::new().unwrap();
    let name = lp
        .run_until_complete(|| corio::current_task().unwrap().name())
        .unwrap();
    assert_eq!(name, "main");
}

#[test]
fn current_task_inside_a_spawned_task_is_that_task() {
    corio::run(|| {
        let main_id = corio::current_task().unwrap().id();
        let t = Builder::new()
            .name("inner")
            .spawn(|| {
                let me = corio::current_task().unwrap();
                (me.id(), me.name())
            })
            .unwrap();
        let id = t.id();
        let (seen_id, seen_name) = t.join().unwrap();
        assert_eq!(seen_id, id);
        assert_ne!(seen_id, main_id);
        assert_eq!(seen_name, "inner");
    });
}

#[test]
fn current_task_is_none_inside_a_callback() {
    corio::run(|| {
        let seen = Rc::new(Cell::new(true));
        let s = seen.clone();
        corio::runtime::call_soon(move || s.set(corio::current_task().is_some()));
        corio::yield_now();
        assert!(!seen.get());
    });
}

// ----- panics -----

#[test]
fn panicking_task_gives_join_error_panicked_with_the_message() {
    corio::run(|| {
        let n = black_box(7);
        let t = corio::spawn(move || -> u32 { panic!("boom {n}") });
        let e = t.join().unwrap_err();
        assert!(e.is_panic());
        assert!(!e.is_cancelled());
        assert_eq!(e.panic_message(), Some("boom 7"));
        assert_eq!(e.to_string(), "task panicked: boom 7");
        let payload = e.into_panic().unwrap();
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "boom 7");
    });
}

#[test]
fn panicking_task_leaves_the_loop_and_other_tasks_running() {
    let (a, b) = corio::run(|| {
        let before = corio::spawn(|| {
            corio::sleep(Duration::from_millis(10));
            "before"
        });
        let bad = corio::spawn(|| {
            corio::yield_now();
            panic!("task failure");
        });
        let after = corio::spawn(|| {
            corio::sleep(Duration::from_millis(20));
            "after"
        });
        assert!(bad.join().unwrap_err().is_panic());
        (before.join().unwrap(), after.join().unwrap())
    });
    assert_eq!((a, b), ("before", "after"));
}

#[test]
fn a_panic_in_the_main_coroutine_reaches_the_caller() {
    let r = catch_unwind(|| corio::run(|| panic!("main failure")));
    let p = r.unwrap_err();
    assert_eq!(*p.downcast_ref::<&str>().unwrap(), "main failure");
}

// ----- spawn errors -----

#[test]
fn builder_spawn_outside_a_loop_is_no_loop() {
    let r = Builder::new().spawn(|| 1);
    assert!(matches!(r, Err(SpawnError::NoLoop)));
    assert!(r.unwrap_err().to_string().contains("no running event loop"));
}

#[test]
fn spawn_outside_a_loop_panics_with_the_reason() {
    let r = catch_unwind(|| drop(corio::spawn(|| 1)));
    let p = r.unwrap_err();
    let msg = p.downcast_ref::<String>().unwrap();
    assert!(msg.contains("no running event loop"), "{msg}");
}

#[test]
fn spawn_with_an_absurd_stack_size_is_a_stack_error_and_the_loop_goes_on() {
    corio::run(|| {
        let e = Builder::new().stack_size(1 << 50).spawn(|| 1).unwrap_err();
        match &e {
            SpawnError::Stack { size, source, hint } => {
                assert_eq!(*size, 1 << 50);
                assert!(!hint.is_empty());
                assert_eq!(source.raw_os_error(), Some(libc::ENOMEM));
            }
            other => panic!("expected a stack error, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("stack"), "{msg}");
        assert!(
            msg.contains("memory") && msg.contains("vm.max_map_count"),
            "the message names the cause and the limit: {msg}"
        );
        assert!(std::error::Error::source(&e).is_some());
        let t = corio::spawn(|| {
            corio::yield_now();
            2
        });
        assert_eq!(t.join().unwrap(), 2, "the loop keeps running");
    });
}

#[test]
fn spawn_from_a_drop_while_the_loop_closes_is_no_loop() {
    struct SpawnOnDrop(Rc<Cell<Option<bool>>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let r = Builder::new().spawn(|| ());
            self.0.set(Some(matches!(r, Err(SpawnError::NoLoop))));
        }
    }
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(move || {
        let _t = corio::spawn(move || {
            let _d = SpawnOnDrop(s);
            corio::sleep(LONG);
        });
        corio::yield_now();
    })
    .unwrap();
    lp.close().unwrap();
    assert_eq!(seen.get(), Some(true), "a closed loop takes no new task");
    assert_eq!(lp.task_count(), 0);
}

// ----- failures nobody retrieved -----

const UNRETRIEVED_CHILD: &str = "CORIO_TEST_UNRETRIEVED_CHILD";

#[test]
fn child_failed_tasks() {
    if !common::is_child(UNRETRIEVED_CHILD) {
        return;
    }
    corio::run(|| {
        // Ends first, then its handle is dropped.
        let t = Builder::new()
            .name("dropped-after")
            .spawn(|| panic!("marker-after-4411"))
            .unwrap();
        while !t.is_done() {
            corio::yield_now();
        }
        drop(t);
        // Handle dropped first, then it fails.
        drop(
            Builder::new()
                .name("detached")
                .spawn(|| {
                    corio::yield_now();
                    panic!("marker-detached-4412")
                })
                .unwrap(),
        );
        // Joined: its failure was retrieved.
        let t = Builder::new()
            .name("joined")
            .spawn(|| panic!("marker-joined-4413"))
            .unwrap();
        assert!(t.join().is_err());
        // Cancelled: not a failure worth reporting.
        let t = corio::spawn(|| corio::sleep(LONG));
        corio::yield_now();
        t.cancel();
        drop(t);
        for _ in 0..5 {
            corio::yield_now();
        }
    });
}

#[test]
fn a_failed_task_nobody_joined_is_reported_once_when_its_handle_drops() {
    let out = common::run_child("child_failed_tasks", UNRETRIEVED_CHILD);
    let err = &out.stderr;
    let show = || String::from_utf8_lossy(err).into_owned();
    let reported = |marker: &str| common::count_lines(err, &["never retrieved", marker]);
    assert_eq!(reported("marker-after-4411"), 1, "{}", show());
    assert!(
        common::count_lines(err, &["dropped-after", "never retrieved"]) == 1,
        "the report names the task: {}",
        show()
    );
    assert_eq!(reported("marker-detached-4412"), 1, "{}", show());
    assert_eq!(reported("marker-joined-4413"), 0, "{}", show());
    assert_eq!(
        common::count_lines(err, &["never retrieved"]),
        2,
        "nothing else is reported: {}",
        show()
    );
}

#[test]
fn a_generic_catch_unwind_around_a_parking_call_catches_the_cancel_payload() {
    // Like a bare `except BaseException` in Python: the cancellation is swallowed and the
    // task goes on; the payload it caught is `corio::Cancelled`.
    corio::run(|| {
        let t = corio::spawn(|| {
            let r = std::panic::catch_unwind(|| corio::sleep(LONG));
            let payload = r.expect_err("the sleep was cancelled");
            assert!(payload.is::<corio::Cancelled>());
            corio::yield_now(); // still a live task that can park
            "went on"
        });
        corio::yield_now();
        t.cancel();
        assert_eq!(t.join().unwrap(), "went on");
    });
}

#[test]
fn a_task_woken_while_another_loop_runs_resumes_on_its_own_loop() {
    // A task of loop `one` parks on an event; loop `two` (same thread, run in between) sets
    // it. The wake-up is kept for `one`: the task resumes the next time `one` runs.
    let one = EventLoop::new().unwrap();
    let ev = corio::Event::new();
    let seen = Rc::new(Cell::new(false));
    let task = {
        let (ev, seen) = (ev.clone(), seen.clone());
        one.run_until_complete(move || {
            corio::spawn(move || {
                ev.wait();
                seen.set(true);
            })
        })
        .unwrap()
    };
    assert!(!task.done(), "parked on the event while loop one is idle");
    let two = EventLoop::new().unwrap();
    two.run_until_complete(move || ev.set()).unwrap();
    assert!(
        !seen.get(),
        "the task belongs to loop one and does not run in loop two"
    );
    one.run_until_complete(move || task.join())
        .unwrap()
        .unwrap();
    assert!(seen.get());
}

/// Parks in its `Drop`.
struct ParksOnDrop;

impl Drop for ParksOnDrop {
    fn drop(&mut self) {
        corio::yield_now();
    }
}

#[test]
fn closing_another_loop_from_a_task_drops_its_callbacks_outside_the_task() {
    // The other loop's pending callback owns a value whose Drop parks. Dropped by `close`
    // called from a task of the running loop, that Drop is not the task's code: its park is
    // refused (as on a loop's own stack), and the running loop stays the thread's loop.
    let other = EventLoop::new().unwrap();
    let value = ParksOnDrop;
    other.call_soon(move || drop(value));
    corio::run(move || {
        let r = catch_unwind(std::panic::AssertUnwindSafe(|| other.close()));
        let msg = common::panic_text(&*r.expect_err("the park in the Drop is refused"));
        assert!(msg.contains("outside one"), "{msg}");
        assert_eq!(
            corio::spawn(|| 7).join().unwrap(),
            7,
            "this loop still runs here"
        );
    });
}

// asyncio.run cancels the tasks still alive and waits for them (`_cancel_all_tasks`): a
// cancelled task's cleanup may itself wait, on a timer here.
#[test]
fn run_lets_a_cancelled_tasks_cleanup_wait_on_a_timer() {
    let cleaned = Rc::new(Cell::new(false));
    let c = cleaned.clone();
    corio::run(move || {
        corio::spawn(move || {
            if corio::catch_cancel(|| corio::sleep(LONG)).is_err() {
                corio::sleep(Duration::from_millis(5)); // the cleanup waits
                c.set(true);
            }
        });
        corio::yield_now(); // parked in its sleep when `run` shuts down
    });
    assert!(cleaned.get(), "the cleanup's wait was not cut short");
}

// The cleanup's waits are bounded: a task still waiting when the grace is over is cancelled
// again (virtual time: the clock jumps to the grace's end at once).
#[test]
fn run_cancels_again_a_task_still_waiting_after_the_shutdown_grace() {
    let ended_at = Rc::new(Cell::new(None));
    let e = ended_at.clone();
    corio::testing::run(move || {
        corio::spawn(move || {
            let _ = corio::catch_cancel(|| corio::sleep(LONG)); // swallowed
            let r = corio::catch_cancel(|| corio::sleep(LONG));
            e.set(Some((r.is_err(), corio::runtime::time())));
        });
        corio::yield_now();
    });
    let (cancelled_again, at) = ended_at.get().expect("the task ended its second wait");
    assert!(cancelled_again);
    let grace = corio::runtime::SHUTDOWN_GRACE.as_secs_f64();
    assert!(at >= grace && at < grace + 1.0, "cancelled again at {at}s");
}

// A cleanup that waits on what only the loop's own tasks could end (an event nobody sets) is
// not waited for: `run` unwinds it at once, its drops run (where asyncio.run would wait
// forever), not at the end of the grace.
#[test]
fn run_unwinds_at_once_a_cleanup_nothing_can_wake() {
    /// Records the loop's clock when the task's frames unwind.
    struct At(Rc<Cell<Option<f64>>>);
    impl Drop for At {
        fn drop(&mut self) {
            self.0.set(Some(corio::runtime::time()));
        }
    }
    let ended_at = Rc::new(Cell::new(None));
    let e = ended_at.clone();
    corio::testing::run(move || {
        corio::spawn(move || {
            let _at = At(e);
            let ev = corio::Event::new();
            let _ = corio::catch_cancel(|| corio::sleep(LONG));
            ev.wait();
        });
        corio::yield_now();
    });
    let at = ended_at.get().expect("the task was unwound");
    let grace = corio::runtime::SHUTDOWN_GRACE.as_secs_f64();
    assert!(at < grace, "unwound at {at}s, not after the {grace}s grace");
}
