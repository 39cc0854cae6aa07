//! The pool's threads: a queue of jobs, threads started on demand up to a bound, idle ones
//! leaving after a timeout.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use super::{ExecutorBuilder, SPIN};

pub(super) type Job = Box<dyn FnOnce(&Pool) + Send + 'static>;

/// The shared pool. Ground rules:
/// * a worker is busy (running a job), waiting (idle on `work`), or looking (between the two,
///   about to take the lock and look at the queue); `threads` counts them all, and a worker
///   decides to leave and lowers `threads` under one lock, so a job queued while a worker
///   lives is always seen;
/// * `busy` is the one count changed outside the lock: a job lowers it when its work is done,
///   just before it wakes its caller, so a caller that submits again at once finds a looking
///   worker, not a reason to start another thread;
/// * jobs in the queue are taken by looking workers and by waiting workers sent a wake-up
///   (`notified`, not yet taken); a job only sends a wake-up, or starts a thread, when those
///   are fewer than the jobs queued;
/// * a worker out of jobs stays looking for [`SPIN`] (watching `queued`, without the lock)
///   before it waits.
pub(super) struct Pool {
    pub(super) state: Mutex<PoolState>,
    pub(super) work: Condvar,
    pub(super) busy: AtomicUsize,
    /// `queue.len()`, readable without the lock by spinning workers.
    pub(super) queued: AtomicUsize,
    pub(super) settings: ExecutorBuilder,
}

pub(super) struct PoolState {
    pub(super) queue: VecDeque<Job>,
    pub(super) threads: usize,
    pub(super) waiting: usize,
    pub(super) notified: usize,
    pub(super) shutdown: bool,
}

/// Why a job was not taken.
pub(super) enum Refused {
    ShutDown,
    NoThread(std::io::Error),
}

impl Pool {
    pub(super) fn new(settings: ExecutorBuilder) -> Pool {
        Pool {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                waiting: 0,
                notified: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            busy: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            settings,
        }
    }

    pub(super) fn submit(self: &Arc<Self>, job: Job) -> Result<(), (Job, Refused)> {
        let mut st = self.state.lock();
        if st.shutdown {
            return Err((job, Refused::ShutDown));
        }
        let busy = self.busy.load(Ordering::SeqCst);
        let looking = st.threads.saturating_sub(busy + st.waiting);
        if looking + st.notified > st.queue.len() {
            self.enqueue(&mut st, job); // a worker between two jobs takes it
            return Ok(());
        }
        if st.waiting > st.notified {
            self.enqueue(&mut st, job);
            st.notified += 1;
            drop(st);
            self.work.notify_one();
            return Ok(());
        }
        if st.threads >= self.settings.max_threads {
            self.enqueue(&mut st, job); // a busy worker takes it when done
            return Ok(());
        }
        // Start a thread with this job as its first.
        st.threads += 1;
        self.busy.fetch_add(1, Ordering::SeqCst);
        drop(st);
        let mut b = std::thread::Builder::new().name(self.settings.thread_name.clone());
        if let Some(size) = self.settings.stack_size {
            b = b.stack_size(size);
        }
        let pool = self.clone();
        let first = Arc::new(Mutex::new(Some(job)));
        let handed = first.clone();
        match b.spawn(move || {
            let job = handed.lock().take();
            pool.work(job)
        }) {
            Ok(_detached) => Ok(()),
            Err(e) => {
                let job = first.lock().take().expect("the thread never started");
                self.busy.fetch_sub(1, Ordering::SeqCst);
                let mut st = self.state.lock();
                st.threads -= 1;
                if st.threads > 0 {
                    self.enqueue(&mut st, job);
                    return Ok(());
                }
                // No thread is left to take the queue (jobs others queued while this thread
                // was counted): they are dropped unrun, and their callers see `Cancelled`.
                let stranded: Vec<Job> = st.queue.drain(..).collect();
                self.queued.store(0, Ordering::Relaxed);
                drop(st);
                drop(stranded);
                Err((job, Refused::NoThread(e)))
            }
        }
    }

    fn enqueue(&self, st: &mut PoolState, job: Job) {
        st.queue.push_back(job);
        self.queued.store(st.queue.len(), Ordering::Relaxed);
    }

    /// Called by a job when its work is done: its thread is free again.
    pub(super) fn job_done(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    /// A worker thread's life: take jobs until idle for too long or shut down with nothing
    /// left to do.
    fn work(self: Arc<Self>, first: Option<Job>) {
        if let Some(job) = first {
            self.run_job(job); // counted busy by the thread that started this one
        }
        let mut st = self.state.lock();
        let mut spun = false;
        loop {
            if let Some(job) = st.queue.pop_front() {
                self.queued.store(st.queue.len(), Ordering::Relaxed);
                self.busy.fetch_add(1, Ordering::SeqCst);
                drop(st);
                self.run_job(job);
                st = self.state.lock();
                spun = false;
                continue;
            }
            if st.shutdown {
                break;
            }
            if !spun {
                // Work often comes back at once (a coroutine calling to_thread in a loop):
                // look for it a short while before sleeping, since a sleeping thread costs a
                // wake-up. Meanwhile this worker counts as looking, so jobs are not sent a
                // wake-up nor a new thread.
                drop(st);
                let deadline = Instant::now() + SPIN;
                while self.queued.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
                    for _ in 0..32 {
                        std::hint::spin_loop();
                    }
                }
                st = self.state.lock();
                spun = true;
                continue;
            }
            st.waiting += 1;
            let timed_out = self
                .work
                .wait_for(&mut st, self.settings.idle_timeout)
                .timed_out();
            st.waiting -= 1;
            st.notified = st.notified.saturating_sub(1);
            if timed_out && st.queue.is_empty() && !st.shutdown {
                break;
            }
        }
        st.threads -= 1;
    }

    /// Runs one job. Jobs catch the panics of their functions; one escaping anyway (from a
    /// `Drop` on the way out) is reported and stops here, so the thread goes on: a thread that
    /// ended without leaving the count would pass for a worker about to take the queue, and
    /// jobs queued for it would wait forever.
    fn run_job(&self, job: Job) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| job(self))) {
            super::result_cell::report_and_leak("an executor job panicked outside its function", p);
        }
    }
}
