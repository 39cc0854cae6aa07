//! The loop's exception handler: `set_exception_handler`, `get_exception_handler`,
//! `call_exception_handler`, `default_exception_handler` and what reaches them — unretrieved
//! task failures, callback panics, connection handler errors (asyncio's `base_events.py`).

mod common;

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use common::Log;
use corio::runtime::{self, Exception, ExceptionHandler};
use corio::streams::{self, StreamReader, StreamWriter};
use corio::{Builder, EventLoop, ExceptionContext, Future};

const LONG: Duration = Duration::from_secs(3600);

/// What a recording handler saw of one context.
#[derive(Clone, Debug)]
struct Seen {
    message: String,
    exception: Option<String>,
    panic: bool,
    io_kind: Option<io::ErrorKind>,
    task: Option<String>,
    task_id: Option<u64>,
    handle: bool,
    peer: Option<std::net::SocketAddr>,
}

fn recorder() -> (ExceptionHandler, Log<Seen>) {
    let log = Log::new();
    let l = log.clone();
    let handler: ExceptionHandler = Rc::new(move |ctx| {
        l.push(Seen {
            message: ctx.message.clone(),
            exception: ctx.exception.as_ref().map(|e| e.to_string()),
            panic: matches!(ctx.exception, Some(Exception::Panic(_))),
            io_kind: ctx
                .exception
                .as_ref()
                .and_then(Exception::as_error)
                .and_then(|e| e.downcast_ref::<io::Error>())
                .map(io::Error::kind),
            task: ctx.task.clone(),
            task_id: ctx.task_id,
            handle: ctx.handle.is_some(),
            peer: ctx.peer_addr,
        })
    });
    (handler, log)
}

fn ticks(n: usize) {
    for _ in 0..n {
        corio::yield_now();
    }
}

/// Parks until `log` has `n` entries (a generous deadline, for a noisy machine).
fn wait_for_reports(log: &Log<Seen>, n: usize) {
    let log = log.clone();
    corio::wait_for(Duration::from_secs(30), move || {
        while log.len() < n {
            corio::sleep(Duration::from_millis(1));
        }
    })
    .expect("the reports arrived");
}

// ----- set / get -----

#[test]
fn set_exception_handler_custom_receives_callback_panics_and_none_restores_the_default() {
    // cpython: test_base_events.py BaseEventLoopTests.test_set_exc_handler_custom
    corio::run(|| {
        assert!(corio::get_exception_handler().is_none());
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler.clone()));
        assert!(Rc::ptr_eq(
            &corio::get_exception_handler().unwrap(),
            &handler
        ));

        let after = Rc::new(Cell::new(false));
        runtime::call_soon(|| panic!("zero-error-1001"));
        let a = after.clone();
        runtime::call_soon(move || a.set(true));
        ticks(2);
        let got = seen.get();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].message, "Exception in callback");
        assert_eq!(got[0].exception.as_deref(), Some("zero-error-1001"));
        assert!(got[0].panic && got[0].handle, "{got:?}");
        assert!(after.get(), "the loop went on with the next callback");

        corio::set_exception_handler(None);
        assert!(corio::get_exception_handler().is_none());
        runtime::call_soon(|| panic!("zero-error-1002"));
        ticks(2);
        assert_eq!(seen.len(), 1, "the default handler took the second one");
    });
}

#[test]
fn a_panicking_call_later_callback_reaches_the_handler_and_later_timers_still_fire() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let fired = Rc::new(Cell::new(false));
        runtime::call_later(Duration::from_millis(1), || panic!("timer-panic-1101"));
        let f = fired.clone();
        runtime::call_later(Duration::from_millis(2), move || f.set(true));
        corio::sleep(Duration::from_millis(20));
        let got = seen.get();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].message, "Exception in callback");
        assert_eq!(got[0].exception.as_deref(), Some("timer-panic-1101"));
        assert!(fired.get());
    });
}

#[test]
fn a_panicking_done_callback_reaches_the_handler() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let fut = Future::<u32>::new();
        let second = Rc::new(Cell::new(0));
        fut.add_done_callback(|_| panic!("done-callback-1201"));
        let s = second.clone();
        fut.add_done_callback(move |f| s.set(f.result().unwrap()));
        fut.set_result(7).unwrap();
        ticks(2);
        let got = seen.get();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].message, "Exception in callback");
        assert_eq!(got[0].exception.as_deref(), Some("done-callback-1201"));
        assert_eq!(second.get(), 7, "the next done callback ran");
    });
}

