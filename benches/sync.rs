//! corio's sync primitives against tokio's current-thread runtime, measured in one process.
//!
//! ```text
//! cargo bench --bench sync
//! ```
//!
//! Each case runs the same work on both runtimes, alternating one corio run with one tokio run
//! so that both sides meet the same quiet and busy moments of a shared machine, and keeps each
//! side's best run (`std::time::Instant`). It then prints a table and one machine-readable line
//! per case:
//! `ratio <case> <corio time / tokio time>` (below 1.0: corio is faster).
//!
//! Without `--bench` in the arguments (as under `cargo test --all-targets`) it does a tiny
//! smoke pass instead, to prove the cases still run; its lines read `smoke <case> <x>`, as its
//! figures (debug build, a few hundred operations) are not a measurement. Plain arguments
//! pick cases by name: `cargo bench --bench sync -- event`.
//!
//! | case | corio | tokio |
//! |---|---|---|
//! | `lock` | uncontended `Lock::acquire` + drop | `Mutex::lock` + drop |
//! | `event` | `Event` set/wait ping-pong between two tasks, per round trip | `Notify` |
//! | `semaphore` | 100 tasks, 10 permits, acquire / yield / release, per acquire | `Semaphore` |
//! | `queue` | `Queue(1)` put/get ping-pong between two tasks, per round trip | `mpsc::channel(1)` |
//! | `wake_many` | 10,000 tasks each parked on its own `Event`, set in a fixed pseudo-random order, all joined, per task | `Notify::notify_one` |
//!
//! Every side's work runs in tasks: corio's main side is the task `corio::run` makes, tokio's
//! a task spawned on its runtime (not the `block_on` future, which is woken another way). The
//! semaphore case spawns its 100 tasks once untimed on both sides first, so the timed round
//! reuses corio's pooled stacks and tokio's task memory.
//!
//! `wake_many` is the wake-up of many cold tasks: each of 10,000 tasks waits on an event of
//! its own, and the main task sets them in a fixed pseudo-random order (a Fisher-Yates
//! shuffle with a fixed seed, the same permutation on both sides), then joins every task. The
//! timed part is from the first set to the last join; spawning and parking are not timed, and
//! a warm-up round first makes corio reuse pooled stacks and tokio its task memory; each run
//! keeps the best of five timed rounds. tokio's
//! waiters use `Notify::notify_one`: with exactly one waiter parked on each `Notify` it is the
//! same work as `Event::set` (take the one waiter off the list, wake it), and unlike
//! `notify_waiters` it keeps a permit when nobody waits yet, as the event keeps its flag.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{measuring, result_line, tokio_task};

/// How much work each case does.
#[derive(Clone, Copy)]
struct Size {
    /// Timed runs per runtime, alternating between them; the fastest counts.
    runs: usize,
    /// Multiplies each case's base iteration count.
    scale: u64,
}

const FULL: Size = Size { runs: 9, scale: 1 };
const SMOKE: Size = Size { runs: 1, scale: 0 };

/// A benchmark case: one function per runtime, each timing one run of the work and giving
/// nanoseconds per operation.
struct Case {
    name: &'static str,
    what: &'static str,
    corio: fn(Size) -> f64,
    tokio: fn(Size) -> f64,
}

impl Case {
    /// Alternates corio and tokio runs; the best of each side.
    fn measure(&self, size: Size) -> (f64, f64) {
        let (mut corio, mut tokio) = (f64::MAX, f64::MAX);
        for _ in 0..size.runs.max(1) {
            corio = corio.min((self.corio)(size));
            tokio = tokio.min((self.tokio)(size));
        }
        (corio, tokio)
    }
}

