//! `#[corio::test]`, `#[corio::test(virtual_time)]` and `corio::testing::wait_all_tasks_blocked`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[corio::test]
fn corio_test_runs_the_body_as_the_main_coroutine() {
    assert_eq!(corio::current_task().unwrap().name(), "main");
    let t = corio::spawn(|| 6 * 7);
    assert_eq!(t.join().unwrap(), 42);
}

#[corio::test]
fn corio_test_keeps_the_real_clock() {
    let t0 = std::time::Instant::now();
    corio::sleep(Duration::from_millis(5));
    assert!(t0.elapsed() >= Duration::from_millis(5));
}

#[corio::test(virtual_time)]
fn corio_test_with_virtual_time_sleeps_a_week_at_once() {
    let real = std::time::Instant::now();
    let t0 = corio::runtime::now();
    corio::sleep(Duration::from_secs(7 * 86_400));
    assert_eq!(corio::runtime::now() - t0, Duration::from_secs(7 * 86_400));
    assert!(real.elapsed() < Duration::from_secs(10));
}

#[corio::test]
fn corio_test_may_return_a_result() -> Result<(), String> {
    corio::yield_now();
    Ok(())
}

#[corio::test]
#[should_panic(expected = "deadlock")]
fn corio_test_turns_a_deadlock_into_a_failure() {
    corio::Event::new().wait();
}

#[corio::test]
fn wait_all_tasks_blocked_returns_once_every_other_task_is_parked() {
    let ev = corio::Event::new();
    let steps = Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let (ev, steps) = (ev.clone(), steps.clone());
            corio::spawn(move || {
                for _ in 0..i {
                    corio::yield_now();
                }
                steps.set(steps.get() + 1);
                ev.wait();
            })
        })
        .collect();
    corio::testing::wait_all_tasks_blocked();
    assert_eq!(steps.get(), 4, "every task reached its wait");
    ev.set();
    for t in tasks {
        t.join().unwrap();
    }
}

#[corio::test(virtual_time)]
fn wait_all_tasks_blocked_does_not_move_virtual_time() {
    let t0 = corio::runtime::now();
    let sleeper = corio::spawn(|| corio::sleep(Duration::from_secs(60)));
    corio::testing::wait_all_tasks_blocked();
    assert_eq!(corio::runtime::now(), t0);
    assert!(!sleeper.is_done());
    sleeper.join().unwrap();
    assert_eq!(corio::runtime::now() - t0, Duration::from_secs(60));
}

// trio's `wait_all_tasks_blocked` waits for tasks; a watch on an fd or a signal handler is no
// task, and waits for as long as it is registered.
#[corio::test]
fn wait_all_tasks_blocked_does_not_wait_for_fd_watches_or_signal_handlers() {
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    corio::runtime::add_reader(&a, || ()).unwrap();
    corio::runtime::add_signal_handler(libc::SIGUSR2, || ()).unwrap();
    let ev = corio::Event::new();
    let waiter = corio::spawn({
        let ev = ev.clone();
        move || ev.wait()
    });
    let r = corio::wait_for(
        Duration::from_secs(10),
        corio::testing::wait_all_tasks_blocked,
    );
    assert!(
        r.is_ok(),
        "returned once the one task was parked on its event"
    );
    ev.set();
    waiter.join().unwrap();
    corio::runtime::remove_signal_handler(libc::SIGUSR2);
    corio::runtime::remove_reader(&a);
}

// The body keeps its source locations: a panic, `line!()`, a spawn site or a primitive's
// creation site in a deadlock report points at its own line, not at the attribute.
#[corio::test]
fn corio_test_keeps_the_source_lines_of_its_body() {
    let first = line!();
    let second = line!();
    assert_eq!(second, first + 1);
    let here = std::panic::Location::caller().line();
    assert_eq!(here, first + 3);
}