// ----- tasks nobody joined -----

#[test]
fn task_exception_never_retrieved_reaches_the_handler_with_the_task_name() {
    // cpython: test_futures.py test_tb_logger_exception_unretrieved / _exception_retrieved /
    // _result_unretrieved / _not_called_after_cancel;
    // test_base_events.py test_default_exc_handler_coro
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        // Fails first, then its handle is dropped.
        let t = Builder::new()
            .name("dropped-after")
            .spawn(|| panic!("after-1301"))
            .unwrap();
        let after_id = t.id();
        while !t.is_done() {
            corio::yield_now();
        }
        assert!(
            seen.get().is_empty(),
            "not reported while a handle could join it"
        );
        drop(t);
        assert_eq!(seen.len(), 1);
        // Detached first, then fails.
        let t = Builder::new()
            .name("detached")
            .spawn(|| {
                corio::yield_now();
                panic!("detached-1302")
            })
            .unwrap();
        let detached_id = t.id();
        drop(t);
        ticks(3);
        // Joined: retrieved. A value dropped unretrieved, and a cancelled task: no failure.
        let t = corio::spawn(|| panic!("joined-1303"));
        assert!(t.join().is_err());
        drop(corio::spawn(|| 5));
        let t = corio::spawn(|| corio::sleep(LONG));
        corio::yield_now();
        t.cancel();
        drop(t);
        ticks(5);

        let got = seen.get();
        assert_eq!(got.len(), 2, "{got:?}");
        for (s, name, id, text) in [
            (&got[0], "dropped-after", after_id, "after-1301"),
            (&got[1], "detached", detached_id, "detached-1302"),
        ] {
            assert_eq!(s.message, "Task exception was never retrieved");
            assert_eq!(s.task.as_deref(), Some(name));
            assert_eq!(s.task_id, Some(id));
            assert_eq!(s.exception.as_deref(), Some(text));
            assert!(s.panic && !s.handle);
        }
    });
}

#[test]
fn a_task_failing_while_corio_run_shuts_down_reaches_the_handler() {
    let (handler, seen) = recorder();
    corio::run(move || {
        corio::set_exception_handler(Some(handler));
        // Still parked when the main coroutine returns: the shutdown cancels it, and it fails.
        drop(
            Builder::new()
                .name("stubborn")
                .spawn(|| {
                    let _ = corio::catch_cancel(|| corio::sleep(LONG));
                    panic!("at-shutdown-1401")
                })
                .unwrap(),
        );
        corio::yield_now();
    });
    let got = seen.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].message, "Task exception was never retrieved");
    assert_eq!(got[0].task.as_deref(), Some("stubborn"));
    assert_eq!(got[0].exception.as_deref(), Some("at-shutdown-1401"));
}

#[test]
fn a_failed_task_whose_handle_is_dropped_by_the_closing_loop_reaches_the_handler() {
    let lp = EventLoop::new().unwrap();
    let (handler, seen) = recorder();
    lp.set_exception_handler(Some(handler));
    lp.run_until_complete(|| {
        let failed = Builder::new()
            .name("failed")
            .spawn(|| panic!("closed-1501"))
            .unwrap();
        // Holds the handle, parked, until the loop's close unwinds it.
        drop(corio::spawn(move || {
            let _keep = failed;
            corio::sleep(LONG)
        }));
        ticks(3);
    })
    .unwrap();
    assert!(seen.get().is_empty());
    lp.close().unwrap();
    let got = seen.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].task.as_deref(), Some("failed"));
    assert_eq!(got[0].exception.as_deref(), Some("closed-1501"));
}

#[test]
fn a_main_coroutine_left_by_a_stop_that_fails_later_reaches_the_handler() {
    let lp = corio::EventLoopBuilder::new()
        .virtual_time(true)
        .build()
        .unwrap();
    let (handler, seen) = recorder();
    lp.set_exception_handler(Some(handler));
    let r = lp.run_until_complete(|| {
        runtime::stop();
        corio::sleep(Duration::from_secs(1));
        panic!("late-1551");
    });
    assert_eq!(r.unwrap_err(), corio::RuntimeError::StoppedBeforeComplete);
    assert!(seen.get().is_empty());
    lp.run_until_complete(|| corio::sleep(Duration::from_secs(2)))
        .unwrap();
    let got = seen.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].message, "Task exception was never retrieved");
    assert_eq!(got[0].exception.as_deref(), Some("late-1551"));
    assert_eq!(got[0].task.as_deref(), Some("main"));
}

