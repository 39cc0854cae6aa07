//! Core runtime benchmark: corio against tokio's current-thread runtime on the same work.
//!
//! `cargo bench --bench core` measures; without `--bench` (as under `cargo test`) it runs a
//! short smoke pass. Cases, each side's work (docs/BENCHMARKS.md says more):
//! * `yield_own_cadence`: yield round trip between two tasks, each runtime polling at its
//!   default cadence: corio looks at its poller every 61 steps, tokio's `yield_now` polls its
//!   driver (time only, no I/O) on every round trip;
//! * `yield_both_poll_each_trip`: the same with corio's `event_interval(1)`: both look at
//!   their drivers on every round trip, neither has an I/O source (no system call);
//! * `yield_both_epoll_each_trip`: both with an I/O driver holding one idle UDP socket, both
//!   polling it on every round trip (one `epoll_wait(0)` each);
//! * `spawn_join`: spawn a trivial task and join it;
//! * `timers_callbacks_vs_tasks`: 100k deadlines spread over 1 ms, scheduled and fired, each
//!   runtime's own way: corio's `call_at` callbacks against tokio tasks each awaiting a
//!   `Sleep` (not the same work: tokio has no callback timers);
//! * `timers_callbacks_vs_delay_queue`: corio's callbacks against tokio's nearest equivalent,
//!   one task draining a `tokio_util` `DelayQueue` of the 100k deadlines;
//! * `timer_tasks`: the same 100k deadlines, each slept on by its own task on both sides
//!   (corio touches 100k distinct stacks here, tokio 100k small task cells). Spawning 100k
//!   tasks takes longer than the 1 ms the deadlines span, so most tasks find theirs passed:
//!   tokio's `Sleep` is then ready at its first poll, and corio's `sleep_until` is one yield
//!   (asyncio's `sleep` with a delay of zero or less), neither arms a timer;
//! * `timer_tasks_cpu`: the same with every deadline still ahead (the first one some time
//!   after the last spawn), so that every task parks on a timer and is woken by it; measured
//!   as the loop thread's CPU time (the wait for the first deadline costs none);
//! * `virtual_timers_per_task`: 100k tasks each sleeping a pseudo-random 1 s to 1 day under
//!   virtual time, all finished: corio's `EventLoopBuilder::virtual_time(true)` against
//!   tokio's `start_paused` runtime (both clocks jump from timer to timer);
//! * RSS per parked task with 100k parked tasks, each runtime in a fresh child process.
//!
//! tokio's side of every case runs as a spawned task, as corio's does. Each timer case runs a
//! warm-up round first on both sides. Each case alternates corio and tokio runs and keeps
//! each side's best. After the table, one line per case: `ratio <case> <corio time / tokio
//! time>` (`smoke <case> <x>` in a smoke pass, whose figures are not a measurement). Plain
//! arguments pick cases by name (`cargo bench --bench core -- timer_tasks`); none runs all.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{measuring, result_line, rss_bytes, run_child, tokio_task};

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

/// Which poller the yield cases give each runtime, and how often it is polled.
#[derive(Clone, Copy)]
enum Cadence {
    /// Each runtime's default: corio looks at its poller every 61 steps, tokio's `yield_now`
    /// polls its (time-only) driver on every round trip.
    Own,
    /// Both look at their drivers on every round trip (corio `event_interval(1)`); neither
    /// has an I/O source, so neither makes a system call.
    EveryTrip,
    /// Both have an I/O driver holding one idle UDP socket and poll it on every round trip:
    /// one `epoll_wait(0)` each.
    EpollEveryTrip,
}

fn corio_yield(n: usize, cadence: Cadence) -> Duration {
    let builder = match cadence {
        Cadence::Own => corio::EventLoop::builder(),
        Cadence::EveryTrip | Cadence::EpollEveryTrip => {
            corio::EventLoop::builder().event_interval(1)
        }
    };
    builder.run(move || {
        let idle = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        if let Cadence::EpollEveryTrip = cadence {
            corio::runtime::add_reader(&idle, || {}).unwrap();
        }
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
        let elapsed = t0.elapsed();
        corio::runtime::remove_reader(&idle);
        elapsed
    })
}