const CASES: &[Case] = &[
    Case {
        name: "lock",
        what: "uncontended acquire + release",
        corio: lock_corio,
        tokio: lock_tokio,
    },
    Case {
        name: "event",
        what: "set/wait ping-pong, per round trip",
        corio: event_corio,
        tokio: event_tokio,
    },
    Case {
        name: "semaphore",
        what: "100 tasks, 10 permits, per acquire",
        corio: semaphore_corio,
        tokio: semaphore_tokio,
    },
    Case {
        name: "queue",
        what: "Queue(1) put/get ping-pong vs mpsc(1), per round trip",
        corio: queue_corio,
        tokio: queue_tokio,
    },
    Case {
        name: "wake_many",
        what: "10k tasks on 10k events, set in random order, per task",
        corio: wake_many_corio,
        tokio: wake_many_tokio,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = measuring(&args);
    // Other plain arguments pick cases by name: `cargo bench --bench sync -- event`.
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let size = if full { FULL } else { SMOKE };
    if !full {
        println!("smoke pass, not a measurement (run `cargo bench --bench sync` for figures)");
    }
    let rows: Vec<(&Case, f64, f64)> = CASES
        .iter()
        .filter(|c| only.is_empty() || only.iter().any(|o| c.name.contains(o.as_str())))
        .map(|c| {
            let (corio, tokio) = c.measure(size);
            (c, corio, tokio)
        })
        .collect();

    println!();
    println!(
        "{:<10} {:<52} {:>12} {:>12} {:>8}",
        "case", "what", "corio ns/op", "tokio ns/op", "ratio"
    );
    for (c, corio, tokio) in &rows {
        println!(
            "{:<10} {:<52} {:>12.1} {:>12.1} {:>8.3}",
            c.name,
            c.what,
            corio,
            tokio,
            corio / tokio
        );
    }
    println!();
    for (c, corio, tokio) in &rows {
        println!("{}", result_line(full, c.name, corio / tokio));
    }
}

/// Iterations for a case: `base` scaled up for a full run, a handful for a smoke pass.
fn iters(size: Size, base: u64, smoke: u64) -> u64 {
    if size.scale == 0 {
        smoke
    } else {
        base * size.scale
    }
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio current-thread runtime")
}

/// Nanoseconds per operation of a run that took `d` for `ops` operations.
fn per_op(d: Duration, ops: u64) -> f64 {
    d.as_nanos() as f64 / ops as f64
}

// ---- lock ---------------------------------------------------------------------------------

fn lock_corio(size: Size) -> f64 {
    let n = iters(size, 2_000_000, 1_000);
    corio::run(move || {
        let lock = corio::Lock::new();
        let t = Instant::now();
        for _ in 0..n {
            drop(black_box(black_box(&lock).acquire()));
        }
        per_op(t.elapsed(), n)
    })
}

fn lock_tokio(size: Size) -> f64 {
    let n = iters(size, 2_000_000, 1_000);
    tokio_task(&tokio_rt(), async move {
        let lock = tokio::sync::Mutex::new(());
        let t = Instant::now();
        for _ in 0..n {
            drop(black_box(black_box(&lock).lock().await));
        }
        per_op(t.elapsed(), n)
    })
}

// ---- event --------------------------------------------------------------------------------

fn event_corio(size: Size) -> f64 {
    let n = iters(size, 300_000, 200);
    corio::run(move || {
        let (ping, pong) = (corio::Event::new(), corio::Event::new());
        let partner = {
            let (ping, pong) = (ping.clone(), pong.clone());
            corio::spawn(move || {
                for _ in 0..n {
                    ping.wait();
                    ping.clear();
                    pong.set();
                }
            })
        };
        let t = Instant::now();
        for _ in 0..n {
            ping.set();
            pong.wait();
            pong.clear();
        }
        let elapsed = t.elapsed();
        partner.join().expect("partner task");
        per_op(elapsed, n)
    })
}

fn event_tokio(size: Size) -> f64 {
    let n = iters(size, 300_000, 200);
    tokio_task(&tokio_rt(), async move {
        let (ping, pong) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(tokio::sync::Notify::new()),
        );
        let partner = {
            let (ping, pong) = (ping.clone(), pong.clone());
            tokio::spawn(async move {
                for _ in 0..n {
                    ping.notified().await;
                    pong.notify_one();
                }
            })
        };
        let t = Instant::now();
        for _ in 0..n {
            ping.notify_one();
            pong.notified().await;
        }
        let elapsed = t.elapsed();
        partner.await.expect("partner task");
        per_op(elapsed, n)
    })
}

// ---- semaphore ----------------------------------------------------------------------------

const SEM_TASKS: u64 = 100;
const SEM_PERMITS: usize = 10;

