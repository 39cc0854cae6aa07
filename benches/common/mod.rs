//! What the benchmarks share: the measuring/smoke switch and its result lines, CPU clocks,
//! and the way every tokio side runs its work.

// Each benchmark uses part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::time::Duration;

/// `true` under `cargo bench` (the harness passes `--bench`): measure. `false` as under
/// `cargo test --all-targets`: a short smoke pass that only proves the cases still run.
pub fn measuring(args: &[String]) -> bool {
    args.iter().any(|a| a == "--bench")
}

/// The machine-readable result line of one case: `ratio <case> <x>` when measuring, `smoke
/// <case> <x>` for a smoke pass (debug build, a few hundred operations), whose figures must
/// never be read as a measurement.
pub fn result_line(measuring: bool, case: &str, x: f64) -> String {
    let kind = if measuring { "ratio" } else { "smoke" };
    format!("{kind} {case} {x:.3}")
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time used by the calling thread.
pub fn thread_cpu() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time used by the whole process: every thread, helper threads included.
pub fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// Runs `work` on `rt` as a spawned task and returns its output. corio's side of every
/// case is a task (`corio::run` runs its closure as one), so tokio's is one too: the future
/// passed to `block_on` is polled and woken by a different path (the driver's park/unpark).
pub fn tokio_task<F>(rt: &tokio::runtime::Runtime, work: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(work)).expect("tokio task")
}

/// Resident memory of this process, in bytes (`/proc/self/statm`; 0 where it cannot be read).
pub fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    pages * page
}

/// Runs this benchmark's own binary again with `args` (a measurement that needs a fresh
/// process) and returns what it printed; `None`, with its stderr shown, if it failed.
pub fn run_child(what: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "{what} child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
