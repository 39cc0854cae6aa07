//! `Command::spawn` starts the child off the loop's thread: the loop's other tasks run while
//! the kernel forks and execs, a cancelled spawn leaves no child behind, and a spawn from a
//! loop callback (which cannot park) still works. Only the cancellation test starts `sleep`
//! children, since it looks for them among the process's children.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::subprocess::{Command, Stdio};

/// Counts how often it ran until `stop` is set.
fn ticker(count: Rc<Cell<u64>>, stop: Rc<Cell<bool>>) -> corio::Task<()> {
    corio::spawn(move || {
        while !stop.get() {
            count.set(count.get() + 1);
            corio::yield_now();
        }
    })
}

#[test]
fn other_tasks_run_while_a_spawn_is_in_progress() {
    corio::run(|| {
        let (count, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
        let t = ticker(count.clone(), stop.clone());
        corio::yield_now();
        for _ in 0..5 {
            let before = count.get();
            let p = Command::new("true").stdin(Stdio::null()).spawn().unwrap();
            // A spawn that held the loop's thread would let no other task run meanwhile.
            assert!(count.get() > before, "the ticker ran during the spawn");
            assert!(p.wait().unwrap().success());
        }
        stop.set(true);
        t.join().unwrap();
    });
}

#[test]
fn a_missing_program_fails_clearly_while_other_tasks_run() {
    corio::run(|| {
        let (count, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
        let t = ticker(count.clone(), stop.clone());
        corio::yield_now();
        let before = count.get();
        let mut cmd = Command::new("corio-no-such-program");
        let e = cmd.spawn().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(
            e.to_string()
                .contains("cannot run \"corio-no-such-program\""),
            "{e}"
        );
        assert!(count.get() > before, "the ticker ran during the spawn");
        // The command is still usable: the same error again, not a lost builder.
        assert_eq!(cmd.spawn().unwrap_err().kind(), e.kind());
        stop.set(true);
        t.join().unwrap();
    });
}

#[test]
fn a_spawn_from_a_loop_callback_starts_the_child() {
    corio::run(|| {
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        corio::runtime::call_soon(move || {
            *g.borrow_mut() = Some(Command::new("true").spawn());
        });
        while got.borrow().is_none() {
            corio::yield_now();
        }
        let p = got.borrow_mut().take().unwrap().unwrap();
        assert!(p.wait().unwrap().success());
    });
}

/// This process's children named `comm`, any state (a zombie included), as
/// `(pid, state)`.
fn children_named(comm: &str) -> Vec<(i32, char)> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let mut rest = stat[close + 1..].split_whitespace();
        let (Some(state), Some(ppid)) = (rest.next(), rest.next()) else {
            continue;
        };
        if ppid.parse() == Ok(me) && &stat[open + 1..close] == comm {
            let pid = stat[..open].trim().parse().unwrap_or(0);
            found.push((pid, state.chars().next().unwrap_or('?')));
        }
    }
    found
}

// cpython: test_asyncio.test_subprocess.SubprocessMixin.test_cancel_make_subprocess_transport_exec
#[test]
fn a_task_cancelled_while_its_child_starts_leaves_no_child_behind() {
    corio::run(|| {
        // One executor thread: a job queued after the spawn runs after it has ended.
        let pool = corio::executor::Executor::builder().max_threads(1).build();
        corio::executor::set_default_executor(pool.clone());
        let spawner = corio::spawn(|| Command::new("sleep").arg("30").spawn().map(|p| p.pid()));
        corio::yield_now();
        assert!(spawner.cancel(), "the spawn was still in progress");
        assert!(spawner.join().unwrap_err().is_cancelled());
        pool.run(|| ()).unwrap();
        // The child was started (the job ran to its end), then killed and handed to the
        // reaper: no `sleep` child remains, running or a zombie.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = children_named("sleep");
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "children left behind: {left:?}");
            corio::sleep(Duration::from_millis(5));
        }
    });
}
