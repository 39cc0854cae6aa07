//! corio's thread bridges against tokio's, measured in one process.
//!
//! ```text
//! cargo bench --bench threads
//! ```
//!
//! Each case runs the same work on both runtimes, alternating runs so both meet the same
//! machine noise, and keeps the best run of each; then prints a table and two
//! machine-readable lines per case: `ratio <case> <corio time / tokio time>` and `ratio
//! <case>_cpu <corio CPU / tokio CPU>` (below 1.0: corio is faster, or spends less). Without
//! `--bench` in the arguments (as under `cargo test --all-targets`) it does a tiny smoke pass
//! instead, to prove the cases still run; its lines read `smoke ...`, as its figures are not
//! a measurement. Plain arguments pick cases by name: `cargo bench --bench threads --
//! executor`.
//!
//! Wall time alone flatters a side that burns CPU to save a wake-up: corio's executor threads
//! look for work for up to 20 µs before they sleep, tokio's blocking threads park at once. So
//! each run also takes the process's CPU time over the timed region (every thread: the
//! loop's, the pool's, the producer), reported per operation beside the wall time; the best
//! of each side is kept separately. Both sides' main work runs in a task (tokio's spawned on
//! its runtime, not the `block_on` future).
//!
//! | case | corio | tokio (current-thread runtime) |
//! |---|---|---|
//! | `executor` | `run_in_executor(f)` round trip from a coroutine | `spawn_blocking(f).await` |
//! | `thread_queue` | items from a std thread to a coroutine through a `ThreadQueue` of 1024 | `mpsc::channel(1024)`, `blocking_send` → `recv().await` |

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{measuring, process_cpu, result_line, tokio_task};

/// What one run measured: wall time and the process's CPU time over the same region.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// The start of a timed region: wall clock and process CPU clock.
struct Stopwatch(Instant, Duration);

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch(Instant::now(), process_cpu())
    }

    fn stop(self) -> Sample {
        Sample {
            wall: self.0.elapsed(),
            cpu: process_cpu() - self.1,
        }
    }
}

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

/// A benchmark case: one function per runtime, each measuring one run of `n` ops.
struct Case {
    name: &'static str,
    what: &'static str,
    ops: fn(Size) -> u64,
    corio: fn(u64) -> Sample,
    tokio: fn(u64) -> Sample,
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
    let full = measuring(&args);
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
        let best = Sample {
            wall: Duration::MAX,
            cpu: Duration::MAX,
        };
        let (mut corio, mut tokio) = (best, best);
        let keep = |best: &mut Sample, s: Sample| {
            best.wall = best.wall.min(s.wall);
            best.cpu = best.cpu.min(s.cpu);
        };
        for _ in 0..size.runs {
            keep(&mut corio, (c.corio)(n));
            keep(&mut tokio, (c.tokio)(n));
        }
        rows.push((c, corio, tokio, n));
    }
    println!(
        "{:<13} {:>12} {:>12} {:>7} {:>12} {:>12} {:>7}  operation",
        "case", "corio ns/op", "tokio ns/op", "ratio", "corio cpu/op", "tokio cpu/op", "ratio"
    );
    let per_op = |d: Duration, n: u64| d.as_secs_f64() * 1e9 / n as f64;
    for (c, corio, tokio, n) in &rows {
        let (cw, tw) = (per_op(corio.wall, *n), per_op(tokio.wall, *n));
        let (cc, tc) = (per_op(corio.cpu, *n), per_op(tokio.cpu, *n));
        println!(
            "{:<13} {cw:>12.1} {tw:>12.1} {:>7.3} {cc:>12.1} {tc:>12.1} {:>7.3}  {}",
            c.name,
            cw / tw,
            cc / tc,
            c.what
        );
    }
    for (c, corio, tokio, _) in &rows {
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "{}",
            result_line(full, c.name, ratio(corio.wall, tokio.wall))
        );
        let cpu_case = format!("{}_cpu", c.name);
        println!(
            "{}",
            result_line(full, &cpu_case, ratio(corio.cpu, tokio.cpu))
        );
    }
    if !full {
        println!("(smoke pass only, not a measurement; run `cargo bench --bench threads`)");
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time() // what the cases need; no I/O driver, tokio at its best here
        .build()
        .expect("tokio runtime")
}

/// `n` sequential round trips to the default executor; the pool is warmed by one call first.
fn executor_corio(n: u64) -> Sample {
    corio::run(move || {
        corio::to_thread(|| ()).unwrap();
        let watch = Stopwatch::start();
        for i in 0..n {
            black_box(corio::run_in_executor(move || black_box(i)).unwrap());
        }
        watch.stop()
    })
}

fn executor_tokio(n: u64) -> Sample {
    tokio_task(&tokio_rt(), async move {
        tokio::task::spawn_blocking(|| ()).await.unwrap();
        let watch = Stopwatch::start();
        for i in 0..n {
            black_box(
                tokio::task::spawn_blocking(move || black_box(i))
                    .await
                    .unwrap(),
            );
        }
        watch.stop()
    })
}

/// A std thread puts `0..n` into a `ThreadQueue(1024)`; the main coroutine gets them all.
fn thread_queue_corio(n: u64) -> Sample {
    corio::run(move || {
        let q = corio::ThreadQueue::new(1024);
        let tx = q.clone();
        let watch = Stopwatch::start();
        let producer = std::thread::spawn(move || {
            for i in 0..n {
                tx.blocking_put(i).unwrap();
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(q.get().unwrap());
        }
        let sample = watch.stop();
        producer.join().unwrap();
        assert_eq!(sum, n * (n.saturating_sub(1)) / 2);
        sample
    })
}

fn thread_queue_tokio(n: u64) -> Sample {
    tokio_task(&tokio_rt(), async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
        let watch = Stopwatch::start();
        let producer = std::thread::spawn(move || {
            for i in 0..n {
                tx.blocking_send(i).unwrap();
            }
        });
        let mut sum = 0u64;
        for _ in 0..n {
            sum = sum.wrapping_add(rx.recv().await.unwrap());
        }
        let sample = watch.stop();
        producer.join().unwrap();
        assert_eq!(sum, n * (n.saturating_sub(1)) / 2);
        sample
    })
}
