//! Synchronisation primitives against their tokio peers, measured in the same process.
//!
//! `cargo bench --bench sync_queue` measures; without `--bench` in the arguments (as under
//! `cargo test --all-targets`) each case runs a tiny smoke pass only.
//!
//! Prints one table row per case, then `ratio <case> <corio time / tokio time>`.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// One measured case: nanoseconds per operation for corio and for its tokio peer.
struct Row {
    name: &'static str,
    what: &'static str,
    corio: f64,
    tokio: f64,
}

/// How long to measure: round trips per run, and runs (the fastest one counts).
#[derive(Clone, Copy)]
struct Plan {
    ops: u64,
    runs: usize,
}

fn main() {
    let measure = std::env::args().any(|a| a == "--bench");
    let plan = if measure {
        Plan {
            ops: 100_000,
            runs: 21,
        }
    } else {
        Plan {
            ops: 1_000,
            runs: 1,
        }
    };
    let rows = [queue(plan)];

    println!(
        "{:<8} {:>14} {:>14} {:>8}  operation",
        "case", "corio ns/op", "tokio ns/op", "ratio"
    );
    for r in &rows {
        println!(
            "{:<8} {:>14.1} {:>14.1} {:>8.3}  {}",
            r.name,
            r.corio,
            r.tokio,
            ratio(r),
            r.what
        );
    }
    for r in &rows {
        println!("ratio {} {:.3}", r.name, ratio(r));
    }
    if !measure {
        println!("(smoke pass only; run `cargo bench --bench sync_queue` to measure)");
    }
}

fn ratio(r: &Row) -> f64 {
    r.corio / r.tokio
}

/// Nanoseconds per operation for `corio(ops)` and `tokio(ops)`, each the fastest of
/// `plan.runs` runs. The runs alternate, so that both sides meet the same machine noise.
fn compare(
    plan: Plan,
    mut corio: impl FnMut(u64) -> Duration,
    mut tokio: impl FnMut(u64) -> Duration,
) -> (f64, f64) {
    // Warm up: stack pool, allocator, caches.
    corio(plan.ops.min(10_000));
    tokio(plan.ops.min(10_000));
    let (mut best_corio, mut best_tokio) = (Duration::MAX, Duration::MAX);
    for _ in 0..plan.runs {
        best_corio = best_corio.min(corio(plan.ops));
        best_tokio = best_tokio.min(tokio(plan.ops));
    }
    let per_op = |d: Duration| d.as_secs_f64() * 1e9 / plan.ops as f64;
    (per_op(best_corio), per_op(best_tokio))
}

/// Queue ping-pong: one task puts into `ping` and gets from `pong`, the other echoes; one
/// operation is a round trip (two puts, two gets, two wake-ups). The peer is the same
/// exchange over two bounded tokio mpsc channels of one slot, on a current-thread runtime.
fn queue(plan: Plan) -> Row {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let corio_side = |n: u64| {
        corio::run(move || {
            let ping = corio::Queue::new(1);
            let pong = corio::Queue::new(1);
            let echo = {
                let (ping, pong) = (ping.clone(), pong.clone());
                corio::spawn(move || {
                    for _ in 0..n {
                        let x: u64 = ping.get().unwrap();
                        pong.put(x).unwrap();
                    }
                })
            };
            let t0 = Instant::now();
            for i in 0..n {
                ping.put(i).unwrap();
                black_box(pong.get().unwrap());
            }
            let elapsed = t0.elapsed();
            echo.join().unwrap();
            elapsed
        })
    };
    let tokio_side = |n: u64| {
        rt.block_on(async move {
            let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                for _ in 0..n {
                    let x = ping_rx.recv().await.unwrap();
                    pong_tx.send(x).await.unwrap();
                }
            });
            let t0 = Instant::now();
            for i in 0..n {
                ping_tx.send(i).await.unwrap();
                black_box(pong_rx.recv().await.unwrap());
            }
            let elapsed = t0.elapsed();
            echo.await.unwrap();
            elapsed
        })
    };
    let (corio, tokio) = compare(plan, corio_side, tokio_side);

    Row {
        name: "queue",
        what: "put+get round trip between two tasks (Queue(1) vs mpsc::channel(1))",
        corio,
        tokio,
    }
}
