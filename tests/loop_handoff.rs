//! A task that parks runs the loop's next task steps itself when that is all the loop would
//! do (a hand-off, without switching to the loop's stack). These tests pin that nothing the
//! loop owes anyone else is skipped meanwhile: callbacks keep their place, timers fire, I/O is
//! polled, `stop` and the end of a run are seen, and cancellation, panics and
//! `current_task` behave in a task run that way exactly as in one run by the loop.
//!
//! A regression here tends to hang (a ping-pong that never sees its timer, its I/O or `stop`),
//! so each test runs under a watchdog ([`common::watchdog`]) that fails it after a minute.

mod common;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::Log;
use corio::{EventLoop, JoinError};

/// Two tasks bouncing an event back and forth until `stop` is set; returns their handles.
fn ping_pong(stop: Rc<Cell<bool>>, rounds: Rc<Cell<u64>>) -> Vec<corio::Task<()>> {
    let (ping, pong) = (corio::Event::new(), corio::Event::new());
    let a = {
        let (ping, pong, stop, rounds) = (ping.clone(), pong.clone(), stop.clone(), rounds);
        corio::spawn(move || {
            while !stop.get() {
                ping.set();
                pong.wait();
                pong.clear();
                rounds.set(rounds.get() + 1);
            }
            ping.set(); // let the partner see `stop`
        })
    };
    let b = corio::spawn(move || {
        while !stop.get() {
            ping.wait();
            ping.clear();
            pong.set();
        }
        pong.set();
    });
    vec![a, b]
}

#[test]
fn callbacks_keep_their_place_between_task_steps() {
    let _watchdog = common::watchdog();
    let log = Log::new();
    corio::run({
        let log = log.clone();
        move || {
            let ev = corio::Event::new();
            let b = {
                let (ev, log) = (ev.clone(), log.clone());
                corio::spawn(move || {
                    ev.wait();
                    log.push("b runs");
                })
            };
            corio::yield_now(); // b parks on the event
            ev.set(); // b is ready first ...
            let l = log.clone();
            corio::runtime::call_soon(move || l.push("callback")); // ... then the callback
            let c = {
                let log = log.clone();
                corio::spawn(move || log.push("c runs")) // ... then c
            };
            corio::yield_now(); // main parks: b, the callback, c, then main again
            log.push("main again");
            b.join().unwrap();
            c.join().unwrap();
        }
    });
    assert_eq!(log.get(), ["b runs", "callback", "c runs", "main again"]);
}

#[test]
fn a_due_timer_fires_while_two_tasks_ping_pong() {
    let _watchdog = common::watchdog();
    let rounds = Rc::new(Cell::new(0));
    corio::run({
        let rounds = rounds.clone();
        move || {
            let stop = Rc::new(Cell::new(false));
            let tasks = ping_pong(stop.clone(), rounds);
            let s = stop.clone();
            corio::runtime::call_later(Duration::from_millis(20), move || s.set(true));
            for t in tasks {
                t.join().unwrap();
            }
            assert!(stop.get());
        }
    });
    assert!(rounds.get() > 0);
}

#[test]
fn a_sleeping_task_wakes_while_two_tasks_ping_pong() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let stop = Rc::new(Cell::new(false));
        let tasks = ping_pong(stop.clone(), Rc::new(Cell::new(0)));
        corio::sleep(Duration::from_millis(20)); // main's timer must fire amid the ping-pong
        stop.set(true);
        for t in tasks {
            t.join().unwrap();
        }
    });
}

#[test]
fn io_is_polled_while_two_tasks_ping_pong() {
    let _watchdog = common::watchdog();
    let (a, mut b) = UnixStream::pair().unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"ready").unwrap();
        b // keep the peer open until joined
    });
    corio::run(move || {
        let stop = Rc::new(Cell::new(false));
        let tasks = ping_pong(stop.clone(), Rc::new(Cell::new(0)));
        let a = corio::net::UnixStream::from_std(a).unwrap();
        let mut buf = [0u8; 16];
        let n = a.read(&mut buf).unwrap(); // parks on the fd amid the ping-pong
        assert_eq!(&buf[..n], b"ready");
        stop.set(true);
        for t in tasks {
            t.join().unwrap();
        }
    });
    drop(writer.join().unwrap());
}

#[test]
fn stop_ends_run_forever_amid_a_ping_pong() {
    let _watchdog = common::watchdog();
    let lp = EventLoop::new().unwrap();
    let stop = Rc::new(Cell::new(false));
    let rounds = Rc::new(Cell::new(0));
    let tasks = lp
        .run_until_complete({
            let (stop, rounds) = (stop.clone(), rounds.clone());
            move || ping_pong(stop, rounds)
        })
        .unwrap();
    let before = rounds.get();
    let r = rounds.clone();
    lp.call_soon(move || {
        let r = r.clone();
        // Stop once the ping-pong has made some progress.
        corio::runtime::call_later(Duration::from_millis(5), move || {
            assert!(r.get() > 0);
            corio::runtime::stop();
        });
    });
    lp.run_forever().unwrap();
    assert!(rounds.get() > before);
    end_ping_pong(&lp, &stop, tasks);
}

