//! Many live tasks: corio against tokio's current-thread runtime when a million tasks are
//! spawned and parked at once.
//!
//! `cargo bench --bench many_tasks` measures; without `--bench` (as under `cargo test`) it runs
//! a short smoke pass with 20,000 tasks. Cases:
//! * `million_parked`: 1,000,000 tasks spawned and parked, each runtime in a fresh child
//!   process (so every corio task gets a stack mapped for it: nothing is pooled yet). corio's
//!   tasks each wait on one shared `Future`, tokio's on a semaphore without permits. The time
//!   runs from the first spawn until every task has run once and parked; after it the child
//!   reads its RSS and counts its memory maps (`/proc/self/maps` lines), then releases and
//!   waits for them to end, untimed. The tasks are detached (their handles dropped), so the
//!   figure is the tasks' own memory, without a vector of a million handles.
//!
//! Each side runs in its own child process three times (once for a smoke pass); the best time
//! of each is kept, RSS and maps come from corio's best run. After the table: `ratio
//! million_parked <corio time / tokio time>`, then `million_parked_seconds`,
//! `million_parked_kib_per_task` and `million_parked_maps` for corio.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{measuring, result_line, rss_bytes, run_child};

/// What one child process measured.
#[derive(Clone, Copy)]
struct Parked {
    seconds: f64,
    /// User and system CPU seconds of the same span (the machine may be shared: wall time
    /// includes waiting for a core).
    user: f64,
    sys: f64,
    kib_per_task: f64,
    maps: usize,
}

/// User and system CPU time of this process so far, in seconds.
fn cpu() -> (f64, f64) {
    // SAFETY: getrusage writes into the struct we own; zeroed is a valid rusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Runs in the child: spawns `n` tasks on `which` runtime, parks them, prints `seconds user
/// sys KiB maps`.
fn child(which: &str, n: usize) {
    let (seconds, (user, sys), bytes, maps) = match which {
        "corio" => corio::run(move || {
            let gate: corio::Future<()> = corio::Future::new();
            let all_done: corio::Future<()> = corio::Future::new();
            let left = std::rc::Rc::new(std::cell::Cell::new(n));
            let before = rss_bytes();
            let (t0, c0) = (Instant::now(), cpu());
            for _ in 0..n {
                let (g, left, all_done) = (gate.clone(), left.clone(), all_done.clone());
                // Detached (the handle dropped): the figure is the tasks' memory, not that of
                // a vector of handles.
                corio::spawn(move || {
                    g.wait_done();
                    left.set(left.get() - 1);
                    if left.get() == 0 {
                        all_done.set_result(()).unwrap();
                    }
                });
            }
            corio::yield_now(); // every task runs once and parks
            let (seconds, c1) = (t0.elapsed().as_secs_f64(), cpu());
            let bytes = rss_bytes() - before;
            let maps = maps();
            gate.set_result(()).unwrap();
            all_done.wait().unwrap();
            (seconds, (c1.0 - c0.0, c1.1 - c0.1), bytes, maps)
        }),
        _ => tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async move {
                let gate = Arc::new(tokio::sync::Semaphore::new(0));
                let all_done = Arc::new(tokio::sync::Notify::new());
                let left = Arc::new(AtomicUsize::new(n));
                let before = rss_bytes();
                let (t0, c0) = (Instant::now(), cpu());
                for _ in 0..n {
                    let (g, left, all_done) = (gate.clone(), left.clone(), all_done.clone());
                    tokio::spawn(async move {
                        g.acquire().await.unwrap().forget();
                        if left.fetch_sub(1, Ordering::Relaxed) == 1 {
                            all_done.notify_one();
                        }
                    });
                }
                tokio::task::yield_now().await; // every task runs once and parks
                let (seconds, c1) = (t0.elapsed().as_secs_f64(), cpu());
                let bytes = rss_bytes() - before;
                let maps = maps();
                gate.add_permits(n);
                all_done.notified().await;
                (seconds, (c1.0 - c0.0, c1.1 - c0.1), bytes, maps)
            }),
    };
    let kib = bytes as f64 / 1024.0 / n as f64;
    println!("{seconds} {user} {sys} {kib} {maps}");
}

fn parked_child(which: &str, n: usize) -> Option<Parked> {
    let text = run_child(which, &["--child", which, &n.to_string()])?;
    let mut f = text.split_whitespace();
    Some(Parked {
        seconds: f.next()?.parse().ok()?,
        user: f.next()?.parse().ok()?,
        sys: f.next()?.parse().ok()?,
        kib_per_task: f.next()?.parse().ok()?,
        maps: f.next()?.parse().ok()?,
    })
}

/// Alternates `reps` corio and tokio children; each side's fastest run.
fn best(reps: usize, n: usize) -> Option<(Parked, Parked)> {
    let (mut c, mut t): (Option<Parked>, Option<Parked>) = (None, None);
    let faster = |a: Option<Parked>, b: Parked| match a {
        Some(a) if a.seconds <= b.seconds => a,
        _ => b,
    };
    for _ in 0..reps {
        c = Some(faster(c, parked_child("corio", n)?));
        t = Some(faster(t, parked_child("tokio", n)?));
    }
    Some((c?, t?))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let n = args
            .get(i + 2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        return child(&args[i + 1], n);
    }
    let full = measuring(&args);
    let (n, reps) = if full { (1_000_000, 3) } else { (20_000, 1) };
    let Some((c, t)) = best(reps, n) else {
        eprintln!("million_parked: a child process failed");
        std::process::exit(1);
    };
    println!(
        "corio many-tasks benchmark ({}; {n} tasks, best of {reps} runs)",
        if full {
            "full"
        } else {
            "smoke pass: not a measurement"
        }
    );
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>12} {:>8}",
        "runtime", "seconds", "user s", "sys s", "KiB/task", "maps"
    );
    for (name, p) in [("corio", c), ("tokio", t)] {
        println!(
            "{name:<16} {:>10.3} {:>10.3} {:>10.3} {:>12.2} {:>8}",
            p.seconds, p.user, p.sys, p.kib_per_task, p.maps
        );
    }
    println!();
    println!(
        "{}",
        result_line(full, "million_parked", c.seconds / t.seconds)
    );
    let kind = if full { "" } else { "smoke " };
    println!("{kind}million_parked_seconds {:.3}", c.seconds);
    println!("{kind}million_parked_kib_per_task {:.2}", c.kib_per_task);
    println!("{kind}million_parked_maps {}", c.maps);
}