#[test]
fn a_main_coroutine_that_fails_after_its_deadlock_reaches_the_handler() {
    let lp = EventLoop::new().unwrap();
    let (handler, seen) = recorder();
    lp.set_exception_handler(Some(handler));
    let r = lp.run_until_complete(|| {
        let never = Future::<()>::new();
        let _ = corio::catch_cancel(|| never.wait());
        // Cancelled out of the deadlock, it goes on and fails.
        corio::sleep(Duration::from_millis(10));
        panic!("after-deadlock-1552");
    });
    assert!(matches!(r, Err(corio::RuntimeError::Deadlock(_))), "{r:?}");
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(50)))
        .unwrap();
    let got = seen.get();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].exception.as_deref(), Some("after-deadlock-1552"));
}

#[test]
fn a_remote_task_nobody_joins_reaches_the_handler() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let h = corio::runtime::loop_handle();
        drop(h.spawn(|| panic!("remote-1601")).unwrap());
        ticks(5);
        let got = seen.get();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].message, "Task exception was never retrieved");
        assert_eq!(got[0].exception.as_deref(), Some("remote-1601"));
        assert!(got[0].task.is_some(), "named after the task it ran in");
    });
}

// ----- server handlers -----

fn fail_or_echo(mut r: StreamReader, w: StreamWriter) -> io::Result<()> {
    let line = r.readline()?;
    if line == b"fail\n" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "handler-fail-1701",
        ));
    }
    w.write(&line);
    w.drain()
}

#[test]
fn a_server_handler_error_reaches_the_handler_with_task_and_peer_and_serving_goes_on() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let server = streams::start_server("127.0.0.1:0", fail_or_echo).unwrap();
        let addr = server.local_addr().unwrap();

        let (mut r, w) = streams::open_connection(addr).unwrap();
        let me = w.local_addr().unwrap();
        w.write(b"fail\n");
        assert_eq!(
            r.read(100).unwrap(),
            b"",
            "the failed handler's connection closed"
        );
        wait_for_reports(&seen, 1);
        let got = seen.get();
        assert_eq!(got[0].message, "Unhandled error in connection handler");
        assert_eq!(got[0].exception.as_deref(), Some("handler-fail-1701"));
        assert_eq!(got[0].io_kind, Some(io::ErrorKind::InvalidData));
        assert!(!got[0].panic);
        assert_eq!(got[0].peer, Some(me));
        assert!(
            got[0]
                .task
                .as_deref()
                .is_some_and(|n| n.starts_with("Task-"))
        );
        assert!(got[0].task_id.is_some());

        // The server goes on serving, and a handler that succeeds reports nothing.
        let (mut r, w) = streams::open_connection(addr).unwrap();
        w.write(b"hello\n");
        assert_eq!(r.readline().unwrap(), b"hello\n");
        drop((r, w));
        server.close();
        server.wait_closed();
        assert_eq!(seen.len(), 1);
    });
}

#[test]
fn a_server_handler_returning_unit_or_ok_reports_nothing() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let unit = streams::start_server("127.0.0.1:0", |_r, _w| ()).unwrap();
        let ok = streams::start_server("127.0.0.1:0", |_r, _w| Ok::<u8, String>(1)).unwrap();
        for server in [&unit, &ok] {
            let (mut r, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
            assert_eq!(r.read(10).unwrap(), b"");
            server.close();
            server.wait_closed();
        }
        assert!(seen.get().is_empty(), "{:?}", seen.get());
    });
}

// ----- broken handlers -----

#[test]
fn a_panicking_handler_does_not_stop_the_loop_and_stays_set() {
    // cpython: test_base_events.py BaseEventLoopTests.test_set_exc_handler_broken (the loop
    // side; what the default handler prints is checked in a child process below)
    corio::run(|| {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        corio::set_exception_handler(Some(Rc::new(move |_: &ExceptionContext| {
            c.set(c.get() + 1);
            panic!("broken-handler-1801")
        })));
        let went_on = Rc::new(Cell::new(0));
        for _ in 0..2 {
            runtime::call_soon(|| panic!("callback-1802"));
            let w = went_on.clone();
            runtime::call_soon(move || w.set(w.get() + 1));
            drop(corio::spawn(|| panic!("task-1803")));
            ticks(3);
        }
        assert_eq!(calls.get(), 4);
        assert_eq!(went_on.get(), 2);
        assert!(corio::get_exception_handler().is_some());
    });
}

