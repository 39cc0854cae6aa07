//! The cancel count behind `CurrentTask::cancelling` / `uncancel`.

use std::time::Duration;

use corio::{catch_cancel, current_task, sleep, spawn, yield_now};

// cpython: test_tasks.py BaseTaskTests.test_cancelling
#[test]
fn cancelling_counts_every_request() {
    corio::run(|| {
        let me = current_task().unwrap();
        assert_eq!(me.cancelling(), 0);
        assert!(me.cancel());
        assert!(me.cancel());
        assert_eq!(me.cancelling(), 2);
        assert!(
            catch_cancel(yield_now).is_err(),
            "two requests, one delivery"
        );
        yield_now(); // nothing pending any more
        assert_eq!(me.cancelling(), 2, "delivery does not lower the count");
        assert_eq!(me.uncancel(), 1);
        assert_eq!(me.uncancel(), 0);
        assert_eq!(me.uncancel(), 0, "never below zero");
    });
}

// cpython: test_tasks.py BaseTaskTests.test_uncancel
#[test]
fn uncancel_after_a_caught_cancellation_lets_a_new_one_through() {
    corio::run(|| {
        let t = spawn(|| {
            if catch_cancel(|| sleep(Duration::from_secs(10))).is_err() {
                assert_eq!(current_task().unwrap().uncancel(), 0);
                sleep(Duration::from_secs(10));
            }
        });
        yield_now();
        assert!(t.cancel()); // cancels the first sleep
        yield_now();
        yield_now();
        assert!(!t.is_done());
        assert!(t.cancel()); // cancels the second one
        assert!(t.join().unwrap_err().is_cancelled());
    });
}

#[test]
fn uncancel_withdraws_a_request_not_yet_delivered() {
    corio::run(|| {
        let me = current_task().unwrap();
        me.cancel();
        assert_eq!(me.uncancel(), 0);
        yield_now();
        sleep(Duration::from_millis(1));
    });
}

#[test]
fn uncancel_keeps_a_newer_request_pending() {
    corio::run(|| {
        let me = current_task().unwrap();
        me.cancel();
        assert!(catch_cancel(yield_now).is_err()); // one delivered, count 1
        me.cancel();
        me.cancel(); // two newer ones, not delivered
        assert_eq!(me.uncancel(), 2);
        assert!(
            catch_cancel(yield_now).is_err(),
            "a newer request is still pending"
        );
    });
}

#[test]
fn uncancel_withdraws_a_pending_request_when_the_rest_were_delivered() {
    corio::run(|| {
        let me = current_task().unwrap();
        me.cancel();
        assert!(catch_cancel(yield_now).is_err()); // delivered, count 1
        me.cancel(); // pending, count 2
        assert_eq!(me.uncancel(), 1);
        yield_now(); // the pending one went with it; the delivered one is only counted
        assert_eq!(me.cancelling(), 1);
    });
}
