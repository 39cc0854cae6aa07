//! `to_thread` / `run_in_executor` and `Executor`: blocking work on a bounded pool, the calling
//! coroutine parked meanwhile, panics and cancellation, lazy threads and shutdown.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use corio::executor::{Executor, default_executor};

/// Waits (a bounded time, generously) for `cond` to hold; returns whether it did.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

#[test]
fn to_thread_returns_the_value_of_the_function() {
    let v = corio::run(|| corio::to_thread(|| "from the pool".to_owned()).unwrap());
    assert_eq!(v, "from the pool");
}

#[test]
fn run_in_executor_runs_on_another_thread() {
    let loop_thread = std::thread::current().id();
    let pool_thread = corio::run(|| corio::run_in_executor(|| std::thread::current().id()));
    assert_ne!(pool_thread.unwrap(), loop_thread);
}

#[test]
fn other_coroutines_run_while_one_waits_on_a_thread() {
    // cpython: test_threads.py ToThreadTests.test_to_thread_concurrent
    // The job only ends once a coroutine on the loop has ticked three times: it would wait
    // forever if the waiting coroutine blocked the loop.
    let ticks = Arc::new(AtomicUsize::new(0));
    let seen = corio::run({
        let ticks = ticks.clone();
        move || {
            let t = ticks.clone();
            let ticker = corio::spawn(move || {
                for _ in 0..3 {
                    corio::sleep(Duration::from_millis(1));
                    t.fetch_add(1, Ordering::SeqCst);
                }
            });
            let seen = corio::to_thread(move || {
                while ticks.load(Ordering::SeqCst) < 3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                ticks.load(Ordering::SeqCst)
            })
            .unwrap();
            ticker.join().unwrap();
            seen
        }
    });
    assert_eq!(seen, 3);
}

#[test]
fn many_coroutines_wait_on_the_pool_at_once() {
    let total = corio::run(|| {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| corio::spawn(move || corio::to_thread(move || i * 2).unwrap()))
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
    });
    assert_eq!(total, 2 * (0..200u64).sum::<u64>());
}

#[test]
fn a_panic_in_the_function_comes_back_as_join_error_and_the_pool_goes_on() {
    // cpython: test_threads.py ToThreadTests.test_to_thread_exception
    corio::run(|| {
        let pool = Executor::builder().max_threads(1).build();
        corio::executor::set_default_executor(pool.clone());
        let err = corio::to_thread(|| -> u8 { panic!("pool-panic-1207") }).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("pool-panic-1207"));
        // The one thread survived the panic and takes the next job.
        assert_eq!(corio::to_thread(|| 5).unwrap(), 5);
        assert_eq!(pool.threads(), 1);
    });
}

#[test]
fn the_pool_starts_threads_lazily_and_reuses_an_idle_one() {
    let pool = Executor::builder().max_threads(4).build();
    assert_eq!(pool.threads(), 0);
    corio::run({
        let pool = pool.clone();
        move || {
            for i in 0..20 {
                assert_eq!(pool.run(move || i).unwrap(), i);
            }
            // One job at a time: one thread, reused.
            assert_eq!(pool.threads(), 1);
        }
    });
    pool.shutdown();
}

#[test]
fn the_pool_never_runs_more_threads_than_its_bound() {
    let pool = Executor::builder().max_threads(2).build();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = corio::run({
        let pool = pool.clone();
        let (running, peak) = (running.clone(), peak.clone());
        move || {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                    corio::spawn(move || {
                        pool.run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .unwrap();
                        assert!(pool.threads() <= 2);
                    })
                })
                .collect();
            let mut done = 0;
            for t in tasks {
                t.join().unwrap();
                done += 1;
            }
            done
        }
    });
    assert_eq!(done, 8);
    assert!(
        peak.load(Ordering::SeqCst) <= 2,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(pool.threads() <= 2);
    pool.shutdown();
}

#[test]
fn jobs_beyond_the_bound_wait_and_run_in_order() {
    let pool = Executor::builder().max_threads(1).build();
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    corio::run({
        let (pool, order) = (pool.clone(), order.clone());
        move || {
            let tasks: Vec<_> = (0..6)
                .map(|i| {
                    let (pool, order) = (pool.clone(), order.clone());
                    corio::spawn(move || pool.run(move || order.lock().push(i)).unwrap())
                })
                .collect();
            for t in tasks {
                t.join().unwrap();
            }
        }
    });
    assert_eq!(*order.lock(), [0, 1, 2, 3, 4, 5]);
    pool.shutdown();
}

#[test]
fn an_idle_thread_leaves_after_the_idle_timeout() {
    let pool = Executor::builder()
        .idle_timeout(Duration::from_millis(20))
        .build();
    corio::run({
        let pool = pool.clone();
        move || pool.run(|| ()).unwrap()
    });
    assert!(eventually(|| pool.threads() == 0), "{pool:?}");
    // And the pool starts a new one when work comes again.
    let v = corio::run({
        let pool = pool.clone();
        move || pool.run(|| 9).unwrap()
    });
    assert_eq!(v, 9);
    pool.shutdown();
}