#[test]
fn a_handler_may_replace_itself_while_it_runs() {
    corio::run(|| {
        let calls = Rc::new(Cell::new(0));
        let c = calls.clone();
        corio::set_exception_handler(Some(Rc::new(move |_: &ExceptionContext| {
            c.set(c.get() + 1);
            corio::set_exception_handler(None);
        })));
        runtime::call_soon(|| panic!("first-1901"));
        runtime::call_soon(|| panic!("second-1902"));
        ticks(2);
        assert_eq!(
            calls.get(),
            1,
            "the second panic went to the default handler"
        );
        assert!(corio::get_exception_handler().is_none());
    });
}

#[test]
fn a_handler_runs_outside_any_task_even_when_a_task_reports() {
    corio::run(|| {
        let inside = Rc::new(Cell::new(None));
        let i = inside.clone();
        corio::set_exception_handler(Some(Rc::new(move |_: &ExceptionContext| {
            i.set(Some(corio::current_task().is_some()));
        })));
        let t = corio::spawn(|| panic!("x-2001"));
        while !t.is_done() {
            corio::yield_now();
        }
        drop(t); // reported from inside the main task
        assert_eq!(inside.get(), Some(false));
        assert_eq!(corio::current_task().unwrap().name(), "main");
    });
}

// ----- call_exception_handler -----

#[test]
fn call_exception_handler_passes_a_user_context_on() {
    corio::run(|| {
        let (handler, seen) = recorder();
        corio::set_exception_handler(Some(handler));
        let mut ctx = ExceptionContext::new("refresh failed");
        ctx.exception = Some(Exception::Error("upstream-2101".into()));
        ctx.task = Some("refresher".into());
        corio::call_exception_handler(ctx);
        let got = seen.get();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "refresh failed");
        assert_eq!(got[0].exception.as_deref(), Some("upstream-2101"));
        assert_eq!(got[0].task.as_deref(), Some("refresher"));
    });
}

#[test]
fn event_loop_methods_set_and_call_the_handler_outside_a_run() {
    let lp = EventLoop::new().unwrap();
    let (handler, seen) = recorder();
    assert!(lp.get_exception_handler().is_none());
    lp.set_exception_handler(Some(handler));
    lp.call_exception_handler(ExceptionContext::new("not running-2201"));
    lp.call_soon(|| panic!("cb-2202"));
    lp.run_until_complete(|| ticks(2)).unwrap();
    let got = seen.get();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].message, "not running-2201");
    assert_eq!(got[1].exception.as_deref(), Some("cb-2202"));
    lp.set_exception_handler(None);
    assert!(lp.get_exception_handler().is_none());
}

#[test]
fn the_context_prints_as_one_line() {
    let mut ctx = ExceptionContext::new("Task exception was never retrieved");
    ctx.task = Some("w".into());
    ctx.task_id = Some(3);
    ctx.peer_addr = Some("127.0.0.1:9".parse().unwrap());
    ctx.exception = Some(Exception::Panic(Box::new("boom")));
    assert_eq!(
        ctx.to_string(),
        "Task exception was never retrieved (task 'w', id 3, peer 127.0.0.1:9): panicked: boom"
    );
    let mut ctx = ExceptionContext::new("m");
    ctx.exception = Some(Exception::Error("e".into()));
    assert_eq!(ctx.to_string(), "m: e");
    assert_eq!(ExceptionContext::new("m").to_string(), "m");
}

// ----- the default handler, seen from a child process -----

const DEFAULT_CHILD: &str = "CORIO_TEST_DEFAULT_EXC_HANDLER_CHILD";

