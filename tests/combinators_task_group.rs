//! `task_group` / `TaskGroup`: structured concurrency.

use std::cell::Cell;
use std::panic::resume_unwind;
use std::rc::Rc;
use std::time::Duration;

use corio::{
    Builder, Cancelled, SpawnError, TaskGroupError, catch_cancel, current_task, sleep, spawn,
    task_group, yield_now,
};

const LONG: Duration = Duration::from_secs(3600);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Counts a cancellation seen by a child, then passes it on.
fn count_cancel(counter: &Rc<Cell<u32>>, d: Duration) {
    if let Err(c) = catch_cancel(|| sleep(d)) {
        counter.set(counter.get() + 1);
        resume_unwind(Box::new(c));
    }
}

fn messages(e: &TaskGroupError) -> Vec<&str> {
    e.errors()
        .iter()
        .map(|j| j.panic_message().unwrap_or("?"))
        .collect()
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_01
#[test]
fn task_group_waits_for_every_child_and_keeps_their_values() {
    corio::run(|| {
        let (t1, t2) = task_group(|g| {
            let t1 = g.spawn(|| {
                sleep(ms(2));
                42
            });
            let t2 = g.spawn(|| {
                sleep(ms(4));
                11
            });
            (t1, t2)
        })
        .unwrap();
        assert!(t1.is_done() && t2.is_done());
        assert_eq!(t1.join().unwrap(), 42);
        assert_eq!(t2.join().unwrap(), 11);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_02
#[test]
fn task_group_takes_children_spawned_while_the_body_runs() {
    corio::run(|| {
        let (t1, t2) = task_group(|g| {
            let t1 = g.spawn(|| {
                sleep(ms(2));
                42
            });
            sleep(ms(3));
            let t2 = g.spawn(|| {
                sleep(ms(2));
                11
            });
            (t1, t2)
        })
        .unwrap();
        assert_eq!((t1.join().unwrap(), t2.join().unwrap()), (42, 11));
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_03
#[test]
fn task_group_child_cancelled_by_hand_is_not_a_failure() {
    corio::run(|| {
        let (t1, t2) = task_group(|g| {
            let t1 = g.spawn(|| {
                sleep(LONG);
                42
            });
            sleep(ms(2));
            t1.cancel();
            let t2 = g.spawn(|| {
                sleep(ms(2));
                11
            });
            (t1, t2)
        })
        .unwrap();
        assert!(t1.is_cancelled());
        assert_eq!(t2.join().unwrap(), 11);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_04
#[test]
fn task_group_child_failure_cancels_its_siblings() {
    corio::run(|| {
        let num = Rc::new(Cell::new(0));
        let t2_cancel = Rc::new(Cell::new(0));
        let t2 = Rc::new(Cell::new(None));
        let (n, c, slot) = (num.clone(), t2_cancel.clone(), t2.clone());
        let runner = spawn(move || {
            let r = task_group(|g| {
                g.spawn(|| {
                    sleep(ms(2));
                    panic!("ZeroDivisionError")
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
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert_eq!(num.get(), 0);
        assert_eq!(t2_cancel.get(), 1);
        assert!(t2.take().unwrap().is_cancelled());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_cancel_children_on_child_error
#[test]
fn task_group_child_failure_cancels_the_body_too() {
    corio::run(|| {
        let t2_cancel = Rc::new(Cell::new(0));
        let runner_cancel = Rc::new(Cell::new(0));
        let (c, rc) = (t2_cancel.clone(), runner_cancel.clone());
        let err = task_group(move |g| {
            for _ in 0..3 {
                g.spawn(|| {
                    sleep(ms(2));
                    panic!("ZeroDivisionError")
                });
            }
            g.spawn(move || count_cancel(&c, LONG));
            count_cancel(&rc, LONG);
        })
        .unwrap_err();
        // The three failing children may fail together or one may be cancelled first; every
        // failure is a ZeroDivisionError and there is at least one.
        assert!(!err.errors().is_empty());
        assert!(messages(&err).iter().all(|m| *m == "ZeroDivisionError"));
        assert_eq!(t2_cancel.get(), 1);
        assert_eq!(runner_cancel.get(), 1);
        // The group withdrew its cancel request on the parent.
        assert_eq!(current_task().unwrap().cancelling(), 0);
        yield_now();
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_cancellation
#[test]
fn task_group_parent_cancelled_cancels_every_child_then_passes_it_on() {
    corio::run(|| {
        let num = Rc::new(Cell::new(0));
        let n = num.clone();
        let r = spawn(move || {
            task_group(|g| {
                for _ in 0..5 {
                    let n = n.clone();
                    g.spawn(move || count_cancel(&n, LONG));
                }
            })
        });
        sleep(ms(5));
        assert!(!r.is_done());
        r.cancel();
        assert!(r.join().unwrap_err().is_cancelled());
        assert_eq!(num.get(), 5);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_07
#[test]
fn task_group_parent_cancelled_in_the_body_cancels_body_and_children() {
    corio::run(|| {
        let num = Rc::new(Cell::new(0));
        let n = num.clone();
        let r = spawn(move || {
            task_group(|g| {
                for _ in 0..5 {
                    let n = n.clone();
                    g.spawn(move || count_cancel(&n, LONG));
                }
                if let Err(c) = catch_cancel(|| sleep(LONG)) {
                    n.set(n.get() + 10);
                    resume_unwind(Box::new(c));
                }
            })
        });
        sleep(ms(5));
        r.cancel();
        assert!(r.join().unwrap_err().is_cancelled());
        assert_eq!(num.get(), 15);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_10
#[test]
fn task_group_body_panic_cancels_children_and_is_reported() {
    corio::run(|| {
        let slots = Rc::new(Cell::new(None));
        let s = slots.clone();
        let err = task_group(|g| {
            let t1 = g.spawn(|| {
                sleep(LONG);
                42
            });
            let t2 = g.spawn(|| {
                sleep(LONG);
                11
            });
            s.set(Some((t1, t2)));
            panic!("ZeroDivisionError in the body");
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError in the body"]);
        let (t1, t2) = slots.take().unwrap();
        assert!(t1.is_cancelled() && t2.is_cancelled());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_11
#[test]
fn task_group_nested_groups_pass_the_parent_cancellation_on() {
    corio::run(|| {
        let r = spawn(|| {
            task_group(|_outer| {
                task_group(|g2| {
                    for _ in 0..5 {
                        g2.spawn(|| {
                            sleep(ms(100));
                            panic!("ZeroDivisionError")
                        });
                    }
                    sleep(LONG);
                })
            })
        });
        sleep(ms(5));
        assert!(!r.is_done());
        r.cancel();
        assert!(r.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_13
#[test]
fn task_group_outer_child_failure_cancels_an_inner_group() {
    corio::run(|| {
        let err = task_group(|g1| {
            g1.spawn(|| {
                sleep(ms(5));
                panic!("ValueError(0.1)")
            });
            let inner = task_group(|g2| {
                g2.spawn(|| {
                    sleep(LONG);
                    panic!("ValueError(10)")
                });
            });
            unreachable!("the inner group is cancelled: {inner:?}");
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["ValueError(0.1)"]);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_14
#[test]
fn task_group_inner_group_error_is_a_value_of_the_outer_body() {
    corio::run(|| {
        let inner = task_group(|g1| {
            g1.spawn(|| sleep(ms(5)));
            task_group(|g2| {
                g2.spawn(|| {
                    sleep(ms(1));
                    panic!("ValueError")
                });
            })
        })
        .unwrap();
        assert_eq!(messages(&inner.unwrap_err()), ["ValueError"]);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_16: the runner's cancel is handed
// to the task it joins, whose group then ends with the child's failure; the runner gets it.
#[test]
fn a_runner_cancelled_while_joining_a_failing_group_gets_the_groups_error() {
    let err = corio::testing::run(|| {
        let runner = spawn(|| {
            let t = spawn(|| {
                task_group(|g| {
                    g.spawn(|| {
                        sleep(ms(300));
                        panic!("ZeroDivisionError")
                    });
                    if let Err(c) = catch_cancel(|| sleep(ms(10_000))) {
                        sleep(ms(500));
                        resume_unwind(Box::new(c));
                    }
                })
            });
            t.join()
        });
        sleep(ms(100));
        runner.cancel();
        runner.join()
    });
    let group = err
        .expect("the runner ends with the joined task's outcome")
        .expect("the joined task returned the group's result");
    assert_eq!(messages(&group.unwrap_err()), ["ZeroDivisionError"]);
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_15
#[test]
fn task_group_child_failure_during_the_body_cleanup_takes_precedence() {
    corio::run(|| {
        let cleanup_interrupted = Rc::new(Cell::new(false));
        let ci = cleanup_interrupted.clone();
        let r = spawn(move || {
            task_group(|g| {
                let crash = corio::Future::<()>::new();
                let c = crash.clone();
                g.spawn(move || {
                    c.wait_done();
                    panic!("ZeroDivisionError")
                });
                if let Err(e) = catch_cancel(|| sleep(LONG)) {
                    crash.set_result(()).unwrap(); // the child fails during the cleanup
                    if catch_cancel(|| sleep(ms(500))).is_err() {
                        ci.set(true); // the group cancelled the cleanup
                    }
                    resume_unwind(Box::new(e));
                }
            })
        });
        sleep(ms(2));
        r.cancel();
        // The failure takes precedence over the outer cancellation, as in asyncio.
        let err = r.join().unwrap().unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert!(cleanup_interrupted.get());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_17
#[test]
fn task_group_without_children_passes_a_cancellation_of_the_body_on() {
    corio::run(|| {
        let num = Rc::new(Cell::new(0));
        let n = num.clone();
        let r = spawn(move || {
            task_group(|_| {
                if let Err(c) = catch_cancel(|| sleep(LONG)) {
                    n.set(n.get() + 10);
                    resume_unwind(Box::new(c));
                }
            })
        });
        sleep(ms(2));
        r.cancel();
        assert!(r.join().unwrap_err().is_cancelled());
        assert_eq!(num.get(), 10);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_18
#[test]
fn task_group_body_that_turns_its_cancellation_into_a_panic_reports_it() {
    corio::run(|| {
        let r = spawn(|| {
            task_group(|_| {
                if catch_cancel(|| sleep(LONG)).is_err() {
                    panic!("MyExc");
                }
            })
        });
        sleep(ms(2));
        r.cancel();
        let err = r.join().unwrap().unwrap_err();
        assert_eq!(messages(&err), ["MyExc"]);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_19
#[test]
fn task_group_reports_child_and_body_failures_together() {
    corio::run(|| {
        let err = task_group(|g| {
            g.spawn(|| {
                sleep(ms(2));
                panic!("ZeroDivisionError")
            });
            // The body is cancelled by the failure, and fails in its cleanup.
            if catch_cancel(|| sleep(LONG)).is_err() {
                panic!("MyExc");
            }
        })
        .unwrap_err();
        assert_eq!(
            messages(&err),
            ["ZeroDivisionError", "MyExc"],
            "children first, body last"
        );
        assert_eq!(
            err.to_string(),
            "2 tasks in a task group failed; the first: task panicked: ZeroDivisionError"
        );
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_22
#[test]
fn task_group_cancelled_while_waiting_for_children_passes_it_on() {
    corio::run(|| {
        let r = spawn(|| {
            task_group(|g| {
                g.spawn(|| sleep(ms(1000)));
                g.spawn(|| sleep(ms(2000)));
            })
        });
        sleep(ms(5));
        r.cancel();
        assert!(r.join().unwrap_err().is_cancelled());
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_24
#[test]
fn task_group_children_can_spawn_siblings() {
    corio::run(|| {
        let ran = Rc::new(Cell::new(0));
        let r = ran.clone();
        task_group(|g| {
            let g2 = g.clone();
            g.spawn(move || {
                sleep(ms(2));
                for d in [1, 2] {
                    let r = r.clone();
                    g2.spawn(move || {
                        sleep(ms(d));
                        r.set(r.get() + 1);
                    });
                }
            });
        })
        .unwrap();
        assert_eq!(
            ran.get(),
            2,
            "the group waited for the grandchildren's siblings too"
        );
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_25
#[test]
fn task_group_hydra_is_stopped_by_hercules() {
    fn hydra(g: corio::TaskGroup, heads: Rc<Cell<u32>>) {
        heads.set(heads.get() + 1);
        sleep(ms(1));
        for _ in 0..2 {
            let (g2, h) = (g.clone(), heads.clone());
            g.spawn(move || hydra(g2, h));
        }
    }
    corio::run(|| {
        let heads = Rc::new(Cell::new(0));
        let err = task_group(|g| {
            let (g2, h) = (g.clone(), heads.clone());
            g.spawn(move || hydra(g2, h));
            let h = heads.clone();
            g.spawn(move || {
                while h.get() < 10 {
                    sleep(ms(1));
                }
                panic!("ZeroDivisionError")
            });
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["ZeroDivisionError"]);
        assert!(heads.get() >= 10);
    });
}

// cpython: test_taskgroups.py TestTaskGroup.test_taskgroup_task_name
#[test]
fn task_group_children_can_be_named() {
    corio::run(|| {
        task_group(|g| {
            let t = g
                .spawn_with(Builder::new().name("yolo"), yield_now)
                .unwrap();
            assert_eq!(t.name(), "yolo");
        })
        .unwrap();
    });
}

#[test]
fn task_group_refuses_children_once_finished_or_shutting_down() {
    corio::run(|| {
        let kept = Rc::new(Cell::new(None));
        let k = kept.clone();
        let refused_while_aborting = Rc::new(Cell::new(false));
        let ra = refused_while_aborting.clone();
        let _ = task_group(move |g| {
            k.set(Some(g.clone()));
            g.spawn(|| panic!("fail"));
            if catch_cancel(|| sleep(LONG)).is_err() {
                ra.set(matches!(
                    g.spawn_with(Builder::new(), || ()),
                    Err(SpawnError::GroupClosed)
                ));
            }
        });
        assert!(refused_while_aborting.get());
        let g = kept.take().unwrap();
        assert!(matches!(
            g.spawn_with(Builder::new(), || ()),
            Err(SpawnError::GroupClosed)
        ));
    });
}

#[test]
fn task_group_failed_child_handle_still_reports_its_panic() {
    corio::run(|| {
        let mut handle = None;
        let err = task_group(|g| {
            handle = Some(g.spawn(|| -> u8 { panic!("boom") }));
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["boom"]);
        let j = handle.unwrap().join().unwrap_err();
        assert!(j.is_panic());
        assert_eq!(j.panic_message(), Some("boom"));
    });
}

#[test]
fn task_group_error_gives_back_the_original_payload() {
    #[derive(Debug, PartialEq)]
    struct Custom(u32);
    corio::run(|| {
        let err = task_group(|g| {
            g.spawn(|| std::panic::panic_any(Custom(7)));
        })
        .unwrap_err();
        let payload = err.into_errors().remove(0).into_panic().unwrap();
        assert_eq!(payload.downcast_ref::<Custom>(), Some(&Custom(7)));
    });
}

#[test]
fn task_group_child_ignoring_its_cancellation_is_waited_for() {
    corio::run(|| {
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let err = task_group(move |g| {
            g.spawn(move || {
                let _ = catch_cancel(|| sleep(LONG));
                sleep(ms(5)); // stubborn: keeps going after the cancel
                f.set(true);
            });
            g.spawn(|| {
                yield_now();
                panic!("fail")
            });
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["fail"]);
        assert!(finished.get());
    });
}

#[test]
fn task_group_result_is_kept_when_a_body_swallows_the_cancel_from_a_failure() {
    corio::run(|| {
        let err = task_group(|g| {
            g.spawn(|| panic!("fail"));
            assert_eq!(catch_cancel(|| sleep(LONG)), Err(Cancelled));
            "body value"
        })
        .unwrap_err();
        assert_eq!(messages(&err), ["fail"]);
        assert_eq!(current_task().unwrap().cancelling(), 0);
    });
}

// cpython: gh-116720 (asyncio 3.13's `TaskGroup.__aexit__` uncancels and cancels the parent
// again when it raises its errors): an inner group that fails while the outer group is
// cancelling the body leaves that cancellation pending, so the outer group does not hang.
#[test]
fn task_group_inner_failure_keeps_the_outer_groups_cancellation_pending() {
    let (err, at) = corio::testing::run(|| {
        let err = task_group(|outer| {
            outer.spawn(|| {
                sleep(ms(10));
                panic!("outer child")
            });
            let inner = task_group(|inner| {
                inner.spawn(|| {
                    let _ = catch_cancel(|| sleep(LONG));
                    panic!("cleanup failed")
                });
                sleep(LONG);
            });
            assert_eq!(messages(&inner.unwrap_err()), ["cleanup failed"]);
            let after = catch_cancel(|| sleep(LONG));
            assert!(after.is_err(), "the body's next park was cancelled");
        })
        .unwrap_err();
        (err, corio::runtime::time())
    });
    assert_eq!(messages(&err), ["outer child"]);
    assert!(at < 1.0, "no LONG sleep ran: ended at {at}s");
}

// The same for a parent cancelled from outside while its group waits for a child that then
// fails: the group returns its error, and the cancellation stays pending.
#[test]
fn task_group_failure_after_an_outside_cancel_leaves_it_pending() {
    corio::testing::run(|| {
        let t = spawn(|| {
            let r = task_group(|g| {
                g.spawn(|| {
                    let _ = catch_cancel(|| sleep(LONG));
                    panic!("failed while cancelled")
                });
            });
            assert_eq!(messages(&r.unwrap_err()), ["failed while cancelled"]);
            assert_eq!(current_task().unwrap().cancelling(), 1);
            sleep(LONG);
            "finished"
        });
        sleep(ms(5));
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
    });
}