/// Drops tell the test where the value went.
struct Tracked(Arc<AtomicBool>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_caller_leaves_the_job_to_finish_and_its_value_is_dropped() {
    let (release, gate) = mpsc::channel::<()>();
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let joined = corio::run({
        let (started, finished, dropped) = (started.clone(), finished.clone(), dropped.clone());
        move || {
            let s = started.clone();
            let caller = corio::spawn(move || {
                corio::to_thread(move || {
                    s.store(true, Ordering::SeqCst);
                    gate.recv().unwrap();
                    finished.store(true, Ordering::SeqCst);
                    Tracked(dropped)
                })
                .map(|_| ())
            });
            // The caller parks on the job, which starts on a pool thread.
            while !started.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(1));
            }
            assert!(caller.cancel());
            caller.join()
        }
    });
    assert!(joined.unwrap_err().is_cancelled());
    // The job was running all along; let it end now.
    release.send(()).unwrap();
    assert!(eventually(|| finished.load(Ordering::SeqCst)));
    assert!(eventually(|| dropped.load(Ordering::SeqCst)));
}

// asyncio: cancelling the future of `run_in_executor` cancels the pool's pending future, and
// the pool skips its work item; only a started function runs to its end.
#[test]
fn a_job_whose_caller_is_cancelled_while_it_is_queued_never_runs() {
    let pool = Executor::builder().max_threads(1).build();
    let (release, gate) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    corio::run({
        let (pool, ran, dropped) = (pool.clone(), ran.clone(), dropped.clone());
        move || {
            let busy = {
                let pool = pool.clone();
                corio::spawn(move || pool.run(move || gate.recv().unwrap()))
            };
            let queued = {
                let pool = pool.clone();
                let captured = Tracked(dropped);
                corio::spawn(move || {
                    pool.run(move || {
                        let _captured = captured;
                        ran.store(true, Ordering::SeqCst);
                    })
                })
            };
            while pool.queued() == 0 {
                corio::sleep(Duration::from_millis(1));
            }
            assert!(queued.cancel());
            assert!(queued.join().unwrap_err().is_cancelled());
            release.send(()).unwrap();
            busy.join().unwrap().unwrap();
            // The pool's one thread has taken the queue by the time this job runs.
            assert_eq!(pool.run(|| 7).unwrap(), 7);
        }
    });
    assert!(
        !ran.load(Ordering::SeqCst),
        "the cancelled job's function did not run"
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "what it captured was dropped"
    );
    pool.shutdown();
}

/// A value whose drop panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("drop bomb");
    }
}

// The value of a job whose caller was cancelled is dropped on the pool thread; a panic in its
// drop is reported there and must not take the thread (and with it the pool) down.
#[test]
fn a_panicking_drop_of_an_abandoned_value_leaves_the_pool_working() {
    let pool = Executor::builder().max_threads(1).build();
    let started = Arc::new(AtomicBool::new(false));
    let (release, gate) = mpsc::channel::<()>();
    corio::run({
        let (pool, started) = (pool.clone(), started.clone());
        move || {
            let s = started.clone();
            let p = pool.clone();
            let caller = corio::spawn(move || {
                p.run(move || {
                    s.store(true, Ordering::SeqCst);
                    gate.recv().unwrap(); // returns its value only once the caller is gone
                    Bomb
                })
                .map(std::mem::forget)
            });
            while !started.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(1));
            }
            assert!(caller.cancel());
            assert!(caller.join().unwrap_err().is_cancelled());
            release.send(()).unwrap();
            for _ in 0..3 {
                let r = corio::wait_for(Duration::from_secs(20), || pool.run(|| 1));
                assert_eq!(r.expect("the pool still takes jobs").unwrap(), 1);
            }
        }
    });
    pool.shutdown();
}

const ABANDONED_PANIC_CHILD: &str = "CORIO_TEST_EXECUTOR_ABANDONED_PANIC_CHILD";

#[test]
fn child_job_panics_after_its_caller_was_cancelled() {
    if !common::is_child(ABANDONED_PANIC_CHILD) {
        return;
    }
    let (release, gate) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let pool = Executor::builder().max_threads(1).build();
    let started = Arc::new(AtomicBool::new(false));
    corio::run({
        let pool = pool.clone();
        move || {
            let p = pool.clone();
            let s = started.clone();
            let caller = corio::spawn(move || {
                p.run(move || {
                    s.store(true, Ordering::SeqCst);
                    gate.recv().unwrap();
                    panic!("abandoned-marker-5521")
                })
            });
            // Cancelled once its job runs (a job cancelled while queued would not run).
            while !started.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(1));
            }
            caller.cancel();
            assert!(caller.join().unwrap_err().is_cancelled());
        }
    });
    release.send(()).unwrap();
    // The next job on the one thread runs after the panicking one, so its report is out.
    corio::run(move || {
        pool.run(move || done_tx.send(()).unwrap()).unwrap();
    });
    done_rx.recv().unwrap();
}

