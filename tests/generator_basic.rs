//! Generators outside any loop: resume/send, return values, the iterator, throw, close, drop,
//! panics, finished and running generators. Ports of CPython's `test_generators.py`.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use corio::generator::{GeneratorExit, catch};
use corio::{Generator, GeneratorState};

use GeneratorState::{Complete, Yielded};

/// Counts its drops, to see that a body's `Drop`s ran.
struct Guard(Rc<Cell<u32>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn generator_send_returns_each_yield_and_the_return_value() {
    // cpython: test_generators.py coroutine_tests ("Sending a value into a started generator")
    let mut g: Generator<u32, &str, u32> = Generator::new(|co| {
        let a = co.yield_(1);
        let b = co.yield_(a + 1);
        assert_eq!(b, 100);
        "done"
    });
    assert!(!g.is_started());
    assert_eq!(g.start(), Yielded(1));
    assert_eq!(g.send(41), Yielded(42));
    assert_eq!(g.resume(100), Complete("done"));
    assert!(g.is_finished());
}

#[test]
fn generator_first_resume_starts_the_body_and_drops_its_value() {
    // cpython: test_generators.py GeneratorTest.test_send_non_none_to_new_gen (Python refuses
    // a value there; corio drops it, nothing was waiting for it)
    let dropped = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    let mut g: Generator<(), (), Guard> = Generator::new(move |co| {
        s.borrow_mut().push("started");
        let _second = co.yield_(());
        s.borrow_mut().push("got second");
    });
    assert_eq!(g.resume(Guard(dropped.clone())), Yielded(()));
    assert_eq!(dropped.get(), 1, "the first value was dropped");
    assert_eq!(*seen.borrow(), ["started"]);
    assert_eq!(g.resume(Guard(dropped.clone())), Complete(()));
    assert_eq!(*seen.borrow(), ["started", "got second"]);
}

#[test]
fn generator_of_units_is_an_iterator() {
    // cpython: test_generators.py tutorial_tests (fib, for loops over generators)
    let fib: Generator<u64> = Generator::new(|co| {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..10 {
            co.yield_(a);
            (a, b) = (b, a + b);
        }
    });
    assert_eq!(fib.collect::<Vec<_>>(), [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
    let mut empty: Generator<u8> = Generator::new(|_| {});
    assert_eq!(empty.next(), None);
    assert_eq!(empty.next(), None, "fused: None again, no panic");
}

#[test]
fn generator_yields_from_deep_calls_in_its_body() {
    fn walk(co: &corio::generator::Yielder<u32, ()>, depth: u32) {
        if depth > 0 {
            walk(co, depth - 1);
            co.yield_(depth);
        }
    }
    let g: Generator<u32> = Generator::new(|co| walk(co, 50));
    assert_eq!(g.collect::<Vec<_>>(), (1..=50).collect::<Vec<_>>());
}

#[test]
fn generator_resumed_after_finishing_is_a_clear_error() {
    // cpython: test_generators.py ExceptionTest.test_return_stopiteration (a finished
    // generator cannot produce its value again)
    let mut g: Generator<u8, u8> = Generator::new(|_| 7);
    assert_eq!(g.resume(()), Complete(7));
    let p = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    assert!(
        panic_text(&p).contains("has finished"),
        "{}",
        panic_text(&p)
    );
}

#[test]
fn generator_panic_reaches_the_caller_and_finishes_it() {
    // cpython: test_generators.py ExceptionTest.test_except_next
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u8> = Generator::new(move |co| {
        let _g = Guard(d);
        co.yield_(1);
        panic!("body failed");
    });
    assert_eq!(g.resume(()), Yielded(1));
    let p = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    assert_eq!(panic_text(&p), "body failed");
    assert_eq!(drops.get(), 1);
    assert!(g.is_finished());
    assert_eq!(g.next(), None);
}

#[test]
fn generator_reentered_from_its_own_body_is_an_error_and_finishes_it() {
    // cpython: test_generators.py pep_tests ("A generator cannot be resumed while it is
    // actively running": ValueError: generator already executing)
    let cell: Rc<RefCell<Option<Generator<u8>>>> = Rc::new(RefCell::new(None));
    let c = cell.clone();
    *cell.borrow_mut() = Some(Generator::new(move |co| {
        co.yield_(1);
        let mut me = c.borrow_mut(); // the running generator is borrowed by its resumer
        me.as_mut().map(|g| g.resume(()));
    }));
    let mut outer = cell.borrow_mut();
    let g = outer.as_mut().unwrap();
    assert_eq!(g.resume(()), Yielded(1));
    let p = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
    assert!(panic_text(&p).contains("already"), "{}", panic_text(&p));
    assert!(g.is_finished());
}

#[derive(Debug, PartialEq)]
struct Boom(u32);

#[test]
fn generator_throw_caught_goes_on_to_the_next_yield() {
    // cpython: test_generators.py ExceptionTest.test_except_throw
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<&str> = Generator::new(move |co| {
        let caught = catch::<Boom, _>(|| {
            let _g = Guard(d);
            co.yield_("in try")
        });
        assert_eq!(caught, Err(Boom(3)));
        co.yield_("caught");
        co.yield_("after");
    });
    assert_eq!(g.resume(()), Yielded("in try"));
    assert_eq!(g.throw(Boom(3)), Ok(Yielded("caught")));
    assert_eq!(drops.get(), 1, "the unwind ran the Drop inside the try");
    assert_eq!(g.resume(()), Yielded("after"));
}

#[test]
fn generator_throw_uncaught_gives_the_value_back_as_err() {
    // cpython: test_generators.py ExceptionTest.test_except_gen_except
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u8> = Generator::new(move |co| {
        let _g = Guard(d);
        co.yield_(1);
        unreachable!("the throw unwinds the yield");
    });
    g.start();
    assert_eq!(g.throw(Boom(9)), Err(Boom(9)));
    assert_eq!(drops.get(), 1);
    assert!(g.is_finished());
}

#[test]
fn generator_throw_into_unstarted_or_finished_generator_gives_it_back() {
    // cpython: test_generators.py GeneratorThrowTest.test_throw_after_none_exc_type (a throw
    // into a just-created generator raises at once)
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let mut g: Generator<u8> = Generator::new(move |co| {
        r.set(true);
        co.yield_(1);
    });
    assert_eq!(g.throw(Boom(1)), Err(Boom(1)));
    assert!(!ran.get(), "the body never ran");
    assert!(g.is_finished());
    assert_eq!(g.throw(Boom(2)), Err(Boom(2)));
}

#[test]
fn generator_throw_that_the_body_turns_into_a_panic_is_a_panic() {
    let mut g: Generator<u8> = Generator::new(|co| {
        if catch::<Boom, _>(|| co.yield_(1)).is_err() {
            panic!("handler failed");
        }
    });
    g.start();
    let p = catch_unwind(AssertUnwindSafe(|| g.throw(Boom(0)))).unwrap_err();
    assert_eq!(panic_text(&p), "handler failed");
    assert!(g.is_finished());
}

#[test]
fn generator_close_unwinds_the_body_running_its_drops() {
    // cpython: test_generators.py GeneratorCloseTest.test_close_not_catching_exit
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u8, u8> = Generator::new(move |co| {
        let _g = Guard(d);
        co.yield_(1);
        0
    });
    g.start();
    assert_eq!(g.close(), None);
    assert_eq!(drops.get(), 1);
    assert!(g.is_finished());
    assert_eq!(g.close(), None, "closing a closed generator does nothing");
}

#[test]
fn generator_close_returns_what_a_body_catching_exit_returns() {
    // cpython: test_generators.py GeneratorCloseTest.test_close_return_value
    let mut g: Generator<(), u8> =
        Generator::new(|co| match catch::<GeneratorExit, _>(|| co.yield_(())) {
            Err(GeneratorExit) => 0,
            Ok(()) => 1,
        });
    g.start();
    assert_eq!(g.close(), Some(0));
}

#[test]
fn generator_close_before_start_drops_the_closure_unrun() {
    // cpython: test_generators.py GeneratorCloseTest.test_close_not_started
    let drops = Rc::new(Cell::new(0));
    let guard = Guard(drops.clone());
    let mut g: Generator<u8, u8> = Generator::new(move |co| {
        let _keep = &guard;
        co.yield_(1);
        0
    });
    assert_eq!(g.close(), None);
    assert_eq!(
        drops.get(),
        1,
        "the closure and what it captured were dropped"
    );
    assert!(g.is_finished());
}

#[test]
fn generator_yielding_while_closing_is_an_error_not_a_hang() {
    // cpython: test_generators.py coroutine_tests ("generator ignored GeneratorExit")
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u8> = Generator::new(move |co| {
        let _g = Guard(d);
        loop {
            let _ = catch::<GeneratorExit, _>(|| co.yield_(1));
        }
    });
    g.start();
    let p = catch_unwind(AssertUnwindSafe(|| g.close())).unwrap_err();
    assert!(
        panic_text(&p).contains("yielded while being closed"),
        "{}",
        panic_text(&p)
    );
    assert_eq!(drops.get(), 1, "the body was unwound all the same");
    assert!(g.is_finished());
}

#[test]
fn generator_dropped_while_suspended_is_closed() {
    // cpython: test_generators.py coroutine_tests (a suspended generator that is deleted is
    // closed: its `except GeneratorExit` runs)
    let drops = Rc::new(Cell::new(0));
    let exits = Rc::new(Cell::new(0));
    let (d, e) = (drops.clone(), exits.clone());
    let mut g: Generator<u8> = Generator::new(move |co| {
        let _g = Guard(d);
        if catch::<GeneratorExit, _>(|| co.yield_(1)).is_err() {
            e.set(e.get() + 1);
        }
    });
    g.start();
    drop(g);
    assert_eq!((drops.get(), exits.get()), (1, 1));
}

#[test]
fn generator_dropped_while_yielding_in_its_close_handler_still_unwinds() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<u8> = Generator::new(move |co| {
        let _g = Guard(d);
        let _ = catch::<GeneratorExit, _>(|| co.yield_(1));
        co.yield_(2); // panics: yielded while closing
    });
    g.start();
    drop(g); // the panic is reported by the hook, not raised again from drop
    assert_eq!(drops.get(), 1);
}

#[test]
fn generator_made_inside_a_loop_uses_the_loops_stack_pool() {
    let lp = corio::EventLoop::new().unwrap();
    let (before, during, after) = lp
        .run_until_complete(|| {
            let stats = || corio::get_running_loop().stack_stats().in_use;
            let before = stats();
            let mut g: Generator<u8> = Generator::new(|co| co.yield_(1));
            g.start();
            let during = stats();
            g.close();
            (before, during, stats())
        })
        .unwrap();
    assert_eq!(
        during,
        before + 1,
        "the generator's stack is lent by the loop"
    );
    assert_eq!(after, before, "and comes back when it finishes");
}

#[test]
fn generator_made_in_a_loop_runs_on_after_the_loop_is_gone() {
    let mut g: Generator<u32> = corio::run(|| {
        let mut g: Generator<u32> = Generator::new(|co| {
            for i in 0..3 {
                co.yield_(i);
            }
        });
        assert_eq!(g.resume(()), Yielded(0));
        g
    });
    // The loop and its stack pool are gone; the generator's stack is its own until it ends,
    // then it joins this thread's pool.
    assert_eq!(g.by_ref().collect::<Vec<_>>(), [1, 2]);
    assert!(g.is_finished());
    let again: Generator<u32> = Generator::new(|co| co.yield_(9));
    assert_eq!(again.collect::<Vec<_>>(), [9]);
}

/// Panics when dropped, after counting the drop.
struct PanicOnDrop(Rc<Cell<u32>>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        panic!("closure state panicked in drop");
    }
}

#[test]
fn dropping_an_unstarted_generator_whose_closure_panics_in_drop_drops_it_once() {
    let drops = Rc::new(Cell::new(0));
    let state = PanicOnDrop(drops.clone());
    let g: Generator<u32> = Generator::new(move |co| {
        let _state = &state;
        co.yield_(1);
    });
    let r = catch_unwind(AssertUnwindSafe(|| drop(g)));
    assert!(r.is_err(), "the drop's panic reaches the caller");
    assert_eq!(drops.get(), 1, "the closure was dropped exactly once");
    // Generators made afterwards (on the same thread, reusing its stacks) still work, and
    // their stacks come and go cleanly.
    for _ in 0..3 {
        let g: Generator<u32> = Generator::new(|co| {
            co.yield_(7);
            co.yield_(8);
        });
        assert_eq!(g.collect::<Vec<_>>(), [7, 8]);
    }
}

/// Yields from its `Drop` (Python: a `yield` in a `finally` block).
struct YieldOnDrop<'a>(&'a corio::generator::Yielder<i32, ()>);