/// Stops a ping-pong started on `lp` and runs the loop until both tasks have ended.
fn end_ping_pong(lp: &EventLoop, stop: &Cell<bool>, tasks: Vec<corio::Task<()>>) {
    stop.set(true);
    lp.run_until_complete(move || {
        for t in tasks {
            t.join().unwrap();
        }
    })
    .unwrap();
}

#[test]
fn run_until_complete_returns_when_main_ends_amid_a_ping_pong() {
    let _watchdog = common::watchdog();
    let lp = EventLoop::new().unwrap();
    let stop = Rc::new(Cell::new(false));
    let rounds = Rc::new(Cell::new(0));
    let tasks = lp
        .run_until_complete({
            let (stop, rounds) = (stop.clone(), rounds.clone());
            move || {
                let tasks = ping_pong(stop, rounds.clone());
                // Main parks a few times; its last step runs while the two others bounce.
                while rounds.get() < 100 {
                    corio::yield_now();
                }
                tasks
            }
        })
        .unwrap();
    // The run returned although the ping-pong could go on forever.
    assert!(rounds.get() >= 100);
    end_ping_pong(&lp, &stop, tasks);
}

#[test]
fn a_task_cancelled_by_a_task_it_handed_its_turn_to_unwinds_at_its_park() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let ev = corio::Event::new();
        let victim_slot: Rc<Cell<Option<corio::CurrentTask>>> = Rc::new(Cell::new(None));
        let killer = {
            let (ev, slot) = (ev.clone(), victim_slot.clone());
            corio::spawn(move || {
                ev.wait();
                // Runs in the victim's turn: the victim parked on `never` and handed off.
                let victim = slot.take().expect("the victim registered itself");
                assert!(victim.cancel());
            })
        };
        let victim = {
            let (ev, slot) = (ev.clone(), victim_slot.clone());
            corio::spawn(move || {
                slot.set(corio::current_task());
                let never = corio::Event::new();
                ev.set(); // wakes the killer, which runs next
                never.wait(); // parks: its turn goes to the killer
                unreachable!("cancelled while parked");
            })
        };
        killer.join().unwrap();
        assert!(matches!(victim.join(), Err(JoinError::Cancelled)));
    });
}

#[test]
fn a_panic_in_a_task_run_in_another_tasks_turn_stays_in_that_task() {
    let _watchdog = common::watchdog();
    corio::run(|| {
        let ev = corio::Event::new();
        let bad = {
            let ev = ev.clone();
            corio::spawn(move || {
                ev.wait();
                panic!("boom in a handed-off step");
            })
        };
        corio::yield_now(); // `bad` parks on the event
        ev.set();
        corio::yield_now(); // main's turn goes to `bad`, which panics
        match bad.join() {
            Err(JoinError::Panicked(p)) => {
                assert_eq!(p.downcast_ref::<&str>(), Some(&"boom in a handed-off step"))
            }
            other => panic!("expected a panic, got {other:?}"),
        }
        assert_eq!(corio::current_task().unwrap().name(), "main");
    });
}

#[test]
fn each_task_sees_itself_as_current_in_a_handed_off_step() {
    let _watchdog = common::watchdog();
    let log = Log::new();
    corio::run({
        let log = log.clone();
        move || {
            let ev = corio::Event::new();
            let other = {
                let (ev, log) = (ev.clone(), log.clone());
                corio::Builder::new()
                    .name("other")
                    .spawn(move || {
                        ev.wait();
                        log.push(corio::current_task().unwrap().name());
                    })
                    .unwrap()
            };
            corio::yield_now();
            ev.set();
            corio::yield_now(); // `other` runs in main's turn
            log.push(corio::current_task().unwrap().name());
            other.join().unwrap();
        }
    });
    assert_eq!(log.get(), ["other", "main"]);
}

/// A list whose drop recurses once per node.
struct Chain {
    _next: Option<Box<Chain>>,
}

fn chain(n: usize) -> Chain {
    let mut c = Chain { _next: None };
    for _ in 0..n {
        c = Chain {
            _next: Some(Box::new(c)),
        };
    }
    c
}

