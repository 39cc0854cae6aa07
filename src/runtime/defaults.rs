//! The loop's defaults: stack sizes, the stack pool's bound, the event interval, debug mode's
//! slow-step limit.

use std::time::Duration;

/// Default usable stack size of a coroutine, in bytes: 256 KiB in release builds and 1 MiB in
/// debug builds (unoptimised code uses several times more stack). Stacks are virtual memory:
/// a parked coroutine costs only the pages it touched, typically one or two 4 KiB pages.
pub const DEFAULT_STACK_SIZE: usize = if cfg!(debug_assertions) {
    1024 * 1024
} else {
    256 * 1024
};

/// Default length, in bytes, of the guard below each coroutine stack: 64 KiB.
///
/// A write into the guard is reported as a stack overflow (task name and stack size) before
/// the process aborts. Rust code probes every page of a large frame, so any overflow of Rust
/// code hits the guard; code that does not probe (C through FFI, assembly) is caught while its
/// largest frame is smaller than the guard, where a one-page guard would let a frame over
/// 4 KiB write into the neighbouring coroutine's stack. The guard costs no memory and no extra
/// memory map, only address space; see [`EventLoopBuilder::stack_guard_size`](super::EventLoopBuilder::stack_guard_size).
pub const DEFAULT_STACK_GUARD_SIZE: usize = crate::coro::DEFAULT_GUARD_SIZE;

/// In debug mode, a task that runs this long without parking is reported.
pub const SLOW_STEP: Duration = Duration::from_millis(100);

/// How long [`run`](super::run)'s shutdown lets cancelled tasks clean up while they wait on
/// a timer or the outside world (a `sleep`, a socket's `drain`), as `asyncio.run` lets them
/// finish. The tasks still alive after it are cancelled again, and so are they at once when
/// nothing in the loop can end a wait (no timer, no external wait, no live `LoopHandle`):
/// the loop decides that for all its tasks together, so while one cleanup waits on a timer,
/// another that waits on nothing is cancelled again only at the end of the grace.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// How many finished coroutines' stacks a loop keeps for reuse by default.
pub const DEFAULT_MAX_POOLED_STACKS: usize = 1024;

/// How many ready tasks and callbacks a loop runs by default, while work stays ready, between
/// two non-blocking looks for I/O (the figure tokio uses for the same purpose), so busy tasks
/// do not starve I/O; see [`EventLoopBuilder::event_interval`](super::EventLoopBuilder::event_interval).
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// `true` where coroutine stacks get their guard page from `MADV_GUARD_INSTALL` (Linux
/// 6.13+): one memory map per stack, so `vm.max_map_count` does not cap the number of live
/// coroutines. `false` where the guard is an `mprotect` page (two maps per stack, about 32k
/// coroutines on a default Linux) or when `CORIO_STACK_GUARD=mprotect` forces that fallback.
pub fn stack_guard_uses_madvise() -> bool {
    crate::coro::has_madvise_guard()
}
