//! Where a generator's stack comes from and goes back to: the running loop's pool when a loop
//! runs on this thread, else a small pool of this thread's own. Either way the default-size
//! stack of the generator that finished last waits in a spare slot (the loop's, or the
//! thread's outside a loop) with its header in place, so a generator made per item takes it
//! back without a pool round trip or writing the header again.

use std::cell::{Cell, RefCell};

use crate::coro::{DEFAULT_GUARD_SIZE, GenStack, Stack, StackPool};
use crate::error::SpawnError;
use crate::runtime::{
    DEFAULT_STACK_SIZE, is_running_here, keep_loop_gen_spare, lend_loop_stack, return_loop_stack,
    take_loop_gen_spare,
};

/// Stacks kept by a thread that runs generators outside any loop.
const THREAD_POOLED: usize = 16;

thread_local! {
    /// Generators' stacks outside a loop: reused, so a generator made per item of a loop does
    /// not map a stack each time.
    static POOL: RefCell<StackPool> =
        RefCell::new(StackPool::new(DEFAULT_STACK_SIZE, THREAD_POOLED, DEFAULT_GUARD_SIZE));

    /// The default-size stack of the generator that finished last on this thread outside a
    /// loop, kept out of `POOL` (still counted there as lent) with its header in place: a
    /// generator made per item takes it back with one thread-local swap instead of a pool
    /// round trip, and without writing the header again.
    static SPARE: Cell<Option<GenStack>> = const { Cell::new(None) };
}

/// The pool a stack was lent by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Home {
    /// The loop with this id.
    Loop(u64),
    /// The loop with this id, a stack of its default size (it may wait in the loop's spare
    /// slot, as `Spare` does in `SPARE`).
    LoopSpare(u64),
    /// The thread's own pool.
    Thread,
    /// The thread's own pool, a stack of its default size (it may wait in `SPARE`).
    Spare,
}

/// A stack of at least `size` bytes (the pool's default when `None`), ready for a generator,
/// and the pool it is from.
#[inline]
pub(super) fn take(size: Option<usize>) -> Result<(GenStack, Home), SpawnError> {
    if size.is_none() {
        if !is_running_here() {
            if let Some(s) = SPARE.with(Cell::take) {
                return Ok((s, Home::Spare));
            }
        } else if let Some(Some((s, id))) = take_loop_gen_spare() {
            return Ok((s, Home::LoopSpare(id)));
        }
    }
    take_pooled(size)
}

#[inline(never)]
fn take_pooled(size: Option<usize>) -> Result<(GenStack, Home), SpawnError> {
    let (stack, home) = match lend_loop_stack(size) {
        Some(r) => r.map(|(s, id)| {
            let home = if size.is_none() {
                Home::LoopSpare(id)
            } else {
                Home::Loop(id)
            };
            (s, home)
        })?,
        None => {
            let home = if size.is_none() {
                Home::Spare
            } else {
                Home::Thread
            };
            (POOL.with(|p| p.borrow_mut().get(size))?, home)
        }
    };
    Ok((GenStack::new(stack), home))
}

/// Gives a finished generator's stack back: to the loop that lent it if that loop runs here,
/// else to the thread's pool (or unmaps it once the thread's pool is gone, at thread exit).
#[inline]
pub(super) fn give_back(stack: GenStack, home: Home) {
    if home == Home::Spare {
        // At thread exit (`Err`) the stack was unmapped with the closure.
        if let Ok(Some(older)) = SPARE.try_with(|s| s.replace(Some(stack))) {
            give_pooled(older, home);
        }
        return;
    }
    give_to_loop_or_pool(stack, home);
}

/// Gives a stack lent by a loop (or a thread's stack of another size) back: a default-size
/// one into its loop's spare slot if that loop runs here, the rest to their pools.
#[inline(never)]
fn give_to_loop_or_pool(stack: GenStack, home: Home) {
    if let Home::LoopSpare(id) = home {
        match keep_loop_gen_spare(stack, id) {
            Ok(None) => {}
            Ok(Some(older)) => give_pooled(older, home),
            Err(stack) => give_pooled(stack, home),
        }
    } else {
        give_pooled(stack, home);
    }
}

#[inline(never)]
fn give_pooled(stack: GenStack, home: Home) {
    // Pools hand stacks to tasks too: the header goes.
    let stack: Stack = stack.into_stack();
    let stack = match home {
        Home::Loop(id) | Home::LoopSpare(id) => match return_loop_stack(stack, id) {
            Ok(()) => return,
            Err(stack) => stack,
        },
        Home::Thread | Home::Spare => stack,
    };
    // A stack from a loop that no longer runs here joins this thread's pool (the loop counts
    // it as lent; see the module docs). `put` counts one stack back, so count it lent first.
    let _ = POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if let Home::Loop(_) | Home::LoopSpare(_) = home {
            p.adopt();
        }
        p.put(stack)
    });
}
