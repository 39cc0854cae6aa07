//! Core runtime benchmark: corio against tokio's current-thread runtime on the same work.
//!
//! `cargo bench --bench core` measures; without `--bench` (as under `cargo test`) it runs a
//! short smoke pass. Cases:
//! * `yield`: yield round trip between two tasks (each yields, the other runs);
//! * `spawn_join`: spawn a trivial task and join it;
//! * `timers`: 100k timers with deadlines spread over 1 ms, scheduled and fired, each
//!   runtime's own way: corio's `call_at` callbacks (asyncio's `loop.call_at`), tokio tasks
//!   each awaiting a `Sleep` (tokio has no callback timers; a `FuturesUnordered` of `Sleep`s
//!   measured 12 us per timer here, far slower than tasks, so tasks are the fair peer);
//! * `timer_tasks`: the same 100k deadlines, each slept on by its own task (spawn, sleep, wake
//!   and finish; corio touches 100k distinct stacks here, tokio 100k small task cells);
//! * RSS per parked task with 100k parked tasks, each runtime in a fresh child process.
//!
//! Each case alternates corio and tokio runs and keeps each side's best. After the table, one
//! line per case: `ratio <case> <corio time / tokio time>`.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

struct Mode {
    full: bool,
}

impl Mode {
    fn n(&self, full: usize, smoke: usize) -> usize {
        if self.full { full } else { smoke }
    }
    fn reps(&self) -> usize {
        if self.full { 7 } else { 1 }
    }
}

/// Alternates `reps` runs of `corio` and of `tokio` (each returns the time it measured for
/// `n` operations), so that both meet the same quiet and busy spells of a shared machine, and
/// returns each side's best, in nanoseconds per operation.
fn best_pair(
    reps: usize,
    n: usize,
    mut corio: impl FnMut() -> Duration,
    mut tokio: impl FnMut() -> Duration,
) -> (f64, f64) {
    let per_op = |d: Duration| d.as_nanos() as f64 / n as f64;
    let (mut c, mut t) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..reps {
        c = c.min(per_op(corio()));
        t = t.min(per_op(tokio()));
    }
    (c, t)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time() // only what the cases use: the I/O driver would slow tokio down
        .build()
        .unwrap()
}

// ----- yield -----

fn corio_yield(n: usize) -> Duration {
    corio::run(move || {
        let t0 = Instant::now();
        let a = corio::spawn(move || {
            for _ in 0..n {
                corio::yield_now();
            }
        });
        let b = corio::spawn(move || {
            for _ in 0..n {
                corio::yield_now();
            }
        });
        a.join().unwrap();
        b.join().unwrap();
        t0.elapsed()
    })
}

