//! `Semaphore` and `Lock` against a model: random sequences of acquiring tasks, releases (by
//! the holder's guard, and by hand), `try_acquire`, cancellation of parked waiters, of holders,
//! and of a waiter right after it was woken, before it ran. After every step the loop runs
//! until every woken task has resumed; then the state, the order in which tasks got in (first
//! come, first served) and every task's fate must equal the model's. At the end everything is
//! released: every task that was not cancelled must have got in (none starved), and the
//! semaphore must hold exactly the permits it should (none lost).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use corio::{Event, Lock, Semaphore, Task, yield_now};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// A task that acquires, then holds until told to release.
    Spawn,
    /// The `k`-th task that got in drops its guard.
    Release(usize),
    CancelWaiter(usize),
    /// The `k`-th task that got in is cancelled while it holds: its guard gives back.
    CancelHolder(usize),
    /// The main task takes a permit without parking and keeps it (forgotten guard).
    TryAcquire,
    /// `release()` by hand.
    ReleaseByHand,
    /// `release()` by hand wakes the first waiter, which is cancelled before it runs.
    ReleaseByHandThenCancelWoken,
    /// A task is spawned, then `release()` is called by hand `n` times before it runs: the
    /// newcomer meets waiters that were woken and have not run yet. (A lock handed to a waiter
    /// refuses further releases until that waiter runs.)
    Burst(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => Just(Op::Spawn),
        4 => any::<usize>().prop_map(Op::Release),
        2 => any::<usize>().prop_map(Op::CancelWaiter),
        1 => any::<usize>().prop_map(Op::CancelHolder),
        2 => Just(Op::TryAcquire),
        2 => Just(Op::ReleaseByHand),
        2 => Just(Op::ReleaseByHandThenCancelWoken),
        2 => (1usize..4).prop_map(Op::Burst),
    ]
}

/// Where a task stands.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Waiting,
    /// Got in and still running (holding, unless its holding was released by hand).
    In,
    Done,
    Cancelled,
}

/// The model's side: who waits, who got in, in which order.
#[derive(Default)]
struct Line {
    waiting: VecDeque<usize>,
    /// Tasks that got in and still run, in the order they got in.
    inside: Vec<usize>,
    log: Vec<usize>,
    fates: Vec<Fate>,
}

impl Line {
    fn new_task(&mut self) -> usize {
        self.fates.push(Fate::Waiting);
        self.fates.len() - 1
    }
    fn admit(&mut self, id: usize) {
        self.inside.push(id);
        self.log.push(id);
        self.fates[id] = Fate::In;
    }
    /// Ends the `k`-th task inside; returns it.
    fn leave(&mut self, k: usize, fate: Fate) -> Option<usize> {
        if self.inside.is_empty() {
            return None;
        }
        let id = self.inside.remove(k % self.inside.len());
        self.fates[id] = fate;
        Some(id)
    }
    fn cancel_waiter(&mut self, k: usize) -> Option<usize> {
        if self.waiting.is_empty() {
            return None;
        }
        let id = self.waiting.remove(k % self.waiting.len()).unwrap();
        self.fates[id] = Fate::Cancelled;
        Some(id)
    }
}

/// The real side: the tasks, their release events, and the order they got in.
struct Tasks {
    tasks: Vec<Task<()>>,
    events: Vec<Event>,
    log: Rc<RefCell<Vec<usize>>>,
}

impl Tasks {
    fn new() -> Tasks {
        Tasks {
            tasks: Vec::new(),
            events: Vec::new(),
            log: Rc::default(),
        }
    }

    /// Spawns a task that runs `hold` with a callback that logs it in and waits for its
    /// release event.
    fn spawn(&mut self, hold: impl FnOnce(&dyn Fn()) + 'static) {
        let id = self.tasks.len();
        let ev = Event::new();
        let (e, log) = (ev.clone(), self.log.clone());
        self.tasks.push(corio::spawn(move || {
            hold(&|| {
                log.borrow_mut().push(id);
                e.wait();
            })
        }));
        self.events.push(ev);
    }

    fn fates(&self) -> Vec<Fate> {
        let log = self.log.borrow();
        self.tasks
            .iter()
            .enumerate()
            .map(|(id, t)| {
                if t.is_cancelled() {
                    Fate::Cancelled
                } else if t.is_done() {
                    Fate::Done
                } else if log.contains(&id) {
                    Fate::In
                } else {
                    Fate::Waiting
                }
            })
            .collect()
    }

    fn check(&self, line: &Line) -> Result<(), TestCaseError> {
        prop_assert_eq!(&*self.log.borrow(), &line.log, "order of entry");
        prop_assert_eq!(self.fates(), line.fates.clone());
        Ok(())
    }
}

/// Lets every woken task run until it parks again or ends.
fn settle() {
    for _ in 0..6 {
        yield_now();
    }
}

/// asyncio's `Semaphore` at the points where no woken task is left to run.
struct SemModel {
    value: usize,
    line: Line,
    /// Permits released by hand, and permits the main task took and kept (all of them; and
    /// those it has not given back yet).
    by_hand: usize,
    kept_total: usize,
    kept: usize,
}

