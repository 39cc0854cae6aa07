//! `Barrier`: filling, draining, reset and abort, as asyncio 3.11's `Barrier`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corio::{Barrier, BrokenBarrier, Task, yield_now};

const N: usize = 5;

/// Spawns `n` copies of `f` and joins them all, in order.
fn gather<T: 'static>(n: usize, f: impl Fn() -> T + Clone + 'static) -> Vec<T> {
    let tasks: Vec<Task<T>> = (0..n)
        .map(|_| {
            let f = f.clone();
            corio::spawn(f)
        })
        .collect();
    tasks.into_iter().map(|t| t.join().unwrap()).collect()
}

fn counter() -> Rc<Cell<usize>> {
    Rc::new(Cell::new(0))
}

fn bump(c: &Cell<usize>) -> usize {
    c.set(c.get() + 1);
    c.get()
}

// cpython: test_locks.py BarrierTests.test_barrier_parties
#[test]
#[should_panic(expected = "parties must be at least 1")]
fn barrier_with_no_parties_is_refused() {
    let _ = Barrier::new(0);
}

// cpython: test_locks.py BarrierTests.test_repr
#[test]
fn barrier_debug_shows_each_state() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let spawn_waiter = || {
            let b = barrier.clone();
            corio::spawn(move || b.wait())
        };
        let state = |b: &Barrier| format!("{b:?}");
        assert_eq!(
            state(&barrier),
            r#"Barrier { state: "filling", waiting: 0, parties: 5 }"#
        );
        let mut waiters: Vec<_> = (0..2).map(|_| spawn_waiter()).collect();
        yield_now();
        assert_eq!(
            state(&barrier),
            r#"Barrier { state: "filling", waiting: 2, parties: 5 }"#
        );

        waiters.extend((0..N - 2).map(|_| spawn_waiter()));
        yield_now();
        assert!(state(&barrier).contains("draining"));

        waiters.extend((0..2).map(|_| spawn_waiter()));
        yield_now();
        barrier.reset();
        assert!(state(&barrier).contains("resetting"));

        waiters.extend((0..2).map(|_| spawn_waiter()));
        yield_now();
        barrier.abort();
        assert!(state(&barrier).contains("broken"));
        assert!(barrier.is_broken());

        for w in waiters {
            let _ = w.join().unwrap();
        }
    });
}