#[test]
fn a_task_that_ends_in_a_handed_off_step_ends_on_the_loops_stack() {
    let _watchdog = common::watchdog();
    // `small` yields with a 16 KiB stack, and its turn goes to `producer`, which returns a
    // value whose drop recurses 5,000 frames deep. The producer's end (dropping that value
    // once its detached handle is gone) must run on the loop's stack, as without the
    // hand-off, not on `small`'s. A regression aborts with a stack overflow report, so the
    // scenario runs in a child process.
    const KEY: &str = "CORIO_TEST_HANDOFF_END_STACK";
    if !common::is_child(KEY) {
        let out = common::run_child(
            "a_task_that_ends_in_a_handed_off_step_ends_on_the_loops_stack",
            KEY,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("overflowed"), "{err}");
        return;
    }
    let answer = corio::run(|| {
        corio::runtime::call_soon(|| {}); // main's own park goes back to the loop
        let small = corio::Builder::new()
            .name("small")
            .stack_size(16 * 1024)
            .spawn(|| {
                corio::yield_now(); // hands its turn to `producer`
                "small done"
            })
            .unwrap();
        drop(corio::spawn(|| chain(5_000)));
        corio::sleep(Duration::from_millis(5));
        small.join().unwrap()
    });
    assert_eq!(answer, "small done");
}

/// Parks in its `Drop`, which corio forbids outside a coroutine.
struct ParksOnDrop;

impl Drop for ParksOnDrop {
    fn drop(&mut self) {
        corio::yield_now();
    }
}

#[test]
fn a_result_dropped_at_a_handed_off_tasks_end_runs_outside_any_coroutine() {
    let _watchdog = common::watchdog();
    // Without the hand-off a finished task's value is dropped on the loop's stack, where a
    // park is an error; a hand-off must not let that Drop park the task whose turn it was.
    let r = std::panic::catch_unwind(|| {
        corio::run(|| {
            let ev = corio::Event::new();
            drop(corio::spawn(|| ParksOnDrop));
            let e = ev.clone();
            let setter = corio::spawn(move || e.set());
            ev.wait(); // main's turn goes to the two tasks above
            setter.join().unwrap();
        })
    });
    let msg = common::panic_text(&*r.expect_err("the Drop's park is refused"));
    assert!(msg.contains("outside one"), "{msg}");
}

/// Panics in its `Drop`.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped with a bang");
    }
}

#[test]
fn a_panic_at_a_handed_off_tasks_end_is_not_the_parking_tasks() {
    let _watchdog = common::watchdog();
    // `a` yields and its turn goes to a detached task whose value panics when dropped. That
    // panic is the loop's (as without the hand-off), not `a`'s: `a` must not end panicked.
    let a_result = Rc::new(Cell::new(None));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let a_result = a_result.clone();
        corio::run(move || {
            corio::runtime::call_soon(|| {});
            let a = corio::spawn(|| {
                corio::yield_now();
                "a done"
            });
            drop(corio::spawn(|| PanicsOnDrop));
            corio::sleep(Duration::from_millis(5));
            a_result.set(Some(a.join().is_ok()));
        })
    }));
    let p = r.expect_err("the drop's panic leaves the loop");
    assert_eq!(p.downcast_ref::<&str>(), Some(&"dropped with a bang"));
    assert_ne!(a_result.get(), Some(false), "`a` did not end panicked");
}

// ----- differential: the same program with and without the hand-off -----

/// The shared seeded PRNG of the scenario below: it must be reproducible.
struct Seeded(RefCell<common::Rng>);

impl Seeded {
    /// A number in `0..n`.
    fn below(&self, n: u64) -> u64 {
        self.0.borrow_mut().range(0, n - 1)
    }
}

/// A task's value whose `Drop` does loop work: sets an event, resolves a future (whose done
/// callback logs), spawns a task and schedules a callback.
struct Noisy {
    id: u64,
    log: Log<String>,
    ev: Option<corio::Event>,
    fut: Option<corio::Future<u64>>,
    spawn: bool,
}

impl Drop for Noisy {
    fn drop(&mut self) {
        let (id, log) = (self.id, self.log.clone());
        log.push(format!("drop {id}"));
        if let Some(ev) = &self.ev {
            ev.set();
        }
        if let Some(f) = self.fut.take() {
            let _ = f.set_result(id);
        }
        if self.spawn {
            let l = log.clone();
            let _ = corio::Builder::new().spawn(move || l.push(format!("spawned by drop {id}")));
            let l = log.clone();
            // Outside a running loop (a value dropped as the loop closes) this panics; fine.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                corio::runtime::call_soon(move || l.push(format!("callback by drop {id}")));
            }));
        }
    }
}

