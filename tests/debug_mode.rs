//! Debug mode: long steps are reported with the task's name; tasks() shows what each waits on.

mod common;

use std::time::Duration;

use common::{count_lines, is_child, run_child};

#[test]
fn debug_mode_reports_a_task_that_runs_long_without_parking() {
    const KEY: &str = "CORIO_CHILD_SLOW_STEP";
    if is_child(KEY) {
        corio::EventLoop::builder().debug(true).run(|| {
            let t = corio::Builder::new()
                .name("cpu-hog")
                .spawn(|| std::thread::sleep(Duration::from_millis(150)))
                .unwrap();
            t.join().unwrap();
            let quick = corio::Builder::new().name("quick").spawn(|| 1).unwrap();
            quick.join().unwrap();
        });
        return;
    }
    let out = run_child(
        "debug_mode_reports_a_task_that_runs_long_without_parking",
        KEY,
    );
    assert_eq!(
        count_lines(&out.stderr, &["task 'cpu-hog' ran", "without parking"]),
        1
    );
    assert_eq!(count_lines(&out.stderr, &["task 'quick'"]), 0);
}

#[test]
fn without_debug_mode_long_steps_are_not_reported() {
    const KEY: &str = "CORIO_CHILD_NO_DEBUG";
    if is_child(KEY) {
        corio::EventLoop::builder().debug(false).run(|| {
            corio::spawn(|| std::thread::sleep(Duration::from_millis(150)))
                .join()
                .unwrap();
        });
        return;
    }
    let out = run_child("without_debug_mode_long_steps_are_not_reported", KEY);
    assert_eq!(count_lines(&out.stderr, &["without parking"]), 0);
}

#[test]
fn tasks_lists_live_tasks_with_what_each_waits_on() {
    corio::run(|| {
        let fut: corio::Future<()> = corio::Future::new();
        let f = fut.clone();
        let waiter = corio::Builder::new()
            .name("waiter")
            .spawn(move || f.wait_done())
            .unwrap();
        let sleeper = corio::Builder::new()
            .name("sleeper")
            .spawn(|| corio::sleep(Duration::from_secs(60)))
            .unwrap();
        corio::yield_now();
        let all = corio::tasks();
        let find = |n: &str| all.iter().find(|t| t.name == n).cloned().unwrap();
        assert_eq!(find("waiter").waiting_on, "future");
        assert_eq!(find("sleeper").waiting_on, "sleep");
        assert_eq!(find("main").state, corio::task::TaskState::Running);
        sleeper.cancel();
        fut.set_result(()).unwrap();
        waiter.join().unwrap();
        assert!(sleeper.join().unwrap_err().is_cancelled());
        assert_eq!(corio::tasks().len(), 1, "only main is left");
    });
}
