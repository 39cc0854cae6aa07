//! Fairness and cancellation safety: FIFO service of parked getters and putters, direct
//! hand-off, and nothing lost or duplicated when a woken waiter is cancelled.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corio::{LifoQueue, PriorityQueue, Queue, Task};

fn spawn_get<T: 'static>(q: &Queue<T>) -> Task<T> {
    let q = q.clone();
    corio::spawn(move || q.get().unwrap())
}

fn spawn_put<T: 'static>(q: &Queue<T>, item: T) -> Task<()> {
    let q = q.clone();
    corio::spawn(move || q.put(item).unwrap())
}

#[test]
fn parked_getters_are_served_in_arrival_order() {
    corio::run(|| {
        let q = Queue::new(0);
        let getters: Vec<_> = (0..5).map(|_| spawn_get(&q)).collect();
        corio::yield_now();
        for i in 0..5 {
            q.put_nowait(i).unwrap();
        }
        let got: Vec<i32> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
    });
}

#[test]
fn parked_putters_are_served_in_arrival_order() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let putters: Vec<_> = (1..6).map(|i| spawn_put(&q, i)).collect();
        corio::yield_now();
        let got: Vec<i32> = (0..6).map(|_| q.get().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4, 5]);
        for p in putters {
            p.join().unwrap();
        }
    });
}

#[test]
fn put_hands_the_item_straight_to_the_first_parked_getter() {
    corio::run(|| {
        let q = Queue::new(0);
        let first = spawn_get(&q);
        let second = spawn_get(&q);
        corio::yield_now();
        q.put_nowait("a").unwrap();
        assert_eq!(
            q.qsize(),
            0,
            "the item went to the getter, not into the queue"
        );
        q.put_nowait("b").unwrap();
        assert_eq!(first.join().unwrap(), "a");
        assert_eq!(second.join().unwrap(), "b");
    });
}

#[test]
fn get_nowait_cannot_take_the_item_handed_to_a_parked_getter() {
    corio::run(|| {
        let q = Queue::new(0);
        let parked = spawn_get(&q);
        corio::yield_now();
        q.put_nowait(1).unwrap();
        // A newcomer arriving before the parked getter resumes finds nothing to take.
        assert!(q.get_nowait().unwrap_err().is_empty());
        assert_eq!(parked.join().unwrap(), 1);
    });
}

#[test]
fn put_nowait_cannot_take_the_place_granted_to_a_parked_putter() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait("x").unwrap();
        let parked = spawn_put(&q, "y");
        corio::yield_now();
        assert_eq!(q.get_nowait().unwrap(), "x"); // frees the place, granted to the putter
        assert!(q.full());
        assert_eq!(q.put_nowait("z").unwrap_err().into_inner(), "z");
        parked.join().unwrap();
        assert_eq!(q.get_nowait().unwrap(), "y");
    });
}

#[test]
fn queue_get_cancelled_after_wakeup_passes_the_item_to_the_next_getter() {
    corio::run(|| {
        let q = Queue::new(0);
        let first = spawn_get(&q);
        let second = spawn_get(&q);
        corio::yield_now();
        q.put_nowait(1).unwrap(); // handed to `first`, which is woken
        first.cancel(); // ...and cancelled before it resumes
        assert!(first.join().unwrap_err().is_cancelled());
        assert_eq!(second.join().unwrap(), 1);
        assert!(q.empty(), "the item was not duplicated");
        q.task_done().unwrap();
        assert!(q.task_done().is_err(), "one item was put, one is done");
    });
}

#[test]
fn queue_get_cancelled_after_wakeup_keeps_item_at_the_front() {
    corio::run(|| {
        let q = Queue::new(0);
        let getter = spawn_get(&q);
        corio::yield_now();
        q.put_nowait(1).unwrap(); // handed to the getter
        q.put_nowait(2).unwrap();
        q.put_nowait(3).unwrap();
        getter.cancel();
        assert!(getter.join().unwrap_err().is_cancelled());
        let rest: Vec<i32> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
        assert_eq!(rest, [1, 2, 3]);
    });
}

#[test]
fn lifo_get_cancelled_after_wakeup_puts_item_back_below_newer_ones() {
    corio::run(|| {
        let q = LifoQueue::new(0);
        let getter = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        corio::yield_now();
        for i in [1, 2, 3] {
            q.put_nowait(i).unwrap(); // 1 is handed to the getter
        }
        getter.cancel();
        assert!(getter.join().unwrap_err().is_cancelled());
        let rest: Vec<i32> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
        assert_eq!(rest, [3, 2, 1], "as if the item had never left the stack");
    });
}

#[test]
fn priority_get_cancelled_after_wakeup_puts_item_back_in_order() {
    corio::run(|| {
        let q = PriorityQueue::new(0);
        let getter = {
            let q = q.clone();
            corio::spawn(move || q.get().unwrap())
        };
        corio::yield_now();
        for i in [5, 9, 1] {
            q.put_nowait(i).unwrap(); // 5 is handed to the getter
        }
        getter.cancel();
        assert!(getter.join().unwrap_err().is_cancelled());
        let rest: Vec<i32> = std::iter::from_fn(|| q.get_nowait().ok()).collect();
        assert_eq!(rest, [1, 5, 9]);
    });
}