fn semaphore_corio(size: Size) -> f64 {
    let rounds = iters(size, 2_000, 2);
    corio::run(move || {
        let sem = corio::Semaphore::new(SEM_PERMITS);
        let round = |rounds| {
            let t = Instant::now();
            let tasks: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    corio::spawn(move || {
                        for _ in 0..rounds {
                            let _permit = sem.acquire();
                            corio::yield_now();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.join().expect("semaphore task");
            }
            t.elapsed()
        };
        round(1); // warm-up: the 100 stacks are mapped here and pooled for the timed round
        per_op(round(rounds), SEM_TASKS * rounds)
    })
}

fn semaphore_tokio(size: Size) -> f64 {
    let rounds = iters(size, 2_000, 2);
    tokio_task(&tokio_rt(), async move {
        let sem = Arc::new(tokio::sync::Semaphore::new(SEM_PERMITS));
        let round = async |rounds| {
            let t = Instant::now();
            let tasks: Vec<_> = (0..SEM_TASKS)
                .map(|_| {
                    let sem = sem.clone();
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            let _permit = sem.acquire().await.expect("open semaphore");
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("semaphore task");
            }
            t.elapsed()
        };
        round(1).await; // warm-up, as on corio's side
        per_op(round(rounds).await, SEM_TASKS * rounds)
    })
}

// ---- queue --------------------------------------------------------------------------------

fn queue_corio(size: Size) -> f64 {
    let n = iters(size, 300_000, 200);
    corio::run(move || {
        let (ping, pong) = (corio::Queue::new(1), corio::Queue::new(1));
        let echo = {
            let (ping, pong) = (ping.clone(), pong.clone());
            corio::spawn(move || {
                for _ in 0..n {
                    let x: u64 = ping.get().unwrap();
                    pong.put(x).unwrap();
                }
            })
        };
        let t = Instant::now();
        for i in 0..n {
            ping.put(i).unwrap();
            black_box(pong.get().unwrap());
        }
        let elapsed = t.elapsed();
        echo.join().expect("echo task");
        per_op(elapsed, n)
    })
}

fn queue_tokio(size: Size) -> f64 {
    let n = iters(size, 300_000, 200);
    tokio_task(&tokio_rt(), async move {
        let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
        let echo = tokio::spawn(async move {
            for _ in 0..n {
                let x = ping_rx.recv().await.unwrap();
                pong_tx.send(x).await.unwrap();
            }
        });
        let t = Instant::now();
        for i in 0..n {
            ping_tx.send(i).await.unwrap();
            black_box(pong_rx.recv().await.unwrap());
        }
        let elapsed = t.elapsed();
        echo.await.expect("echo task");
        per_op(elapsed, n)
    })
}

// ---- wake_many ----------------------------------------------------------------------------

/// A fixed pseudo-random permutation of `0..n` (Fisher-Yates over a xorshift generator with a
/// fixed seed): the order in which both sides set their events.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}

/// Timed rounds per run (each a few milliseconds, so one preemption on a busy machine spoils
/// one of them); the best counts, as across runs.
const WAKE_MANY_ROUNDS: usize = 5;

fn wake_many_tasks(size: Size) -> usize {
    iters(size, 10_000, 200) as usize
}

fn wake_many_corio(size: Size) -> f64 {
    let n = wake_many_tasks(size);
    let order = shuffled(n);
    // A pool that holds every stack, so the timed round reuses stacks instead of mapping them.
    corio::EventLoop::builder()
        .max_pooled_stacks(n)
        .run(move || {
            let round = || {
                let events: Vec<corio::Event> = (0..n).map(|_| corio::Event::new()).collect();
                let tasks: Vec<_> = events
                    .iter()
                    .map(|e| {
                        let e = e.clone();
                        corio::spawn(move || e.wait())
                    })
                    .collect();
                corio::yield_now(); // every task runs once and parks on its event
                let t = Instant::now();
                for &i in &order {
                    events[i].set();
                }
                for task in tasks {
                    task.join().expect("wake_many task");
                }
                t.elapsed()
            };
            round(); // warm-up
            let best = (0..WAKE_MANY_ROUNDS).map(|_| round()).min();
            per_op(best.expect("at least one round"), n as u64)
        })
}

fn wake_many_tokio(size: Size) -> f64 {
    let n = wake_many_tasks(size);
    let order = shuffled(n);
    tokio_task(&tokio_rt(), async move {
        let round = async || {
            let notifies: Vec<Arc<tokio::sync::Notify>> = (0..n)
                .map(|_| Arc::new(tokio::sync::Notify::new()))
                .collect();
            let tasks: Vec<_> = notifies
                .iter()
                .map(|nt| {
                    let nt = nt.clone();
                    tokio::spawn(async move { nt.notified().await })
                })
                .collect();
            tokio::task::yield_now().await; // every task runs once and parks on its Notify
            let t = Instant::now();
            for &i in &order {
                notifies[i].notify_one();
            }
            for task in tasks {
                task.await.expect("wake_many task");
            }
            t.elapsed()
        };
        round().await; // warm-up
        let mut best = Duration::MAX;
        for _ in 0..WAKE_MANY_ROUNDS {
            best = best.min(round().await);
        }
        per_op(best, n as u64)
    })
}