impl SemModel {
    fn add_permit(&mut self) {
        match self.line.waiting.pop_front() {
            Some(w) => self.line.admit(w),
            None => self.value += 1,
        }
    }
}

fn check_semaphore(initial: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    corio::run(move || {
        let sem = Semaphore::new(initial);
        let mut m = SemModel {
            value: initial,
            line: Line::default(),
            by_hand: 0,
            kept_total: 0,
            kept: 0,
        };
        let mut real = Tasks::new();
        let step = |op: &Op, m: &mut SemModel, real: &mut Tasks| -> Result<(), TestCaseError> {
            match op {
                Op::Spawn => {
                    let s = sem.clone();
                    real.spawn(move |hold| {
                        let _permit = s.acquire();
                        hold();
                    });
                    let id = m.line.new_task();
                    if m.value > 0 && m.line.waiting.is_empty() {
                        m.value -= 1;
                        m.line.admit(id);
                    } else {
                        m.line.waiting.push_back(id);
                    }
                }
                Op::Release(k) => {
                    if let Some(id) = m.line.leave(*k, Fate::Done) {
                        real.events[id].set();
                        m.add_permit();
                    }
                }
                Op::CancelHolder(k) => {
                    if let Some(id) = m.line.leave(*k, Fate::Cancelled) {
                        real.tasks[id].cancel();
                        m.add_permit();
                    }
                }
                Op::CancelWaiter(k) => {
                    if let Some(id) = m.line.cancel_waiter(*k) {
                        real.tasks[id].cancel();
                    }
                }
                Op::TryAcquire => {
                    let got = sem.try_acquire().map(|p| p.forget()).is_some();
                    let model = m.value > 0 && m.line.waiting.is_empty();
                    prop_assert_eq!(got, model);
                    if model {
                        m.value -= 1;
                        m.kept += 1;
                        m.kept_total += 1;
                    }
                }
                Op::ReleaseByHand => {
                    sem.release();
                    m.by_hand += 1;
                    m.kept = m.kept.saturating_sub(1);
                    m.add_permit();
                }
                Op::ReleaseByHandThenCancelWoken => {
                    if let Some(w) = m.line.waiting.pop_front() {
                        sem.release();
                        m.by_hand += 1;
                        m.kept = m.kept.saturating_sub(1);
                        real.tasks[w].cancel();
                        // It passes the permit on to the next waiter, or back to the pool.
                        m.line.fates[w] = Fate::Cancelled;
                        m.add_permit();
                    }
                }
                Op::Burst(n) => {
                    let s = sem.clone();
                    real.spawn(move |hold| {
                        let _permit = s.acquire();
                        hold();
                    });
                    let id = m.line.new_task();
                    let mut woken = Vec::new();
                    for _ in 0..*n {
                        sem.release();
                        m.by_hand += 1;
                        m.kept = m.kept.saturating_sub(1);
                        match m.line.waiting.pop_front() {
                            Some(w) => woken.push(w),
                            None => m.value += 1,
                        }
                    }
                    // The newcomer runs first: it queues behind the woken waiters' permits.
                    if woken.is_empty() && m.value > 0 {
                        m.value -= 1;
                        m.line.admit(id);
                    } else {
                        m.line.waiting.push_back(id);
                    }
                    for w in woken {
                        m.line.admit(w);
                    }
                    // Free permits left go to those who queued behind the woken waiters.
                    while m.value > 0 {
                        let Some(w) = m.line.waiting.pop_front() else {
                            break;
                        };
                        m.value -= 1;
                        m.line.admit(w);
                    }
                }
            }
            settle();
            prop_assert!(
                m.line.waiting.is_empty() || m.value == 0,
                "a waiter waits beside a free permit"
            );
            prop_assert_eq!(sem.available(), m.value, "after {:?}", op);
            prop_assert_eq!(sem.locked(), m.value == 0);
            real.check(&m.line)
        };
        for op in &ops {
            step(op, &mut m, &mut real)?;
        }
        // Release everything, adding permits by hand while nobody holds one: every task not
        // cancelled gets in and ends.
        while !m.line.inside.is_empty() || !m.line.waiting.is_empty() || m.kept > 0 {
            if m.line.inside.is_empty() {
                step(&Op::ReleaseByHand, &mut m, &mut real)?;
            } else {
                step(&Op::Release(0), &mut m, &mut real)?;
            }
        }
        prop_assert!(real.tasks.iter().all(|t| t.is_done()));
        // None starved: every task that was not cancelled got in.
        for (id, t) in real.tasks.iter().enumerate() {
            prop_assert!(
                t.is_cancelled() || real.log.borrow().contains(&id),
                "{id} starved"
            );
        }
        // No permit lost or made up.
        prop_assert_eq!(sem.available(), initial + m.by_hand - m.kept_total);
        Ok(())
    })
}

/// Who holds the lock in the model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Holder {
    Task(usize),
    /// The main task, with a forgotten guard.
    Main,
}