// cpython: test_locks.py BarrierTests.test_context_manager
#[test]
fn barrier_hands_out_every_arrival_index_once() {
    corio::run(|| {
        let barrier = Barrier::new(3);
        let b = barrier.clone();
        let mut results = gather(3, move || b.wait().unwrap());
        results.sort();
        assert_eq!(results, [0, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_filling_one_task
#[test]
fn barrier_of_one_never_parks() {
    corio::run(|| {
        let barrier = Barrier::new(1);
        assert_eq!(barrier.wait(), Ok(0));
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_filling_one_task_twice
#[test]
fn barrier_of_one_passes_twice_in_a_row() {
    corio::run(|| {
        let barrier = Barrier::new(1);
        let b = barrier.clone();
        let t1 = corio::spawn(move || b.wait());
        yield_now();
        assert_eq!(barrier.n_waiting(), 0);
        let b = barrier.clone();
        let t2 = corio::spawn(move || b.wait());
        yield_now();
        assert!(t1.is_done() && t2.is_done());
        assert_eq!(t1.join().unwrap(), t2.join().unwrap());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_filling_task_by_task
#[test]
fn barrier_counts_arrivals_one_by_one() {
    corio::run(|| {
        let barrier = Barrier::new(3);
        let mut tasks = Vec::new();
        for expected in 1..=3 {
            let b = barrier.clone();
            tasks.push(corio::spawn(move || b.wait()));
            yield_now();
            if expected < 3 {
                assert_eq!(barrier.n_waiting(), expected);
                assert!(format!("{barrier:?}").contains("filling"));
            }
        }
        for t in tasks {
            t.join().unwrap().unwrap();
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_filling_tasks_wait_twice
#[test]
fn barrier_can_be_passed_twice_by_the_same_tasks() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let results = Rc::new(RefCell::new(Vec::new()));
        let (b, r) = (barrier.clone(), results.clone());
        gather(N, move || {
            b.wait().unwrap();
            r.borrow_mut().push(true);
            b.wait().unwrap();
            r.borrow_mut().push(false);
        });
        let results = results.borrow();
        assert_eq!(results.len(), 2 * N);
        assert_eq!(results.iter().filter(|&&x| x).count(), N);
        assert_eq!(results.iter().filter(|&&x| !x).count(), N);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_filling_tasks_check_return_value
#[test]
fn barrier_second_round_hands_out_every_index_again() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let b = barrier.clone();
        let mut res = gather(N, move || {
            b.wait().unwrap();
            b.wait().unwrap()
        });
        res.sort();
        assert_eq!(res, (0..N).collect::<Vec<_>>());
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_draining_state
#[test]
fn barrier_drains_until_the_last_task_has_left() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let b = barrier.clone();
        let results = Rc::new(RefCell::new(Vec::new()));
        let r = results.clone();
        gather(N, move || {
            b.wait().unwrap();
            r.borrow_mut().push(format!("{b:?}").contains("draining"));
        });
        let results = results.borrow();
        assert_eq!(results.len(), N);
        assert!(!results[N - 1], "the last one out sets it filling again");
        assert!(results[..N - 1].iter().all(|&d| d));
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_blocking_tasks_while_draining
#[test]
fn barrier_newcomers_wait_while_it_drains() {
    corio::run(|| {
        let rewait = 2;
        let barrier = Barrier::new(N);
        let barrier_nowaiting = Barrier::new(N - rewait);
        let rewait_n = Rc::new(Cell::new(rewait));
        let (b, nw) = (barrier.clone(), barrier_nowaiting.clone());
        // Succeeds only if barrier_nowaiting is waited for exactly N - rewait times.
        gather(N, move || {
            b.wait().unwrap();
            if rewait_n.get() > 0 {
                rewait_n.set(rewait_n.get() - 1);
                b.wait().unwrap();
            } else {
                nw.wait().unwrap();
                b.wait().unwrap();
            }
        });
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// cpython: test_locks.py BarrierTests.test_filling_tasks_cancel_one
#[test]
fn barrier_waiter_cancelled_no_longer_counts_as_arrived() {
    corio::run(|| {
        let barrier = Barrier::new(3);
        let results = Rc::new(Cell::new(0));
        let spawn_coro = || {
            let (b, r) = (barrier.clone(), results.clone());
            corio::spawn(move || {
                b.wait().unwrap();
                r.set(r.get() + 1);
            })
        };
        let t1 = spawn_coro();
        yield_now();
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = spawn_coro();
        yield_now();
        assert_eq!(barrier.n_waiting(), 2);

        t1.cancel();
        yield_now();
        assert_eq!(barrier.n_waiting(), 1);
        assert!(t1.join().unwrap_err().is_cancelled());

        let t3 = spawn_coro();
        yield_now();
        assert_eq!(barrier.n_waiting(), 2);
        let t4 = spawn_coro();
        for t in [t2, t3, t4] {
            t.join().unwrap();
        }
        assert_eq!(results.get(), 3);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier
#[test]
fn barrier_reset_when_empty_leaves_it_usable() {
    corio::run(|| {
        let barrier = Barrier::new(1);
        barrier.reset();
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.is_broken());
        assert_eq!(barrier.wait(), Ok(0));
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_waiting
#[test]
fn barrier_reset_breaks_the_waiting_tasks_only() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let tasks: Vec<_> = (0..N - 1)
            .map(|_| {
                let b = barrier.clone();
                corio::spawn(move || b.wait())
            })
            .collect();
        yield_now();
        barrier.reset();
        for t in tasks {
            assert_eq!(t.join().unwrap(), Err(BrokenBarrier));
        }
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!format!("{barrier:?}").contains("resetting"));
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier_when_tasks_half_draining
#[test]
fn barrier_reset_while_draining_breaks_the_tasks_not_yet_out() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let rest_of_tasks = N / 2;
        let broken = counter();
        let out = counter();
        let (b, br, o) = (barrier.clone(), broken.clone(), out.clone());
        gather(N, move || match b.wait() {
            Err(BrokenBarrier) => {
                bump(&br);
            }
            Ok(_) => {
                // When only `rest_of_tasks` are still inside, reset.
                if bump(&o) == N - rest_of_tasks {
                    b.reset();
                }
            }
        });
        assert_eq!(broken.get(), rest_of_tasks);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!format!("{barrier:?}").contains("resetting"));
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier_when_tasks_half_draining_half_blocking
#[test]
fn barrier_reset_while_draining_lets_blocked_newcomers_fill_the_next_round() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let blocking_tasks = N / 2;
        let (results1, results2, count) = (counter(), counter(), counter());
        let (b, r1, r2, c) = (
            barrier.clone(),
            results1.clone(),
            results2.clone(),
            count.clone(),
        );
        gather(N, move || match b.wait() {
            Err(BrokenBarrier) => {
                bump(&r1);
                b.wait().unwrap(); // wait again to fill the next round
            }
            Ok(_) => {
                if bump(&c) > blocking_tasks {
                    b.reset(); // those still draining get BrokenBarrier
                    b.wait().unwrap();
                } else if b.wait().is_err() {
                    bump(&r2); // must not happen: these wait for the next round
                }
            }
        });
        assert_eq!(results1.get(), blocking_tasks);
        assert_eq!(results2.get(), 0);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!format!("{barrier:?}").contains("resetting"));
        assert!(!barrier.is_broken());
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_waiting_and_waiting_again
#[test]
fn barrier_tasks_broken_by_reset_can_wait_again() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let (results1, results2) = (counter(), counter());
        let tasks: Vec<_> = (0..N - 1)
            .map(|_| {
                let (b, r1, r2) = (barrier.clone(), results1.clone(), results2.clone());
                corio::spawn(move || {
                    if b.wait().is_err() {
                        bump(&r1);
                    }
                    b.wait().unwrap();
                    bump(&r2);
                })
            })
            .collect();
        yield_now();
        barrier.reset();
        yield_now();
        let last = {
            let (b, r2) = (barrier.clone(), results2.clone());
            corio::spawn(move || {
                b.wait().unwrap();
                bump(&r2);
            })
        };
        for t in tasks {
            t.join().unwrap();
        }
        last.join().unwrap();
        assert!(!barrier.is_broken());
        assert_eq!(results1.get(), N - 1);
        assert_eq!(results2.get(), N);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// cpython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_draining
#[test]
fn barrier_reset_by_the_last_task_out_breaks_nobody() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let (results1, results2, results3, count) = (counter(), counter(), counter(), counter());
        let (b, r1, r2, r3, c) = (
            barrier.clone(),
            results1.clone(),
            results2.clone(),
            results3.clone(),
            count.clone(),
        );
        gather(N, move || {
            b.wait().unwrap();
            if bump(&c) == N {
                // The last task out resets, then waits for the others.
                b.reset();
                b.wait().unwrap();
            } else {
                match b.wait() {
                    Ok(_) => bump(&r1),
                    Err(_) => bump(&r2),
                };
            }
            b.wait().unwrap();
            bump(&r3);
        });
        assert!(!barrier.is_broken());
        assert_eq!(results1.get(), N - 1);
        assert_eq!(results2.get(), 0);
        assert_eq!(results3.get(), N);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// cpython: test_locks.py BarrierTests.test_abort_barrier
#[test]
fn barrier_abort_breaks_it() {
    corio::run(|| {
        let barrier = Barrier::new(1);
        barrier.abort();
        assert_eq!(barrier.n_waiting(), 0);
        assert!(barrier.is_broken());
        assert_eq!(barrier.wait(), Err(BrokenBarrier));
    });
}

// cpython: test_locks.py BarrierTests.test_abort_barrier_when_tasks_half_draining_half_blocking
#[test]
fn barrier_abort_while_draining_breaks_drainers_and_blocked_newcomers() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let blocking_tasks = N / 2;
        let (results1, results2, count) = (counter(), counter(), counter());
        let (b, r1, r2, c) = (
            barrier.clone(),
            results1.clone(),
            results2.clone(),
            count.clone(),
        );
        gather(N, move || match b.wait() {
            Err(BrokenBarrier) => {
                bump(&r1); // still draining when aborted
            }
            Ok(_) => {
                if bump(&c) > blocking_tasks {
                    b.abort();
                } else if b.wait().is_err() {
                    bump(&r2); // out already, blocked waiting again
                }
            }
        });
        assert!(barrier.is_broken());
        assert_eq!(results1.get(), blocking_tasks);
        assert_eq!(results2.get(), N - blocking_tasks - 1);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!format!("{barrier:?}").contains("resetting"));
    });
}

// cpython: test_locks.py BarrierTests.test_abort_barrier_when_exception
#[test]
fn barrier_aborted_by_a_failing_task_breaks_the_others() {
    corio::run(|| {
        let barrier = Barrier::new(N);
        let (results1, results2) = (counter(), counter());
        let (b, r1, r2) = (barrier.clone(), results1.clone(), results2.clone());
        gather(N, move || match b.wait() {
            // This one "fails" inside the barrier and aborts it.
            Ok(i) if i == N / 2 => b.abort(),
            Ok(_) => match b.wait() {
                Ok(_) => {
                    bump(&r1);
                }
                Err(BrokenBarrier) => {
                    bump(&r2);
                }
            },
            Err(BrokenBarrier) => {
                bump(&r2);
            }
        });
        assert!(barrier.is_broken());
        assert_eq!(results1.get(), 0);
        assert_eq!(results2.get(), N - 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// cpython: test_locks.py BarrierTests.test_abort_barrier_when_exception_then_resetting
#[test]
fn barrier_aborted_then_reset_is_usable_again() {
    corio::run(|| {
        let barrier1 = Barrier::new(N);
        let barrier2 = Barrier::new(N);
        let (results1, results2, results3) = (counter(), counter(), counter());
        let (b1, b2) = (barrier1.clone(), barrier2.clone());
        let (r1, r2, r3) = (results1.clone(), results2.clone(), results3.clone());
        gather(N, move || {
            match b1.wait() {
                Ok(i) if i == N / 2 => b1.abort(),
                Ok(_) => match b1.wait() {
                    Ok(_) => {
                        bump(&r1);
                    }
                    Err(_) => {
                        bump(&r2);
                    }
                },
                Err(_) => {
                    bump(&r2);
                }
            }
            // Synchronise and reset barrier1: everyone has left it before the reset, and
            // nobody enters it again before the reset.
            if b2.wait().unwrap() == N / 2 {
                b1.reset();
            }
            b2.wait().unwrap();
            b1.wait().unwrap();
            bump(&r3);
        });
        assert!(!barrier1.is_broken());
        assert_eq!(results1.get(), 0);
        assert_eq!(results2.get(), N - 1);
        assert_eq!(results3.get(), N);
        assert_eq!(barrier1.n_waiting(), 0);
    });
}

#[test]
fn barrier_waiter_cancelled_while_blocked_by_draining_leaves_no_trace() {
    corio::run(|| {
        let barrier = Barrier::new(2);
        let b = barrier.clone();
        let first = corio::spawn(move || b.wait());
        yield_now();
        let b = barrier.clone();
        let blocked = corio::spawn(move || b.wait());
        // The second arrival trips the barrier. `blocked` runs before `first` has left, finds
        // the barrier draining and parks; `first` leaving ends the drain and wakes it.
        assert_eq!(barrier.wait(), Ok(1));
        yield_now();
        blocked.cancel();
        assert!(blocked.join().unwrap_err().is_cancelled());
        assert_eq!(first.join().unwrap(), Ok(0));
        assert_eq!(barrier.n_waiting(), 0, "the cancelled one never counted");
        // A full new round still works.
        let b = barrier.clone();
        let other = corio::spawn(move || b.wait());
        assert_eq!(barrier.wait().unwrap() + other.join().unwrap().unwrap(), 1);
    });
}
