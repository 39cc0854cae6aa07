//! Basic queue behaviour: size, order, maxsize, `task_done` and `join`, for all three kinds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use corio::{LifoQueue, PriorityQueue, Queue};

// cpython: test_queues.py QueueBasicTests.test_repr
#[test]
fn queue_debug_shows_parked_getters_putters_and_size() {
    corio::run(|| {
        let q = Queue::<u32>::new(0);
        assert!(format!("{q:?}").starts_with("<Queue"), "{q:?}");

        let q2 = q.clone();
        let getter = corio::spawn(move || q2.get().unwrap());
        corio::yield_now();
        assert!(format!("{q:?}").contains("getters=1"), "{q:?}");
        q.put_nowait(0).unwrap();
        assert_eq!(getter.join().unwrap(), 0);

        let q = Queue::new(1);
        q.put_nowait(1).unwrap();
        let q2 = q.clone();
        let putter = corio::spawn(move || q2.put(2).unwrap());
        corio::yield_now();
        assert!(format!("{q:?}").contains("putters=1"), "{q:?}");
        q.get_nowait().unwrap();
        putter.join().unwrap();

        let q = Queue::new(0);
        q.put_nowait(1).unwrap();
        assert!(format!("{q:?}").contains("qsize=1"), "{q:?}");
    });
}

// cpython: test_queues.py QueueBasicTests.test_empty
#[test]
fn queue_empty_until_put_and_after_get() {
    corio::run(|| {
        let q = Queue::new(0);
        assert!(q.empty());
        q.put(1).unwrap();
        assert!(!q.empty());
        assert_eq!(q.get().unwrap(), 1);
        assert!(q.empty());
    });
}

// cpython: test_queues.py QueueBasicTests.test_full
#[test]
fn queue_full_only_when_bounded_and_at_maxsize() {
    corio::run(|| {
        let q = Queue::<u32>::new(0);
        assert!(!q.full());
        let q = Queue::new(1);
        q.put(1).unwrap();
        assert!(q.full());
    });
}

// cpython: test_queues.py QueueBasicTests.test_order
#[test]
fn queue_returns_items_first_in_first_out() {
    corio::run(|| {
        let q = Queue::new(0);
        for i in [1, 3, 2] {
            q.put(i).unwrap();
        }
        let items: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
        assert_eq!(items, [1, 3, 2]);
    });
}

// cpython: test_queues.py LifoQueueTests.test_order
#[test]
fn lifo_queue_returns_newest_item_first() {
    corio::run(|| {
        let q = LifoQueue::new(0);
        for i in [1, 3, 2] {
            q.put(i).unwrap();
        }
        let items: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
        assert_eq!(items, [2, 3, 1]);
    });
}

// cpython: test_queues.py PriorityQueueTests.test_order
#[test]
fn priority_queue_returns_smallest_item_first() {
    corio::run(|| {
        let q = PriorityQueue::new(0);
        for i in [1, 3, 2] {
            q.put(i).unwrap();
        }
        let items: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
        assert_eq!(items, [1, 2, 3]);
    });
}

#[test]
fn priority_queue_keeps_equal_priorities_in_put_order() {
    corio::run(|| {
        let q = PriorityQueue::new(0);
        for (p, name) in [(2, "c"), (1, "a"), (2, "d"), (1, "b")] {
            q.put(ByPriority(p, name)).unwrap();
        }
        let names: Vec<&str> = (0..4).map(|_| q.get().unwrap().1).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    });
}

