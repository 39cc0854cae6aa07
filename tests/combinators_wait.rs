//! `wait` and `as_completed`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Future, ReturnWhen, Task, as_completed, sleep, spawn, wait, wait_for, yield_now};

const LONG: Duration = Duration::from_secs(3600);

fn sleeper(ms: u64) -> Task<u64> {
    spawn(move || {
        sleep(Duration::from_millis(ms));
        ms
    })
}

fn ids<T>(tasks: &[Task<T>]) -> Vec<u64> {
    tasks.iter().map(Task::id).collect()
}

// cpython: test_tasks.py BaseTaskTests.test_wait
#[test]
fn wait_all_completed_returns_every_task_done() {
    corio::run(|| {
        let (a, b) = (sleeper(2), sleeper(4));
        let (done, pending) = wait([b, a], ReturnWhen::AllCompleted, None);
        assert_eq!((done.len(), pending.len()), (2, 0));
        assert!(done.iter().all(Task::is_done));
        // "Doing it again should take no time and exercise a different path": waiting again
        // on the tasks, all done, returns them without parking (a task spawned now has not
        // run when it returns).
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let witness = spawn(move || r.set(true));
        let (done, pending) = wait(done, ReturnWhen::AllCompleted, None);
        assert!(!ran.get(), "wait parked although every task was done");
        assert_eq!((done.len(), pending.len()), (2, 0));
        let values: Vec<u64> = done.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(values, [4, 2], "input order");
        witness.join().unwrap();
        // And with nothing to wait for at all.
        let (done, pending) = wait(Vec::<Task<u8>>::new(), ReturnWhen::AllCompleted, None);
        assert!(done.is_empty() && pending.is_empty());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_wait_first_completed
#[test]
fn wait_first_completed_returns_after_one_task() {
    corio::run(|| {
        let (a, b) = (
            spawn(|| sleep(LONG)),
            spawn(|| sleep(Duration::from_millis(2))),
        );
        let (a_id, b_id) = (a.id(), b.id());
        let (done, pending) = wait([b, a], ReturnWhen::FirstCompleted, None);
        assert_eq!(ids(&done), [b_id]);
        assert_eq!(ids(&pending), [a_id]);
        assert!(!pending[0].is_done());
        pending[0].cancel();
    });
}

// cpython: test_tasks.py BaseTaskTests.test_wait_first_exception
#[test]
fn wait_first_exception_returns_at_once_if_a_task_already_failed() {
    corio::run(|| {
        let a = spawn(|| sleep(LONG));
        let b = spawn(|| panic!("err"));
        let b_id = b.id();
        yield_now(); // b fails
        let (done, pending) = wait([b, a], ReturnWhen::FirstException, None);
        assert_eq!(ids(&done), [b_id]);
        assert_eq!(pending.len(), 1);
        pending[0].cancel();
        let err = done.into_iter().next().unwrap().join().unwrap_err();
        assert_eq!(err.panic_message(), Some("err"));
    });
}

// cpython: test_tasks.py BaseTaskTests.test_wait_first_exception_in_wait
#[test]
fn wait_first_exception_returns_when_a_task_fails_while_waiting() {
    corio::run(|| {
        let a = spawn(|| sleep(LONG));
        let quiet = spawn(|| ()); // ends fine: not a reason to return
        let b = spawn(|| {
            sleep(Duration::from_millis(2));
            panic!("err")
        });
        let (a_id, quiet_id, b_id) = (a.id(), quiet.id(), b.id());
        let (done, pending) = wait([a, quiet, b], ReturnWhen::FirstException, None);
        assert_eq!(ids(&done), [quiet_id, b_id]);
        assert!(done.iter().all(Task::is_done));
        assert_eq!(ids(&pending), [a_id]);
        assert!(!pending[0].is_done());
        pending[0].cancel();
        let mut done = done.into_iter();
        done.next().unwrap().join().unwrap();
        let err = done.next().unwrap().join().unwrap_err();
        assert_eq!(err.panic_message(), Some("err"));
    });
}

#[test]
fn wait_first_exception_does_not_count_a_cancellation_as_a_failure() {
    corio::run(|| {
        let cancelled = spawn(|| sleep(LONG));
        let slow = spawn(|| sleep(Duration::from_millis(5)));
        yield_now();
        cancelled.cancel();
        let (done, pending) = wait([cancelled, slow], ReturnWhen::FirstException, None);
        assert_eq!(done.len(), 2, "waited for all, since nothing panicked");
        assert!(pending.is_empty());
    });
}

// cpython: test_tasks.py BaseTaskTests.test_wait_with_exception
#[test]
fn wait_all_completed_includes_failed_tasks() {
    corio::run(|| {
        let a = sleeper(1);
        let b = spawn(|| -> u64 {
            sleep(Duration::from_millis(3));
            panic!("really")
        });
        let (done, pending) = wait([b, a], ReturnWhen::AllCompleted, None);
        assert_eq!((done.len(), pending.len()), (2, 0));
        assert!(done.iter().all(Task::is_done));
        let results: Vec<_> = done.into_iter().map(Task::join).collect();
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        assert_eq!(
            results[0].as_ref().unwrap_err().panic_message(),
            Some("really")
        );
        assert_eq!(*results[1].as_ref().unwrap(), 1);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_wait_with_timeout
#[test]
fn wait_with_timeout_returns_the_pending_tasks_uncancelled() {
    corio::run(|| {
        let a = sleeper(1);
        let b = spawn(|| {
            sleep(LONG);
            0
        });
        let (a_id, b_id) = (a.id(), b.id());
        let t0 = Instant::now();
        let (done, pending) = wait(
            [b, a],
            ReturnWhen::AllCompleted,
            Some(Duration::from_millis(50)),
        );
        assert!(t0.elapsed() >= Duration::from_millis(50));
        assert_eq!(ids(&done), [a_id]);
        assert_eq!(ids(&pending), [b_id]);
        yield_now();
        assert!(!pending[0].is_done(), "a timeout cancels nothing");
        pending[0].cancel();
    });
}

// cpython: test_tasks.py BaseTaskTests.test_yield_wait_does_not_shield_cancel
#[test]
fn wait_cancelled_leaves_the_tasks_running() {
    corio::run(|| {
        let proof = Rc::new(Cell::new(0));
        let fut = Future::<()>::new();
        let (p, f) = (proof.clone(), fut.clone());
        let inner = spawn(move || {
            f.wait_done();
            p.set(p.get() + 1);
        });
        let p = proof.clone();
        let outer = spawn(move || {
            wait([inner], ReturnWhen::AllCompleted, None);
            p.set(p.get() + 100);
        });
        yield_now();
        outer.cancel();
        assert!(outer.join().unwrap_err().is_cancelled());
        fut.set_result(()).unwrap();
        yield_now();
        assert_eq!(proof.get(), 1);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_as_completed
#[test]
fn as_completed_yields_in_completion_order() {
    corio::run(|| {
        let values: Vec<u64> = as_completed([sleeper(20), sleeper(60), sleeper(2)])
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, [2, 20, 60]);
    });
}

// cpython: test_tasks.py BaseTaskTests.test_as_completed_with_timeout
#[test]
fn as_completed_steps_can_time_out_and_leave_the_rest_running() {
    corio::run(|| {
        let mut it = as_completed([sleeper(1), sleeper(3_600_000)]);
        let first = wait_for(Duration::from_secs(60), || it.next());
        assert_eq!(first.unwrap().unwrap().unwrap(), 1);
        let second = wait_for(Duration::from_millis(20), || it.next());
        assert!(second.is_err(), "timed out");
        // The step that timed out took nothing: the slow task is still there, running.
        assert_eq!(it.len(), 1);
        assert!(!it.remaining()[0].is_done());
        for t in it.into_remaining() {
            t.cancel();
        }
    });
}

// cpython: test_tasks.py BaseTaskTests.test_as_completed_reverse_wait
#[test]
fn as_completed_hands_out_done_tasks() {
    corio::run(|| {
        let mut it = as_completed([sleeper(10), sleeper(1)]);
        let first = it.next_task().unwrap();
        assert!(first.is_done());
        assert_eq!(first.join().unwrap(), 1);
        assert_eq!(it.next().unwrap().unwrap(), 10);
        assert!(it.next().is_none());
    });
}
