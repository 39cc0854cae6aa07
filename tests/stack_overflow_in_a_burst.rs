//! A stack overflow of a task spawned among thousands is reported like any other: its stack
//! comes from a batch of stacks mapped, guarded and populated together, and its guard stops
//! the overflow before the neighbouring stack (a parked task's frames) is written. The
//! overflow runs in a child process (the test binary re-runs itself with an environment
//! variable set).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

#[test]
fn an_overflow_on_a_stack_of_a_large_batch_is_reported_then_aborts() {
    const KEY: &str = "CORIO_CHILD_OVERFLOW_IN_A_BURST";
    const PARKED: usize = 5000;
    if std::env::var_os(KEY).is_some() {
        corio::run(|| {
            let gate: corio::Future<()> = corio::Future::new();
            for _ in 0..PARKED {
                let g = gate.clone();
                corio::spawn(move || g.wait_done());
            }
            corio::yield_now(); // all parked: the stacks below hold live frames
            let stats = corio::get_running_loop().stack_stats();
            eprintln!("stacks in use {}, pooled {}", stats.in_use, stats.pooled);
            let t = corio::Builder::new()
                .name("deep-in-a-burst")
                .spawn(|| common::recurse(0, &mut [0u8; 512]))
                .unwrap();
            let _ = t.join();
        });
        unreachable!("the overflow aborts the process");
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let name = "an_overflow_on_a_stack_of_a_large_batch_is_reported_then_aborts";
    let out = Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(KEY, "1")
        .output()
        .expect("the test binary can run itself");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("stacks in use {}, pooled ", PARKED + 1)),
        "the tasks (and the main one) parked first: {err}"
    );
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "aborted, not a bare SIGSEGV: {err}"
    );
    assert!(
        err.contains("task 'deep-in-a-burst'") && err.contains("overflowed its coroutine stack"),
        "names the task: {err}"
    );
}
