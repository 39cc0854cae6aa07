//! `Queue`, `LifoQueue` and `PriorityQueue` against a model: random sequences of puts, gets
//! (parking and not), cancellations of parked putters and getters — also right after they were
//! woken, before they ran — `task_done`, `join` and `shutdown`. After every step the loop runs
//! until every woken task has resumed; then sizes, errors and every task's outcome must equal
//! the model's, and no item may be lost or duplicated.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use corio::queue::{GetNowaitError, PutNowaitError, QueueShutDown, TaskDoneError};
use corio::{LifoQueue, PriorityQueue, Queue, Task, yield_now};
use proptest::prelude::*;

/// A priority (drawn) and a serial number (unique), so a lost or duplicated item shows.
type Item = (u8, u32);

#[derive(Clone, Debug)]
enum Op {
    PutNowait(u8),
    GetNowait,
    /// A task that puts, parking while the queue is full.
    Put(u8),
    /// A task that gets, parking while the queue is empty.
    Get,
    CancelGetter(usize),
    CancelPutter(usize),
    /// `put_nowait` hands an item to the oldest parked getter; more `put_nowait`s follow;
    /// then that getter is cancelled before it ran: its item must go on.
    HandToGetterThenCancel(Vec<u8>),
    /// `get_nowait` frees a place for the oldest parked putter; more `get_nowait`s follow;
    /// then that putter is cancelled before it ran: its place must go on.
    FreeForPutterThenCancel(usize),
    TaskDone,
    /// A task that parks in `join`.
    Join,
    Shutdown(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::PutNowait),
        3 => Just(Op::GetNowait),
        4 => any::<u8>().prop_map(Op::Put),
        4 => Just(Op::Get),
        1 => any::<usize>().prop_map(Op::CancelGetter),
        1 => any::<usize>().prop_map(Op::CancelPutter),
        2 => prop::collection::vec(any::<u8>(), 0..3).prop_map(Op::HandToGetterThenCancel),
        2 => (0usize..3).prop_map(Op::FreeForPutterThenCancel),
        2 => Just(Op::TaskDone),
        1 => Just(Op::Join),
        1 => any::<bool>().prop_map(Op::Shutdown),
    ]
}

/// Which end `get` takes from.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// What a spawned task ended with.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Running,
    Got(Item),
    GetShutDown,
    Put(Item),
    PutShutDown(Item),
    Joined,
    Cancelled,
}

/// The three queue types behind one interface.
trait AnyQueue: Clone + 'static {
    fn new(maxsize: usize) -> Self;
    fn put_nowait(&self, item: Item) -> Result<(), PutNowaitError<Item>>;
    fn get_nowait(&self) -> Result<Item, GetNowaitError>;
    fn put(&self, item: Item) -> Result<(), QueueShutDown<Item>>;
    fn get(&self) -> Result<Item, QueueShutDown>;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn join(&self);
    fn shutdown(&self, immediate: bool);
    fn sizes(&self) -> (usize, bool, bool, bool);
}

macro_rules! any_queue {
    ($q:ident) => {
        impl AnyQueue for $q<Item> {
            fn new(maxsize: usize) -> Self {
                $q::new(maxsize)
            }
            fn put_nowait(&self, item: Item) -> Result<(), PutNowaitError<Item>> {
                $q::put_nowait(self, item)
            }
            fn get_nowait(&self) -> Result<Item, GetNowaitError> {
                $q::get_nowait(self)
            }
            fn put(&self, item: Item) -> Result<(), QueueShutDown<Item>> {
                $q::put(self, item)
            }
            fn get(&self) -> Result<Item, QueueShutDown> {
                $q::get(self)
            }
            fn task_done(&self) -> Result<(), TaskDoneError> {
                $q::task_done(self)
            }
            fn join(&self) {
                $q::join(self)
            }
            fn shutdown(&self, immediate: bool) {
                $q::shutdown(self, immediate)
            }
            fn sizes(&self) -> (usize, bool, bool, bool) {
                (self.qsize(), self.empty(), self.full(), self.is_shutdown())
            }
        }
    };
}

any_queue!(Queue);
any_queue!(LifoQueue);
any_queue!(PriorityQueue);

/// The model's store: a plain list, taken from by kind.
struct Store {
    kind: Kind,
    items: VecDeque<Item>,
}