impl Drop for YieldOnDrop<'_> {
    fn drop(&mut self) {
        self.0.yield_(99);
    }
}

const YIELD_ON_CLOSE_CHILD: &str = "CORIO_TEST_GENERATOR_YIELD_ON_CLOSE_CHILD";

#[test]
fn child_generator_close_with_a_drop_that_yields() {
    if !common_child(YIELD_ON_CLOSE_CHILD) {
        return;
    }
    let mut g: Generator<i32> = Generator::new(|co| {
        let _f = YieldOnDrop(co);
        co.yield_(1);
    });
    assert_eq!(g.resume(()), Yielded(1));
    g.close();
    unreachable!("the close aborts the process");
}

// Python's close() raises RuntimeError("generator ignored GeneratorExit") when the body yields
// from a `finally` while closing. Here the yield comes from a `Drop` run by the GeneratorExit
// unwind: the body can neither go on nor unwind again, so the process aborts, after a message
// that says why (never a hang, never a silent crash).
#[test]
fn generator_close_with_a_drop_that_yields_aborts_with_the_reason() {
    use std::os::unix::process::ExitStatusExt;
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "child_generator_close_with_a_drop_that_yields",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(YIELD_ON_CLOSE_CHILD, "1")
        .output()
        .expect("the test binary can run itself");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{err}");
    assert!(err.contains("generator ignored GeneratorExit"), "{err}");
}

fn common_child(key: &str) -> bool {
    std::env::var_os(key).is_some()
}
