//! `Yielder::yield_from`: delegation with PEP 380 semantics. Ports of CPython's
//! `test_pep380.py`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use corio::generator::{GeneratorExit, Yielder, catch};
use corio::{Generator, GeneratorState};

use GeneratorState::{Complete, Yielded};

type Trace = Rc<RefCell<Vec<String>>>;

fn log(t: &Trace, s: impl Into<String>) {
    t.borrow_mut().push(s.into());
}

#[derive(Debug, PartialEq)]
struct Oops(&'static str);

#[test]
fn yield_from_three_deep_passes_values_out_sends_in_and_results_back() {
    // cpython: test_pep380.py TestPEP380Operation.test_delegation_of_send and
    // test_generator_return_value
    let trace: Trace = Rc::default();
    let t = trace.clone();
    let mut outer: Generator<String, u32, u32> = Generator::new(move |co| {
        let t2 = t.clone();
        let mut middle: Generator<String, u32, u32> = Generator::new(move |co| {
            let t3 = t2.clone();
            let mut inner: Generator<String, u32, u32> = Generator::new(move |co| {
                let x = co.yield_("inner 1".into());
                log(&t3, format!("inner got {x}"));
                let y = co.yield_("inner 2".into());
                log(&t3, format!("inner got {y}"));
                x + y
            });
            let r = co.yield_from(&mut inner);
            log(&t2, format!("middle got result {r}"));
            let z = co.yield_("middle".into());
            r * z
        });
        let r = co.yield_from(&mut middle);
        r + 1
    });
    assert_eq!(outer.start(), Yielded("inner 1".to_string()));
    assert_eq!(outer.resume(2), Yielded("inner 2".to_string()));
    assert_eq!(outer.resume(3), Yielded("middle".to_string()));
    assert_eq!(outer.resume(10), Complete(51));
    assert_eq!(
        *trace.borrow(),
        ["inner got 2", "inner got 3", "middle got result 5"]
    );
}

#[test]
fn yield_from_an_empty_generator_returns_at_once() {
    // cpython: test_pep380.py TestPEP380Operation.test_yield_from_empty
    let mut g: Generator<u8, u8> = Generator::new(|co| {
        let mut empty: Generator<u8, u8> = Generator::new(|_| 4);
        co.yield_from(&mut empty) + 1
    });
    assert_eq!(g.start(), Complete(5));
}

#[test]
fn yield_from_raising_in_the_initial_next_propagates() {
    // cpython: test_pep380.py TestPEP380Operation.test_raising_exception_in_initial_next_call
    let mut g: Generator<u8> = Generator::new(|co| {
        let mut bad: Generator<u8> = Generator::new(|_| panic!("spanish inquisition"));
        co.yield_from(&mut bad);
    });
    let p = catch_unwind(AssertUnwindSafe(|| g.start())).unwrap_err();
    assert_eq!(p.downcast_ref::<&str>(), Some(&"spanish inquisition"));
    assert!(g.is_finished());
}

#[test]
fn yield_from_delegates_a_throw_the_inner_one_catches() {
    // cpython: test_pep380.py TestPEP380Operation.test_delegating_throw and
    // test_returning_value_from_delegated_throw
    let trace: Trace = Rc::default();
    let t = trace.clone();
    let mut outer: Generator<&str, &str> = Generator::new(move |co| {
        let t2 = t.clone();
        let mut inner: Generator<&str, &str> =
            Generator::new(
                move |co| match catch::<Oops, _>(|| co.yield_("inner waiting")) {
                    Err(e) => {
                        log(&t2, format!("inner caught {e:?}"));
                        "inner handled it"
                    }
                    Ok(()) => "inner resumed",
                },
            );
        let r = co.yield_from(&mut inner);
        co.yield_(r);
        "outer done"
    });
    outer.start();
    assert_eq!(outer.throw(Oops("x")), Ok(Yielded("inner handled it")));
    assert_eq!(*trace.borrow(), ["inner caught Oops(\"x\")"]);
    assert_eq!(outer.resume(()), Complete("outer done"));
}

#[test]
fn yield_from_passes_an_uncaught_throw_on_to_the_delegating_generator() {
    // cpython: test_pep380.py TestPEP380Operation.test_catching_exception_from_subgen_and_returning
    let trace: Trace = Rc::default();
    let t = trace.clone();
    let mut outer: Generator<u8, &str> = Generator::new(move |co| {
        let t2 = t.clone();
        let mut inner: Generator<u8> = Generator::new(move |co| {
            struct Finally(Trace);
            impl Drop for Finally {
                fn drop(&mut self) {
                    log(&self.0, "inner finally");
                }
            }
            let _f = Finally(t2);
            co.yield_(1);
        });
        match catch::<Oops, _>(|| co.yield_from(&mut inner)) {
            Err(e) => {
                log(&t, format!("outer caught {e:?}"));
                "caught"
            }
            Ok(()) => "not caught",
        }
    });
    outer.start();
    assert_eq!(outer.throw(Oops("y")), Ok(Complete("caught")));
    assert_eq!(
        *trace.borrow(),
        ["inner finally", "outer caught Oops(\"y\")"]
    );
}

#[test]
fn yield_from_uncaught_throw_reaches_the_caller_as_err() {
    // cpython: test_pep380.py TestPEP380Operation.test_handling_exception_while_delegating_send
    let mut outer: Generator<u8> = Generator::new(|co| {
        let mut inner: Generator<u8> = Generator::new(|co| {
            co.yield_(1);
        });
        co.yield_from(&mut inner);
    });
    outer.start();
    assert_eq!(outer.throw(Oops("z")), Err(Oops("z")));
    assert!(outer.is_finished());
}

#[test]
fn yield_from_close_closes_the_inner_generator_first() {
    // cpython: test_pep380.py TestPEP380Operation.test_delegating_close and
    // test_throwing_GeneratorExit_into_subgenerator_that_returns
    let trace: Trace = Rc::default();
    let t = trace.clone();
    let mut outer: Generator<u8> = Generator::new(move |co| {
        let t2 = t.clone();
        let mut inner: Generator<u8, u8> = Generator::new(move |co| {
            match catch::<GeneratorExit, _>(|| co.yield_(1)) {
                Err(GeneratorExit) => log(&t2, "inner got GeneratorExit"),
                Ok(()) => log(&t2, "inner resumed"),
            }
            0
        });
        if catch::<GeneratorExit, _>(|| co.yield_from(&mut inner)).is_err() {
            log(&t, "outer got GeneratorExit");
        }
    });
    outer.start();
    outer.close();
    assert_eq!(
        *trace.borrow(),
        ["inner got GeneratorExit", "outer got GeneratorExit"]
    );
}

#[test]
fn yield_from_inner_that_yields_while_closing_is_an_error_in_the_outer() {
    // cpython: test_pep380.py TestPEP380Operation.test_throwing_GeneratorExit_into_subgen_that_uses_yield
    let mut outer: Generator<u8> = Generator::new(|co| {
        let mut inner: Generator<u8> = Generator::new(|co| {
            let _ = catch::<GeneratorExit, _>(|| co.yield_(1));
            co.yield_(2);
        });
        co.yield_from(&mut inner);
    });
    outer.start();
    let p = catch_unwind(AssertUnwindSafe(|| outer.close())).unwrap_err();
    let msg = p.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("yielded while being closed"), "{msg}");
    assert!(outer.is_finished());
}