/// Runs a seeded mix of yields, spawns, joins, detaches, cancels, events, futures with done
/// callbacks, `compat::block_on`, panics and values whose `Drop` does loop work, and returns
/// the log of what ran, in order, and in which task.
fn seeded_mix(seed: u64, plain: bool) -> Vec<String> {
    let log: Log<String> = Log::new();
    let out = log.clone();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        corio::runtime::EventLoopBuilder::new()
            .debug(plain) // debug mode takes the plain path: no hand-off
            .run(move || {
                let rng = Rc::new(Seeded(RefCell::new(common::Rng::new(seed))));
                let evs: Rc<Vec<corio::Event>> =
                    Rc::new((0..4).map(|_| corio::Event::new()).collect());
                let setter = {
                    let (evs, log) = (evs.clone(), log.clone());
                    corio::spawn(move || {
                        for (i, e) in evs.iter().enumerate() {
                            for _ in 0..(3 + i * 5) {
                                corio::yield_now();
                            }
                            e.set();
                            log.push(format!("setter set {i}"));
                        }
                    })
                };
                let next_id = Rc::new(Cell::new(0u64));
                let workers: Vec<_> = (0..6)
                    .map(|w| {
                        let (rng, evs, next_id, log) =
                            (rng.clone(), evs.clone(), next_id.clone(), log.clone());
                        corio::spawn(move || {
                            let me = |s: String| {
                                let who = corio::current_task().map(|t| t.id()).unwrap_or(0);
                                log.push(format!("[{who}] {s}"));
                            };
                            let mut kids: Vec<corio::Task<Noisy>> = Vec::new();
                            for _ in 0..25 {
                                match rng.below(9) {
                                    0 => {
                                        corio::yield_now();
                                        me(format!("w{w} yielded"));
                                    }
                                    1 | 8 => {
                                        let id = next_id.get();
                                        next_id.set(id + 1);
                                        let yields = rng.below(3);
                                        let ev = (rng.below(2) == 0)
                                            .then(|| evs[rng.below(4) as usize].clone());
                                        let spawn = rng.below(2) == 0;
                                        let fut = (rng.below(3) == 0).then(|| {
                                            let f = corio::Future::<u64>::new();
                                            let l = log.clone();
                                            f.add_done_callback(move |f| {
                                                l.push(format!(
                                                    "done callback {id}: {:?}",
                                                    f.done()
                                                ))
                                            });
                                            f
                                        });
                                        let panics = rng.below(10) == 0;
                                        let l = log.clone();
                                        kids.push(corio::spawn(move || {
                                            l.push(format!("kid {id} starts"));
                                            for _ in 0..yields {
                                                corio::yield_now();
                                            }
                                            if panics {
                                                std::panic::resume_unwind(Box::new("kid panics"));
                                            }
                                            l.push(format!("kid {id} returns"));
                                            Noisy {
                                                id,
                                                log: l,
                                                ev,
                                                fut,
                                                spawn,
                                            }
                                        }));
                                    }
                                    2 if !kids.is_empty() => {
                                        let r = kids.remove(0).join();
                                        me(format!("w{w} joined ok={}", r.is_ok()));
                                        drop(r);
                                        me(format!("w{w} dropped the value"));
                                    }
                                    3 if !kids.is_empty() => {
                                        drop(kids.pop());
                                        me(format!("w{w} detached"));
                                    }
                                    4 if !kids.is_empty() => {
                                        let i = rng.below(kids.len() as u64) as usize;
                                        me(format!("w{w} cancel -> {}", kids[i].cancel()));
                                    }
                                    5 => {
                                        let i = rng.below(4) as usize;
                                        evs[i].wait();
                                        me(format!("w{w} saw event {i}"));
                                    }
                                    6 if !kids.is_empty() => {
                                        let r = corio::compat::block_on(kids.remove(0));
                                        me(format!("w{w} block_on ok={}", r.is_ok()));
                                    }
                                    _ => {
                                        let l = log.clone();
                                        corio::runtime::call_soon(move || {
                                            l.push(format!("callback from w{w}"))
                                        });
                                        corio::yield_now();
                                    }
                                }
                            }
                            for k in kids {
                                me(format!("w{w} final join ok={}", k.join().is_ok()));
                            }
                        })
                    })
                    .collect();
                for w in workers {
                    w.join().unwrap();
                }
                setter.join().unwrap();
                log.push("main ends".into());
            })
    }));
    let mut v = out.get();
    v.push(format!("run ok={}", r.is_ok()));
    v
}

#[test]
fn a_seeded_mix_runs_the_same_with_and_without_the_hand_off() {
    let _watchdog = common::watchdog();
    for seed in 1..=40 {
        let plain = seeded_mix(seed, true);
        let handed_off = seeded_mix(seed, false);
        assert!(
            plain.len() > 50,
            "seed {seed}: the scenario ran ({} events)",
            plain.len()
        );
        assert_eq!(plain, handed_off, "seed {seed}: the two runs differ");
    }
}
