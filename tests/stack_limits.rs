//! Coroutine stacks at their limits: overflow reports, mapping failures and 100k parked
//! coroutines. The destructive cases run in a child process (the test binary re-runs itself
//! with an environment variable set).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

fn child(name: &str, key: &str, extra_env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(key, "1");
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.output().expect("the test binary can run itself")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn stack_overflow_names_the_task_and_its_stack_size_then_aborts() {
    const KEY: &str = "CORIO_CHILD_OVERFLOW";
    if std::env::var_os(KEY).is_some() {
        corio::run(|| {
            let t = corio::Builder::new()
                .name("deep-recursion")
                .stack_size(64 * 1024)
                .spawn(|| common::recurse(0, &mut [0u8; 512]))
                .unwrap();
            let _ = t.join();
        });
        unreachable!("the overflow aborts the process");
    }
    let out = child(
        "stack_overflow_names_the_task_and_its_stack_size_then_aborts",
        KEY,
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "aborted, not a bare SIGSEGV: {err}"
    );
    assert!(
        err.contains("task 'deep-recursion'"),
        "names the task: {err}"
    );
    assert!(
        err.contains("overflowed its coroutine stack of 65536 bytes"),
        "names the size: {err}"
    );
    assert!(err.contains("stack_size"), "says how to fix it: {err}");
}

#[test]
fn stack_overflow_of_an_unnamed_task_uses_its_id() {
    const KEY: &str = "CORIO_CHILD_OVERFLOW_UNNAMED";
    if std::env::var_os(KEY).is_some() {
        corio::run(|| {
            let t = corio::Builder::new()
                .stack_size(32 * 1024)
                .spawn(|| common::recurse(0, &mut [0u8; 512]))
                .unwrap();
            let _ = t.join();
        });
        unreachable!("the overflow aborts the process");
    }
    let out = child("stack_overflow_of_an_unnamed_task_uses_its_id", KEY, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    assert!(
        err.contains("overflowed its coroutine stack of 32768 bytes"),
        "{err}"
    );
    assert!(err.contains("(id "), "{err}");
}

/// Writes one byte `below` bytes under the current stack pointer, the way code without stack
/// probes (C through FFI, say) touches the far end of a frame of that size first.
#[inline(never)]
fn touch_below_the_stack_pointer(below: usize) {
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let target = sp - below;
    eprintln!("writing {below} bytes below the stack pointer, at {target:#x}");
    // SAFETY: none; this is the fault under test. It writes past the end of the coroutine's
    // stack as a frame of `below` bytes would, in a child process that exists to crash: the
    // byte must land in the guard (and be reported), not in a neighbouring stack.
    unsafe { std::ptr::write_volatile(target as *mut u8, 0xAA) };
}

/// In a child: a 16 KiB-stack task (`overflowing`) and a neighbour parked next to it; the
/// first makes a frame of `frame` bytes without probing it. Aborts with the overflow report
/// if the guard catches it.
fn big_frame_next_to_a_live_neighbour(builder: corio::runtime::EventLoopBuilder, frame: usize) {
    builder.run(move || {
        let gate: corio::Future<()> = corio::Future::new();
        let size = 16 * 1024;
        let overflowing = corio::Builder::new()
            .name("big-frame")
            .stack_size(size)
            .spawn(move || {
                corio::yield_now(); // the neighbour runs first and parks
                touch_below_the_stack_pointer(frame);
            })
            .unwrap();
        // Mapped right after, so usually just below the first stack: the memory a write past
        // a too-small guard would land in.
        let g = gate.clone();
        let neighbour = corio::Builder::new()
            .name("neighbour")
            .stack_size(size)
            .spawn(move || g.wait_done())
            .unwrap();
        let _ = overflowing.join();
        gate.set_result(()).unwrap();
        neighbour.join().unwrap();
        println!("the write went unreported");
    });
}

#[test]
fn a_32_kib_frame_past_the_stack_end_is_reported_not_written_into_a_neighbour() {
    const KEY: &str = "CORIO_CHILD_BIG_FRAME";
    if std::env::var_os(KEY).is_some() {
        big_frame_next_to_a_live_neighbour(corio::EventLoop::builder(), 32 * 1024);
        return;
    }
    let out = child(
        "a_32_kib_frame_past_the_stack_end_is_reported_not_written_into_a_neighbour",
        KEY,
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the guard caught the write: {err}\n{}",
        text(&out.stdout)
    );
    assert!(
        err.contains("task 'big-frame'") && err.contains("stack of 16384 bytes"),
        "{err}"
    );
}

#[test]
fn a_32_kib_frame_past_the_stack_end_is_reported_with_mprotect_guards_too() {
    const KEY: &str = "CORIO_CHILD_BIG_FRAME_MPROTECT";
    if std::env::var_os(KEY).is_some() {
        assert!(
            !corio::runtime::stack_guard_uses_madvise(),
            "the fallback is forced"
        );
        big_frame_next_to_a_live_neighbour(corio::EventLoop::builder(), 32 * 1024);
        return;
    }
    let out = child(
        "a_32_kib_frame_past_the_stack_end_is_reported_with_mprotect_guards_too",
        KEY,
        &[("CORIO_STACK_GUARD", "mprotect")],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    assert!(err.contains("task 'big-frame'"), "{err}");
}

#[test]
fn the_stack_guard_size_is_configurable_per_loop() {
    const KEY: &str = "CORIO_CHILD_BIG_GUARD";
    if std::env::var_os(KEY).is_some() {
        let builder = corio::EventLoop::builder().stack_guard_size(256 * 1024);
        big_frame_next_to_a_live_neighbour(builder, 200 * 1024);
        return;
    }
    let out = child("the_stack_guard_size_is_configurable_per_loop", KEY, &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    assert!(err.contains("task 'big-frame'"), "{err}");
}

#[test]
fn a_segfault_outside_any_guard_page_is_not_reported_as_an_overflow() {
    const KEY: &str = "CORIO_CHILD_SEGV";
    if std::env::var_os(KEY).is_some() {
        corio::run(|| {
            let t = corio::spawn(|| {
                // SAFETY: deliberately invalid; this child process exists to crash here.
                unsafe { std::ptr::write_volatile(16usize as *mut u64, 1) };
            });
            let _ = t.join();
        });
        unreachable!("the fault kills the process");
    }
    let out = child(
        "a_segfault_outside_any_guard_page_is_not_reported_as_an_overflow",
        KEY,
        &[],
    );
    let err = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGSEGV),
        "the default action runs: {err}"
    );
    assert!(!err.contains("overflowed"), "{err}");
}

/// Spawns tasks parked on one future until `Builder::spawn` fails, checks the error, then
/// lets them all finish and spawns again: the loop survived.
fn spawn_until_stacks_run_out(expect_in_message: &'static [&'static str]) {
    corio::run(move || {
        let gate: corio::Future<()> = corio::Future::new();
        let mut tasks = Vec::new();
        let err = loop {
            let g = gate.clone();
            match corio::Builder::new().spawn(move || g.wait_done()) {
                Ok(t) => tasks.push(t),
                Err(e) => break e,
            }
            assert!(tasks.len() < 2_000_000, "stacks never ran out");
        };
        let msg = err.to_string();
        println!("failed after {} stacks: {msg}", tasks.len());
        assert!(matches!(err, corio::SpawnError::Stack { .. }), "{msg}");
        assert!(msg.contains("could not map"), "{msg}");
        for what in expect_in_message {
            assert!(msg.contains(what), "the message says {what:?}: {msg}");
        }
        gate.set_result(()).unwrap();
        let n = tasks.len();
        for t in tasks {
            t.join().unwrap();
        }
        // Stacks went back to the pool (or were unmapped): spawning works again.
        assert_eq!(corio::spawn(|| 7).join().unwrap(), 7);
        assert!(n > 0);
    });
}

#[test]
fn out_of_address_space_gives_a_spawn_error_and_the_loop_goes_on() {
    const KEY: &str = "CORIO_CHILD_RLIMIT_AS";
    if std::env::var_os(KEY).is_some() {
        // Leave 1 GiB of address space beyond what the process uses now.
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        let limit = pages * 4096 + (1 << 30);
        let rl = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: setrlimit with a valid struct; lowers this child's own limit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rl) }, 0);
        // What ran out, and how to raise the limit.
        spawn_until_stacks_run_out(&["address space", "ulimit -v", "sysctl -w vm.max_map_count"]);
        return;
    }
    let out = child(
        "out_of_address_space_gives_a_spawn_error_and_the_loop_goes_on",
        KEY,
        &[],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("1 passed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn mprotect_guards_stop_near_the_map_count_with_a_clear_error() {
    // Without MADV_GUARD_INSTALL each stack costs two memory maps, so the default
    // vm.max_map_count (65530) stops a loop near 32k coroutines: the error must say so.
    const KEY: &str = "CORIO_CHILD_MAP_COUNT";
    if std::env::var_os(KEY).is_some() {
        assert!(
            !corio::runtime::stack_guard_uses_madvise(),
            "the fallback is forced"
        );
        spawn_until_stacks_run_out(&["memory maps", "sysctl -w vm.max_map_count"]);
        return;
    }
    let max_maps: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if max_maps == 0 || max_maps > 200_000 {
        return common::skip(&format!(
            "vm.max_map_count is {max_maps} (0: unreadable), out of the range this test can \
             reach (1..=200000); set the default: sysctl -w vm.max_map_count=65530"
        ));
    }
    let out = child(
        "mprotect_guards_stop_near_the_map_count_with_a_clear_error",
        KEY,
        &[("CORIO_STACK_GUARD", "mprotect")],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("1 passed"), "{stdout}");
    let n: u64 = stdout
        .split("failed after ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("the child reports how many stacks it mapped");
    assert!(
        n > max_maps / 4 && n < max_maps / 2 + 1000,
        "stopped at {n} stacks, near half of {max_maps}"
    );
}

#[test]
fn a_hundred_thousand_parked_coroutines_fit_in_the_default_map_count() {
    if !corio::runtime::stack_guard_uses_madvise() {
        return common::skip(
            "this kernel has no MADV_GUARD_INSTALL, so each guarded stack costs two memory \
             maps and vm.max_map_count caps a loop near 32k coroutines; run on Linux 6.13 or \
             later",
        );
    }
    const N: usize = 100_000;
    let parked = corio::run(|| {
        let gate: corio::Future<()> = corio::Future::new();
        let tasks: Vec<_> = (0..N)
            .map(|_| {
                let g = gate.clone();
                corio::spawn(move || g.wait_done())
            })
            .collect();
        corio::yield_now(); // every task runs once and parks
        let parked = corio::task::tasks()
            .iter()
            .filter(|t| t.waiting_on == "future")
            .count();
        gate.set_result(()).unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        parked
    });
    assert_eq!(parked, N);
}

#[test]
fn finished_coroutines_give_their_stacks_back_to_the_pool() {
    let lp = corio::EventLoop::builder()
        .max_pooled_stacks(8)
        .build()
        .unwrap();
    lp.run_until_complete(|| {
        let tasks: Vec<_> = (0..20).map(|i| corio::spawn(move || i)).collect();
        for t in tasks {
            t.join().unwrap();
        }
    })
    .unwrap();
    assert_eq!(
        lp.pooled_stacks(),
        8,
        "bounded pool keeps 8 of the 20 (+ main's) stacks"
    );
    lp.run_until_complete(|| {
        for i in 0..1000 {
            assert_eq!(corio::spawn(move || i).join().unwrap(), i);
        }
    })
    .unwrap();
    assert_eq!(lp.pooled_stacks(), 8, "steady state reuses pooled stacks");
}

#[test]
fn every_stack_lent_to_a_task_comes_back_also_when_the_loop_closes() {
    let lp = corio::EventLoop::builder()
        .max_pooled_stacks(64)
        .build()
        .unwrap();
    assert_eq!(lp.stack_stats(), corio::runtime::StackStats::default());
    let during = lp
        .run_until_complete(|| {
            for _ in 0..5 {
                corio::spawn(|| corio::sleep(std::time::Duration::from_secs(3600)));
            }
            let cancelled = corio::spawn(|| corio::sleep(std::time::Duration::from_secs(3600)));
            corio::yield_now(); // the six park in `sleep`
            cancelled.cancel();
            assert!(cancelled.join().is_err());
            let during = corio::get_running_loop().stack_stats();
            corio::spawn(|| ()); // never started: the loop stops first
            during
        })
        .unwrap();
    assert_eq!(
        during.in_use, 6,
        "main and five sleepers; the cancelled one gave its back"
    );
    assert_eq!(
        lp.stack_stats().in_use,
        6,
        "main's is back, the unstarted task holds one"
    );
    lp.close().unwrap(); // unwinds the sleepers, drops the unstarted closure
    let after = lp.stack_stats();
    assert_eq!(after.in_use, 0, "{after:?}");
    // Seven stacks were mapped: the unstarted task reused the cancelled one's.
    assert_eq!(after.pooled, 7, "{after:?}");
}

#[test]
fn default_stack_size_is_documented_and_configurable_per_loop() {
    assert_eq!(
        corio::EventLoop::new().unwrap().default_stack_size(),
        corio::runtime::DEFAULT_STACK_SIZE
    );
    let lp = corio::EventLoop::builder()
        .stack_size(200 * 1024)
        .build()
        .unwrap();
    assert_eq!(lp.default_stack_size(), 200 * 1024);
    let sizes = lp
        .run_until_complete(|| {
            let t = corio::Builder::new()
                .name("big")
                .stack_size(3 << 20)
                .spawn(|| corio::sleep(std::time::Duration::from_secs(60)))
                .unwrap();
            corio::yield_now();
            let info = corio::task::tasks();
            t.cancel();
            info.iter()
                .map(|i| (i.name.clone(), i.stack_size))
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert!(
        sizes.contains(&("main".to_string(), 200 * 1024)),
        "{sizes:?}"
    );
    assert!(sizes.contains(&("big".to_string(), 3 << 20)), "{sizes:?}");
}

#[test]
fn stacks_a_burst_leaves_over_the_bound_are_released_when_idle_and_reused_by_the_next_burst() {
    let lp = corio::EventLoop::builder()
        .max_pooled_stacks(8)
        .build()
        .unwrap();
    let burst = || {
        let gate: corio::Future<()> = corio::Future::new();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let g = gate.clone();
                corio::spawn(move || g.wait_done())
            })
            .collect();
        corio::yield_now(); // all 100 hold a stack at once
        let during = corio::get_running_loop().stack_stats();
        gate.set_result(()).unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        // Sleeping makes the loop idle: the stacks over the bound give their memory back.
        corio::sleep(std::time::Duration::from_millis(1));
        during
    };
    let during = lp.run_until_complete(burst).unwrap();
    assert_eq!(during.in_use, 101, "{during:?}");
    let after = lp.stack_stats();
    assert_eq!(after.in_use, 0, "{after:?}");
    assert_eq!(after.pooled, 8, "{after:?}");
    // Given back at the idle moment; only the main task's stack, back after it, waits for
    // the next one.
    assert_eq!(after.awaiting_unmap, 1, "{after:?}");
    assert!(after.released >= 92, "{after:?}");
    let mapped = after.pooled + after.awaiting_unmap + after.released;
    assert!(
        mapped >= 101,
        "every stack of the burst still mapped: {after:?}"
    );
    // The next burst maps nothing new: it takes the pooled stacks, then the released ones.
    let during = lp.run_until_complete(burst).unwrap();
    let total = during.in_use + during.pooled + during.awaiting_unmap + during.released;
    assert_eq!(total, mapped, "no stack mapped anew: {during:?}");
    lp.close().unwrap();
}