/// asyncio's `Lock` (with guards that release only their own holding) at the points where no
/// woken task is left to run.
struct LockModel {
    holder: Option<Holder>,
    line: Line,
}

impl LockModel {
    fn unlock(&mut self) {
        self.holder = self.line.waiting.pop_front().map(|w| {
            self.line.admit(w);
            Holder::Task(w)
        });
    }

    /// The task `id` drops its guard: it releases the lock if the holding is still its own.
    fn guard_dropped(&mut self, id: usize) {
        if self.holder == Some(Holder::Task(id)) {
            self.unlock();
        }
    }
}

fn check_lock(ops: Vec<Op>) -> Result<(), TestCaseError> {
    corio::run(move || {
        let lock = Lock::new();
        let mut m = LockModel {
            holder: None,
            line: Line::default(),
        };
        let mut real = Tasks::new();
        let step = |op: &Op, m: &mut LockModel, real: &mut Tasks| -> Result<(), TestCaseError> {
            match op {
                Op::Spawn => {
                    let l = lock.clone();
                    real.spawn(move |hold| {
                        let _guard = l.acquire();
                        hold();
                    });
                    let id = m.line.new_task();
                    if m.holder.is_none() {
                        m.holder = Some(Holder::Task(id));
                        m.line.admit(id);
                    } else {
                        m.line.waiting.push_back(id);
                    }
                }
                Op::Release(k) => {
                    if let Some(id) = m.line.leave(*k, Fate::Done) {
                        real.events[id].set();
                        m.guard_dropped(id);
                    }
                }
                Op::CancelHolder(k) => {
                    if let Some(id) = m.line.leave(*k, Fate::Cancelled) {
                        real.tasks[id].cancel();
                        m.guard_dropped(id);
                    }
                }
                Op::CancelWaiter(k) => {
                    if let Some(id) = m.line.cancel_waiter(*k) {
                        real.tasks[id].cancel();
                    }
                }
                Op::TryAcquire => {
                    let got = lock.try_acquire().map(|g| g.forget()).is_some();
                    prop_assert_eq!(got, m.holder.is_none());
                    if got {
                        m.holder = Some(Holder::Main);
                    }
                }
                Op::ReleaseByHand => {
                    let r = lock.release();
                    prop_assert_eq!(r.is_ok(), m.holder.is_some());
                    if m.holder.is_some() {
                        m.unlock();
                    }
                }
                Op::ReleaseByHandThenCancelWoken => {
                    if let Some(w) = m.line.waiting.pop_front() {
                        lock.release().unwrap();
                        real.tasks[w].cancel();
                        // It passes the lock on to the next waiter, or unlocks it.
                        m.line.fates[w] = Fate::Cancelled;
                        m.unlock();
                    }
                }
                Op::Burst(n) => {
                    let l = lock.clone();
                    real.spawn(move |hold| {
                        let _guard = l.acquire();
                        hold();
                    });
                    let id = m.line.new_task();
                    let mut woken = Vec::new();
                    // Released and handed to a waiter that has not run yet, the lock is not
                    // released again: asyncio's lock is unlocked until that waiter runs.
                    let mut handed = false;
                    for _ in 0..*n {
                        let r = lock.release();
                        let releases = m.holder.is_some() && !handed;
                        prop_assert_eq!(r.is_ok(), releases);
                        if releases {
                            m.holder = m.line.waiting.pop_front().map(|w| {
                                woken.push(w);
                                handed = true;
                                Holder::Task(w)
                            });
                        }
                    }
                    // The newcomer runs first.
                    if m.holder.is_none() {
                        m.holder = Some(Holder::Task(id));
                        m.line.admit(id);
                    } else {
                        m.line.waiting.push_back(id);
                    }
                    for w in woken {
                        m.line.admit(w);
                    }
                }
            }
            settle();
            prop_assert!(
                m.line.waiting.is_empty() || m.holder.is_some(),
                "a waiter waits beside a free lock"
            );
            prop_assert_eq!(lock.locked(), m.holder.is_some(), "after {:?}", op);
            real.check(&m.line)
        };
        for op in &ops {
            step(op, &mut m, &mut real)?;
        }
        // Release everything: every task not cancelled gets in and ends.
        while !m.line.inside.is_empty() || m.holder.is_some() {
            if m.line.inside.is_empty() {
                step(&Op::ReleaseByHand, &mut m, &mut real)?;
            } else {
                step(&Op::Release(0), &mut m, &mut real)?;
            }
        }
        prop_assert!(real.tasks.iter().all(|t| t.is_done()));
        // None starved: every task that was not cancelled got in.
        for (id, t) in real.tasks.iter().enumerate() {
            prop_assert!(
                t.is_cancelled() || real.log.borrow().contains(&id),
                "{id} starved"
            );
        }
        prop_assert!(!lock.locked());
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn semaphore_matches_the_model(initial in 0usize..4, ops in prop::collection::vec(op(), 1..40)) {
        check_semaphore(initial, ops)?;
    }

    #[test]
    fn lock_matches_the_model(ops in prop::collection::vec(op(), 1..40)) {
        check_lock(ops)?;
    }
}
