//! [`StackStats`]: what a loop's stack pool holds, for leak checks and soak tests.

/// What a loop's coroutine stacks are doing right now, as [`EventLoop::stack_stats`](super::EventLoop::stack_stats) reports
/// it.
///
/// Every task takes a stack when it is spawned and gives it back when it ends, so `in_use`
/// equals the number of live tasks; a figure that stays above it after the tasks have ended
/// would be a leaked stack. Given-back stacks are kept for reuse up to the pool's bound
/// ([`EventLoopBuilder::max_pooled_stacks`](super::EventLoopBuilder::max_pooled_stacks) of the
/// default size, a quarter of that of other sizes); those over the bound are unmapped when the
/// loop is next idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StackStats {
    /// Stacks of tasks that have not ended (the running one included).
    pub in_use: usize,
    /// Stacks of ended tasks kept mapped for reuse ([`EventLoop::pooled_stacks`](super::EventLoop::pooled_stacks)).
    pub pooled: usize,
    /// Stacks of ended tasks over the pool's bound, still mapped until the loop's next idle
    /// moment (or until a spawn reuses them).
    pub awaiting_unmap: usize,
}
