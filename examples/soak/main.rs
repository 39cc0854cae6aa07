//! Soak: 2,000 connections against the streams echo server for a while, with faults, then a
//! check that nothing leaked.
//!
//! ```sh
//! cargo run --release --example soak                   # 20 s
//! cargo run --release --example soak -- --secs 600 --seed 42 --conns 2000
//! ```
//!
//! The server (`start_server` with asyncio's echo handler) runs on a loop of its own thread;
//! the clients are tasks of a second loop on the main thread. Two loops, because that is how
//! a server meets its clients: over the kernel, at their own pace, on another core. On one
//! loop, a client's write and the server's read would take turns in lock-step inside one
//! scheduler, which hides the races between a peer's close and a parked reader that this run
//! is after; and the client's work (making and comparing megabytes) would be charged to the
//! server's loop.
//!
//! Every client slot keeps one connection open at a time for the whole run and opens the
//! next as soon as one ends. Per connection it draws 1–8 messages (sizes in `client.rs`) and
//! maybe a fault: a reset in the middle of the last message (SO_LINGER 0, then close), a
//! `wait_for` of 1–20 ms around each echo, or a slow reader. The server cancels a few
//! handler tasks at a random moment. A connection that ran to its end must have echoed every
//! byte; one that was reset, timed out or cancelled must have echoed a correct prefix.
//!
//! At the end the run checks, and prints: open fds, live tasks and stacks in use back to their
//! values before the traffic (pooled stacks within the pool's bound), RSS after warm-up flat
//! within 10 % (sampled every 250 ms; the mean of the second half of the samples against the
//! first half's), and no echo check failed. The exit status is 1 if any check failed. The seed
//! fixes every random choice (sizes, bytes, faults); the kernel's timing does not repeat.

mod client;
mod probe;
mod server;

use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::runtime::{DEFAULT_MAX_POOLED_STACKS, StackStats};

use client::Counts;
use probe::Rng;
use server::{Command, Figures};

/// How long the slots may take to finish their last message after the run's time is up.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);
/// How far the mean RSS of the second half of the run (after warm-up) may rise above the
/// first half's.
const RSS_SLACK: f64 = 0.10;

struct Args {
    secs: u64,
    seed: u64,
    conns: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        secs: 20,
        seed: probe::clock_seed(),
        conns: 2000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| -> Result<u64, String> {
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            }
            .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--secs" => args.secs = number(&value)?.max(1),
            "--seed" => args.seed = number(&value)?,
            "--conns" => args.conns = number(&value)?.max(1) as usize,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

/// Figures of one loop (and the process's fds) at a quiet moment.
#[derive(Debug, Clone, Copy)]
struct Quiet {
    fds: usize,
    tasks: usize,
    stacks: StackStats,
}

impl Quiet {
    fn here() -> Quiet {
        Quiet {
            fds: probe::open_fds(),
            tasks: corio::tasks().len(),
            stacks: corio::get_running_loop().stack_stats(),
        }
    }
}

struct Report {
    elapsed: Duration,
    warmup: Duration,
    counts: Counts,
    failures: Vec<String>,
    failure_count: u64,
    client: (Quiet, Quiet),
    server: (Figures, Figures),
    rss: Vec<u64>,
    open: (usize, usize),
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}\nusage: soak [--secs N] [--seed N] [--conns N]");
            std::process::exit(2);
        }
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "soak: seed {} ({profile} build), {} connections, {} s; repeat with --seed {}",
        args.seed, args.conns, args.secs, args.seed
    );
    let fds_before = probe::open_fds();
    let cancelled = server::Cancelled::default();
    let (thread, link) = server::start(args.seed, cancelled.clone());
    let server_start = link.figures.blocking_get().expect("the server reports");
    let report = corio::run(move || drive(&args, link, cancelled, server_start));
    thread.join().expect("the server thread ends");
    let fds_after = probe::open_fds();
    let ok = summary(&report, (fds_before, fds_after));
    std::process::exit(if ok { 0 } else { 1 });
}

