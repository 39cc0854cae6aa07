//! `compat`: std futures driven inside coroutines (`block_on`, `spawn_future`), woken from
//! the loop's thread and from other threads, and `Task` awaited as a std `Future`, with
//! ecosystem crates (`async-channel`, `async-io`, `futures-lite`).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio::compat::{block_on, spawn_future};
use futures_lite::{StreamExt, future};

#[test]
fn block_on_returns_a_ready_future_at_once() {
    assert_eq!(corio::run(|| block_on(async { 7 })), 7);
}

#[test]
fn a_future_that_wakes_itself_while_polled_is_polled_again() {
    // futures-lite's yield_now wakes its waker inside poll and returns Pending once.
    let n = corio::run(|| {
        block_on(async {
            for _ in 0..1000 {
                future::yield_now().await;
            }
            1000
        })
    });
    assert_eq!(n, 1000);
}

#[test]
fn async_channel_items_sent_from_threads_reach_a_coroutine() {
    let (tx, rx) = async_channel::bounded::<u64>(16);
    let senders: Vec<_> = (0..3u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    tx.send_blocking(t * 100_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let (count, sum) = corio::run(move || {
        let (mut count, mut sum) = (0u64, 0u64);
        // Ends when every sender is gone.
        while let Ok(v) = block_on(rx.recv()) {
            count += 1;
            sum += v;
        }
        (count, sum)
    });
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(count, 30_000);
    assert_eq!(
        sum,
        (0..3u64).map(|t| t * 100_000 * 10_000 + 49_995_000).sum()
    );
}

#[test]
fn async_channel_from_a_coroutine_to_a_thread_and_back() {
    let (to_thread, from_loop) = async_channel::bounded::<u32>(1);
    let (to_loop, from_thread) = async_channel::bounded::<u32>(1);
    let echo = std::thread::spawn(move || {
        while let Ok(v) = from_loop.recv_blocking() {
            to_loop.send_blocking(v * 2).unwrap();
        }
    });
    let total = corio::run(move || {
        let mut total = 0;
        for i in 0..500 {
            block_on(to_thread.send(i)).unwrap();
            total += block_on(from_thread.recv()).unwrap();
        }
        total
    });
    echo.join().unwrap();
    assert_eq!(total, 2 * (0..500).sum::<u32>());
}

#[test]
fn a_coroutine_waiting_on_a_channel_does_not_hold_up_the_others() {
    // The sender is another coroutine of the same loop: were the loop blocked in the
    // receiver's block_on, it would never run.
    corio::run(|| {
        let (tx, rx) = async_channel::unbounded::<&str>();
        let receiver = corio::spawn(move || block_on(rx.recv()).unwrap());
        corio::yield_now();
        assert!(!receiver.is_done());
        let _sender = corio::spawn(move || block_on(tx.send("hello")).unwrap());
        assert_eq!(receiver.join().unwrap(), "hello");
    });
}

#[test]
fn an_async_io_timer_fires_under_block_on() {
    // async-io drives its timers from its own thread: the wake comes from another thread.
    corio::run(|| {
        let t0 = Instant::now();
        // The ticker has not run yet: it can only tick while block_on parks this coroutine.
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let stop = std::rc::Rc::new(std::cell::Cell::new(false));
        let ticker = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            corio::spawn(move || {
                while !stop.get() {
                    ticks.set(ticks.get() + 1);
                    corio::yield_now();
                }
            })
        };
        block_on(async_io::Timer::after(Duration::from_millis(10)));
        assert!(t0.elapsed() >= Duration::from_millis(10));
        assert!(
            ticks.get() >= 1,
            "the ticker never ran while block_on waited: it blocked the loop's thread"
        );
        stop.set(true);
        ticker.join().unwrap();
    });
}

#[test]
fn a_timer_raced_against_a_channel_with_futures_lite_or() {
    corio::run(|| {
        let (_tx, rx) = async_channel::bounded::<u8>(1); // never sends
        let out = block_on(future::or(async { rx.recv().await.ok() }, async {
            async_io::Timer::after(Duration::from_millis(5)).await;
            None
        }));
        assert_eq!(out, None);
    });
}

#[test]
fn a_futures_lite_stream_is_consumed_under_spawn_future() {
    corio::run(|| {
        let t = spawn_future(async {
            futures_lite::stream::iter(1..=100u32)
                .then(|n| async move {
                    future::yield_now().await;
                    n
                })
                .fold(0, |acc, n| acc + n)
                .await
        });
        assert_eq!(t.join().unwrap(), 5050);
    });
}

#[test]
fn async_code_awaits_coroutine_tasks() {
    corio::run(|| {
        let a = corio::spawn(|| {
            corio::sleep(Duration::from_millis(2));
            40
        });
        let b = corio::spawn(|| {
            corio::yield_now();
            2
        });
        let sum = spawn_future(async move { a.await.unwrap() + b.await.unwrap() });
        assert_eq!(sum.join().unwrap(), 42);
    });
}

#[test]
fn awaiting_a_task_that_panicked_gives_its_panic() {
    corio::run(|| {
        let t = corio::spawn(|| -> u8 { panic!("awaited-panic-3319") });
        let err = block_on(t).unwrap_err();
        assert_eq!(err.panic_message(), Some("awaited-panic-3319"));
    });
}

#[test]
fn a_task_awaited_by_zip_is_woken_through_the_combinator() {
    corio::run(|| {
        let slow = corio::spawn(|| {
            corio::sleep(Duration::from_millis(3));
            "slow"
        });
        let fast = corio::spawn(|| "fast");
        let (x, y) = block_on(future::zip(slow, fast));
        assert_eq!((x.unwrap(), y.unwrap()), ("slow", "fast"));
    });
}

/// Pending until its flag is set by another thread, which then wakes it.
struct FlagFuture {
    flag: Arc<AtomicBool>,
    polls: Rc<Cell<u32>>,
    waker_sent: Option<std::sync::mpsc::Sender<std::task::Waker>>,
}

impl Future for FlagFuture {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        self.polls.set(self.polls.get() + 1);
        if self.flag.load(Ordering::SeqCst) {
            return Poll::Ready(self.polls.get());
        }
        if let Some(tx) = self.waker_sent.take() {
            tx.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }
}

#[test]
fn a_wake_from_another_thread_resumes_the_coroutine_once() {
    let flag = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let f2 = flag.clone();
    let waker_thread = std::thread::spawn(move || {
        let w = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        f2.store(true, Ordering::SeqCst);
        w.wake();
    });
    let polls = corio::run(move || {
        let polls = Rc::new(Cell::new(0));
        block_on(FlagFuture {
            flag,
            polls,
            waker_sent: Some(tx),
        })
    });
    waker_thread.join().unwrap();
    assert_eq!(
        polls, 2,
        "polled once, parked, polled once more after the wake"
    );
}

#[test]
fn a_late_wake_after_block_on_returned_does_not_disturb_the_next_one() {
    let (w1_tx, w1_rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let (w2_tx, w2_rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let flag = Arc::new(AtomicBool::new(false));
    let stale_wakes = Arc::new(AtomicUsize::new(0));
    // Once the second future is parked, wake the first one's (stale) waker many times, then
    // finish the second one properly.
    let waker_thread = std::thread::spawn({
        let (flag, stale_wakes) = (flag.clone(), stale_wakes.clone());
        move || {
            let stale = w1_rx.recv().unwrap();
            let current = w2_rx.recv().unwrap();
            for _ in 0..100 {
                stale.wake_by_ref();
                stale_wakes.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(2));
            flag.store(true, Ordering::SeqCst);
            current.wake();
        }
    });
    let polls = corio::run(move || {
        // The first future hands out the waker of a block_on that then returns.
        let mut first = FlagFuture {
            flag: Arc::new(AtomicBool::new(false)),
            polls: Rc::new(Cell::new(0)),
            waker_sent: Some(w1_tx),
        };
        assert!(block_on(future::poll_once(&mut first)).is_none());
        first.flag.store(true, Ordering::SeqCst);
        assert_eq!(block_on(first), 2);
        // The stale wakes of the first waker arrive while the second future waits.
        let second = FlagFuture {
            flag,
            polls: Rc::new(Cell::new(0)),
            waker_sent: Some(w2_tx),
        };
        block_on(second)
    });
    waker_thread.join().unwrap();
    assert_eq!(stale_wakes.load(Ordering::SeqCst), 100);
    assert_eq!(
        polls, 2,
        "only the second future's own wake polled it again"
    );
}

/// Sets its flag when dropped.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn cancelling_a_coroutine_in_block_on_drops_the_future() {
    corio::run(|| {
        let dropped = Rc::new(Cell::new(false));
        let (tx, rx) = async_channel::bounded::<u8>(1);
        let guard = DropFlag(dropped.clone());
        let waiter = corio::spawn(move || {
            block_on(async move {
                let _g = guard;
                rx.recv().await
            })
        });
        corio::yield_now();
        assert!(!dropped.get());
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        assert!(
            dropped.get(),
            "the future was dropped as the coroutine unwound"
        );
        // The receiver went with it: the channel is closed now.
        assert!(tx.try_send(1).is_err());
    });
}

#[test]
#[should_panic(expected = "inside a coroutine")]
fn block_on_outside_a_coroutine_panics() {
    block_on(async {});
}