#[test]
fn child_default_handler_reports() {
    if !common::is_child(DEFAULT_CHILD) {
        return;
    }
    corio::run(|| {
        runtime::call_soon(|| panic!("cb-default-3001"));
        drop(
            Builder::new()
                .name("lost-worker")
                .spawn(|| panic!("task-default-3002"))
                .unwrap(),
        );
        let server = streams::start_server("127.0.0.1:0", |_r: StreamReader, _w| {
            Err::<(), _>(io::Error::other("srv-default-3003"))
        })
        .unwrap();
        let (mut r, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        assert_eq!(r.read(10).unwrap(), b"");
        server.close();
        server.wait_closed();
        corio::call_exception_handler(ExceptionContext::new("user-context-3004"));
        ticks(3);
    });
    corio::call_exception_handler(ExceptionContext::new("outside-a-loop-3005"));
}

#[test]
fn the_default_handler_prints_each_kind_on_stderr_with_the_task_name() {
    // cpython: test_base_events.py test_default_exc_handler_callback /
    // test_default_exc_handler_coro
    let out = common::run_child("child_default_handler_reports", DEFAULT_CHILD);
    let err = &out.stderr;
    let show = String::from_utf8_lossy(err);
    let once = |needles: &[&str]| {
        assert_eq!(
            common::count_lines(err, needles),
            1,
            "{needles:?} in:\n{show}"
        );
    };
    once(&["corio: Exception in callback: panicked: cb-default-3001"]);
    once(&[
        "corio: Task exception was never retrieved (task 'lost-worker', id ",
        "panicked: task-default-3002",
    ]);
    once(&[
        "corio: Unhandled error in connection handler (task 'Task-",
        "peer 127.0.0.1:",
        "): srv-default-3003",
    ]);
    once(&["corio: user-context-3004"]);
    once(&["corio: outside-a-loop-3005"]);
}

const BROKEN_CHILD: &str = "CORIO_TEST_BROKEN_EXC_HANDLER_CHILD";

#[test]
fn child_broken_handlers() {
    if !common::is_child(BROKEN_CHILD) {
        return;
    }
    corio::run(|| {
        corio::set_exception_handler(Some(Rc::new(|ctx: &ExceptionContext| {
            if ctx.message == "Exception in callback" {
                panic!("handler-boom-4001")
            }
            // A handler runs outside any task: parking there is refused with a panic.
            corio::sleep(Duration::from_millis(1));
        })));
        runtime::call_soon(|| panic!("cb-4002"));
        ticks(2);
        drop(
            Builder::new()
                .name("lost-4003")
                .spawn(|| panic!("task-4003"))
                .unwrap(),
        );
        ticks(2);
        // The loop goes on.
        let t = corio::spawn(|| 42);
        assert_eq!(t.join().unwrap(), 42);
    });
}

#[test]
fn a_panicking_handler_falls_back_to_the_default_with_the_original_context() {
    // cpython: test_base_events.py test_set_exc_handler_broken, test_default_exc_handler_broken
    // (the original context is passed to the default handler)
    let out = common::run_child("child_broken_handlers", BROKEN_CHILD);
    let err = &out.stderr;
    let show = String::from_utf8_lossy(err);
    let count = |needles: &[&str]| common::count_lines(err, needles);
    assert_eq!(
        count(&["corio: Unhandled error in exception handler: panicked: handler-boom-4001"]),
        1,
        "{show}"
    );
    assert_eq!(
        count(&["  while handling: Exception in callback: panicked: cb-4002"]),
        1,
        "{show}"
    );
    assert_eq!(
        count(&[
            "corio: Unhandled error in exception handler: panicked: ",
            "outside"
        ]),
        1,
        "a park in the handler is refused: {show}"
    );
    assert_eq!(
        count(&["  while handling: Task exception was never retrieved (task 'lost-4003'"]),
        1,
        "{show}"
    );
    assert_eq!(
        count(&["Unhandled error in exception handler"]),
        2,
        "{show}"
    );
}

#[test]
fn a_failed_task_whose_handle_outlives_its_loop_is_not_reported_to_the_next_loop() {
    // The task's header keeps its loop's id once it is done, not the loop's address: the next
    // loop on the thread may sit at that address, and the failure is not its own.
    let failed = corio::run(|| {
        let t = Builder::new()
            .name("orphan")
            .spawn(|| -> () { panic!("gone-1502") })
            .unwrap();
        ticks(3);
        assert!(t.is_done());
        t
    });
    let (handler, seen) = recorder();
    corio::run(move || {
        corio::set_exception_handler(Some(handler));
        drop(failed);
        ticks(2);
    });
    assert!(seen.get().is_empty(), "{:?}", seen.get());
}