#[test]
fn a_job_that_panics_after_its_caller_was_cancelled_is_reported() {
    let out = common::run_child(
        "child_job_panics_after_its_caller_was_cancelled",
        ABANDONED_PANIC_CHILD,
    );
    let n = common::count_lines(
        &out.stderr,
        &[
            "panicked after the coroutine waiting for it was cancelled",
            "abandoned-marker-5521",
        ],
    );
    assert_eq!(n, 1, "stderr:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn run_returns_without_waiting_for_a_long_job() {
    // The job blocks until after `run` has returned: `run` must not wait for it.
    let (release, gate) = mpsc::channel::<()>();
    let (finished_tx, finished_rx) = mpsc::channel::<&str>();
    let started = Arc::new(AtomicBool::new(false));
    let pool = corio::run(move || {
        let s = started.clone();
        let _caller = corio::spawn(move || {
            corio::to_thread(move || {
                s.store(true, Ordering::SeqCst);
                gate.recv().unwrap();
                finished_tx.send("finished").unwrap();
            })
        });
        // Running when `run` ends (a job still queued then would not run at all).
        while !started.load(Ordering::SeqCst) {
            corio::sleep(Duration::from_millis(1));
        }
        default_executor()
    });
    assert!(
        pool.is_shutdown(),
        "the loop shut its default executor down"
    );
    release.send(()).unwrap();
    assert_eq!(finished_rx.recv().unwrap(), "finished");
    assert!(eventually(|| pool.threads() == 0), "{pool:?}");
}

#[test]
fn closing_the_loop_shuts_its_default_executor_down_and_idle_threads_leave() {
    let pool = corio::run(|| {
        corio::to_thread(|| ()).unwrap();
        default_executor()
    });
    assert!(pool.is_shutdown());
    assert!(eventually(|| pool.threads() == 0), "{pool:?}");
}

#[test]
fn the_default_executor_is_kept_for_the_whole_run() {
    let (threads, shut_down) = corio::run(|| {
        corio::to_thread(|| ()).unwrap();
        // The same pool again: it still has the thread the first job started.
        let again = default_executor();
        (again.threads(), again.is_shutdown())
    });
    assert_eq!(threads, 1);
    assert!(!shut_down);
}

#[test]
fn each_loop_has_its_own_default_executor() {
    let first = corio::run(|| {
        corio::to_thread(|| ()).unwrap();
        default_executor()
    });
    assert!(first.is_shutdown());
    // A later loop on the same thread gets a new pool, not the one shut down.
    let (fresh, threads) = corio::run(|| {
        let ex = default_executor();
        (!ex.is_shutdown(), ex.threads())
    });
    assert!(fresh);
    assert_eq!(threads, 0, "started lazily");
}

#[test]
fn a_shut_down_executor_refuses_work_with_cancelled() {
    let pool = Executor::new();
    pool.shutdown();
    let r = corio::run(move || pool.run(|| 1));
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn queued_jobs_still_run_after_shutdown() {
    // Shutdown stops new work, not the jobs already given (ThreadPoolExecutor's
    // shutdown(wait=False, cancel_futures=False)).
    let pool = Executor::builder().max_threads(1).build();
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    corio::run({
        let (pool, ran) = (pool.clone(), ran.clone());
        move || {
            let p = pool.clone();
            let first = corio::spawn(move || p.run(move || gate.recv().unwrap()));
            let queued: Vec<_> = (0..3)
                .map(|_| {
                    let (p, ran) = (pool.clone(), ran.clone());
                    corio::spawn(move || {
                        p.run(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                })
                .collect();
            corio::yield_now();
            assert_eq!(pool.queued(), 3);
            pool.shutdown();
            release.send(()).unwrap();
            first.join().unwrap().unwrap();
            for t in queued {
                t.join().unwrap().unwrap();
            }
        }
    });
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[test]
#[should_panic(expected = "inside a coroutine")]
fn to_thread_outside_a_coroutine_panics() {
    let _ = corio::to_thread(|| 1);
}

#[test]
fn a_refused_job_leaves_no_stray_wake_up_behind() {
    // A refused job must not wake its caller: the wake-up would be kept for the caller's
    // next park and end it early. Here that next park is a block_on that counts its polls.
    let polls = corio::run(|| {
        let pool = Executor::new();
        pool.shutdown();
        assert!(pool.run(|| ()).is_err());
        let mut polls = 0;
        let mut sent = false;
        let woken = Arc::new(AtomicBool::new(false));
        corio::compat::block_on(std::future::poll_fn(move |cx| {
            polls += 1;
            if woken.load(Ordering::SeqCst) {
                return std::task::Poll::Ready(polls);
            }
            if !sent {
                sent = true;
                let (w, woken) = (cx.waker().clone(), woken.clone());
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(2));
                    woken.store(true, Ordering::SeqCst);
                    w.wake();
                });
            }
            std::task::Poll::Pending
        }))
    });
    assert_eq!(
        polls, 2,
        "polled once, then once more after the one real wake"
    );
}
