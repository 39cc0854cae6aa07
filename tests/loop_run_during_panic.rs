//! `std::thread::panicking()` is per thread, not per coroutine: a loop started by a `Drop`
//! while its thread unwinds a panic must still park, join, lock and cancel normally. And a
//! coroutine whose own `Drop` parks while it unwinds is still reported.

mod common;

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use common::{is_child, run_child};

/// Runs a loop from its `Drop`, which the test makes run during a panic.
struct RunsALoopWhenDropped(Rc<RefCell<Option<Vec<String>>>>);

impl Drop for RunsALoopWhenDropped {
    fn drop(&mut self) {
        assert!(std::thread::panicking(), "dropped by the panic's unwind");
        let log = corio::run(|| {
            let mut log = Vec::new();
            corio::sleep(Duration::from_millis(1));
            log.push("slept".to_string());

            let t = corio::spawn(|| {
                corio::sleep(Duration::from_millis(1));
                6 * 7
            });
            log.push(format!("joined {}", t.join().unwrap()));

            let lock = corio::Lock::new();
            let held = lock.acquire();
            let l = lock.clone();
            let waiter = corio::spawn(move || {
                let _g = l.acquire(); // parks until `held` goes
                "locked"
            });
            corio::yield_now();
            drop(held);
            log.push(waiter.join().unwrap().to_string());

            let fut = corio::Future::new();
            let f = fut.clone();
            corio::spawn(move || {
                corio::yield_now();
                f.set_result("set").unwrap();
            });
            log.push(fut.wait().unwrap().to_string());

            // A cancellation unwinds a task (its Drops run) and the joiner goes on.
            let sleeper = corio::spawn(|| corio::sleep(Duration::from_secs(3600)));
            corio::yield_now();
            sleeper.cancel();
            log.push(format!(
                "cancelled {}",
                sleeper.join().unwrap_err().is_cancelled()
            ));

            // A timeout fires (a cancel caught inside wait_for); the coroutine parks again.
            let r = corio::wait_for(Duration::from_millis(1), || {
                corio::sleep(Duration::from_secs(3600))
            });
            corio::sleep(Duration::from_millis(1));
            log.push(format!("timed out {}", r.is_err()));
            log
        });
        *self.0.borrow_mut() = Some(log);
    }
}

#[test]
fn a_loop_run_from_a_drop_during_a_panic_parks_joins_and_locks() {
    const KEY: &str = "CORIO_CHILD_LOOP_IN_PANIC_DROP";
    if !is_child(KEY) {
        // In a child: before the fix the first park aborted the process.
        run_child(
            "a_loop_run_from_a_drop_during_a_panic_parks_joins_and_locks",
            KEY,
        );
        return;
    }
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    let r = catch_unwind(AssertUnwindSafe(move || {
        let _runs_a_loop = RunsALoopWhenDropped(o);
        panic!("the outer panic");
    }));
    assert!(r.is_err(), "the outer panic goes on after the Drop");
    assert_eq!(
        out.borrow_mut().take().expect("the loop ran to its end"),
        [
            "slept",
            "joined 42",
            "locked",
            "set",
            "cancelled true",
            "timed out true"
        ]
    );
}

/// Parks (sleeps) in its `Drop`: forbidden while unwinding.
struct ParksWhenDropped;

impl Drop for ParksWhenDropped {
    fn drop(&mut self) {
        corio::sleep(Duration::from_millis(1));
    }
}

fn child_aborts(name: &str, key: &str) -> String {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(key, "1")
        .output()
        .expect("the test binary can run itself");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    err
}

#[test]
fn a_drop_that_parks_while_its_task_unwinds_a_panic_is_reported() {
    const KEY: &str = "CORIO_CHILD_PARK_IN_PANIC_UNWIND";
    if is_child(KEY) {
        corio::run(|| {
            let t = corio::Builder::new()
                .name("parks-in-drop")
                .spawn(|| {
                    let _g = ParksWhenDropped;
                    panic!("the task's own panic");
                })
                .unwrap();
            let _ = t.join();
        });
        unreachable!("parking in the Drop aborts");
    }
    let err = child_aborts(
        "a_drop_that_parks_while_its_task_unwinds_a_panic_is_reported",
        KEY,
    );
    assert!(
        err.contains("task 'parks-in-drop' tried to park while unwinding"),
        "{err}"
    );
}

#[test]
fn a_drop_that_parks_while_its_task_unwinds_a_cancel_is_reported() {
    const KEY: &str = "CORIO_CHILD_PARK_IN_CANCEL_UNWIND";
    if is_child(KEY) {
        corio::run(|| {
            let t = corio::Builder::new()
                .name("parks-in-drop")
                .spawn(|| {
                    let _g = ParksWhenDropped;
                    corio::sleep(Duration::from_secs(3600));
                })
                .unwrap();
            corio::yield_now();
            t.cancel();
            let _ = t.join();
        });
        unreachable!("parking in the Drop aborts");
    }
    let err = child_aborts(
        "a_drop_that_parks_while_its_task_unwinds_a_cancel_is_reported",
        KEY,
    );
    assert!(
        err.contains("task 'parks-in-drop' tried to park while unwinding"),
        "{err}"
    );
}

#[test]
fn a_loop_dropped_by_a_panic_still_unwinds_a_task_that_catches_the_unwind() {
    const KEY: &str = "CORIO_CHILD_LOOP_DROPPED_BY_PANIC";
    if !is_child(KEY) {
        run_child(
            "a_loop_dropped_by_a_panic_still_unwinds_a_task_that_catches_the_unwind",
            KEY,
        );
        return;
    }
    let drops = common::Drops::new();
    let d = drops.clone();
    let r = catch_unwind(AssertUnwindSafe(move || {
        let lp = corio::EventLoop::new().unwrap();
        lp.run_until_complete(move || {
            corio::spawn(move || {
                let _g = d.guard();
                // Swallows the loop's forced unwind, then parks again: the loop unwinds it
                // anyway (a park of a task being closed goes back to the unwind).
                let _ = catch_unwind(AssertUnwindSafe(|| corio::sleep(Duration::from_secs(3600))));
                corio::sleep(Duration::from_secs(3600));
            });
            corio::yield_now();
        })
        .unwrap();
        panic!("drops the loop with its task parked");
    }));
    assert!(r.is_err());
    assert_eq!(drops.count(), 1, "the task was unwound, its guard dropped");
}
