//! `ThreadQueue` under load: a million items between OS threads and coroutines, in both
//! directions, with nothing lost and nothing delivered twice.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use corio::ThreadQueue;

const ITEMS: u64 = 1_000_000;
const THREADS: u64 = 4;
const COROUTINES: usize = 3;

/// Marks each item seen; panics on an item seen twice; returns (count, sum).
fn tally(seen: &mut [bool], items: impl IntoIterator<Item = u64>) -> (u64, u64) {
    let (mut n, mut sum) = (0, 0);
    for i in items {
        assert!(!seen[i as usize], "item {i} was delivered twice");
        seen[i as usize] = true;
        n += 1;
        sum += i;
    }
    (n, sum)
}

#[test]
fn a_million_items_from_threads_to_coroutines_arrive_once_each() {
    let q = ThreadQueue::new(64);
    let producers: Vec<_> = (0..THREADS)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                // Producer p sends the items congruent to p.
                let mut i = p;
                while i < ITEMS {
                    q.blocking_put(i).unwrap();
                    i += THREADS;
                }
            })
        })
        .collect();
    let seen = Rc::new(RefCell::new(vec![false; ITEMS as usize]));
    let per_consumer = corio::run({
        let seen = seen.clone();
        move || {
            let consumers: Vec<_> = (0..COROUTINES)
                .map(|_| {
                    let (q, seen) = (q.clone(), seen.clone());
                    corio::spawn(move || {
                        let (mut n, mut sum) = (0u64, 0u64);
                        while let Ok(i) = q.get() {
                            let (dn, ds) = tally(&mut seen.borrow_mut(), [i]);
                            n += dn;
                            sum += ds;
                        }
                        (n, sum)
                    })
                })
                .collect();
            // Close once every producer is done; the consumers drain what is left.
            corio::to_thread(move || {
                for p in producers {
                    p.join().unwrap();
                }
            })
            .unwrap();
            q.close();
            consumers
                .into_iter()
                .map(|c| c.join().unwrap())
                .collect::<Vec<_>>()
        }
    });
    let count: u64 = per_consumer.iter().map(|c| c.0).sum();
    let sum: u64 = per_consumer.iter().map(|c| c.1).sum();
    assert_eq!(count, ITEMS);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    assert!(seen.borrow().iter().all(|s| *s), "every item arrived");
}

#[test]
fn a_million_items_from_coroutines_to_threads_arrive_once_each() {
    let q = ThreadQueue::new(64);
    let consumers: Vec<_> = (0..THREADS)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Ok(i) = q.blocking_get() {
                    got.push(i);
                }
                got
            })
        })
        .collect();
    corio::run({
        let q = q.clone();
        move || {
            let producers: Vec<_> = (0..COROUTINES)
                .map(|c| {
                    let q = q.clone();
                    corio::spawn(move || {
                        let mut i = c as u64;
                        while i < ITEMS {
                            q.put(i).unwrap();
                            i += COROUTINES as u64;
                        }
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            q.close();
        }
    });
    let mut seen = vec![false; ITEMS as usize];
    let (mut count, mut sum) = (0, 0);
    for c in consumers {
        let (n, s) = tally(&mut seen, c.join().unwrap());
        count += n;
        sum += s;
    }
    assert_eq!(count, ITEMS);
    assert_eq!(sum, ITEMS * (ITEMS - 1) / 2);
    assert!(seen.iter().all(|s| *s), "every item arrived");
}

#[test]
fn both_sides_produce_and_consume_at_once() {
    // A thread and a coroutine put half the items each; another thread and another coroutine
    // take what comes, with a blocking get and a parking get, through a queue of one place. So
    // puts wait while it is full and gets while it is empty, on both sides, and each kind of
    // waiter (thread or coroutine, put or get) is woken by the others. A lost wake-up hangs
    // the test, and the watchdog fails it.
    const N: u64 = 100_000;
    let _watchdog = common::watchdog();
    let q = ThreadQueue::new(1);
    let thread_producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for i in 0..N / 2 {
                q.blocking_put(i).unwrap();
            }
        })
    };
    let thread_consumer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Ok(i) = q.blocking_get() {
                got.push(i);
            }
            got
        })
    };
    let coroutine_got = corio::run({
        let q = q.clone();
        move || {
            let producer = {
                let q = q.clone();
                corio::spawn(move || {
                    for i in N / 2..N {
                        q.put(i).unwrap();
                    }
                })
            };
            let consumer = {
                let q = q.clone();
                corio::spawn(move || {
                    let mut got = Vec::new();
                    while let Ok(i) = q.get() {
                        got.push(i);
                    }
                    got
                })
            };
            producer.join().unwrap();
            corio::to_thread(move || thread_producer.join().unwrap()).unwrap();
            q.close(); // the consumers take what is left, then see the end
            consumer.join().unwrap()
        }
    });
    let thread_got = thread_consumer.join().unwrap();
    let mut seen = vec![false; N as usize];
    let count = tally(&mut seen, coroutine_got).0 + tally(&mut seen, thread_got).0;
    assert_eq!(count, N);
    assert!(seen.iter().all(|s| *s), "every item was taken once");
}
