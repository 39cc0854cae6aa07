//! Generators whose bodies park (sleep, events, queues) while a task resumes them: the park
//! suspends the whole task with the generator's stack on top; cancellation and the loop's
//! forced unwinding go through both stacks. Outside a task a park is a clear error.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::generator::catch;
use corio::{Event, Generator, GeneratorState, JoinError, Queue};

use GeneratorState::{Complete, Yielded};

type Trace = Rc<RefCell<Vec<&'static str>>>;

struct Guard(Rc<Cell<u32>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn generator_body_parking_suspends_the_task_and_lets_others_run() {
    let trace: Trace = Rc::default();
    let t = trace.clone();
    corio::run(move || {
        let ev = Event::new();
        let (t1, ev1) = (t.clone(), ev.clone());
        let mut g: Generator<&str> = Generator::new(move |co| {
            t1.borrow_mut().push("body waits");
            ev1.wait();
            t1.borrow_mut().push("body woke");
            co.yield_("after the wait");
        });
        let (t2, ev2) = (t.clone(), ev.clone());
        let setter = corio::spawn(move || {
            t2.borrow_mut().push("setter runs");
            ev2.set();
        });
        assert_eq!(g.resume(()), Yielded("after the wait"));
        assert_eq!(g.resume(()), Complete(()));
        setter.join().unwrap();
    });
    assert_eq!(*trace.borrow(), ["body waits", "setter runs", "body woke"]);
}

#[test]
fn generator_sleeping_in_its_body_takes_at_least_the_sleep() {
    corio::run(|| {
        let ticks: Generator<u32> = Generator::new(|co| {
            for i in 0..3 {
                corio::sleep(Duration::from_millis(10));
                co.yield_(i);
            }
        });
        let t0 = Instant::now();
        assert_eq!(ticks.collect::<Vec<_>>(), [0, 1, 2]);
        assert!(t0.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn generator_over_a_queue_is_a_lazy_iterator_inside_a_task() {
    let got = corio::run(|| {
        let q: Queue<Option<u32>> = Queue::new(1);
        let producer = {
            let q = q.clone();
            corio::spawn(move || {
                for i in 0..5 {
                    q.put(Some(i)).unwrap(); // parks while the queue is full
                }
                q.put(None).unwrap();
            })
        };
        let items: Generator<u32> = Generator::new(move |co| {
            while let Some(i) = q.get().unwrap() {
                co.yield_(i * 10);
            }
        });
        let got: Vec<u32> = items.collect();
        producer.join().unwrap();
        got
    });
    assert_eq!(got, [0, 10, 20, 30, 40]);
}

#[test]
fn generator_parks_through_three_nested_generators() {
    corio::run(|| {
        let mut outer: Generator<u32, u32> = Generator::new(|co| {
            let mut middle: Generator<u32, u32> = Generator::new(|co| {
                let mut inner: Generator<u32, u32> = Generator::new(|co| {
                    corio::yield_now();
                    co.yield_(1);
                    corio::sleep(Duration::from_millis(1));
                    7
                });
                let r = co.yield_from(&mut inner);
                corio::yield_now();
                r + 1
            });
            co.yield_from(&mut middle) + 1
        });
        let other = corio::spawn(|| {
            for _ in 0..10 {
                corio::yield_now();
            }
        });
        assert_eq!(outer.start(), Yielded(1));
        assert_eq!(outer.resume(()), Complete(9));
        other.join().unwrap();
    });
}

#[test]
fn task_cancelled_while_its_generator_parks_unwinds_the_generator_body() {
    // cpython: test_generators.py coroutine_tests (an exception thrown in at the yield point
    // runs the finally blocks on its way out)
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let r = corio::run(move || {
        let task = corio::spawn(move || {
            let mut g: Generator<u32> = Generator::new(move |co| {
                let _g = Guard(d);
                co.yield_(1);
                Event::new().wait(); // never set
            });
            g.start();
            g.resume(());
            unreachable!("the wait never ends");
        });
        corio::yield_now();
        corio::yield_now();
        task.cancel();
        task.join()
    });
    assert!(matches!(r, Err(JoinError::Cancelled)), "{r:?}");
    assert_eq!(drops.get(), 1);
}

#[test]
fn generator_body_may_catch_its_tasks_cancellation_and_finish() {
    let r = corio::run(|| {
        let task = corio::spawn(|| {
            let mut g: Generator<u32, &str> =
                Generator::new(|_| match corio::catch_cancel(|| Event::new().wait()) {
                    Err(corio::Cancelled) => "cleaned up",
                    Ok(()) => "woken",
                });
            g.start()
        });
        corio::yield_now();
        task.cancel();
        task.join()
    });
    assert!(matches!(r, Ok(Complete("cleaned up"))), "{r:?}");
}

#[test]
fn loop_dropped_while_a_task_parks_inside_a_generator_unwinds_both() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = corio::EventLoop::new().unwrap();
    lp.run_until_complete(move || {
        corio::spawn(move || {
            let _outer = Guard(d.clone());
            let mut g: Generator<u32> = Generator::new(move |co| {
                let _g = Guard(d);
                co.yield_(1);
                Event::new().wait(); // never set
            });
            g.start();
            g.resume(());
        });
        corio::yield_now();
        corio::yield_now();
    })
    .unwrap();
    assert_eq!(drops.get(), 0, "both still parked");
    drop(lp);
    assert_eq!(drops.get(), 2, "the generator's and the task's Drops ran");
}

#[test]
fn loop_dropped_while_nested_generators_park_unwinds_every_stack() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let lp = corio::EventLoop::new().unwrap();
    lp.run_until_complete(move || {
        corio::spawn(move || {
            let d2 = d.clone();
            let mut outer: Generator<u32> = Generator::new(move |co| {
                let _g = Guard(d.clone());
                let mut inner: Generator<u32> = Generator::new(move |co| {
                    let _g = Guard(d2);
                    co.yield_(1);
                    Event::new().wait(); // never set
                });
                co.yield_from(&mut inner);
            });
            outer.start();
            outer.resume(());
        });
        corio::yield_now();
        corio::yield_now();
    })
    .unwrap();
    assert_eq!(drops.get(), 0, "all parked");
    drop(lp);
    assert_eq!(drops.get(), 2, "both generators' Drops ran");
}

#[test]
fn loop_dropped_while_a_task_holds_a_suspended_generator_closes_it() {
    let exits = Rc::new(Cell::new(0));
    let e = exits.clone();
    let lp = corio::EventLoop::new().unwrap();
    lp.run_until_complete(move || {
        corio::spawn(move || {
            let mut g: Generator<u32> = Generator::new(move |co| {
                if catch::<corio::generator::GeneratorExit, _>(|| co.yield_(1)).is_err() {
                    e.set(e.get() + 1);
                }
            });
            g.start();
            Event::new().wait(); // the task parks, the generator waits at its yield
        });
        corio::yield_now();
    })
    .unwrap();
    drop(lp);
    assert_eq!(
        exits.get(),
        1,
        "the generator was closed as the task unwound"
    );
}

#[test]
fn generator_created_in_one_task_parks_the_task_that_resumes_it() {
    corio::run(|| {
        let ev = Event::new();
        let ev1 = ev.clone();
        let mut g: Generator<u32> = Generator::new(move |co| {
            co.yield_(1);
            ev1.wait();
            co.yield_(2);
        });
        assert_eq!(g.start(), Yielded(1));
        let resumer = corio::spawn(move || g.resume(()));
        corio::yield_now();
        assert!(
            !resumer.done(),
            "the resuming task is parked inside the generator"
        );
        ev.set();
        assert_eq!(resumer.join().unwrap(), Yielded(2));
    });
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn generator_parking_outside_any_loop_is_a_clear_error() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u32> = Generator::new(move |co| {
        let _g = Guard(d);
        co.yield_(1);
        corio::sleep(Duration::from_millis(1));
    });
    assert_eq!(g.start(), Yielded(1));
    let p = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    // corio's usual message for a park with no task to park: `sleep` names the missing loop
    // or the missing coroutine, whichever it checks first.
    let text = panic_text(&p);
    assert!(
        text.contains("no running event loop") || text.contains("made outside"),
        "{text}"
    );
    assert!(g.is_finished());
    assert_eq!(drops.get(), 1);
}

#[test]
fn generator_parking_in_a_loop_callback_is_a_clear_error() {
    let msg = corio::run(|| {
        let out: Rc<RefCell<String>> = Rc::default();
        let o = out.clone();
        let done = Event::new();
        let d = done.clone();
        corio::runtime::call_soon(move || {
            let mut g: Generator<u32> = Generator::new(|_| Event::new().wait());
            let p = catch_unwind(AssertUnwindSafe(|| g.start())).unwrap_err();
            *o.borrow_mut() = panic_text(&p);
            assert!(g.is_finished());
            d.set();
        });
        done.wait();
        out.take()
    });
    assert!(msg.contains("outside one"), "{msg}");
}

#[test]
fn generator_thrown_into_while_a_task_resumes_it_can_park_in_its_handler() {
    corio::run(|| {
        #[derive(Debug, PartialEq)]
        struct Stop;
        let mut g: Generator<&str> = Generator::new(|co| {
            if catch::<Stop, _>(|| co.yield_("running")).is_err() {
                corio::sleep(Duration::from_millis(1)); // cleanup that parks
                co.yield_("stopped cleanly");
            }
        });
        g.start();
        assert_eq!(g.throw(Stop), Ok(Yielded("stopped cleanly")));
    });
}

#[test]
fn generator_close_handler_may_park_when_a_task_closes_it() {
    let r = corio::run(|| {
        let mut g: Generator<u32, &str> = Generator::new(|co| {
            match catch::<corio::generator::GeneratorExit, _>(|| co.yield_(1)) {
                Err(_) => {
                    corio::sleep(Duration::from_millis(1)); // flushing, say
                    "flushed"
                }
                Ok(()) => "resumed",
            }
        });
        g.start();
        g.close()
    });
    assert_eq!(r, Some("flushed"));
}
