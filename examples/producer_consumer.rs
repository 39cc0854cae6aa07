//! Producers and consumers around a bounded queue.
//!
//! Three producers put jobs into a queue of eight places (parking whenever it is full), four
//! consumers take them, and a `Semaphore` lets at most two jobs run at once. `join` waits
//! until every job is processed; `shutdown` then ends the consumers' loops.
//!
//! Run with `cargo run --example producer_consumer`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::{Queue, Semaphore};

const PRODUCERS: u64 = 3;
const CONSUMERS: usize = 4;
const JOBS_PER_PRODUCER: u64 = 10;
const QUEUE_SIZE: usize = 8;
const MAX_CONCURRENT: usize = 2;

/// What the consumers observed.
#[derive(Default)]
struct Stats {
    processed: Cell<u64>,
    checksum: Cell<u64>,
    running: Cell<usize>,
    max_running: Cell<usize>,
}

fn main() {
    let started = Instant::now();
    let stats = corio::run(|| {
        let jobs: Queue<u64> = Queue::new(QUEUE_SIZE);
        let permits = Semaphore::new(MAX_CONCURRENT);
        let stats = Rc::new(Stats::default());

        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let (jobs, permits, stats) = (jobs.clone(), permits.clone(), stats.clone());
                corio::spawn(move || {
                    // Ends when the queue is shut down and drained.
                    while let Ok(job) = jobs.get() {
                        // At most MAX_CONCURRENT jobs run at once; the permit goes back on drop.
                        let permit = permits.acquire();
                        stats.running.set(stats.running.get() + 1);
                        stats
                            .max_running
                            .set(stats.max_running.get().max(stats.running.get()));
                        corio::sleep(Duration::from_millis(1)); // the work
                        stats.running.set(stats.running.get() - 1);
                        drop(permit);
                        stats.processed.set(stats.processed.get() + 1);
                        stats.checksum.set(stats.checksum.get() + job);
                        jobs.task_done().expect("one task_done per job taken");
                    }
                })
            })
            .collect();

        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let jobs = jobs.clone();
                corio::spawn(move || {
                    for i in 0..JOBS_PER_PRODUCER {
                        jobs.put(p * 1000 + i)
                            .expect("the queue is open while producing");
                    }
                })
            })
            .collect();

        for p in producers {
            p.join().expect("producer finished");
        }
        jobs.join(); // every job put has been processed
        jobs.shutdown(false);
        for c in consumers {
            c.join().expect("consumer finished");
        }
        stats
    });

    let expected: u64 = (0..PRODUCERS)
        .flat_map(|p| (0..JOBS_PER_PRODUCER).map(move |i| p * 1000 + i))
        .sum();
    assert_eq!(stats.processed.get(), PRODUCERS * JOBS_PER_PRODUCER);
    assert_eq!(stats.checksum.get(), expected);
    assert!(stats.max_running.get() <= MAX_CONCURRENT);
    println!(
        "{} jobs from {PRODUCERS} producers processed by {CONSUMERS} consumers through a queue \
         of {QUEUE_SIZE}; at most {} ran at once (limit {MAX_CONCURRENT}); checksum {} ok; {:.1?}",
        stats.processed.get(),
        stats.max_running.get(),
        stats.checksum.get(),
        started.elapsed(),
    );
}