fn tokio_yield(n: usize, cadence: Cadence) -> Duration {
    let rt = match cadence {
        Cadence::Own | Cadence::EveryTrip => tokio_rt(),
        Cadence::EpollEveryTrip => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    tokio_task(&rt, async move {
        let _idle = match cadence {
            Cadence::EpollEveryTrip => Some(tokio::net::UdpSocket::bind("127.0.0.1:0").await),
            Cadence::Own | Cadence::EveryTrip => None,
        };
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
    tokio_task(&tokio_rt(), async move {
        let t0 = Instant::now();
        for i in 0..n {
            let t = tokio::spawn(async move { black_box(i) });
            black_box(t.await.unwrap());
        }
        t0.elapsed()
    })
}

// ----- timers -----
//
// Every timer case runs two rounds of the same work on one runtime and times the second, so
// both sides start warm (timer storage, task memory, corio's stack pool).

fn spread(i: usize, n: usize) -> Duration {
    Duration::from_nanos(((i * 7919) % n) as u64 * 1_000_000 / n as u64)
}

/// corio: `n` `call_at` callbacks (asyncio's `loop.call_at`), each counting itself.
fn corio_timer_callbacks(n: usize) -> Duration {
    corio::run(move || {
        let round = || {
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
        };
        round(); // warm-up
        round()
    })
}

/// tokio's nearest equivalent of callback timers: one task drains a `tokio_util`
/// `DelayQueue` holding the `n` deadlines, counting each expiry.
fn tokio_delay_queue(n: usize) -> Duration {
    tokio_task(&tokio_rt(), async move {
        let mut queue = tokio_util::time::DelayQueue::new();
        let mut round = async || {
            let t0 = Instant::now();
            let start = tokio::time::Instant::now();
            for i in 0..n {
                queue.insert_at(i, start + spread(i, n));
            }
            let mut fired = 0;
            while let Some(expired) = std::future::poll_fn(|cx| queue.poll_expired(cx)).await {
                black_box(expired.into_inner());
                fired += 1;
            }
            assert_eq!(fired, n);
            t0.elapsed()
        };
        round().await; // warm-up
        round().await
    })
}

/// corio: `n` tasks each sleeping to its deadline.
fn corio_timer_tasks(n: usize) -> Duration {
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
            round(); // warm-up
            round()
        })
}

/// tokio: `n` tasks each awaiting a `Sleep` to its deadline.
fn tokio_timer_tasks(n: usize) -> Duration {
    tokio_task(&tokio_rt(), async move {
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
        round().await; // warm-up
        round().await
    })
}

/// How long after the round starts the first deadline of `timer_tasks_cpu` falls: past the
/// spawning of every task (about 30 ms for 100k on either side), so that every task finds
/// its deadline ahead and parks on its timer.
fn lead(n: usize) -> Duration {
    Duration::from_millis(20) + Duration::from_micros(n as u64 * 2)
}

/// Prints a note when the timed round's spawning ran past the first deadline, which makes the case measure
/// something else (tasks whose deadline has passed: no timer on either side).
fn check_lead(side: &str, spawned: Instant, first: Instant) {
    if spawned > first {
        eprintln!(
            "timer_tasks_cpu: {side} spawned past the first deadline by {:?}",
            spawned - first
        );
    }
}

/// corio: `n` tasks each sleeping to a deadline still ahead of it (spread over 1 ms, after
/// [`lead`]); the loop thread's CPU time from the first spawn to the last join.
fn corio_timer_tasks_cpu(n: usize) -> Duration {
    corio::EventLoop::builder()
        .max_pooled_stacks(n)
        .run(move || {
            let round = |timed: bool| {
                let cpu = common::thread_cpu();
                let start = Instant::now() + lead(n);
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        let at = start + spread(i, n);
                        corio::spawn(move || corio::sleep_until(at))
                    })
                    .collect();
                if timed {
                    check_lead("corio", Instant::now(), start);
                }
                for t in tasks {
                    t.join().unwrap();
                }
                common::thread_cpu() - cpu
            };
            round(false); // warm-up: maps the stacks
            round(true)
        })
}

/// tokio: as [`corio_timer_tasks_cpu`], each task awaiting a `Sleep`.
fn tokio_timer_tasks_cpu(n: usize) -> Duration {
    tokio_task(&tokio_rt(), async move {
        let round = async |timed: bool| {
            let cpu = common::thread_cpu();
            let start = Instant::now() + lead(n);
            let tasks: Vec<_> = (0..n)
                .map(|i| {
                    let at = tokio::time::Instant::from_std(start + spread(i, n));
                    tokio::spawn(tokio::time::sleep_until(at))
                })
                .collect();
            if timed {
                check_lead("tokio", Instant::now(), start);
            }
            for t in tasks {
                t.await.unwrap();
            }
            common::thread_cpu() - cpu
        };
        round(false).await; // warm-up
        round(true).await
    })
}

// ----- virtual time -----

/// Task `i`'s sleep: pseudo-random between 1 s and 1 day, the same on both sides.
fn virtual_sleep(i: usize) -> Duration {
    let h = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(29);
    Duration::from_secs(1) + Duration::from_nanos(h % 86_399_000_000_000)
}

/// corio: `n` tasks each sleeping `virtual_sleep(i)` on a loop with virtual time.
fn corio_virtual_timers(n: usize) -> Duration {
    corio::EventLoop::builder()
        .virtual_time(true)
        .max_pooled_stacks(n)
        .run(move || {
            let round = || {
                let t0 = Instant::now();
                let tasks: Vec<_> = (0..n)
                    .map(|i| corio::spawn(move || corio::sleep(virtual_sleep(i))))
                    .collect();
                for t in tasks {
                    t.join().unwrap();
                }
                t0.elapsed()
            };
            round(); // warm-up
            round()
        })
}

