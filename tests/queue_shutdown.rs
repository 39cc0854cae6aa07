//! `shutdown(immediate)` as Python 3.13 specifies it, for all three kinds of queue.

macro_rules! shutdown_tests {
    ($kind:ident, $Q:ident) => {
        mod $kind {
            use corio::queue::{GetNowaitError, PutNowaitError};
            use corio::$Q;

            /// Every put and get fails with QueueShutDown, and puts give their item back.
            fn assert_puts_and_gets_fail(q: &$Q<&'static str>) {
                assert_eq!(q.put("data").unwrap_err().into_inner(), "data");
                assert!(matches!(
                    q.put_nowait("data"),
                    Err(PutNowaitError::ShutDown(_))
                ));
                assert!(q.get().is_err());
                assert!(matches!(q.get_nowait(), Err(GetNowaitError::ShutDown(_))));
            }

            // cpython: test_queues.py _QueueShutdownTestMixin.test_format
            #[test]
            fn debug_shows_shutdown() {
                let q = $Q::<u32>::new(0);
                q.shutdown(false);
                assert!(
                    format!("{q:?}").ends_with("maxsize=0 qsize=0 shutdown>"),
                    "{q:?}"
                );
                assert!(q.is_shutdown());
            }

            // cpython: test_queues.py _QueueShutdownTestMixin.test_shutdown_empty
            #[test]
            fn shutdown_of_an_empty_queue_fails_the_parked_getter() {
                corio::run(|| {
                    let q = $Q::new(0);
                    let get_task = {
                        let q = q.clone();
                        corio::spawn(move || q.get())
                    };
                    corio::yield_now(); // the get is pending before the shutdown
                    q.shutdown(false);
                    assert_eq!(q.qsize(), 0);
                    q.join(); // nothing unfinished
                    corio::yield_now();
                    assert!(get_task.is_done());
                    assert!(get_task.join().unwrap().is_err());
                    assert_puts_and_gets_fail(&q);
                });
            }

            // cpython: test_queues.py _QueueShutdownTestMixin.test_shutdown_nonempty
            #[test]
            fn shutdown_fails_the_parked_putter_and_lets_gets_drain() {
                corio::run(|| {
                    let q = $Q::new(1);
                    q.put_nowait("data").unwrap();
                    let join_task = {
                        let q = q.clone();
                        corio::spawn(move || q.join())
                    };
                    let put_task = {
                        let q = q.clone();
                        corio::spawn(move || q.put("data2"))
                    };
                    corio::yield_now();
                    assert!(!put_task.is_done());

                    q.shutdown(false); // unfinished: 1 -> 1
                    assert_eq!(q.qsize(), 1);

                    corio::yield_now();
                    assert!(put_task.is_done());
                    assert_eq!(put_task.join().unwrap().unwrap_err().into_inner(), "data2");

                    assert_eq!(q.get().unwrap(), "data");
                    corio::yield_now();
                    assert!(!join_task.is_done());

                    assert_puts_and_gets_fail(&q);

                    q.task_done().unwrap();
                    corio::yield_now();
                    assert!(join_task.is_done());
                    join_task.join().unwrap();
                    assert!(q.task_done().is_err(), "every task is already done");
                });
            }

            // cpython: test_queues.py _QueueShutdownTestMixin.test_shutdown_immediate
            #[test]
            fn immediate_shutdown_drops_items_and_releases_join() {
                corio::run(|| {
                    let q = $Q::new(0);
                    q.put_nowait("data").unwrap();
                    let join_task = {
                        let q = q.clone();
                        corio::spawn(move || q.join())
                    };
                    q.shutdown(true); // unfinished: 1 -> 0
                    assert_eq!(q.qsize(), 0);
                    corio::yield_now();
                    assert!(join_task.is_done());
                    join_task.join().unwrap();
                    assert_puts_and_gets_fail(&q);
                    assert!(q.task_done().is_err(), "no task is unfinished");
                });
            }

            // cpython: test_queues.py _QueueShutdownTestMixin.test_shutdown_immediate_with_unfinished
            #[test]
            fn immediate_shutdown_keeps_items_already_taken_unfinished() {
                corio::run(|| {
                    let q = $Q::new(0);
                    q.put_nowait("data").unwrap();
                    q.put_nowait("data").unwrap();
                    let join_task = {
                        let q = q.clone();
                        corio::spawn(move || q.join())
                    };
                    assert_eq!(q.get().unwrap(), "data");
                    q.shutdown(true); // unfinished: 2 -> 1
                    assert_eq!(q.qsize(), 0);
                    corio::yield_now();
                    assert!(!join_task.is_done());
                    assert_puts_and_gets_fail(&q);
                    q.task_done().unwrap();
                    assert!(q.task_done().is_err(), "only one task was unfinished");
                    corio::yield_now();
                    assert!(join_task.is_done());
                    join_task.join().unwrap();
                });
            }

            #[test]
            fn immediate_shutdown_takes_back_an_item_handed_to_a_getter_not_yet_resumed() {
                corio::run(|| {
                    let q = $Q::new(0);
                    let get_task = {
                        let q = q.clone();
                        corio::spawn(move || q.get())
                    };
                    corio::yield_now();
                    q.put_nowait("data").unwrap(); // handed to the parked getter
                    q.shutdown(true); // in asyncio the item is still queued and is dropped
                    assert!(get_task.join().unwrap().is_err());
                    assert!(q.task_done().is_err(), "the dropped item counts as done");
                });
            }

            #[test]
            fn shutdown_after_hand_off_lets_the_getter_keep_its_item() {
                corio::run(|| {
                    let q = $Q::new(0);
                    let get_task = {
                        let q = q.clone();
                        corio::spawn(move || q.get())
                    };
                    corio::yield_now();
                    q.put_nowait("data").unwrap();
                    q.shutdown(false); // gets drain what was put before the shutdown
                    assert_eq!(get_task.join().unwrap().unwrap(), "data");
                });
            }

            #[test]
            fn shutdown_wakes_every_parked_getter_and_putter() {
                corio::run(|| {
                    let empty = $Q::<&'static str>::new(0);
                    let getters: Vec<_> = (0..3)
                        .map(|_| {
                            let q = empty.clone();
                            corio::spawn(move || q.get())
                        })
                        .collect();
                    let full = $Q::new(1);
                    full.put_nowait("x").unwrap();
                    let putters: Vec<_> = ["a", "b", "c"]
                        .into_iter()
                        .map(|item| {
                            let q = full.clone();
                            corio::spawn(move || q.put(item))
                        })
                        .collect();
                    corio::yield_now();
                    empty.shutdown(false);
                    full.shutdown(false);
                    for g in getters {
                        assert!(g.join().unwrap().is_err());
                    }
                    let back: Vec<_> = putters
                        .into_iter()
                        .map(|p| p.join().unwrap().unwrap_err().into_inner())
                        .collect();
                    assert_eq!(back, ["a", "b", "c"]);
                    assert_eq!(full.get().unwrap(), "x");
                    assert!(full.get().is_err());
                });
            }

            #[test]
            fn putter_granted_a_place_before_shutdown_still_fails() {
                corio::run(|| {
                    let q = $Q::new(1);
                    q.put_nowait("x").unwrap();
                    let put_task = {
                        let q = q.clone();
                        corio::spawn(move || q.put("y"))
                    };
                    corio::yield_now();
                    assert_eq!(q.get_nowait().unwrap(), "x"); // grants the place
                    q.shutdown(false);
                    assert_eq!(put_task.join().unwrap().unwrap_err().into_inner(), "y");
                    assert!(!q.full());
                });
            }

            #[test]
            fn cancelled_getter_after_shutdown_gives_its_item_back_for_draining() {
                corio::run(|| {
                    let q = $Q::new(0);
                    let get_task = {
                        let q = q.clone();
                        corio::spawn(move || q.get())
                    };
                    corio::yield_now();
                    q.put_nowait("data").unwrap();
                    q.shutdown(false);
                    get_task.cancel();
                    assert!(get_task.join().unwrap_err().is_cancelled());
                    assert_eq!(q.get().unwrap(), "data");
                    assert!(q.get().is_err());
                });
            }
        }
    };
}

shutdown_tests!(fifo, Queue);
shutdown_tests!(lifo, LifoQueue);
shutdown_tests!(priority, PriorityQueue);