#[test]
fn yield_from_a_started_generator_is_a_clear_error() {
    // cpython: test_pep380.py TestPEP380Operation.test_conversion_of_sendNone_to_next (Python
    // sends None on; corio has no value to send)
    let mut inner: Generator<u8> = Generator::new(|co| {
        co.yield_(1);
        co.yield_(2);
    });
    inner.start();
    let mut outer: Generator<u8, Generator<u8>> = Generator::new(move |co| {
        co.yield_from(&mut inner);
        inner
    });
    let p = catch_unwind(AssertUnwindSafe(|| outer.start())).unwrap_err();
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("has not started"), "{msg}");
}

#[test]
fn yield_from_works_through_helper_functions_taking_the_yielder() {
    // cpython: test_pep380.py TestPEP380Operation.test_delegation_of_next_call_to_subgenerator
    fn twice(co: &Yielder<u32, ()>, inner: &mut Generator<u32, u32>) -> u32 {
        co.yield_from(inner) * 2
    }
    let g: Generator<u32> = Generator::new(|co| {
        let mut inner: Generator<u32, u32> = Generator::new(|co| {
            co.yield_(1);
            co.yield_(2);
            3
        });
        let r = twice(co, &mut inner);
        co.yield_(r);
    });
    assert_eq!(g.collect::<Vec<_>>(), [1, 2, 6]);
}

// PEP 380: a GeneratorExit thrown into the delegating generator closes the inner generator
// (it is not thrown into it), then is raised in the delegating one.
#[test]
fn yield_from_a_thrown_generator_exit_closes_the_inner_generator() {
    let trace: Trace = Rc::default();
    let t = trace.clone();
    let mut outer: Generator<i32> = Generator::new(move |co| {
        let t2 = t.clone();
        let mut inner: Generator<i32> =
            Generator::new(move |co| match catch::<GeneratorExit, _>(|| co.yield_(1)) {
                Ok(()) => {}
                Err(GeneratorExit) => log(&t2, "inner closed"),
            });
        if catch::<GeneratorExit, _>(|| co.yield_from(&mut inner)).is_err() {
            log(&t, "outer got GeneratorExit");
        }
    });
    assert_eq!(outer.resume(()), Yielded(1));
    assert_eq!(outer.throw(GeneratorExit), Ok(Complete(())));
    assert_eq!(*trace.borrow(), ["inner closed", "outer got GeneratorExit"]);
}