/// tokio: the same on a current-thread runtime started paused (its clock auto-advances to
/// the next timer when the runtime is idle).
fn tokio_virtual_timers(n: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    tokio_task(&rt, async move {
        let round = || async {
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..n)
                .map(|i| tokio::spawn(tokio::time::sleep(virtual_sleep(i))))
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            t0.elapsed()
        };
        round().await; // warm-up
        round().await
    })
}

// ----- RSS per parked task (child processes) -----

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
    run_child(which, &["--child-rss", which, &n.to_string()])?
        .trim()
        .parse()
        .ok()
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
        full: measuring(&args),
    };
    let reps = mode.reps();
    // Other plain arguments pick cases by name: `cargo bench --bench core -- timer_tasks`.
    let only: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let picked = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    type Measure<'a> = Box<dyn FnOnce() -> (f64, f64) + 'a>;
    let mut cases: Vec<(&str, &str, Measure)> = Vec::new();

    let n = mode.n(1_000_000, 1_000);
    let yield_case = move |cadence| {
        move || {
            best_pair(
                reps,
                n,
                || corio_yield(n, cadence),
                || tokio_yield(n, cadence),
            )
        }
    };
    cases.push((
        "yield_own_cadence",
        "ns/round trip",
        Box::new(yield_case(Cadence::Own)),
    ));
    cases.push((
        "yield_both_poll_each_trip",
        "ns/round trip",
        Box::new(yield_case(Cadence::EveryTrip)),
    ));
    cases.push((
        "yield_both_epoll_each_trip",
        "ns/round trip",
        Box::new(yield_case(Cadence::EpollEveryTrip)),
    ));
    cases.push((
        "spawn_join",
        "ns/task",
        Box::new(move || best_pair(reps, n, || corio_spawn_join(n), || tokio_spawn_join(n))),
    ));
    let n = mode.n(100_000, 1_000);
    cases.push((
        "timers_callbacks_vs_tasks",
        "ns/timer",
        Box::new(move || {
            best_pair(
                reps.min(5),
                n,
                || corio_timer_callbacks(n),
                || tokio_timer_tasks(n),
            )
        }),
    ));
    cases.push((
        "timers_callbacks_vs_delay_queue",
        "ns/timer",
        Box::new(move || {
            best_pair(
                reps.min(5),
                n,
                || corio_timer_callbacks(n),
                || tokio_delay_queue(n),
            )
        }),
    ));
    cases.push((
        "timer_tasks",
        "ns/task",
        Box::new(move || {
            best_pair(
                reps.min(3),
                n,
                || corio_timer_tasks(n),
                || tokio_timer_tasks(n),
            )
        }),
    ));
    cases.push((
        "timer_tasks_cpu",
        "cpu ns/task",
        Box::new(move || {
            best_pair(
                reps.min(3),
                n,
                || corio_timer_tasks_cpu(n),
                || tokio_timer_tasks_cpu(n),
            )
        }),
    ));
    cases.push((
        "virtual_timers_per_task",
        "ns/task",
        Box::new(move || {
            best_pair(
                reps.min(3),
                n,
                || corio_virtual_timers(n),
                || tokio_virtual_timers(n),
            )
        }),
    ));
    let rows: Vec<(&str, &str, (f64, f64))> = cases
        .into_iter()
        .filter(|(name, _, _)| picked(name))
        .map(|(name, unit, measure)| (name, unit, measure()))
        .collect();
    let rss =
        picked("rss_per_parked_task").then(|| (measure_rss("corio", n), measure_rss("tokio", n)));

    println!(
        "corio core benchmark ({}; best of {reps} runs)",
        if mode.full {
            "full"
        } else {
            "smoke pass: not a measurement"
        }
    );
    println!(
        "{:<32} {:>14} {:>12} {:>12} {:>8}",
        "case", "unit", "corio", "tokio", "ratio"
    );
    for (name, unit, (c, k)) in &rows {
        println!("{name:<32} {unit:>14} {c:>12.1} {k:>12.1} {:>8.3}", c / k);
    }
    let kib = |v: Option<f64>| {
        v.map(|b| format!("{:.2}", b / 1024.0))
            .unwrap_or_else(|| "n/a".into())
    };
    if let Some(rss) = rss {
        println!(
            "{:<32} {:>14} {:>12} {:>12}",
            "RSS per parked task",
            "KiB",
            kib(rss.0),
            kib(rss.1)
        );
    }
    println!();
    for (name, _, (c, k)) in &rows {
        println!("{}", result_line(mode.full, name, c / k));
    }
    if let Some((Some(b), _)) = rss {
        println!("rss_per_parked_task_kib {:.2}", b / 1024.0);
    }
}
