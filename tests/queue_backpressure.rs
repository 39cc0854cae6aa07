//! Producers far faster than the consumer of a bounded queue: `put` parks, so the queue and
//! the items alive stay within bounds however long the run, and nothing is lost or reordered.

use std::cell::Cell;
use std::rc::Rc;

use corio::{Queue, spawn, yield_now};

/// An item that counts how many of its kind are alive: the memory the queue pins.
struct Tracked {
    value: u32,
    live: Rc<Cell<usize>>,
}

impl Tracked {
    fn new(value: u32, live: &Rc<Cell<usize>>) -> Tracked {
        live.set(live.get() + 1);
        Tracked {
            value,
            live: live.clone(),
        }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.set(self.live.get() - 1);
    }
}

#[test]
fn queue_fast_producers_park_so_a_bounded_queue_never_grows_past_maxsize() {
    const MAXSIZE: usize = 8;
    const PRODUCERS: u32 = 4;
    const PER_PRODUCER: u32 = 5_000;
    corio::run(|| {
        let q = Queue::new(MAXSIZE);
        let live = Rc::new(Cell::new(0));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (q, live) = (q.clone(), live.clone());
                // Never yields by itself: it would fill any memory if `put` did not park.
                spawn(move || {
                    for i in 0..PER_PRODUCER {
                        q.put(Tracked::new(p * PER_PRODUCER + i, &live)).unwrap();
                    }
                })
            })
            .collect();

        let mut next = vec![0u32; PRODUCERS as usize];
        let mut max_qsize = 0;
        let mut max_live = 0;
        for _ in 0..PRODUCERS * PER_PRODUCER {
            // A slow consumer: every producer gets several turns per item taken.
            for _ in 0..3 {
                yield_now();
            }
            max_qsize = max_qsize.max(q.qsize());
            max_live = max_live.max(live.get());
            assert!(q.qsize() <= MAXSIZE, "qsize {} > maxsize", q.qsize());
            // The queue's items, plus one waiting in each parked producer's put.
            assert!(
                live.get() <= MAXSIZE + PRODUCERS as usize,
                "{} items alive",
                live.get()
            );

            let item = q.get().unwrap();
            let (p, i) = (item.value / PER_PRODUCER, item.value % PER_PRODUCER);
            assert_eq!(i, next[p as usize], "producer {p}'s items out of order");
            next[p as usize] += 1;
        }
        assert_eq!(max_qsize, MAXSIZE, "the producers did outrun the consumer");
        assert_eq!(max_live, MAXSIZE + PRODUCERS as usize);
        for p in producers {
            p.join().unwrap();
        }
        assert!(q.empty());
        assert_eq!(live.get(), 0, "every item was dropped once consumed");
        assert!(next.iter().all(|&n| n == PER_PRODUCER));
    });
}

#[test]
fn queue_fast_producer_with_put_nowait_is_refused_not_buffered() {
    corio::run(|| {
        let q = Queue::new(4);
        let mut refused = 0;
        for i in 0..10_000u32 {
            match q.put_nowait(i) {
                Ok(()) => {}
                Err(e) => {
                    assert!(e.is_full());
                    assert_eq!(e.into_inner(), i, "the refused item comes back");
                    refused += 1;
                }
            }
            assert!(q.qsize() <= 4);
            if i % 100 == 0 {
                q.get_nowait().unwrap(); // a consumer a hundred times slower
            }
        }
        assert_eq!(q.qsize(), 4);
        assert_eq!(refused, 10_000 - 4 - 100);
    });
}
