//! [`StackStats`]: what a loop's stack pool holds, for leak checks and soak tests.

/// What a loop's coroutine stacks are doing right now, as [`EventLoop::stack_stats`](super::EventLoop::stack_stats) reports
/// it.
///
/// Every task takes a stack when it is spawned and gives it back when it ends, and so does
/// every generator made while the loop runs, so `in_use` equals the number of live tasks and
/// generators; a figure that stays above it after they have ended would be a leaked stack.
/// (The stack of the generator that ended last waits for the next one in a spare slot of the
/// loop; it counts as pooled.) Given-back stacks are kept for reuse up to the pool's bound
/// ([`EventLoopBuilder::max_pooled_stacks`](super::EventLoopBuilder::max_pooled_stacks) of the
/// default size, a quarter of that of other sizes). Those over the bound give their memory
/// back when the loop is next idle and stay mapped, without RAM, for the next burst of tasks;
/// they are unmapped once the loop has not needed them for a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackStats {
    /// Stacks of tasks and generators that have not ended (the running task included).
    pub in_use: usize,
    /// Stacks of ended tasks and generators kept mapped for reuse
    /// ([`EventLoop::pooled_stacks`](super::EventLoop::pooled_stacks)).
    pub pooled: usize,
    /// Stacks of ended tasks over the pool's bound, still holding their memory until the
    /// loop's next idle moment (or until a spawn reuses them).
    pub awaiting_unmap: usize,
    /// Stacks of ended tasks over the pool's bound whose memory was given back to the kernel:
    /// they cost no RAM, only address space and page-table entries (about 0.6 KiB each), and
    /// spare the next burst of tasks mapping new stacks. A spawn reuses them before mapping
    /// any; they are unmapped at an idle moment of the loop once no spawn has taken one for a
    /// second, and when the loop is dropped.
    pub released: usize,
}
