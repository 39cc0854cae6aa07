//! `call_soon_threadsafe` from many threads while the loop sleeps: no wake-up is lost.
//!
//! The loop sleeps in a direct `epoll_wait` on `polling`'s epoll fd (src/reactor/epoll.rs)
//! and relies on `polling`'s private notifier details to hand wake-ups back; this is the
//! end-to-end check that those assumptions still hold (see the `polling` pin in Cargo.toml).

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

const THREADS: usize = 8;
const PER_THREAD: usize = 2_000;
const TOTAL: usize = THREADS * PER_THREAD;
/// Far longer than the run needs (well under a second), so only a lost wake-up reaches it.
const DEADLINE: Duration = Duration::from_secs(60);

thread_local! {
    // Callbacks run on the loop's thread, so they reach its state through thread-locals.
    static RAN: Cell<usize> = const { Cell::new(0) };
    static ALL_RAN: RefCell<Option<corio::Future<()>>> = const { RefCell::new(None) };
}

fn counted() {
    let n = RAN.with(|r| {
        r.set(r.get() + 1);
        r.get()
    });
    if n == TOTAL
        && let Some(f) = ALL_RAN.with(|a| a.borrow_mut().take())
    {
        f.set_result(()).unwrap();
    }
}

#[test]
fn no_call_soon_threadsafe_wake_up_is_lost_while_the_loop_sleeps() {
    let ran = corio::run(|| {
        let all_ran = corio::Future::new();
        ALL_RAN.with(|a| *a.borrow_mut() = Some(all_ran.clone()));
        let handle = corio::runtime::loop_handle();
        let posted = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|i| {
                let (handle, posted) = (handle.clone(), posted.clone());
                thread::spawn(move || {
                    for k in 0..PER_THREAD {
                        handle.call_soon_threadsafe(counted).unwrap();
                        posted.fetch_add(1, Ordering::SeqCst);
                        // Pauses of different lengths, so the loop runs out of work and goes
                        // back to sleep many times while the threads are still posting.
                        if k % (7 + i) == 0 {
                            thread::sleep(Duration::from_micros(50 * (1 + i as u64 % 3)));
                        }
                    }
                })
            })
            .collect();
        drop(handle);
        // The only timer is this deadline, a minute away: the loop's waits meanwhile are direct
        // `epoll_wait`s (timeouts of 50 ms and more are). A lost wake-up leaves callbacks
        // queued while the loop sleeps on; the deadline turns that into a failure.
        let r = corio::wait_for(DEADLINE, || all_ran.wait_done());
        assert!(
            r.is_ok(),
            "lost a wake-up: the loop slept until its {DEADLINE:?} deadline with callbacks \
             posted ({} of {TOTAL} posted by then)",
            posted.load(Ordering::SeqCst)
        );
        let ran = RAN.with(|r| r.get());
        for t in threads {
            t.join().unwrap();
        }
        ran
    });
    assert_eq!(ran, TOTAL, "every callback ran once");
}

thread_local! {
    static SEEN: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// One thread's callbacks run in the order it posted them, while the loop's own callbacks
/// (each a `call_soon`, which takes in what was posted first) interleave with them.
#[test]
fn one_threads_callbacks_run_in_the_order_posted() {
    const N: usize = 100_000;
    corio::run(|| {
        let h = corio::runtime::loop_handle();
        let poster = thread::spawn(move || {
            for i in 0..N {
                h.call_soon_threadsafe(move || SEEN.with(|s| s.borrow_mut().push(i)))
                    .unwrap();
            }
        });
        fn chain(left: usize) {
            if left > 0 {
                corio::runtime::call_soon(move || chain(left - 1));
            }
        }
        while SEEN.with(|s| s.borrow().len()) < N {
            chain(64);
            corio::yield_now();
        }
        poster.join().unwrap();
        SEEN.with(|s| {
            let s = s.borrow();
            assert!(s.windows(2).all(|w| w[0] < w[1]), "FIFO per posting thread");
        });
    });
}
