//! `LoopHandle::spawn` from other threads, and the `RemoteTask` it returns: a blocking
//! `join`, a std `Future`, `cancel`, and what happens when the loop closes first.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use corio::EventLoop;
use corio::error::RuntimeError;

/// Runs `f` on a plain thread while the main coroutine of a loop waits for it (parked on
/// the executor, so the loop keeps running), and returns its value.
fn from_a_thread<T, F>(f: F) -> T
where
    F: FnOnce(corio::LoopHandle) -> T + Send + 'static,
    T: Send + 'static,
{
    corio::run(move || {
        let handle = corio::runtime::loop_handle();
        let t = std::thread::spawn(move || f(handle));
        corio::to_thread(move || t.join().unwrap()).unwrap()
    })
}

#[test]
fn a_thread_spawns_a_coroutine_and_joins_its_value() {
    // cpython: test_tasks.py RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe
    let v = from_a_thread(|h| {
        h.spawn(|| {
            corio::sleep(Duration::from_millis(1));
            corio::spawn(|| 21).join().unwrap() * 2
        })
        .unwrap()
        .join()
        .unwrap()
    });
    assert_eq!(v, 42);
}

#[test]
fn a_panic_in_a_remote_task_comes_back_to_the_joining_thread() {
    // cpython: test_tasks.py RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe_with_exception
    let msg = from_a_thread(|h| {
        let err = h
            .spawn(|| -> u8 { panic!("remote-panic-8817") })
            .unwrap()
            .join()
            .unwrap_err();
        err.panic_message().map(str::to_owned)
    });
    assert_eq!(msg.as_deref(), Some("remote-panic-8817"));
}

#[test]
fn many_threads_spawn_many_tasks() {
    let total = corio::run(|| {
        let handle = corio::runtime::loop_handle();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let h = handle.clone();
                std::thread::spawn(move || {
                    let tasks: Vec<_> = (0..250u64)
                        .map(|i| {
                            h.spawn(move || {
                                corio::yield_now();
                                t * 1000 + i
                            })
                            .unwrap()
                        })
                        .collect();
                    tasks.into_iter().map(|r| r.join().unwrap()).sum::<u64>()
                })
            })
            .collect();
        corio::to_thread(move || threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>())
            .unwrap()
    });
    let expected: u64 = (0..4u64).map(|t| t * 250_000 + 31_125).sum();
    assert_eq!(total, expected);
}

#[test]
fn a_remote_task_is_a_std_future() {
    let v = from_a_thread(|h| {
        let remote = h.spawn(|| "awaited").unwrap();
        futures_lite::future::block_on(remote).unwrap()
    });
    assert_eq!(v, "awaited");
}

#[test]
fn a_coroutine_of_another_loop_awaits_a_remote_task() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let (tx, rx) = mpsc::channel();
    let other = std::thread::spawn(move || {
        corio::run(move || {
            let r = handle
                .spawn(|| corio::current_task().unwrap().id())
                .unwrap();
            tx.send(corio::compat::block_on(r).unwrap()).unwrap();
        })
    });
    let id = lp
        .run_until_complete(move || corio::to_thread(move || rx.recv().unwrap()).unwrap())
        .unwrap();
    other.join().unwrap();
    assert!(
        id > 1,
        "the remote task ran on this loop, as a task of its own"
    );
}

#[test]
fn cancel_from_a_thread_cancels_the_task() {
    // cpython: test_tasks.py RunCoroutineThreadsafeTests.test_run_coroutine_threadsafe_task_cancelled
    let cancelled = from_a_thread(|h| {
        let (parked_tx, parked_rx) = mpsc::channel();
        let remote = h
            .spawn(move || {
                parked_tx.send(()).unwrap();
                corio::sleep(Duration::from_secs(3600));
            })
            .unwrap();
        parked_rx.recv().unwrap();
        assert!(remote.cancel());
        let r = remote.join();
        r.unwrap_err().is_cancelled()
    });
    assert!(cancelled);
}

#[test]
fn cancel_after_the_task_ended_returns_false() {
    let r = from_a_thread(|h| {
        let remote = h.spawn(|| 1).unwrap();
        while !remote.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        remote.cancel()
    });
    assert!(!r);
}

#[test]
fn a_remote_task_still_running_when_the_loop_closes_is_cancelled() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let remote = handle
        .spawn(|| corio::sleep(Duration::from_secs(3600)))
        .unwrap();
    lp.run_until_complete(|| {
        corio::yield_now();
        corio::yield_now();
    })
    .unwrap();
    assert!(!remote.is_finished());
    drop(lp); // closes the loop: the parked task is unwound
    assert!(remote.join().unwrap_err().is_cancelled());
}

#[test]
fn a_remote_task_that_never_started_is_cancelled_when_the_loop_closes() {
    let lp = EventLoop::new().unwrap();
    let remote = lp.handle().spawn(|| 5).unwrap();
    lp.close().unwrap();
    assert!(remote.join().unwrap_err().is_cancelled());
}

#[test]
fn spawn_on_a_closed_loop_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    drop(lp);
    assert_eq!(handle.spawn(|| 1).unwrap_err(), RuntimeError::Closed);
}

#[test]
#[should_panic(expected = "would block an event loop's thread")]
fn join_on_the_loop_thread_panics() {
    corio::run(|| {
        let remote = corio::runtime::loop_handle().spawn(|| 1).unwrap();
        let _ = remote.join();
    });
}

const UNRETRIEVED_CHILD: &str = "CORIO_TEST_REMOTE_UNRETRIEVED_CHILD";

#[test]
fn child_remote_panic_nobody_joins() {
    if !common::is_child(UNRETRIEVED_CHILD) {
        return;
    }
    corio::run(|| {
        let h = corio::runtime::loop_handle();
        drop(h.spawn(|| panic!("remote-unretrieved-6620")).unwrap());
        let joined = h.spawn(|| panic!("remote-joined-6621")).unwrap();
        for _ in 0..5 {
            corio::yield_now();
        }
        assert!(joined.is_finished());
        assert!(corio::compat::block_on(joined).unwrap_err().is_panic());
    });
}

#[test]
fn a_remote_panic_nobody_joins_is_reported_once() {
    let out = common::run_child("child_remote_panic_nobody_joins", UNRETRIEVED_CHILD);
    let err = &out.stderr;
    let show = String::from_utf8_lossy(err);
    assert_eq!(
        common::count_lines(err, &["never retrieved", "remote-unretrieved-6620"]),
        1,
        "{show}"
    );
    assert_eq!(common::count_lines(err, &["never retrieved"]), 1, "{show}");
}
