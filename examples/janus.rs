//! Seed 004's janus: OS threads and coroutines sharing queues, both ways.
//!
//! Python's janus gives one queue two faces, `sync_q` for threads and `async_q` for
//! coroutines. corio's `ThreadQueue` is such a queue: `blocking_put`/`blocking_get` park the
//! calling OS thread, `put`/`get` park the calling coroutine, and the loop keeps running.
//!
//! Three OS threads put requests (numbers) into `requests`; four coroutines take them, work on
//! the loop (a short sleep stands for a network call) and put the squares into `replies`; two
//! OS threads take the replies and add them up. Both queues are small, so a fast side waits
//! for the slow one: here the producer threads park on a full `requests` while the coroutines
//! work; consumers that fell behind would make the coroutines park on a full `replies`.
//!
//! `cargo run --example janus` runs it, checks the sum and exits (status 1 if it is wrong).

use std::time::Duration;

use corio::ThreadQueue;

const PRODUCERS: u64 = 3;
const PER_PRODUCER: u64 = 100;
const WORKERS: usize = 4;
const CONSUMERS: usize = 2;

// ANCHOR: janus
/// Runs the relay; returns how many replies the consumer threads took, and their sum.
fn relay() -> (u64, u64) {
    corio::run(|| {
        let requests: ThreadQueue<u64> = ThreadQueue::new(8);
        let replies: ThreadQueue<u64> = ThreadQueue::new(8);

        // Threads -> coroutines: plain OS threads block on the sync face.
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let requests = requests.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_PRODUCER {
                        requests.blocking_put(p * PER_PRODUCER + i).expect("open");
                    }
                })
            })
            .collect();

        // Coroutines in the middle: they park on the async face.
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                let (requests, replies) = (requests.clone(), replies.clone());
                corio::spawn(move || {
                    let mut answered = 0;
                    while let Ok(n) = requests.get() {
                        corio::sleep(Duration::from_millis(1)); // a call to elsewhere
                        replies.put(n * n).expect("open");
                        answered += 1;
                    }
                    answered // `get` failed: the queue is closed and empty
                })
            })
            .collect();

        // Coroutines -> threads: OS threads take the replies on the sync face.
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|_| {
                let replies = replies.clone();
                std::thread::spawn(move || {
                    let (mut took, mut sum) = (0u64, 0u64);
                    while let Ok(square) = replies.blocking_get() {
                        took += 1;
                        sum += square;
                    }
                    (took, sum)
                })
            })
            .collect();

        // Joining a thread blocks, so it happens on the executor, off the loop.
        corio::to_thread(move || producers.into_iter().for_each(|p| p.join().unwrap())).unwrap();
        requests.close(); // the workers drain what is left, then their `get` fails
        let answered: Vec<usize> = corio::gather(workers)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        println!("{WORKERS} coroutines answered {answered:?} requests");
        replies.close(); // the consumers take what is left, then stop
        corio::to_thread(move || {
            consumers
                .into_iter()
                .map(|c| c.join().unwrap())
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        })
        .unwrap()
    })
}
// ANCHOR_END: janus

fn main() {
    let (took, sum) = relay();
    let n = PRODUCERS * PER_PRODUCER;
    let want: u64 = (0..n).map(|i| i * i).sum();
    println!(
        "{PRODUCERS} threads put {n} requests; {CONSUMERS} threads took {took} replies, sum {sum}"
    );
    if took != n || sum != want {
        eprintln!("wrong: expected {n} replies summing to {want}");
        std::process::exit(1);
    }
    println!("every request came back as its square");
}
