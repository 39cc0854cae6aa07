//! `TaskGroup::spawn_fallible`: a child that returns `Err` fails its group, as a child that
//! raises fails an asyncio `TaskGroup` (the CPython cases ported here raise; these return
//! `Err`).

use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::resume_unwind;
use std::rc::Rc;
use std::time::Duration;

use corio::{TaskGroupError, catch_cancel, current_task, sleep, spawn, task_group, yield_now};

const LONG: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, PartialEq)]
struct ZeroDivisionError(u32);

impl fmt::Display for ZeroDivisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "division by zero #{}", self.0)
    }
}

impl std::error::Error for ZeroDivisionError {}

/// Counts a cancellation seen by a child, then passes it on.
fn count_cancel(counter: &Rc<Cell<u32>>, d: Duration) {
    if let Err(c) = catch_cancel(|| sleep(d)) {
        counter.set(counter.get() + 1);
        resume_unwind(Box::new(c));
    }
}

/// Fails with `e` after one step, even if the group cancels it meanwhile (so that every
/// child started before the first failure fails too).
fn fail_after_a_step<E>(e: E) -> Result<(), E> {
    let _ = catch_cancel(yield_now);
    Err(e)
}

/// Each failure as `err:<display>` or `panic:<message>`, in the group's order.
fn labels(e: &TaskGroupError) -> Vec<String> {
    e.errors()
        .iter()
        .map(|f| match (f.error(), f.panic_message()) {
            (Some(e), _) => format!("err:{e}"),
            (None, Some(m)) => format!("panic:{m}"),
            (None, None) => "?".to_owned(),
        })
        .collect()
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_04
#[test]
fn task_group_child_returning_err_cancels_its_siblings() {
    corio::run(|| {
        let num = Rc::new(Cell::new(0));
        let t2_cancel = Rc::new(Cell::new(0));
        let t2 = Rc::new(Cell::new(None));
        let (n, c, slot) = (num.clone(), t2_cancel.clone(), t2.clone());
        let runner = spawn(move || {
            let r = task_group(|g| {
                g.spawn_fallible(|| {
                    sleep(ms(2));
                    Err::<(), _>(ZeroDivisionError(1))
                });
                let n2 = n.clone();
                slot.set(Some(g.spawn(move || {
                    count_cancel(&c, LONG);
                    n2.set(n2.get() + 1);
                })));
            });
            if r.is_ok() {
                n.set(n.get() + 10);
            }
            r
        });
        let err = runner.join().unwrap().unwrap_err();
        assert_eq!(err.errors().len(), 1);
        assert_eq!(
            err.errors()[0].downcast_ref::<ZeroDivisionError>(),
            Some(&ZeroDivisionError(1))
        );
        assert_eq!(num.get(), 0);
        assert_eq!(t2_cancel.get(), 1);
        assert!(t2.take().unwrap().is_cancelled());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_cancel_children_on_child_error
#[test]
fn task_group_child_returning_err_cancels_the_body() {
    corio::run(|| {
        let sibling_cancel = Rc::new(Cell::new(0));
        let body_cancel = Rc::new(Cell::new(0));
        let (c, bc) = (sibling_cancel.clone(), body_cancel.clone());
        let err = task_group(move |g| {
            g.spawn(move || count_cancel(&c, LONG));
            g.spawn_fallible(|| {
                sleep(ms(2));
                Err::<(), _>(ZeroDivisionError(7))
            });
            count_cancel(&bc, LONG);
            unreachable!("the body is cancelled at its suspension point");
        })
        .unwrap_err();
        assert_eq!(labels(&err), ["err:division by zero #7"]);
        assert_eq!(sibling_cancel.get(), 1);
        assert_eq!(body_cancel.get(), 1);
        // The group withdrew its cancel request on the parent.
        assert_eq!(current_task().unwrap().cancelling(), 0);
        yield_now();
        sleep(ms(1));
    });
}

#[test]
fn task_group_collects_every_error_and_panic_in_the_order_they_happened() {
    corio::run(|| {
        let ok_child = Rc::new(Cell::new(None));
        let slot = ok_child.clone();
        let err = task_group(|g| {
            g.spawn_fallible(|| {
                yield_now();
                Err::<(), _>(ZeroDivisionError(1))
            });
            // These two fail while being cancelled by the first failure: still failures.
            g.spawn_fallible(|| {
                let _ = catch_cancel(|| sleep(LONG));
                Err::<(), _>(ZeroDivisionError(2))
            });
            g.spawn_fallible(|| -> Result<(), ZeroDivisionError> {
                let _ = catch_cancel(|| sleep(LONG));
                panic!("C")
            });
            slot.set(Some(g.spawn_fallible(|| Ok::<_, ZeroDivisionError>(4))));
            let _ = catch_cancel(|| sleep(LONG));
            panic!("body");
        })
        .unwrap_err();
        assert_eq!(
            labels(&err),
            [
                "err:division by zero #1",
                "err:division by zero #2",
                "panic:C",
                "panic:body"
            ]
        );
        assert_eq!(
            err.to_string(),
            "4 tasks in a task group failed; the first: task failed: division by zero #1"
        );
        assert_eq!(ok_child.take().unwrap().join().unwrap(), 4);
    });
}

#[test]
fn task_group_fallible_children_returning_ok_leave_the_group_successful() {
    corio::run(|| {
        let (a, b, c) = task_group(|g| {
            let a = g.spawn_fallible(|| {
                sleep(ms(2));
                Ok::<_, io::Error>(40)
            });
            let b = g.spawn_fallible(|| Ok::<_, String>(2));
            let c = g.spawn(|| {
                sleep(ms(4));
                "plain"
            });
            (a, b, c)
        })
        .unwrap();
        assert_eq!(a.join().unwrap() + b.join().unwrap(), 42);
        assert_eq!(c.join().unwrap(), "plain");
        assert_eq!(current_task().unwrap().cancelling(), 0);
    });
}

#[test]
fn task_group_failed_fallible_child_handle_reports_no_value() {
    corio::run(|| {
        let slot = Rc::new(Cell::new(None));
        let s = slot.clone();
        let err = task_group(move |g| {
            s.set(Some(
                g.spawn_fallible(|| Err::<u8, _>(ZeroDivisionError(3))),
            ));
        })
        .unwrap_err();
        assert_eq!(err.errors().len(), 1);
        // The error went to the group; the handle only says the child ended without a value.
        assert!(slot.take().unwrap().join().unwrap_err().is_cancelled());
    });
}

#[test]
fn task_group_child_error_that_comes_after_the_body_ended_still_fails_the_group() {
    corio::run(|| {
        let sibling = Rc::new(Cell::new(None));
        let s = sibling.clone();
        let err = task_group(move |g| {
            g.spawn_fallible(|| {
                sleep(ms(2));
                Err::<(), _>("late failure")
            });
            s.set(Some(g.spawn(|| sleep(LONG))));
            // The body ends at once; the group fails while it waits for its children.
        })
        .unwrap_err();
        assert_eq!(labels(&err), ["err:late failure"]);
        assert!(sibling.take().unwrap().is_cancelled());
        assert_eq!(current_task().unwrap().cancelling(), 0);
    });
}

#[test]
fn task_group_child_errors_of_any_error_type_come_back_as_they_were() {
    corio::run(|| {
        let err = task_group(|g| {
            g.spawn_fallible(|| fail_after_a_step(io::Error::new(io::ErrorKind::NotFound, "gone")));
            g.spawn_fallible(|| fail_after_a_step(String::from("a message")));
            g.spawn_fallible(|| {
                fail_after_a_step(Box::<dyn std::error::Error + Send + Sync>::from("boxed"))
            });
        })
        .unwrap_err();
        let errors = err.into_errors();
        assert_eq!(errors.len(), 3, "{errors:?}");
        let io_err = errors[0].downcast_ref::<io::Error>().unwrap();
        assert_eq!(io_err.kind(), io::ErrorKind::NotFound);
        assert_eq!(errors[1].to_string(), "task failed: a message");
        assert!(errors[2].is_error() && !errors[2].is_panic());
        let boxed = errors.into_iter().nth(2).unwrap().into_error().unwrap();
        assert_eq!(boxed.to_string(), "boxed");
    });
}

#[test]
fn task_group_child_error_wins_over_a_parent_cancellation() {
    corio::run(|| {
        let r = spawn(|| {
            task_group(|g| {
                g.spawn_fallible(|| {
                    let _ = catch_cancel(|| sleep(LONG));
                    Err::<(), _>(ZeroDivisionError(9))
                });
                sleep(LONG);
            })
        });
        yield_now();
        r.cancel();
        // As in asyncio, the group's errors take precedence over the cancellation.
        let err = r.join().unwrap().unwrap_err();
        assert_eq!(labels(&err), ["err:division by zero #9"]);
    });
}