fn tokio_yield(n: usize) -> Duration {
    tokio_rt().block_on(async move {
        let t0 = Instant::now();
        let a = tokio::spawn(async move {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        });
        let b = tokio::spawn(async move {
            for _ in 0..n {
                tokio::task::yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        t0.elapsed()
    })
}

// ----- spawn + join -----

fn corio_spawn_join(n: usize) -> Duration {
    corio::run(move || {
        let t0 = Instant::now();
        for i in 0..n {
            let t = corio::spawn(move || black_box(i));
            black_box(t.join().unwrap());
        }
        t0.elapsed()
    })
}

fn tokio_spawn_join(n: usize) -> Duration {
    tokio_rt().block_on(async move {
        let t0 = Instant::now();
        for i in 0..n {
            let t = tokio::spawn(async move { black_box(i) });
            black_box(t.await.unwrap());
        }
        t0.elapsed()
    })
}

// ----- timers -----

fn corio_timer_callbacks(n: usize) -> Duration {
    corio::run(move || {
        let fired = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let done: corio::Future<()> = corio::Future::new();
        let t0 = Instant::now();
        let start = Instant::now();
        for i in 0..n {
            let (f, d) = (fired.clone(), done.clone());
            corio::runtime::call_at(start + spread(i, n), move || {
                f.set(f.get() + 1);
                if f.get() == n {
                    d.set_result(()).unwrap();
                }
            });
        }
        done.wait().unwrap();
        t0.elapsed()
    })
}

fn spread(i: usize, n: usize) -> Duration {
    Duration::from_nanos(((i * 7919) % n) as u64 * 1_000_000 / n as u64)
}

fn corio_timers(n: usize) -> Duration {
    // A pool big enough that the measured round reuses stacks instead of mapping them.
    corio::EventLoop::builder()
        .max_pooled_stacks(n)
        .run(move || {
            let round = || {
                let t0 = Instant::now();
                let start = Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        let at = start + spread(i, n);
                        corio::spawn(move || corio::sleep_until(at))
                    })
                    .collect();
                for t in tasks {
                    t.join().unwrap();
                }
                t0.elapsed()
            };
            round(); // warm the stack pool
            round()
        })
}

fn tokio_timers(n: usize) -> Duration {
    tokio_rt().block_on(async move {
        let round = || async {
            let t0 = Instant::now();
            let start = tokio::time::Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let at = start + spread(i, n);
                    tokio::spawn(tokio::time::sleep_until(at))
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            t0.elapsed()
        };
        round().await;
        round().await
    })
}

// ----- RSS per parked task (child processes) -----

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn child_rss(which: &str, n: usize) {
    let per_task = match which {
        "corio" => corio::run(move || {
            let fut: corio::Future<()> = corio::Future::new();
            let before = rss_bytes();
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let f = fut.clone();
                    corio::spawn(move || {
                        f.wait_done();
                    })
                })
                .collect();
            corio::yield_now(); // every task runs once and parks
            let after = rss_bytes();
            fut.set_result(()).unwrap();
            for t in tasks {
                t.join().unwrap();
            }
            (after - before) as f64 / n as f64
        }),
        _ => tokio_rt().block_on(async move {
            // A semaphore with no permits: every task parks in acquire until they are added,
            // whether or not it was polled before the release.
            let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
            let before = rss_bytes();
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let g = gate.clone();
                    tokio::spawn(async move { g.acquire().await.unwrap().forget() })
                })
                .collect();
            tokio::task::yield_now().await;
            let after = rss_bytes();
            gate.add_permits(n);
            for t in tasks {
                t.await.unwrap();
            }
            (after - before) as f64 / n as f64
        }),
    };
    println!("{per_task}");
}

fn measure_rss(which: &str, n: usize) -> Option<f64> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(["--child-rss", which, &n.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "{which} RSS child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-rss") {
        let n = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(100_000);
        return child_rss(&args[i + 1], n);
    }
    let mode = Mode {
        full: args.iter().any(|a| a == "--bench"),
    };
    let reps = mode.reps();

    let n = mode.n(1_000_000, 1_000);
    let y = best_pair(reps, n, || corio_yield(n), || tokio_yield(n));
    let n = mode.n(1_000_000, 1_000);
    let s = best_pair(reps, n, || corio_spawn_join(n), || tokio_spawn_join(n));
    let n = mode.n(100_000, 1_000);
    let t = best_pair(
        reps.min(5),
        n,
        || corio_timer_callbacks(n),
        || tokio_timers(n),
    );
    let tt = best_pair(reps.min(3), n, || corio_timers(n), || tokio_timers(n));
    let n = mode.n(100_000, 1_000);
    let rss = (measure_rss("corio", n), measure_rss("tokio", n));

    println!(
        "corio core benchmark ({}; best of {reps} runs)",
        if mode.full { "full" } else { "smoke pass" }
    );
    println!(
        "{:<26} {:>14} {:>14} {:>8}",
        "case", "corio ns/op", "tokio ns/op", "ratio"
    );
    for (name, (c, k)) in [
        ("yield (round trip)", y),
        ("spawn_join", s),
        ("timers (per timer)", t),
        ("timer_tasks (per task)", tt),
    ] {
        println!("{name:<26} {c:>14.1} {k:>14.1} {:>8.3}", c / k);
    }
    let kib = |v: Option<f64>| {
        v.map(|b| format!("{:.2}", b / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    };
    println!(
        "{:<26} {:>14} {:>14}",
        "RSS per parked task (KiB)",
        kib(rss.0),
        kib(rss.1)
    );
    println!();
    println!("ratio yield {:.3}", y.0 / y.1);
    println!("ratio spawn_join {:.3}", s.0 / s.1);
    println!("ratio timers {:.3}", t.0 / t.1);
    println!("ratio timer_tasks {:.3}", tt.0 / tt.1);
    if let Some(b) = rss.0 {
        println!("rss_per_parked_task_kib {:.2}", b / 1024.0);
    }
}