impl Store {
    fn push(&mut self, item: Item) {
        self.items.push_back(item);
    }
    fn pop(&mut self) -> Option<Item> {
        match self.kind {
            Kind::Fifo => self.items.pop_front(),
            Kind::Lifo => self.items.pop_back(),
            Kind::Priority => {
                let (i, _) = self.items.iter().enumerate().min_by_key(|(_, x)| **x)?;
                self.items.remove(i)
            }
        }
    }
    /// Where an item handed out and given back goes: where it would be had it never left.
    fn give_back(&mut self, item: Item) {
        self.items.push_front(item); // the front of a FIFO, the bottom of a LIFO
    }
}

/// asyncio's queue semantics, evaluated at the points where no woken task is left to run.
struct Model {
    maxsize: usize,
    store: Store,
    getters: VecDeque<usize>,
    putters: VecDeque<(usize, Item)>,
    joiners: Vec<usize>,
    outcomes: Vec<Outcome>,
    unfinished: usize,
    shutdown: bool,
    /// Items dropped by an immediate shutdown.
    dropped: Vec<Item>,
}

impl Model {
    /// Full, counting `held` places that woken waiters hold.
    fn full(&self, held: usize) -> bool {
        self.maxsize > 0 && self.store.items.len() + held >= self.maxsize
    }

    fn task_finished(&mut self) {
        self.unfinished -= 1;
        if self.unfinished == 0 {
            for j in self.joiners.drain(..) {
                self.outcomes[j] = Outcome::Joined;
            }
        }
    }

    /// A put that found room: to the oldest parked getter, or into the store.
    fn put_in(&mut self, item: Item) {
        self.unfinished += 1;
        match self.getters.pop_front() {
            Some(g) => self.outcomes[g] = Outcome::Got(item),
            None => self.store.push(item),
        }
    }

    /// Parked putters take the free places, oldest first.
    fn fill_from_putters(&mut self) {
        while !self.full(0) {
            let Some((p, item)) = self.putters.pop_front() else {
                break;
            };
            self.put_in(item);
            self.outcomes[p] = Outcome::Put(item);
        }
    }

    fn put_nowait(&mut self, item: Item) -> Result<(), PutNowaitError<Item>> {
        if self.shutdown {
            Err(PutNowaitError::ShutDown(QueueShutDown(item)))
        } else if self.full(0) {
            Err(PutNowaitError::Full(corio::queue::QueueFull(item)))
        } else {
            self.put_in(item);
            Ok(())
        }
    }

    fn get_nowait(&mut self) -> Result<Item, GetNowaitError> {
        match self.store.pop() {
            Some(item) => {
                self.fill_from_putters();
                Ok(item)
            }
            None if self.shutdown => Err(GetNowaitError::ShutDown(QueueShutDown(()))),
            None => Err(GetNowaitError::Empty(corio::queue::QueueEmpty)),
        }
    }
}

/// Lets every woken task run until it parks again or ends.
fn settle() {
    for _ in 0..8 {
        yield_now();
    }
}

fn same_put(
    real: &Result<(), PutNowaitError<Item>>,
    model: &Result<(), PutNowaitError<Item>>,
) -> bool {
    match (real, model) {
        (Ok(()), Ok(())) => true,
        (Err(PutNowaitError::Full(a)), Err(PutNowaitError::Full(b))) => a.0 == b.0,
        (Err(PutNowaitError::ShutDown(a)), Err(PutNowaitError::ShutDown(b))) => a.0 == b.0,
        _ => false,
    }
}

fn same_get(real: &Result<Item, GetNowaitError>, model: &Result<Item, GetNowaitError>) -> bool {
    match (real, model) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.is_empty() == b.is_empty() && a.is_shutdown() == b.is_shutdown(),
        _ => false,
    }
}

/// Runs `ops` on a real queue and on the model side by side.
fn check<Q: AnyQueue>(kind: Kind, maxsize: usize, ops: Vec<Op>) -> Result<(), TestCaseError> {
    corio::run(move || run_ops::<Q>(kind, maxsize, &ops))
}