/// Ordered by priority only, so that equal priorities are ties.
#[derive(Debug)]
struct ByPriority(u32, &'static str);

impl PartialEq for ByPriority {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for ByPriority {}
impl PartialOrd for ByPriority {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByPriority {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

// cpython: test_queues.py QueueBasicTests.test_maxsize
#[test]
fn queue_put_parks_at_maxsize_until_a_get() {
    corio::run(|| {
        let q = Queue::new(2);
        assert_eq!(q.maxsize(), 2);
        let have_been_put = Rc::new(RefCell::new(Vec::new()));
        let putter = {
            let (q, put) = (q.clone(), have_been_put.clone());
            corio::spawn(move || {
                for i in 0..3 {
                    q.put(i).unwrap();
                    put.borrow_mut().push(i);
                }
                true
            })
        };
        corio::yield_now();
        corio::yield_now();
        // The putter is blocked after putting two items.
        assert_eq!(*have_been_put.borrow(), [0, 1]);
        assert_eq!(q.get().unwrap(), 0);
        // Let the putter resume and put the last item.
        corio::yield_now();
        assert_eq!(*have_been_put.borrow(), [0, 1, 2]);
        assert_eq!(q.get().unwrap(), 1);
        assert_eq!(q.get().unwrap(), 2);
        assert!(putter.is_done());
        assert!(putter.join().unwrap());
    });
}

macro_rules! join_tests {
    ($kind:ident, $Q:ident) => {
        mod $kind {
            use super::*;

            // cpython: test_queues.py _QueueJoinTestMixin.test_task_done_underflow
            #[test]
            fn task_done_without_a_put_is_an_error() {
                let q = $Q::<u32>::new(0);
                assert!(q.task_done().is_err());
            }

            // cpython: test_queues.py _QueueJoinTestMixin.test_task_done
            #[test]
            fn join_returns_once_workers_marked_every_item_done() {
                corio::run(|| {
                    let q = $Q::new(0);
                    for i in 0..100u32 {
                        q.put_nowait(i).unwrap();
                    }
                    let accumulator = Rc::new(Cell::new(0));
                    let running = Rc::new(Cell::new(true));
                    let workers: Vec<_> = (0..2)
                        .map(|_| {
                            let (q, acc, running) =
                                (q.clone(), accumulator.clone(), running.clone());
                            corio::spawn(move || {
                                while running.get() {
                                    let item = q.get().unwrap();
                                    acc.set(acc.get() + item);
                                    q.task_done().unwrap();
                                }
                            })
                        })
                        .collect();
                    q.join();
                    assert_eq!(accumulator.get(), (0..100).sum::<u32>());
                    // Close the workers.
                    running.set(false);
                    for _ in &workers {
                        q.put_nowait(0).unwrap();
                    }
                    for w in workers {
                        w.join().unwrap();
                    }
                });
            }

            // cpython: test_queues.py _QueueJoinTestMixin.test_join_empty_queue
            #[test]
            fn join_on_an_empty_queue_returns_at_once() {
                corio::run(|| {
                    let q = $Q::<u32>::new(0);
                    q.join();
                    q.join();
                });
            }

            // cpython: test_queues.py _QueueJoinTestMixin.test_format
            #[test]
            fn debug_shows_maxsize_and_unfinished_count() {
                let q = $Q::new(0);
                assert!(format!("{q:?}").contains("maxsize=0"), "{q:?}");
                assert!(!format!("{q:?}").contains("tasks="), "{q:?}");
                q.put_nowait(1).unwrap();
                q.put_nowait(2).unwrap();
                q.get_nowait().unwrap();
                assert!(format!("{q:?}").contains("tasks=2"), "{q:?}");
            }

            #[test]
            fn join_returns_even_if_an_item_is_put_before_it_resumes() {
                corio::run(|| {
                    let q = $Q::new(0);
                    q.put_nowait(1).unwrap();
                    let joiner = {
                        let q = q.clone();
                        corio::spawn(move || q.join())
                    };
                    corio::yield_now();
                    assert!(!joiner.is_done());
                    q.get_nowait().unwrap();
                    q.task_done().unwrap();
                    q.put_nowait(2).unwrap(); // asyncio's Event: the waiter was already released
                    joiner.join().unwrap();
                });
            }
        }
    };
}

join_tests!(fifo, Queue);
join_tests!(lifo, LifoQueue);
join_tests!(priority, PriorityQueue);
