//! Spawning and waiting for children: corio's `subprocess` against tokio's `process`, in one
//! process.
//!
//! ```text
//! cargo bench --bench subprocess
//! ```
//!
//! Case `subprocess_spawn_wait_tokio`: 1,000 children of `true` (stdio to `/dev/null`), 50 at
//! a time: 50 tasks each spawn a child and wait for its exit, 20 times in a row. corio waits
//! on a pidfd in its reactor; tokio's current-thread runtime (I/O and signal drivers on) waits
//! its own way. Runs alternate between the two, the best of each counts; the table shows wall
//! and process CPU time per child, then `ratio subprocess_spawn_wait_tokio <corio wall / tokio
//! wall>` and the same for CPU (`_cpu`). Case `subprocess_spawn_wait_serial_tokio`: the same
//! with one task spawning 200 children one after another, so each spawn's own latency shows
//! (corio's includes the hop to an executor thread and back). Without `--bench` (as under
//! `cargo test --all-targets`) a smoke pass of a few children prints `smoke ...` lines
//! instead.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{measuring, process_cpu, result_line, tokio_task};

#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn timed(f: impl FnOnce()) -> Sample {
    let (t0, c0) = (Instant::now(), process_cpu());
    f();
    Sample {
        wall: t0.elapsed(),
        cpu: process_cpu() - c0,
    }
}

/// `workers` tasks, each spawning and waiting for `true` `each` times.
fn corio_side(workers: usize, each: usize) -> Sample {
    corio::run(move || {
        timed(|| {
            let tasks: Vec<_> = (0..workers)
                .map(|_| {
                    corio::spawn(move || {
                        for _ in 0..each {
                            let child = corio::subprocess::Command::new("true")
                                .stdin(std::process::Stdio::null())
                                .stdout(std::process::Stdio::null())
                                .spawn()
                                .expect("spawn true");
                            assert!(child.wait().unwrap().success());
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.join().unwrap();
            }
        })
    })
}

fn tokio_side(workers: usize, each: usize) -> Sample {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio_task(&rt, async move {
        let t0 = (Instant::now(), process_cpu());
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                tokio::spawn(async move {
                    for _ in 0..each {
                        let status = tokio::process::Command::new("true")
                            .stdin(std::process::Stdio::null())
                            .stdout(std::process::Stdio::null())
                            .status()
                            .await
                            .expect("spawn true");
                        assert!(status.success());
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Sample {
            wall: t0.0.elapsed(),
            cpu: process_cpu() - t0.1,
        }
    })
}

/// One case: `workers` tasks spawning `each` children one after another, in `runs` rounds
/// alternating the two sides; the best round of each.
fn measure(runs: usize, workers: usize, each: usize) -> (Sample, Sample) {
    let worst = Sample {
        wall: Duration::MAX,
        cpu: Duration::MAX,
    };
    let (mut corio, mut tokio) = (worst, worst);
    let keep = |best: &mut Sample, s: Sample| {
        best.wall = best.wall.min(s.wall);
        best.cpu = best.cpu.min(s.cpu);
    };
    for _ in 0..runs {
        keep(&mut corio, corio_side(workers, each));
        keep(&mut tokio, tokio_side(workers, each));
    }
    (corio, tokio)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = measuring(&args);
    let (runs, workers, each, serial) = if full { (7, 50, 20, 200) } else { (1, 5, 4, 5) };
    // Warm up: page cache for `true`, allocator, tokio's driver.
    corio_side(workers.min(10), 2);
    tokio_side(workers.min(10), 2);
    println!(
        "{:<22} {:>12} {:>12} {:>7} {:>13} {:>13} {:>7}",
        "case", "corio µs/ch", "tokio µs/ch", "ratio", "corio cpu/ch", "tokio cpu/ch", "ratio"
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let mut lines = Vec::new();
    for (name, workers, each) in [
        ("spawn_wait", workers, each),
        ("spawn_wait_serial", 1, serial),
    ] {
        let (corio, tokio) = measure(runs, workers, each);
        let children = (workers * each) as f64;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / children;
        println!(
            "{:<22} {:>12.1} {:>12.1} {:>7.3} {:>13.1} {:>13.1} {:>7.3}  ({} children of `true`, {} at a time)",
            name,
            per(corio.wall),
            per(tokio.wall),
            ratio(corio.wall, tokio.wall),
            per(corio.cpu),
            per(tokio.cpu),
            ratio(corio.cpu, tokio.cpu),
            workers * each,
            workers
        );
        let case = format!("sub{}_tokio", name.replacen("spawn", "process_spawn", 1));
        lines.push(result_line(full, &case, ratio(corio.wall, tokio.wall)));
        lines.push(result_line(
            full,
            &format!("{case}_cpu"),
            ratio(corio.cpu, tokio.cpu),
        ));
    }
    for l in lines {
        println!("{l}");
    }
    if !full {
        println!("(smoke pass only, not a measurement; run `cargo bench --bench subprocess`)");
    }
}
