//! A generator's stack overflow is reported like a task's: a message naming the generator and
//! its stack size, then an abort, never a bare SIGSEGV. The overflow runs in a child process
//! (the test binary re-runs itself with an environment variable set).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

use corio::Generator;

fn child(name: &str, key: &str) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(key, "1")
        .output()
        .expect("the test binary can run itself")
}

fn overflowing() -> Generator<u64> {
    Generator::with_stack_size(64 * 1024, |co| {
        co.yield_(1);
        co.yield_(common::recurse(0, &mut [0u8; 512]));
    })
}

fn assert_reported(out: &Output) {
    assert_reported_size(out, 64 * 1024);
}

fn assert_reported_size(out: &Output, size: usize) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "aborted, not a bare SIGSEGV: {err}"
    );
    assert!(
        err.contains(&format!(
            "a generator overflowed its coroutine stack of {size} bytes"
        )),
        "names the generator and its size: {err}"
    );
    assert!(err.contains("with_stack_size"), "says how to fix it: {err}");
}

/// Runs a generator to its end, then one that overflows the default-size stack the first
/// left for it.
fn overflow_on_the_stack_a_finished_generator_left() -> ! {
    let first: Generator<u64> = Generator::new(|co| co.yield_(1));
    assert_eq!(first.count(), 1);
    let second: Generator<u64> = Generator::new(|co| {
        co.yield_(common::recurse(0, &mut [0u8; 512]));
    });
    let _ = second.count();
    unreachable!("the overflow aborts the process");
}

#[test]
fn generator_stack_overflow_outside_a_loop_is_reported_then_aborts() {
    const KEY: &str = "CORIO_CHILD_GEN_OVERFLOW";
    if std::env::var_os(KEY).is_some() {
        let _ = overflowing().count();
        unreachable!("the overflow aborts the process");
    }
    assert_reported(&child(
        "generator_stack_overflow_outside_a_loop_is_reported_then_aborts",
        KEY,
    ));
}

#[test]
fn generator_stack_overflow_inside_a_task_is_reported_then_aborts() {
    const KEY: &str = "CORIO_CHILD_GEN_TASK_OVERFLOW";
    if std::env::var_os(KEY).is_some() {
        corio::run(|| {
            let t = corio::spawn(|| overflowing().count());
            let _ = t.join();
        });
        unreachable!("the overflow aborts the process");
    }
    assert_reported(&child(
        "generator_stack_overflow_inside_a_task_is_reported_then_aborts",
        KEY,
    ));
}

#[test]
fn generator_stack_overflow_on_the_stack_a_finished_generator_left_is_reported_then_aborts() {
    // A default-size stack outside a loop waits for the next generator with its bookkeeping in
    // place; the overflow handler must still know it as a generator's.
    const KEY: &str = "CORIO_CHILD_GEN_SPARE_OVERFLOW";
    if std::env::var_os(KEY).is_some() {
        overflow_on_the_stack_a_finished_generator_left();
    }
    assert_reported_size(
        &child(
            "generator_stack_overflow_on_the_stack_a_finished_generator_left_is_reported_then_aborts",
            KEY,
        ),
        corio::runtime::DEFAULT_STACK_SIZE,
    );
}

#[test]
fn generator_stack_overflow_on_the_loops_spare_stack_is_reported_then_aborts() {
    // Inside a loop the stack a finished generator left waits in the loop's spare slot, its
    // bookkeeping in place: the next generator's overflow is still reported as a generator's.
    const KEY: &str = "CORIO_CHILD_GEN_LOOP_SPARE_OVERFLOW";
    if std::env::var_os(KEY).is_some() {
        corio::run(overflow_on_the_stack_a_finished_generator_left);
    }
    assert_reported_size(
        &child(
            "generator_stack_overflow_on_the_loops_spare_stack_is_reported_then_aborts",
            KEY,
        ),
        corio::runtime::DEFAULT_STACK_SIZE,
    );
}
