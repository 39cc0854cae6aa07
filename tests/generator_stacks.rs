//! Where a generator's stack goes when its body panics, and what a resume hands the body
//! besides a value (start, throw, close carry none): no value is dropped twice or made up.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use corio::generator::{GeneratorExit, catch};
use corio::{Generator, GeneratorState};

use GeneratorState::{Complete, Yielded};

/// Counts its drops.
struct Counted(Rc<Cell<u32>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn in_use() -> usize {
    corio::get_running_loop().stack_stats().in_use
}

/// A generator whose body panics on its second resume.
fn panicking() -> Generator<u8> {
    Generator::new(|co| {
        co.yield_(1);
        panic!("body failed");
    })
}

#[test]
fn generator_whose_body_panicked_gives_its_stack_back_when_dropped() {
    let (before, after_panic, after_drop) = corio::run(|| {
        let before = in_use();
        let mut g = panicking();
        assert_eq!(g.resume(()), Yielded(1));
        assert!(catch_unwind(AssertUnwindSafe(|| g.resume(()))).is_err());
        assert!(g.is_finished());
        let after_panic = in_use();
        drop(g);
        (before, after_panic, in_use())
    });
    assert!(after_panic <= before + 1, "{before} {after_panic}");
    assert_eq!(after_drop, before, "the stack went back to the loop's pool");
}

#[test]
fn generator_whose_body_panicked_gives_its_stack_back_when_resumed_again() {
    let (before, after) = corio::run(|| {
        let before = in_use();
        let mut g = panicking();
        assert_eq!(g.resume(()), Yielded(1));
        assert!(catch_unwind(AssertUnwindSafe(|| g.resume(()))).is_err());
        let p = catch_unwind(AssertUnwindSafe(|| g.resume(()))).unwrap_err();
        let text = p.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(text.contains("has finished"), "{text}");
        let after = in_use();
        assert_eq!(g.next(), None);
        assert_eq!(g.close(), None);
        (before, after)
    });
    assert_eq!(
        after, before,
        "the stack went back before the generator was dropped"
    );
}

#[test]
fn generator_whose_body_panicked_is_finished_for_throw_and_close() {
    let mut g = panicking();
    g.start();
    assert!(catch_unwind(AssertUnwindSafe(|| g.resume(()))).is_err());
    assert_eq!(g.throw(7u32), Err(7));
    assert_eq!(g.close(), None);
    assert!(g.is_finished());
    // Outside a loop the stack goes back to the thread's spare slot; the next generator runs
    // on it.
    let mut h: Generator<u8, u8, u8> = Generator::new(|co| co.yield_(2) + 3);
    assert_eq!(h.start(), Yielded(2));
    assert_eq!(h.resume(4), Complete(7));
}

#[test]
fn generator_start_throw_and_close_hand_no_value_and_sent_values_drop_once() {
    let drops = Rc::new(Cell::new(0));
    let received = Rc::new(Cell::new(0));
    let r = received.clone();
    let mut g: Generator<u8, u8, Counted> = Generator::new(move |co| {
        // A throw arrives as an unwind, not as a value.
        let caught = catch::<&str, _>(|| co.yield_(1));
        assert_eq!(caught.err(), Some("thrown"));
        let sent = co.yield_(2);
        r.set(r.get() + 1);
        drop(sent);
        match catch::<GeneratorExit, _>(|| co.yield_(3)) {
            Ok(_) => 0,
            Err(GeneratorExit) => 9,
        }
    });
    assert_eq!(g.start(), Yielded(1));
    assert_eq!(drops.get(), 0, "start sends no value");
    assert_eq!(g.throw("thrown"), Ok(Yielded(2)));
    assert_eq!(drops.get(), 0, "a throw sends no value");
    assert_eq!(g.resume(Counted(drops.clone())), Yielded(3));
    assert_eq!(
        (received.get(), drops.get()),
        (1, 1),
        "the sent value, dropped once"
    );
    assert_eq!(g.close(), Some(9));
    assert_eq!(drops.get(), 1, "a close sends no value");

    // The first resume's value has no yield_ waiting: dropped once, and the next resume's
    // value reaches the body.
    let mut h: Generator<u8, u8, Counted> = Generator::new(|co| {
        drop(co.yield_(1));
        2
    });
    assert_eq!(h.resume(Counted(drops.clone())), Yielded(1));
    assert_eq!(drops.get(), 2);
    assert_eq!(h.resume(Counted(drops.clone())), Complete(2));
    assert_eq!(drops.get(), 3);
}

/// Makes generators one after another (a generator closed before it started, one thrown
/// into, one that panicked, each followed by one that runs to the end): each leaves its stack
/// for the next, which must start clean (a pending signal or payload would show up as a wrong
/// value or a stray unwind here).
fn generators_one_after_another() {
    for round in 0..3u8 {
        let mut g: Generator<u8, (), u8> = Generator::new(|co| {
            let _ = co.yield_(1);
        });
        match round {
            0 => assert_eq!(g.close(), None),
            1 => {
                g.start();
                assert_eq!(g.throw(5u8), Err(5));
            }
            _ => {
                g.start();
                drop(g);
            }
        }
        let mut h: Generator<u8, u8, u8> = Generator::new(|co| {
            let a = co.yield_(10);
            a + co.yield_(20)
        });
        assert_eq!(h.start(), Yielded(10));
        assert_eq!(h.resume(1), Yielded(20));
        assert_eq!(h.resume(2), Complete(3));
    }
}

#[test]
fn generators_made_one_after_another_reuse_the_spare_stack_with_its_state_reset() {
    generators_one_after_another();
}

#[test]
fn generators_made_one_after_another_in_a_loop_reuse_its_spare_stack_with_its_state_reset() {
    corio::run(generators_one_after_another);
}

#[test]
fn a_loops_spare_generator_stack_counts_as_pooled_and_one_is_reused_for_many_generators() {
    let (before, during, after, again) = corio::run(|| {
        let stats = || corio::get_running_loop().stack_stats();
        let before = stats();
        let mut g: Generator<u32> = Generator::new(|co| co.yield_(1));
        assert_eq!(g.next(), Some(1));
        let during = stats();
        assert_eq!(g.next(), None);
        drop(g);
        let after = stats();
        for i in 0..1000u32 {
            let g: Generator<u32> = Generator::new(move |co| co.yield_(i));
            assert_eq!(g.sum::<u32>(), i);
        }
        (before, during, after, stats())
    });
    assert_eq!(
        during.in_use,
        before.in_use + 1,
        "a live generator holds a stack"
    );
    assert_eq!(after.in_use, before.in_use, "a finished one does not");
    assert_eq!(
        after.pooled,
        before.pooled.max(1),
        "its stack waits for the next one"
    );
    assert_eq!(
        again, after,
        "a thousand more generators reuse that one stack"
    );
}
