//! Proof that blocking work (a name lookup) runs on the executor's thread and not on the
//! loop's thread.

use std::sync::mpsc;

/// Holds the running loop's executor busy: installs a default executor of one thread and
/// parks that thread on a channel until [`HeldPool::release`]. Work sent to the pool meanwhile
/// queues behind it, so it cannot end before the release; work done on the loop's own thread
/// ends regardless.
pub struct HeldPool {
    release: Option<mpsc::Sender<()>>,
    holder: Option<corio::Task<()>>,
}

impl HeldPool {
    /// Installs a one-thread default executor (unless the default has one thread already) and
    /// occupies its thread. Call inside a coroutine.
    pub fn hold() -> HeldPool {
        if corio::executor::default_executor().max_threads() != 1 {
            corio::executor::set_default_executor(
                corio::executor::Executor::builder().max_threads(1).build(),
            );
        }
        let (tx, rx) = mpsc::channel::<()>();
        let holder = corio::spawn(move || {
            // Returns on release, or when the sender is dropped (a failed test unwinding).
            corio::to_thread(move || {
                let _ = rx.recv();
            })
            .expect("the holding job does not panic");
        });
        corio::yield_now(); // the holder's job is queued first
        HeldPool {
            release: Some(tx),
            holder: Some(holder),
        }
    }

    /// Lets the pool's thread go and waits until it has.
    pub fn release(mut self) {
        let _ = self.release.take().expect("released once").send(());
        self.holder
            .take()
            .expect("released once")
            .join()
            .expect("the holder ends");
    }
}

/// What the live task `id` is parked on (`""` if it is not parked or not alive).
fn waiting_on(id: u64) -> &'static str {
    corio::task::tasks()
        .iter()
        .find(|t| t.id == id)
        .map_or("", |t| t.waiting_on)
}

/// Runs `work` in a task while the executor is held ([`HeldPool`]) and checks that the task
/// comes to wait on the executor, not ending, while this coroutine goes on running: so the
/// blocking part of `work` waits for the pool's thread instead of running on the loop's
/// thread (where it would have run to its end, or to a later park, before anything else ran).
/// Then releases the pool and returns what `work` returned.
pub fn runs_on_the_pool<T: 'static>(work: impl FnOnce() -> T + 'static) -> T {
    let pool = HeldPool::hold();
    let task = corio::spawn(work);
    let mut parked_on = "";
    for _ in 0..1000 {
        corio::yield_now(); // the loop runs the task up to its first park, and this again
        assert!(
            !task.is_done(),
            "the work ended while the executor's only thread was held: it did not go through \
             the pool, so it ran on the loop's thread"
        );
        parked_on = waiting_on(task.id());
        if parked_on == "executor" {
            break;
        }
    }
    assert_eq!(
        parked_on, "executor",
        "while the executor was held, the work waited on something else: its blocking part \
         did not go through the pool"
    );
    pool.release();
    task.join().expect("the work does not panic")
}

/// Runs `work` inline while the executor is held and checks that it ends all the same: it
/// needs no thread of the pool. Returns its value.
pub fn needs_no_pool<T>(work: impl FnOnce() -> T) -> T {
    let pool = HeldPool::hold();
    // Without the pool it ends in microseconds; through the held pool it could never end.
    let r = corio::wait_for(std::time::Duration::from_secs(20), work);
    pool.release();
    r.expect("the work waited while the executor was held: it went through the pool")
}