#[test]
fn queue_put_cancelled_after_grant_passes_the_place_to_the_next_putter() {
    corio::run(|| {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let first = spawn_put(&q, 1);
        let second = spawn_put(&q, 2);
        corio::yield_now();
        assert_eq!(q.get_nowait().unwrap(), 0); // grants the place to `first`
        first.cancel(); // ...cancelled before it resumes: `second` gets the place
        assert!(first.join().unwrap_err().is_cancelled());
        second.join().unwrap();
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(q.empty());
    });
}

#[test]
fn cancelled_parked_getter_keeps_fifo_order_of_the_others() {
    corio::run(|| {
        let q = Queue::new(0);
        let getters: Vec<_> = (0..4).map(|_| spawn_get(&q)).collect();
        corio::yield_now();
        getters[1].cancel();
        corio::yield_now();
        for i in 0..3 {
            q.put_nowait(i).unwrap();
        }
        let got: Vec<Option<i32>> = getters.into_iter().map(|g| g.join().ok()).collect();
        assert_eq!(got, [Some(0), None, Some(1), Some(2)]);
    });
}

/// Counts drops, to prove items are neither lost nor duplicated.
struct Counted(Rc<Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn loop_close_with_an_item_handed_to_a_getter_drops_it_once() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    corio::run(move || {
        let q = Queue::new(0);
        let q2 = q.clone();
        let _getter = corio::spawn(move || drop(q2.get()));
        corio::yield_now();
        q.put_nowait(Counted(d)).unwrap();
        // Return at once: the getter is woken but never resumes before the loop closes.
    });
    assert_eq!(drops.get(), 1);
}

#[test]
fn items_dropped_by_immediate_shutdown_may_use_the_queue() {
    struct Probe(Queue<Probe>, Rc<Cell<usize>>);
    impl Drop for Probe {
        fn drop(&mut self) {
            // Runs outside the queue's borrow, so the queue is usable here.
            self.1.set(self.1.get() + 1 + self.0.qsize());
        }
    }
    let seen = Rc::new(Cell::new(0));
    let q = Queue::new(0);
    q.put_nowait(Probe(q.clone(), seen.clone())).unwrap();
    q.put_nowait(Probe(q.clone(), seen.clone())).unwrap();
    q.shutdown(true);
    assert_eq!(seen.get(), 2);
    assert_eq!(q.qsize(), 0);
}

/// A small deterministic generator, so the test runs the same every time.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn random_cancellations_lose_and_duplicate_no_item() {
    corio::run(|| {
        let q = Queue::new(3);
        let put_ok = Rc::new(RefCell::new(Vec::new()));
        let got = Rc::new(RefCell::new(Vec::new()));
        let next_id = Rc::new(Cell::new(0u32));
        let producer = |q: &Queue<u32>| {
            let (q, put_ok, next_id) = (q.clone(), put_ok.clone(), next_id.clone());
            corio::spawn(move || {
                for _ in 0..20 {
                    let id = next_id.get();
                    next_id.set(id + 1);
                    if q.put(id).is_err() {
                        return;
                    }
                    put_ok.borrow_mut().push(id);
                }
            })
        };
        let consumer = |q: &Queue<u32>| {
            let (q, got) = (q.clone(), got.clone());
            corio::spawn(move || {
                while let Ok(id) = q.get() {
                    got.borrow_mut().push(id);
                    q.task_done().unwrap();
                    if id % 3 == 0 {
                        corio::yield_now();
                    }
                }
            })
        };
        let mut producers: Vec<_> = (0..3).map(|_| producer(&q)).collect();
        let mut consumers: Vec<_> = (0..3).map(|_| consumer(&q)).collect();
        let mut rng = Lcg(7);
        let mut cancels = 0;
        for _ in 0..400 {
            corio::yield_now();
            match rng.below(6) {
                0 => {
                    let k = rng.below(consumers.len());
                    cancels += consumers[k].cancel() as usize;
                    consumers[k] = consumer(&q);
                }
                1 => {
                    let k = rng.below(producers.len());
                    cancels += producers[k].cancel() as usize;
                    producers[k] = producer(&q);
                }
                _ => {}
            }
        }
        assert!(
            cancels > 20,
            "the test must exercise cancellation ({cancels})"
        );
        for p in producers {
            p.cancel();
            let _ = p.join();
        }
        q.shutdown(false); // consumers drain what is left, then stop
        for c in consumers {
            c.join().unwrap();
        }
        let mut put_ok = put_ok.take();
        let mut got = got.take();
        assert!(put_ok.len() > 100, "enough traffic ({})", put_ok.len());
        put_ok.sort();
        got.sort();
        assert_eq!(got, put_ok, "every item put was received exactly once");
        assert!(q.task_done().is_err(), "every item was marked done");
    });
}