fn run_ops<Q: AnyQueue>(kind: Kind, maxsize: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let q = Q::new(maxsize);
    let mut m = Model {
        maxsize,
        store: Store {
            kind,
            items: VecDeque::new(),
        },
        getters: VecDeque::new(),
        putters: VecDeque::new(),
        joiners: Vec::new(),
        outcomes: Vec::new(),
        unfinished: 0,
        shutdown: false,
        dropped: Vec::new(),
    };
    let outcomes: Rc<RefCell<Vec<Outcome>>> = Rc::default();
    let mut tasks: Vec<Task<()>> = Vec::new();
    let mut serial = 0u32;
    let mut item = |p: u8| {
        serial += 1;
        (p, serial)
    };
    // Items the real queue accepted, and items it gave out.
    let mut accepted: Vec<Item> = Vec::new();
    let mut received: Vec<Item> = Vec::new();

    let spawn_task =
        |tasks: &mut Vec<Task<()>>, m: &mut Model, f: Box<dyn FnOnce(&Q) -> Outcome>| {
            let id = m.outcomes.len();
            m.outcomes.push(Outcome::Running);
            outcomes.borrow_mut().push(Outcome::Running);
            let (q, out) = (q.clone(), outcomes.clone());
            tasks.push(corio::spawn(move || {
                let r = f(&q);
                out.borrow_mut()[id] = r;
            }));
            id
        };

    for op in ops {
        match op {
            Op::PutNowait(p) => {
                let x = item(*p);
                let real = q.put_nowait(x);
                let model = m.put_nowait(x);
                prop_assert!(same_put(&real, &model), "put_nowait: {real:?} vs {model:?}");
                if real.is_ok() {
                    accepted.push(x);
                }
            }
            Op::GetNowait => {
                let real = q.get_nowait();
                let model = m.get_nowait();
                prop_assert!(same_get(&real, &model), "get_nowait: {real:?} vs {model:?}");
                received.extend(real.ok());
            }
            Op::Put(p) => {
                let x = item(*p);
                let id = spawn_task(
                    &mut tasks,
                    &mut m,
                    Box::new(move |q| match q.put(x) {
                        Ok(()) => Outcome::Put(x),
                        Err(e) => Outcome::PutShutDown(e.into_inner()),
                    }),
                );
                if m.shutdown {
                    m.outcomes[id] = Outcome::PutShutDown(x);
                } else if m.full(0) {
                    m.putters.push_back((id, x));
                } else {
                    m.put_in(x);
                    m.outcomes[id] = Outcome::Put(x);
                }
            }
            Op::Get => {
                let id = spawn_task(
                    &mut tasks,
                    &mut m,
                    Box::new(|q| match q.get() {
                        Ok(x) => Outcome::Got(x),
                        Err(_) => Outcome::GetShutDown,
                    }),
                );
                match m.get_nowait() {
                    Ok(x) => m.outcomes[id] = Outcome::Got(x),
                    Err(e) if e.is_shutdown() => m.outcomes[id] = Outcome::GetShutDown,
                    Err(_) => m.getters.push_back(id),
                }
            }
            Op::CancelGetter(k) => {
                if !m.getters.is_empty() {
                    let id = m.getters.remove(k % m.getters.len()).unwrap();
                    tasks[id].cancel();
                    m.outcomes[id] = Outcome::Cancelled;
                }
            }
            Op::CancelPutter(k) => {
                if !m.putters.is_empty() {
                    let (id, _) = m.putters.remove(k % m.putters.len()).unwrap();
                    tasks[id].cancel();
                    m.outcomes[id] = Outcome::Cancelled;
                }
            }
            Op::HandToGetterThenCancel(extra) => {
                let Some(&first) = m.getters.front() else {
                    continue;
                };
                let x = item(0);
                prop_assert!(q.put_nowait(x).is_ok());
                accepted.push(x);
                // The model hands out, but the getters have not run yet.
                m.getters.pop_front();
                m.unfinished += 1;
                let mut handed = vec![(first, x)];
                for p in extra {
                    let e = item(*p);
                    let real = q.put_nowait(e);
                    let model = if m.full(handed.len()) {
                        Err(PutNowaitError::Full(corio::queue::QueueFull(e)))
                    } else {
                        m.unfinished += 1;
                        match m.getters.pop_front() {
                            Some(g) => handed.push((g, e)),
                            None => m.store.push(e),
                        }
                        Ok(())
                    };
                    prop_assert!(same_put(&real, &model), "put_nowait: {real:?} vs {model:?}");
                    if real.is_ok() {
                        accepted.push(e);
                    }
                }
                tasks[first].cancel();
                // It runs first, and passes its item on.
                m.outcomes[first] = Outcome::Cancelled;
                match m.getters.pop_front() {
                    Some(g) => m.outcomes[g] = Outcome::Got(x),
                    None => m.store.give_back(x),
                }
                for &(g, e) in &handed[1..] {
                    m.outcomes[g] = Outcome::Got(e);
                }
            }
            Op::FreeForPutterThenCancel(extra) => {
                if m.putters.is_empty() {
                    continue;
                }
                let mut granted = Vec::new();
                let grant = |m: &mut Model, granted: &mut Vec<(usize, Item)>| {
                    while !m.full(granted.len()) {
                        match m.putters.pop_front() {
                            Some(p) => granted.push(p),
                            None => break,
                        }
                    }
                };
                for _ in 0..=*extra {
                    let real = q.get_nowait();
                    let model = match m.store.pop() {
                        Some(x) => {
                            grant(&mut m, &mut granted);
                            Ok(x)
                        }
                        None => Err(GetNowaitError::Empty(corio::queue::QueueEmpty)),
                    };
                    prop_assert!(same_get(&real, &model), "get_nowait: {real:?} vs {model:?}");
                    received.extend(real.ok());
                }
                let (first, _) = granted.remove(0);
                tasks[first].cancel();
                m.outcomes[first] = Outcome::Cancelled;
                // Its place goes to the next parked putter; the granted ones put in order.
                grant(&mut m, &mut granted);
                for (p, x) in granted {
                    m.put_in(x);
                    m.outcomes[p] = Outcome::Put(x);
                }
            }
            Op::TaskDone => {
                let real = q.task_done();
                let model = if m.unfinished == 0 {
                    Err(TaskDoneError)
                } else {
                    m.task_finished();
                    Ok(())
                };
                prop_assert_eq!(real, model);
            }
            Op::Join => {
                let id = spawn_task(
                    &mut tasks,
                    &mut m,
                    Box::new(|q| {
                        q.join();
                        Outcome::Joined
                    }),
                );
                if m.unfinished == 0 {
                    m.outcomes[id] = Outcome::Joined;
                } else {
                    m.joiners.push(id);
                }
            }
            Op::Shutdown(immediate) => {
                q.shutdown(*immediate);
                m.shutdown = true;
                if *immediate {
                    let gone: Vec<Item> = m.store.items.drain(..).collect();
                    m.unfinished = m.unfinished.saturating_sub(gone.len());
                    m.dropped.extend(gone);
                    if m.unfinished == 0 {
                        for j in m.joiners.drain(..) {
                            m.outcomes[j] = Outcome::Joined;
                        }
                    }
                }
                for g in m.getters.drain(..) {
                    m.outcomes[g] = Outcome::GetShutDown;
                }
                for (p, x) in m.putters.drain(..) {
                    m.outcomes[p] = Outcome::PutShutDown(x);
                }
            }
        }
        settle();

        prop_assert!(
            m.getters.is_empty() || m.putters.is_empty(),
            "model: getters and putters parked at once"
        );
        let len = m.store.items.len();
        prop_assert_eq!(
            q.sizes(),
            (len, len == 0, m.full(0), m.shutdown),
            "after {:?}",
            op
        );
        let real: Vec<Outcome> = outcomes
            .borrow()
            .iter()
            .zip(&tasks)
            .map(|(o, t)| match o {
                Outcome::Running if t.is_cancelled() => Outcome::Cancelled,
                o => o.clone(),
            })
            .collect();
        prop_assert_eq!(&real, &m.outcomes, "after {:?}", op);
    }

    // What is left comes out in the model's order.
    loop {
        let real = q.get_nowait();
        let model = m.get_nowait();
        prop_assert!(same_get(&real, &model), "drain: {real:?} vs {model:?}");
        let Ok(x) = real else { break };
        received.push(x);
        settle(); // a putter granted the freed place puts its item
    }
    // No item lost, none duplicated: every accepted item came out exactly once, or was
    // dropped by an immediate shutdown.
    for o in outcomes.borrow().iter() {
        match o {
            Outcome::Got(x) => received.push(*x),
            Outcome::Put(x) => accepted.push(*x),
            _ => {}
        }
    }
    let mut out: Vec<Item> = received.iter().chain(&m.dropped).copied().collect();
    out.sort_unstable();
    accepted.sort_unstable();
    prop_assert_eq!(out, accepted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn queue_matches_the_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 1..40)) {
        check::<Queue<Item>>(Kind::Fifo, maxsize, ops)?;
    }

    #[test]
    fn lifo_queue_matches_the_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 1..40)) {
        check::<LifoQueue<Item>>(Kind::Lifo, maxsize, ops)?;
    }

    #[test]
    fn priority_queue_matches_the_model(maxsize in 0usize..4, ops in prop::collection::vec(op(), 1..40)) {
        check::<PriorityQueue<Item>>(Kind::Priority, maxsize, ops)?;
    }
}
