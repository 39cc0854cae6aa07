//! `corio::tasks()` and `corio::dump_tasks()`: every live task, what it waits on, who awaits
//! it, as a tree.

use std::time::Duration;

use corio::Builder;
use corio::task::TaskState;

const HOUR: Duration = Duration::from_secs(3600);

#[track_caller]
fn named<T: 'static>(name: &str, f: impl FnOnce() -> T + 'static) -> corio::Task<T> {
    Builder::new().name(name).spawn(f).unwrap()
}

#[test]
fn dump_tasks_pins_a_gather_inside_a_task_group() {
    let tree = corio::testing::run(|| {
        let root = named("root", || {
            corio::task_group(|tg| {
                tg.spawn_with(Builder::new().name("gatherer"), || {
                    let a = named("leaf-a", || corio::sleep(HOUR));
                    let b = named("leaf-b", || corio::Event::new().wait());
                    corio::gather([a, b]).len()
                })
                .unwrap();
                tg.spawn_with(Builder::new().name("lone"), || corio::sleep(HOUR))
                    .unwrap();
            })
        });
        corio::testing::wait_all_tasks_blocked();
        let tree = corio::dump_tasks();
        root.cancel();
        let _ = root.join();
        tree
    });
    let f = file!();
    let expected = format!(
        "task 'main' (id 1, spawned at {f}:18:16) is running
task 'root' (id 2, spawned at {f}:19:20) waits for TaskGroup
  task 'gatherer' (id 3, spawned at {f}:21:20) waits for gather
    task 'leaf-a' (id 5, spawned at {f}:22:29) waits for sleep
    task 'leaf-b' (id 6, spawned at {f}:23:29) waits for Event ({f}:23:48)
  task 'lone' (id 4, spawned at {f}:27:20) waits for sleep
"
    );
    assert_eq!(tree, expected, "\n{tree}");
}

#[test]
fn tasks_say_who_awaits_whom_and_whether_the_wait_is_external() {
    corio::run(|| {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let acceptor = named("acceptor", move || drop(listener.accept()));
        let child = named("child", || corio::sleep(HOUR));
        let parent = named("parent", move || child.join());
        for _ in 0..3 {
            corio::yield_now();
        }
        let all = corio::tasks();
        let by_name = |n: &str| all.iter().find(|t| t.name == n).unwrap().clone();
        let (a, c, p) = (by_name("acceptor"), by_name("child"), by_name("parent"));
        assert_eq!(
            (a.state, a.waiting_on, a.external),
            (TaskState::Parked, "read", true)
        );
        assert_eq!((c.waiting_on, c.external), ("sleep", false));
        assert_eq!(c.awaited_by, [p.id]);
        assert_eq!((p.waiting_on, p.awaits.clone()), ("join", vec![c.id]));
        assert!(p.spawned_at.file().ends_with("task_tree.rs"));
        assert_eq!(by_name("main").state, TaskState::Running);
        acceptor.cancel();
        parent.cancel();
    });
}

#[test]
fn debug_mode_keeps_the_backtrace_of_each_park() {
    let (trace, tree) = corio::EventLoopBuilder::new().debug(true).run(|| {
        let t = named("parker", park_here_for_the_backtrace);
        corio::yield_now();
        let info = corio::tasks()
            .into_iter()
            .find(|t| t.name == "parker")
            .unwrap();
        let tree = corio::dump_tasks();
        t.cancel();
        (info.park_backtrace, tree)
    });
    let trace = trace.expect("debug mode captures a backtrace at the park");
    assert!(trace.contains("park_here_for_the_backtrace"), "{trace}");
    assert!(tree.contains("| "), "dump_tasks shows it:\n{tree}");
}

#[inline(never)]
fn park_here_for_the_backtrace() {
    corio::sleep(HOUR);
    // Work after the call keeps it from compiling to a tail jump, which would leave this
    // function out of an optimised build's backtrace.
    std::hint::black_box(());
}

#[test]
fn without_debug_mode_no_backtrace_is_taken() {
    corio::EventLoopBuilder::new().debug(false).run(|| {
        let t = named("parker", || corio::sleep(HOUR));
        corio::yield_now();
        let info = corio::tasks()
            .into_iter()
            .find(|t| t.name == "parker")
            .unwrap();
        assert!(info.park_backtrace.is_none());
        t.cancel();
    });
}
