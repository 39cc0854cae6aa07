//! corio's thread bridges against tokio's, measured in one process.
//!
//! ```text
//! cargo bench --bench threads
//! ```
//!
//! Each case runs the same work on both runtimes, alternating runs so both meet the same
//! machine noise, and keeps the best run of each; then prints a table and one
//! machine-readable line per case: `ratio <case> <corio time / tokio time>` (below 1.0: corio
//! is faster). Without `--bench` in the arguments (as under `cargo test --all-targets`) it does
//! a tiny smoke pass instead, to prove the cases still run. Plain arguments pick cases by
//! name: `cargo bench --bench threads -- executor`.
//!
//! | case | corio | tokio (current-thread runtime) |
//! |---|---|---|
//! | `executor` | `run_in_executor(f)` round trip from a coroutine | `spawn_blocking(f).await` |
//! | `thread_queue` | items from a std thread to a coroutine through a `ThreadQueue` of 1024 | `mpsc::channel(1024)`, `blocking_send` → `recv().await` |

use std::hint::black_box;
use std::time::{Duration, Instant};

/// How much work each case does.
#[derive(Clone, Copy)]
struct Size {
    /// Timed runs per runtime; the fastest counts.
    runs: usize,
    /// Round trips per executor run.
    calls: u64,
    /// Items per queue run.
    items: u64,
}

const FULL: Size = Size {
    runs: 11,
    calls: 20_000,
    items: 1_000_000,
};
const SMOKE: Size = Size {
    runs: 1,
    calls: 50,
    items: 2_000,
};

/// A benchmark case: one function per runtime, each giving the time of one run of `n` ops.
struct Case {
    name: &'static str,
    what: &'static str,
    ops: fn(Size) -> u64,
    corio: fn(u64) -> Duration,
    tokio: fn(u64) -> Duration,
}

const CASES: &[Case] = &[
    Case {
        name: "executor",
        what: "run_in_executor round trip vs spawn_blocking(..).await",
        ops: |s| s.calls,
        corio: executor_corio,
        tokio: executor_tokio,
    },
    Case {
        name: "thread_queue",
        what: "std thread -> coroutine, per item (ThreadQueue(1024) vs mpsc(1024))",
        ops: |s| s.items,
        corio: thread_queue_corio,
        tokio: thread_queue_tokio,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let size = if full { FULL } else { SMOKE };
    let mut rows = Vec::new();
    for c in CASES {
        if !only.is_empty() && !only.iter().any(|o| c.name.contains(o.as_str())) {
            continue;
        }
        let n = (c.ops)(size);
        // Warm up: pools, allocator, caches.
        (c.corio)(n.min(1_000));
        (c.tokio)(n.min(1_000));
        let (mut best_corio, mut best_tokio) = (Duration::MAX, Duration::MAX);
        for _ in 0..size.runs {
            best_corio = best_corio.min((c.corio)(n));
            best_tokio = best_tokio.min((c.tokio)(n));
        }
        let per_op = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
        rows.push((c, per_op(best_corio), per_op(best_tokio)));
    }
    println!(
        "{:<13} {:>12} {:>12} {:>7}  operation",
        "case", "corio ns/op", "tokio ns/op", "ratio"
    );
    for (c, corio, tokio) in &rows {
        println!(
            "{:<13} {:>12.1} {:>12.1} {:>7.3}  {}",
            c.name,
            corio,
            tokio,
            corio / tokio,
            c.what
        );
    }
    for (c, corio, tokio) in &rows {
        println!("ratio {} {:.3}", c.name, corio / tokio);
    }
    if !full {
        println!("(smoke pass only; run `cargo bench --bench threads` to measure)");
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time() // what the cases need; no I/O driver, tokio at its best here
        .build()
        .expect("tokio runtime")
}

/// `n` sequential round trips to the default executor; the pool is warmed by one call first.
fn executor_corio(n: u64) -> Duration {
    corio::run(move || {
        corio::to_thread(|| ()).unwrap();
        let t0 = Instant::now();
        for i in 0..n {
            black_box(corio::run_in_executor(move || black_box(i)).unwrap());
        }
        t0.elapsed()
    })
}

fn executor_tokio(n: u64) -> Duration {
    tokio_rt().block_on(async move {
        tokio::task::spawn_blocking(|| ()).await.unwrap();
        let t0 = Instant::now();
        for i in 0..n {
            black_box(
                tokio::task::spawn_blocking(move || black_box(i))
                    .await
                    .unwrap(),
            );
        }
        t0.elapsed()
    })
}

/// A std thread puts `0..n` into a `ThreadQueue(1024)`; the main coroutine gets them all.
fn thread_queue_corio(n: u64) -> Duration {
    corio::run(move || {
        let q = corio::ThreadQueue::new(1024);
        let tx = q.clone();
        let t0 = Instant::now();
        let producer = std::thread::spawn(move || {
            for i in 0..n {
                tx.blocking_put(i).unwrap();
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(q.get().unwrap());
        }
        let elapsed = t0.elapsed();
        producer.join().unwrap();
        assert_eq!(sum, n * (n.saturating_sub(1)) / 2);
        elapsed
    })
}

fn thread_queue_tokio(n: u64) -> Duration {
    tokio_rt().block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
        let t0 = Instant::now();
        let producer = std::thread::spawn(move || {
            for i in 0..n {
                tx.blocking_send(i).unwrap();
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(rx.recv().await.unwrap());
        }
        let elapsed = t0.elapsed();
        producer.join().unwrap();
        assert_eq!(sum, n * (n.saturating_sub(1)) / 2);
        elapsed
    })
}
