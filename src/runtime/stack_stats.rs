//! [`StackStats`]: what a loop's stack pool holds, for leak checks and soak tests.

use super::EventLoop;

/// What a loop's coroutine stacks are doing right now, as [`EventLoop::stack_stats`] reports
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
    /// Stacks of ended tasks kept mapped for reuse ([`EventLoop::pooled_stacks`]).
    pub pooled: usize,
    /// Stacks of ended tasks over the pool's bound, still mapped until the loop's next idle
    /// moment (or until a spawn reuses them).
    pub awaiting_unmap: usize,
}

impl EventLoop {
    /// The loop's stack figures: stacks lent to live tasks, pooled for reuse, and waiting to
    /// be unmapped. Inside a coroutine, reach the loop with
    /// [`get_running_loop`](super::get_running_loop).
    ///
    /// ```
    /// let lp = corio::EventLoop::builder().max_pooled_stacks(4).build().unwrap();
    /// let during = lp
    ///     .run_until_complete(|| {
    ///         let tasks: Vec<_> = (0..10).map(|i| corio::spawn(move || i)).collect();
    ///         let during = corio::get_running_loop().stack_stats();
    ///         for t in tasks {
    ///             t.join().unwrap();
    ///         }
    ///         during
    ///     })
    ///     .unwrap();
    /// assert_eq!(during.in_use, 11, "ten tasks and the main coroutine");
    /// let after = lp.stack_stats();
    /// assert_eq!(after.in_use, 0);
    /// assert_eq!(after.pooled, 4, "the pool keeps its bound");
    /// ```
    pub fn stack_stats(&self) -> StackStats {
        self.core.stack_stats()
    }
}
