//! `corio::subprocess`: children with their pipes as streams, waited for over a pidfd.

use std::time::Duration;

use corio::subprocess::{Command, Stdio, create_subprocess_exec, create_subprocess_shell};

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_stdin_stdout_pipe (scaled up to 10 MB)
#[test]
fn ten_megabytes_through_cat_both_ways_at_once_without_deadlock() {
    const TOTAL: usize = 10 * 1024 * 1024;
    corio::run(|| {
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = cat.stdin.take().unwrap();
        let writer = corio::spawn(move || {
            let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
            for _ in 0..TOTAL / chunk.len() {
                stdin.write(&chunk);
                stdin.drain().unwrap();
            }
            stdin.close().unwrap();
        });
        let mut stdout = cat.stdout.take().unwrap();
        let mut got = 0usize;
        let mut pos = 0usize;
        loop {
            let data = stdout.read(256 * 1024).unwrap();
            if data.is_empty() {
                break;
            }
            for b in data {
                assert_eq!(b, ((pos % (64 * 1024)) % 251) as u8, "byte {pos}");
                pos += 1;
            }
            got = pos;
        }
        writer.join().unwrap();
        assert_eq!(got, TOTAL);
        assert!(cat.wait().unwrap().success());
    });
}

#[test]
fn two_hundred_concurrent_children_all_exit() {
    corio::run(|| {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                corio::spawn(|| {
                    let p = Command::new("true").spawn().unwrap();
                    p.wait().unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert!(t.join().unwrap().success());
        }
    });
}

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_kill
#[test]
fn a_child_killed_by_a_signal_has_a_negative_returncode() {
    corio::run(|| {
        let p = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(p.returncode(), None);
        p.kill().unwrap();
        let status = p.wait().unwrap();
        assert!(!status.success());
        assert_eq!(p.returncode(), Some(-libc::SIGKILL));
        p.kill().unwrap(); // reaped already: nothing happens
    });
}

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_terminate
#[test]
fn terminate_sends_sigterm() {
    corio::run(|| {
        let p = Command::new("sleep").arg("30").spawn().unwrap();
        p.terminate().unwrap();
        p.wait().unwrap();
        assert_eq!(p.returncode(), Some(-libc::SIGTERM));
    });
}

#[test]
fn a_missing_program_gives_an_error_that_names_it() {
    corio::run(|| {
        let e = Command::new("corio-no-such-program").spawn().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(e.to_string().contains("corio-no-such-program"), "{e}");
    });
}

#[test]
fn spawn_outside_a_loop_is_an_error() {
    let e = Command::new("true").spawn().unwrap_err();
    assert!(e.to_string().contains("event loop"), "{e}");
}

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_cancel_process_wait
#[test]
fn cancelled_wait_leaves_the_child_running_and_waitable() {
    corio::run(|| {
        let p = std::rc::Rc::new(Command::new("sleep").arg("0.2").spawn().unwrap());
        let p2 = p.clone();
        let waiter = corio::spawn(move || p2.wait().map(|s| s.success()));
        corio::sleep(Duration::from_millis(10));
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled());
        assert_eq!(p.returncode(), None, "the child still runs");
        assert!(p.wait().unwrap().success());
        assert_eq!(p.returncode(), Some(0));
    });
}

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_communicate
#[test]
fn communicate_feeds_stdin_and_collects_both_outputs() {
    corio::run(|| {
        let mut p = create_subprocess_shell("cat; echo oops >&2; exit 3").unwrap();
        let out = p.communicate(Some(b"some input")).unwrap();
        assert_eq!(out.stdout, b"some input");
        assert_eq!(out.stderr, b"oops\n");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(p.returncode(), Some(3));
    });
}

#[test]
fn communicate_with_large_output_on_both_pipes() {
    corio::run(|| {
        // 1 MB on stderr first: a reader of stdout alone would deadlock with the child.
        let mut p =
            create_subprocess_shell("head -c 1000000 /dev/zero >&2; head -c 1000000 /dev/zero")
                .unwrap();
        let out = p.communicate(None).unwrap();
        assert_eq!(out.stderr.len(), 1_000_000);
        assert_eq!(out.stdout.len(), 1_000_000);
        assert!(out.status.success());
    });
}

#[test]
fn exec_reads_lines_from_stdout() {
    corio::run(|| {
        let mut p = create_subprocess_exec("printf", ["a\\nb\\n"]).unwrap();
        let out = p.stdout.as_mut().unwrap();
        assert_eq!(out.readline().unwrap(), b"a\n");
        assert_eq!(out.readline().unwrap(), b"b\n");
        assert_eq!(out.readline().unwrap(), b"");
        assert!(p.wait().unwrap().success());
    });
}

#[test]
fn a_dropped_process_is_reaped_when_it_exits() {
    let pid = corio::run(|| {
        let p = Command::new("sleep").arg("0.05").spawn().unwrap();
        p.pid()
    });
    // The reaper thread reaps it: /proc/PID disappears (a zombie would stay).
    for _ in 0..500 {
        if std::fs::metadata(format!("/proc/{pid}")).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    panic!("child {pid} was never reaped (a zombie if its state is Z): {stat}");
}

#[test]
fn writing_to_a_child_that_closed_stdin_is_an_error_not_a_crash() {
    corio::run(|| {
        let mut p = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
        p.wait().unwrap();
        let stdin = p.stdin.take().unwrap();
        // Another test's child, forked in the instant between our pipe's creation and its
        // exec, may hold the read end a moment longer: write until the error shows.
        let mut error = None;
        for _ in 0..5_000 {
            stdin.write(&[0u8; 4096]);
            if let Err(e) = stdin.drain() {
                error = Some(e);
                break;
            }
            corio::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            error.expect("a write error").kind(),
            std::io::ErrorKind::BrokenPipe
        );
    });
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if std::fs::metadata(format!("/proc/{pid}")).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn orphans_are_reaped_each_when_it_exits() {
    let (long, short) = corio::run(|| {
        let long = Command::new("sleep").arg("30").spawn().unwrap().pid();
        // The reaper now sleeps on the first orphan; a second one must still be seen.
        std::thread::sleep(Duration::from_millis(20));
        let short = Command::new("sleep").arg("0.05").spawn().unwrap().pid();
        (long, short)
    });
    assert!(
        gone_within(short, Duration::from_secs(5)),
        "{short} not reaped"
    );
    assert!(
        std::fs::metadata(format!("/proc/{long}")).is_ok(),
        "still running"
    );
    // SAFETY: kill(2) on our own child, which the reaper has not reaped (it still runs).
    unsafe { libc::kill(long as i32, libc::SIGKILL) };
    assert!(
        gone_within(long, Duration::from_secs(5)),
        "{long} not reaped"
    );
}