/// The client loop's main coroutine: starts the slots, samples, stops them, collects figures.
fn drive(args: &Args, link: server::Link, cancelled: server::Cancelled, sv: Figures) -> Report {
    let start = Quiet::here();
    let shared = Rc::new(client::Shared {
        addr: sv.addr,
        stop: Default::default(),
        open: Default::default(),
        large: corio::Semaphore::new(client::LARGE_IN_FLIGHT),
        cancelled,
        failures: Default::default(),
        failure_count: Default::default(),
    });
    let t0 = Instant::now();
    let slots: Vec<_> = (0..args.conns)
        .map(|i| {
            let (sh, rng) = (shared.clone(), Rng::derive(args.seed, i as u64));
            corio::spawn(move || client::slot(sh, rng))
        })
        .collect();

    let run_for = Duration::from_secs(args.secs);
    let warmup = (run_for / 4).clamp(Duration::from_secs(1), Duration::from_secs(5));
    let (mut rss, mut open) = (Vec::new(), (usize::MAX, 0));
    let mut next_progress = Duration::from_secs(5);
    while t0.elapsed() < run_for {
        corio::sleep(Duration::from_millis(250));
        let now = t0.elapsed();
        if now >= warmup {
            rss.push(probe::rss_kib());
            let o = shared.open.get();
            open = (open.0.min(o), open.1.max(o));
        }
        if now >= next_progress {
            next_progress += Duration::from_secs(5);
            println!(
                "  {:>4.0} s  {} open, rss {:.1} MiB",
                now.as_secs_f64(),
                shared.open.get(),
                probe::rss_kib() as f64 / 1024.0
            );
        }
    }
    shared.stop.set(true);
    let elapsed = t0.elapsed();

    let drained = corio::wait_for(DRAIN_LIMIT, || {
        while slots.iter().any(|t| !t.is_done()) {
            corio::sleep(Duration::from_millis(20));
        }
    });
    if drained.is_err() {
        let mut stuck: Vec<_> = corio::tasks()
            .iter()
            .map(|t| format!("{} ({})", t.name, t.waiting_on))
            .collect();
        stuck.truncate(10);
        shared.fail_with(format!(
            "slots still running {DRAIN_LIMIT:?} after the end: {}",
            stuck.join(", ")
        ));
        for t in &slots {
            t.cancel();
        }
    }
    let mut counts = Counts::default();
    for t in slots {
        match t.join() {
            Ok(c) => counts.add(&c),
            Err(e) => shared.fail_with(format!("a client slot ended with {e}")),
        }
    }
    link.commands
        .put(Command::Quiesce)
        .expect("the server listens");
    let server_end = link.figures.get().expect("the server reports");
    corio::sleep(Duration::from_millis(20)); // an idle moment: excess stacks are unmapped
    let end = Quiet::here();
    link.commands
        .put(Command::Stop)
        .expect("the server listens");
    Report {
        elapsed,
        warmup,
        counts,
        failures: shared.failures.take(),
        failure_count: shared.failure_count.get(),
        client: (start, end),
        server: (sv, server_end),
        rss,
        open,
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Prints the figures and the checks; `true` if every check passed.
fn summary(r: &Report, fds_outside: (usize, usize)) -> bool {
    let c = &r.counts;
    let (cs, ce) = r.client;
    let (ss, se) = r.server;
    println!("soak summary ({:.1} s of traffic)", r.elapsed.as_secs_f64());
    println!(
        "  traffic       {} connections ({} ran to their end), {} messages, {:.1} MiB echoed whole",
        c.connections,
        c.completed,
        c.messages,
        mib(c.bytes_whole)
    );
    println!(
        "  sizes         {} B to {} B; {} large (over 64 KiB)",
        c.min_size, c.max_size, c.large
    );
    println!(
        "  faults        resets {}, client timeouts {}, server cancels seen {} (of {} made), slow readers {}",
        c.resets, c.timeouts, c.server_cancels, se.cancels, c.slow
    );
    println!(
        "  open          {} to {} connections after warm-up",
        if r.open.0 == usize::MAX { 0 } else { r.open.0 },
        r.open.1
    );
    let mut all_ok = true;
    let mut check = |name: &str, ok: bool, text: String| {
        all_ok &= ok;
        println!(
            "  check {name:<8} {text}  {}",
            if ok { "ok" } else { "FAILED" }
        );
    };

    check(
        "echo",
        r.failure_count == 0,
        format!(
            "{} failures; bytes checked: {:.1} MiB whole, {:.1} MiB of cut prefixes",
            r.failure_count,
            mib(c.bytes_whole),
            mib(c.bytes_prefix)
        ),
    );
    check(
        "fds",
        ce.fds == cs.fds && fds_outside.0 == fds_outside.1,
        format!(
            "start {}, end {} (before/after both loops: {} -> {})",
            cs.fds, ce.fds, fds_outside.0, fds_outside.1
        ),
    );
    check(
        "tasks",
        ce.tasks == cs.tasks && se.tasks == ss.tasks && se.active_connections == 0,
        format!(
            "client {} -> {}, server {} -> {} ({} handlers left)",
            cs.tasks, ce.tasks, ss.tasks, se.tasks, se.active_connections
        ),
    );
    let bound = DEFAULT_MAX_POOLED_STACKS + DEFAULT_MAX_POOLED_STACKS / 4;
    let stacks_ok = |a: StackStats, b: StackStats| {
        a.in_use == b.in_use && b.pooled <= bound && b.awaiting_unmap == 0
    };
    check(
        "stacks",
        stacks_ok(cs.stacks, ce.stacks) && stacks_ok(ss.stacks, se.stacks),
        format!(
            "in use: client {} -> {}, server {} -> {}; pooled: client {} -> {}, server {} -> {} \
             (bound {bound}); awaiting unmap {}/{}",
            cs.stacks.in_use,
            ce.stacks.in_use,
            ss.stacks.in_use,
            se.stacks.in_use,
            cs.stacks.pooled,
            ce.stacks.pooled,
            ss.stacks.pooled,
            se.stacks.pooled,
            ce.stacks.awaiting_unmap,
            se.stacks.awaiting_unmap
        ),
    );
    // Flat: the mean of the second half of the samples is within RSS_SLACK of the first
    // half's. Single samples swing with the large messages in flight at that moment.
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64 / 1024.0;
    let (first, second) = r.rss.split_at(r.rss.len() / 2);
    let (m1, m2) = (mean(first), mean(second));
    let growth = if m1 > 0.0 { m2 / m1 - 1.0 } else { 0.0 };
    let (min, max) = (
        r.rss.iter().min().copied().unwrap_or(0) as f64 / 1024.0,
        r.rss.iter().max().copied().unwrap_or(0) as f64 / 1024.0,
    );
    check(
        "rss",
        r.rss.len() >= 2 && growth <= RSS_SLACK,
        format!(
            "after {:.0} s warm-up, mean {m1:.1} MiB then {m2:.1} MiB ({:+.1} %), \
             min {min:.1}, max {max:.1} ({} samples)",
            r.warmup.as_secs_f64(),
            growth * 100.0,
            r.rss.len()
        ),
    );
    for f in &r.failures {
        println!("  failure: {f}");
    }
    println!("soak: {}", if all_ok { "PASS" } else { "FAIL" });
    all_ok
}
