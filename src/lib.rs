//! # corio — stackful coroutines with asyncio's model
//!
//! A coroutine is a plain Rust closure running on its own stack. Every call that would block —
//! a socket read, a lock, a sleep, a join — parks the coroutine and switches to a
//! single-threaded event loop, which resumes it when it can go on. Code reads top to bottom,
//! like `yield from` code in 2014-era asyncio, without `.await` and without coloured functions:
//! any function may suspend.
//!
//! ```
//! use std::time::Duration;
//!
//! let total = corio::run(|| {
//!     let a = corio::spawn(|| { corio::sleep(Duration::from_millis(2)); 40 });
//!     let b = corio::spawn(|| { corio::yield_now(); 2 });
//!     a.join().unwrap() + b.join().unwrap()
//! });
//! assert_eq!(total, 42);
//! ```
//!
//! ## Map
//!
//! | module | role | asyncio |
//! |---|---|---|
//! | [`runtime`] | the event loop: `run`, `call_soon`, `call_later`, `add_reader`, `LoopHandle`; [`set_exception_handler`] for failures nobody else sees | events.py, base_events.py |
//! | [`future`] | [`Future`]: a result slot coroutines wait on | futures.py |
//! | [`queue`] | [`Queue`], [`LifoQueue`], [`PriorityQueue`]; [`ThreadQueue`] between coroutines and OS threads | queues.py, janus |
//! | [`task`] | [`Task`], [`spawn`], [`Builder`], cancellation | tasks.py |
//! | [`time`] | [`sleep`], [`yield_now`] | tasks.sleep |
//! | [`combinators`] | [`gather()`], [`gather!`], [`wait`], [`as_completed`], [`wait_for`], [`timeout`], [`shield`], [`task_group`] | tasks.py, timeouts.py, taskgroups.py |
//! | [`executor`] | [`to_thread`], [`run_in_executor`]: blocking work on a thread pool | run_in_executor, to_thread |
//! | [`sync`] | [`Lock`], [`Event`], [`Condition`], [`Semaphore`], [`BoundedSemaphore`], [`Barrier`] | locks.py |
//! | [`compat`] | std `Future`s inside coroutines ([`compat::block_on`]), [`Task`] as a std `Future` | — |
//! | [`net`] | [`net::TcpListener`], [`net::TcpStream`], [`net::UdpSocket`], Unix sockets, [`net::lookup_host`] | sock_* loop methods, getaddrinfo |
//! | [`streams`] | [`streams::open_connection`], [`streams::start_server`], `StreamReader`, `StreamWriter`; [`Server::serve_until_signal`]; with the feature `tls`, `open_tls_connection`, `start_tls_server`, `StreamWriter::start_tls` | streams.py, sslproto.py |
//! | [`testing`] | virtual time ([`testing::run`], [`testing::advance`]), [`testing::wait_all_tasks_blocked`], [`test`] (`#[corio::test]`); [`tasks`] and [`dump_tasks`] show who waits on what | trio.testing, Go's synctest, asyncio `ps`/`pstree` |
//! | [`generator`] | [`Generator`]: `yield_`, `resume`/`send`, `throw`, `close`, `yield_from` on pooled stacks; an `Iterator` | PEP 342, PEP 380 generators |
//! | [`signal`] | signals on the loop's thread: [`runtime::add_signal_handler`], [`signal::wait`] | unix_events.py |
//! | [`subprocess`] | [`subprocess::Command`], [`subprocess::Process`]: children with stream pipes, waited for over a pidfd | subprocess.py |
//! | [`error`] | small error types | exceptions.py |
//!
//! ## Cancellation
//!
//! [`Task::cancel`] makes the task's current or next suspension point unwind with a
//! [`Cancelled`] payload (no panic message), so every `Drop` on its stack runs like a `finally`
//! block. [`catch_cancel`] is `except CancelledError`. Cancellation is an unwind, so corio
//! needs `panic = "unwind"` (Rust's default).
//!
//! ## Rules for code running in coroutines
//!
//! * Do not block the thread: a blocking syscall or a long CPU loop stalls every coroutine.
//! * Do not hold a `RefCell` borrow or a `std::sync::MutexGuard` across a call that parks:
//!   another coroutine touching the same cell then panics with `BorrowMutError`.
//! * `Drop` implementations must never park (sleep, lock, read a socket): a drop that runs
//!   during a cancel-unwind cannot suspend; corio reports it and aborts.
//!
//! ## Stacks
//!
//! Each coroutine has a stack of [`runtime::DEFAULT_STACK_SIZE`] bytes by default (256 KiB in
//! release, 1 MiB in debug builds), configurable per task ([`Builder::stack_size`]) and per
//! loop ([`runtime::EventLoopBuilder::stack_size`]). Stacks are virtual memory from a pool;
//! a parked coroutine costs the pages it touched. A stack overflow prints the task's name and
//! stack size, then aborts. On Linux 6.13+ guard pages cost no extra memory map, so 100,000
//! coroutines fit within the default `vm.max_map_count`.

#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod combinators;
pub mod compat;
mod coro;
pub mod error;
pub mod executor;
pub mod future;
pub mod generator;
pub mod net;
pub mod protocols;
pub mod queue;
mod reactor;
pub mod runtime;
pub mod streams;
pub mod subprocess;
pub mod sync;
pub mod task;
pub mod testing;
pub mod time;

pub use combinators::{
    AsCompleted, IntoTask, ReturnWhen, TaskGroup, TimeoutScope, as_completed, gather, shield,
    task_group, timeout, timeout_at, wait, wait_for,
};
pub use error::{BrokenBarrier, IncompleteRead, LimitOverrun, NotLocked, TooManyReleases};
pub use error::{
    Cancelled, DeadlockReport, InvalidState, JoinError, RuntimeError, SpawnError, TaskFailure,
    TaskGroupError, Timeout,
};
pub use executor::{run_in_executor, to_thread};
pub use future::{Future, FutureError};
pub use generator::{Generator, GeneratorState};
pub use queue::{LifoQueue, PriorityQueue, Queue, ThreadQueue};
pub use runtime::signal;
pub use runtime::{
    EventLoop, EventLoopBuilder, ExceptionContext, Handle, LoopHandle, TimerHandle,
    call_exception_handler, default_exception_handler, get_exception_handler, get_running_loop,
    run, set_exception_handler,
};
pub use streams::{
    Server, StreamReader, StreamWriter, open_connection, open_unix_connection, start_server,
    start_unix_server,
};
#[cfg(feature = "tls")]
pub use streams::{open_tls_connection, start_tls_server};
pub use sync::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, LockGuard, Semaphore, SemaphorePermit,
};
pub use task::{Builder, CurrentTask, Task, catch_cancel, current_task, dump_tasks, spawn, tasks};
pub use time::{sleep, sleep_until, yield_now};

/// Runs a test function inside a corio event loop; `#[corio::test(virtual_time)]` with virtual
/// time. See [`testing`].
///
/// ```
/// #[corio::test(virtual_time)]
/// fn a_day_passes_at_once() {
///     let t0 = corio::runtime::now();
///     corio::sleep(std::time::Duration::from_secs(86_400));
///     assert_eq!((corio::runtime::now() - t0).as_secs(), 86_400);
/// }
/// ```
pub use corio_macros::test;

/// The worked examples of docs/TESTING.md, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/TESTING.md")]
pub struct TestingGuide;
