//! A tour of corio's core in the order of a classic asyncio talk: callbacks on the event loop,
//! a future set by a timer, then coroutines that sleep, and one that is cancelled.
//!
//! ```text
//! cargo run --example hello
//! ```

use std::time::Duration;

use corio::{Builder, EventLoop, Future};

/// Prints when dropped: the `finally` block of a cancelled coroutine.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("  {}: cleanup runs as the cancel unwinds its stack", self.0);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The loop runs callbacks: call_soon for the next iteration, call_later after a delay.
    println!("1. callbacks");
    let lp = EventLoop::new()?;
    lp.call_later(Duration::from_millis(20), || {
        println!("  call_later: 20 ms later")
    });
    lp.call_soon(|| println!("  call_soon: the next iteration"));
    lp.call_soon(|| println!("  call_soon: in the order they were scheduled"));
    let cancelled = lp.call_soon(|| println!("  never printed"));
    cancelled.cancel();
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(30)))?;

    // 2. A future is a result that arrives later; waiting on it parks the coroutine
    //    (asyncio's `yield from fut`) while the loop runs the timer that sets it.
    println!("2. a future set by a timer");
    let answer = lp.run_until_complete(|| {
        let fut = Future::new();
        let f = fut.clone();
        corio::runtime::call_later(Duration::from_millis(10), move || {
            println!("  timer: set_result(42)");
            f.set_result(42).expect("the future was pending");
        });
        println!("  coroutine: waiting on the future");
        fut.wait()
    })??;
    println!("  coroutine: got {answer}");
    assert_eq!(answer, 42);
    lp.close()?;

    // 3. Coroutines are plain closures on their own stacks. corio::run is asyncio.run: a loop,
    //    a main coroutine, and the tasks it spawns. Sleepers wake in deadline order.
    println!("3. tasks");
    let outcome = corio::run(|| {
        let slow = Builder::new().name("slow").spawn(|| {
            corio::sleep(Duration::from_millis(20));
            println!("  slow: woke after 20 ms");
            "slow done"
        })?;
        let fast = Builder::new().name("fast").spawn(|| {
            corio::sleep(Duration::from_millis(10));
            println!("  fast: woke after 10 ms");
            "fast done"
        })?;
        let doomed = Builder::new().name("doomed").spawn(|| {
            let _cleanup = Cleanup("doomed");
            println!("  doomed: going to sleep for an hour");
            corio::sleep(Duration::from_secs(3600));
            println!("  never printed");
        })?;
        println!(
            "  main: spawned {}, {} and {}",
            slow.name(),
            fast.name(),
            doomed.name()
        );
        let results = [fast.join()?, slow.join()?];
        println!("  main: joined both: {results:?}");
        println!("  main: cancelling doomed");
        doomed.cancel();
        let cancelled = doomed.join().is_err_and(|e| e.is_cancelled());
        println!("  main: doomed ended cancelled: {cancelled}");
        Ok::<_, Box<dyn std::error::Error>>(cancelled)
    })?;
    assert!(outcome);
    println!("done");
    Ok(())
}
