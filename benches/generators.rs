//! Generators: a yield+resume round trip and the life of a short generator, against
//! corosensei's `Coroutine` used directly (the floor: corio's generators run on it) and a
//! hand-written `Iterator` (what a generator replaces when the state fits in a struct).
//!
//! `cargo bench --bench generators` prints ns per item and
//! `ratio generator_yield_corosensei <x>` (corio / corosensei, same run) and
//! `ratio generator_spawn_corosensei <x>`. Without `--bench` it runs a smoke pass.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{measuring, result_line};
use corio::generator::{Generator, GeneratorState};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult};

/// A row of the table: case, what is timed, items, the work.
type Row = (&'static str, &'static str, u64, fn(u64) -> u64);

/// One timing of `f(n)`, in ns per item.
fn time_per_item(n: u64, f: fn(u64) -> u64) -> f64 {
    let t = Instant::now();
    black_box(f(n));
    t.elapsed().as_nanos() as f64 / n as f64
}

fn corio_resume(n: u64) -> u64 {
    let mut g: Generator<u64> = Generator::new(move |co| {
        for i in 0..n {
            co.yield_(black_box(i));
        }
    });
    let mut sum = 0u64;
    while let GeneratorState::Yielded(v) = g.resume(()) {
        sum = sum.wrapping_add(v);
    }
    sum
}

fn corio_iter(n: u64) -> u64 {
    let g: Generator<u64> = Generator::new(move |co| {
        for i in 0..n {
            co.yield_(black_box(i));
        }
    });
    g.fold(0u64, u64::wrapping_add)
}

fn corosensei_resume(n: u64) -> u64 {
    let mut c: Coroutine<(), u64, ()> = Coroutine::new(move |y, ()| {
        for i in 0..n {
            y.suspend(black_box(i));
        }
    });
    let mut sum = 0u64;
    while let CoroutineResult::Yield(v) = c.resume(()) {
        sum = sum.wrapping_add(v);
    }
    sum
}

/// The same sequence as a hand-written iterator (`black_box` keeps it from being folded).
struct Counter {
    i: u64,
    n: u64,
}

impl Iterator for Counter {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        if self.i < self.n {
            let v = black_box(self.i);
            self.i += 1;
            Some(v)
        } else {
            None
        }
    }
}

fn hand_iter(n: u64) -> u64 {
    Counter { i: 0, n }.fold(0u64, u64::wrapping_add)
}

/// `n` generators, each made, resumed to its one yield and to its end.
fn corio_spawn(n: u64) -> u64 {
    let mut sum = 0u64;
    for i in 0..n {
        let mut g: Generator<u64, u64> = Generator::new(move |co| {
            co.yield_(i);
            1
        });
        if let GeneratorState::Yielded(v) = g.resume(()) {
            sum = sum.wrapping_add(v);
        }
        if let GeneratorState::Complete(v) = g.resume(()) {
            sum = sum.wrapping_add(v);
        }
    }
    sum
}

/// The same with corosensei, its stack reused from one coroutine to the next.
fn corosensei_spawn(n: u64) -> u64 {
    let mut stack = Some(DefaultStack::new(256 * 1024).expect("a stack"));
    let mut sum = 0u64;
    for i in 0..n {
        let mut c: Coroutine<(), u64, u64, DefaultStack> =
            Coroutine::with_stack(stack.take().expect("the stack is back"), move |y, ()| {
                y.suspend(i);
                1
            });
        if let CoroutineResult::Yield(v) = c.resume(()) {
            sum = sum.wrapping_add(v);
        }
        if let CoroutineResult::Return(v) = c.resume(()) {
            sum = sum.wrapping_add(v);
        }
        stack = Some(c.into_stack());
    }
    sum
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = measuring(&args);
    let (items, spawns, reps) = if full {
        (10_000_000, 1_000_000, 5)
    } else {
        println!(
            "smoke pass, not a measurement (run `cargo bench --bench generators` for figures)"
        );
        (1_000, 100, 1)
    };
    assert_eq!(corio_resume(1000), corosensei_resume(1000));
    assert_eq!(corio_iter(1000), hand_iter(1000));
    assert_eq!(corio_spawn(100), corosensei_spawn(100));

    // A plain argument picks the rows by case: `cargo bench --bench generators -- spawn`.
    let only: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let pick = |case: &str| only.is_empty() || only.iter().any(|o| case.contains(o.as_str()));
    // Every row is timed once per round, the rounds interleaving corio and its peers, and
    // each keeps its best: both sides meet the same quiet and busy spells of the machine.
    let table: [Row; 6] = [
        ("yield", "Generator::resume round trip", items, corio_resume),
        (
            "yield",
            "Generator as Iterator (for/fold)",
            items,
            corio_iter,
        ),
        (
            "yield",
            "corosensei Coroutine::resume",
            items,
            corosensei_resume,
        ),
        ("yield", "hand-written Iterator", items, hand_iter),
        (
            "spawn",
            "Generator: new, 2 resumes, end",
            spawns,
            corio_spawn,
        ),
        (
            "spawn",
            "corosensei: reused stack, 2 resumes",
            spawns,
            corosensei_spawn,
        ),
    ];
    let mut best = [f64::NAN; 6];
    for _ in 0..reps {
        for (k, (case, _, n, f)) in table.iter().enumerate() {
            if pick(case) {
                let ns = time_per_item(*n, *f);
                best[k] = if best[k].is_nan() {
                    ns
                } else {
                    best[k].min(ns)
                };
            }
        }
    }
    let rows: Vec<(&str, &str, f64)> = table
        .iter()
        .zip(best)
        .map(|((case, what, _, _), ns)| (*case, *what, ns))
        .collect();
    println!();
    println!("{:<6} {:<40} {:>10}", "case", "what", "ns/item");
    for (case, what, ns) in &rows {
        println!("{case:<6} {what:<40} {ns:>10.2}");
    }
    println!();
    println!(
        "{}",
        result_line(full, "generator_yield_corosensei", rows[0].2 / rows[2].2)
    );
    println!(
        "{}",
        result_line(full, "generator_spawn_corosensei", rows[4].2 / rows[5].2)
    );
}
