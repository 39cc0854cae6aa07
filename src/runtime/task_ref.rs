//! Task cells and the one-word counted references the loop keeps them by.
//!
//! A task lives in one heap cell, [`TaskCell<T>`]: its untyped [`Header`] first, then its
//! typed result. Everything the loop, the wakers and the waiter lists hold is a [`TaskRef`]:
//! a pointer to that header with a reference count in the header, like an `Rc` whose pointee
//! type is erased. Being one word (an `Rc<dyn Trait>` is two, and reaching its data costs a
//! load from the vtable first) keeps a waker two words that move in registers, and every
//! access to the header a single load away. The few places that need the result type (drop
//! the cell, store or report a result at the end) go through a small table of functions in
//! the header.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::wait_list::WaitList;
use super::wait_target::TargetPtr;
pub(crate) use super::waker::Waker;
use crate::coro::{Coro, CoroSlot, Stack, TaskLabel};
use crate::error::JoinError;

/// A panic's payload.
type Panic = Box<dyn std::any::Any + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// In the ready queue (first run, woken, or yielded).
    Scheduled,
    /// Its coroutine is on the CPU.
    Running,
    /// Suspended in `park`, waiting for a waker or a cancel.
    Parked,
    /// Returned, panicked or was cancelled; the coroutine and its stack are gone.
    Done,
}

/// Scheduling state shared by every task, whatever it returns.
///
/// `#[repr(C)]`, hot fields first: what one park, wake and resume read and write (state,
/// token, counts, the loop, the park's target, the switch point) fills the first 64 bytes,
/// the coroutine (its saved stack pointer) follows, then what completion reads, and what
/// only spawn and introspection read comes last. A wake-up then touches one line of the
/// header (left to Rust's layout, the one-byte flags sat at its far end, away from the
/// counts, and a wake-up touched two), and a timer that fires prefetches just that line.
#[repr(C)]
pub(crate) struct Header {
    // ----- hot: every park, wake and resume (64 bytes) -----
    /// References to the task ([`TaskRef`]s) alive.
    pub(crate) refs: Cell<usize>,
    /// While the task is not done: the loop it belongs to (a `Core`), reached through
    /// `Header::core` in the loop's file. Once done: that loop's id instead, as an address
    /// (`Header::loop_id` reads either), since the loop may be gone by then and a later one
    /// could sit at the same address. Untyped here so that tasks sit below the loop that
    /// holds them.
    pub(crate) core: Cell<*const ()>,
    /// Roughly where the stack pointer was when the task last switched out (0: never), so
    /// the loop can prefetch the lines its resume will touch first: the line, with the
    /// distance up to the line of its parent link in the low six bits (see
    /// `park::park_point`).
    pub(crate) parked_sp: Cell<usize>,
    pub(crate) token: Cell<u32>,
    /// Cancel requests not withdrawn by `uncancel` (asyncio's `_num_cancels_requested`).
    pub(crate) cancel_requests: Cell<u32>,
    /// The value of `cancel_requests` when a request was last delivered. A request is
    /// pending (asyncio's `_must_cancel`) while `cancel_requests > cancel_delivered`.
    pub(crate) cancel_delivered: Cell<u32>,
    pub(crate) state: Cell<State>,
    pub(crate) notified: Cell<bool>,
    /// Set while the loop force-unwinds the task on close: the unwind must not be stopped.
    pub(crate) closing: Cell<bool>,
    /// The park is an external one (the outside world can end it, see `park_external`).
    pub(crate) external: Cell<bool>,
    /// What the task parks on, for `corio::tasks()` and the deadlock report; read only while
    /// the task is parked (see `wait_target.rs`).
    pub(crate) waiting_on: Cell<TargetPtr>,
    /// Key in the loop's task slab while alive.
    pub(crate) registry_key: Cell<usize>,
    // ----- every resume -----
    /// The stack until the first run, then the coroutine until it has returned or been
    /// unwound.
    pub(crate) coro: RefCell<CoroSlot>,
    // ----- completion -----
    /// The typed operations of the cell this header heads.
    pub(crate) vtable: &'static Vtable,
    /// Wakers to call when the task ends (joiners, `wait`, `gather`).
    pub(crate) done_wakers: RefCell<WaitList<Waker>>,
    /// A `Task<T>` handle still exists.
    pub(crate) handle_alive: Cell<bool>,
    /// The task's stack size in KiB (stacks are whole pages; at most 4 TiB is shown), beside
    /// the flag above in what was its padding.
    pub(crate) stack_kib: u32,
    /// A std waker to wake when the task ends: the one its `Task<T>` was last polled with as a
    /// `std::future::Future` (only that handle polls it, so one slot is enough).
    pub(crate) std_waker: Cell<Option<std::task::Waker>>,
    // ----- cold: spawn, introspection, reports -----
    /// The task's id and name, which its coroutine's overflow report points at.
    pub(crate) label: TaskLabel,
    /// Where the task was spawned (`#[track_caller]` through `spawn`).
    pub(crate) spawned_at: &'static std::panic::Location<'static>,
    /// The loop's clock when it was spawned (as of the loop's last look at it).
    pub(crate) spawned: std::time::Instant,
}

impl Header {
    /// The bytes from the cell's start that a task step reads and writes when the task
    /// resumes and, as often, ends there: the whole header and the start of the typed result
    /// that follows it (its borrow flag and tag). What the loop prefetches of the task after
    /// the next one; leaving out the cold fields in between saves nothing, since prefetches
    /// go by lines and the result follows them.
    pub(crate) const STEP_BYTES: usize = std::mem::size_of::<Header>() + 16;

    /// Counts one more [`TaskRef`].
    #[inline]
    pub(crate) fn add_ref(&self) {
        let n = self.refs.get();
        if n == usize::MAX {
            std::process::abort(); // as `Rc` does on overflow
        }
        self.refs.set(n + 1);
    }

    /// Counts one [`TaskRef`] less; `true` if it was the last.
    #[inline]
    pub(crate) fn release_ref(&self) -> bool {
        let n = self.refs.get() - 1;
        self.refs.set(n);
        n == 0
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == State::Done
    }

    /// Cancel requests not yet withdrawn (asyncio's `Task.cancelling()`).
    pub(crate) fn cancelling(&self) -> u32 {
        self.cancel_requests.get()
    }

    /// Withdraws one cancel request (asyncio's `Task.uncancel()`) and returns how many are
    /// left. A request not yet delivered is withdrawn with it when no request newer than the
    /// last delivered one remains: at zero, as asyncio does, but also when the requests left
    /// were all delivered already (so a timeout scope entered after a caught cancel can
    /// withdraw its own undelivered request).
    pub(crate) fn uncancel(&self) -> u32 {
        let n = self.cancel_requests.get().saturating_sub(1);
        self.cancel_requests.set(n);
        self.cancel_delivered
            .set(self.cancel_delivered.get().min(n));
        n
    }

    /// Takes a pending cancel request: `true` if one was pending; it counts as delivered.
    #[inline]
    pub(crate) fn take_cancel(&self) -> bool {
        let n = self.cancel_requests.get();
        if n > self.cancel_delivered.get() {
            self.cancel_delivered.set(n);
            true
        } else {
            false
        }
    }

    /// The task's id.
    #[inline]
    pub(crate) fn id(&self) -> u64 {
        self.label.id
    }

    /// The name given at spawn (empty if none was).
    pub(crate) fn name(&self) -> &str {
        &self.label.name
    }

    /// The task's stack size in bytes.
    pub(crate) fn stack_size(&self) -> usize {
        self.stack_kib as usize * 1024
    }

    /// The display name: the given one, or `Task-<id>` as asyncio names them.
    pub(crate) fn display_name(&self) -> String {
        if self.label.name.is_empty() {
            format!("Task-{}", self.label.id)
        } else {
            self.label.name.to_string()
        }
    }
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Header")
            .field("id", &self.label.id)
            .field("name", &self.label.name)
            .field("state", &self.state.get())
            .field("refs", &self.refs.get())
            .field("token", &self.token.get())
            .field("coro", &self.coro)
            .finish_non_exhaustive()
    }
}

/// The typed operations of a task, reached from its header.
#[derive(Debug)]
pub(crate) struct Vtable {
    /// Frees the cell (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
    /// Stores `Err(JoinError::Cancelled)` unless a result is stored (forced unwind, or the
    /// coroutine never ran).
    store_cancelled: unsafe fn(NonNull<Header>),
    /// Takes a panic stored as the result, which no handle is left to retrieve, to report it.
    take_unretrieved: unsafe fn(NonNull<Header>) -> Option<Panic>,
    /// Makes the coroutine of a task that has not run yet in its coroutine slot, on the stack
    /// the slot holds (see [`Start`]); a slot that holds no fresh stack is left alone.
    start: unsafe fn(NonNull<Header>, &mut CoroSlot),
}

/// What a task's cell keeps after its result until the task's first run: the stack and body
/// that run makes the coroutine from. Spawning then writes nothing on the stack: making the
/// coroutine writes its first frame at the stack's top, and done at spawn that was a cold
/// touch of its own, far in time from the first run's (with 100k tasks, two page walks per
/// task instead of one).
pub(crate) trait Start<T: 'static>: 'static {
    /// Makes the coroutine of the task whose cell `cell` is (with the whole cell's
    /// provenance, so the coroutine may keep it to store the result) on `stack`, the one its
    /// header kept for it.
    ///
    /// # Safety
    ///
    /// `cell` points at the live `SpawnCell` holding `self`, and outlives the coroutine; the
    /// coroutine was not made yet.
    unsafe fn start(&self, cell: NonNull<TaskCell<T>>, stack: Stack) -> Coro;
}

/// A task's heap cell: the header every task has, then the typed result.
///
/// `#[repr(C)]` with the header first: a pointer to the cell is a pointer to its header.
#[repr(C)]
pub(crate) struct TaskCell<T: 'static> {
    pub(crate) header: Header,
    pub(crate) result: RefCell<Option<Result<T, JoinError>>>,
}

impl<T: 'static> TaskCell<T> {
    /// The task's header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        &self.header
    }

    /// Takes the result of a finished task.
    pub(crate) fn take_result(&self) -> Option<Result<T, JoinError>> {
        self.result.borrow_mut().take()
    }

    /// Takes a panic stored as the result, for a report (nobody is left to retrieve it).
    pub(crate) fn take_unretrieved(&self) -> Option<Panic> {
        let failed = self
            .result
            .borrow_mut()
            .take_if(|r| matches!(r, Err(JoinError::Panicked(_))));
        match failed {
            Some(Err(JoinError::Panicked(p))) => Some(p),
            _ => None,
        }
    }

    /// # Safety
    ///
    /// `h` points at the header of a live `TaskCell<T>`.
    unsafe fn cell<'a>(h: NonNull<Header>) -> &'a TaskCell<T> {
        // SAFETY: per the contract, and the cell is `#[repr(C)]` with the header first.
        unsafe { h.cast::<TaskCell<T>>().as_ref() }
    }

    /// # Safety
    ///
    /// `h` points at the header of a live `TaskCell<T>`.
    unsafe fn store_cancelled(h: NonNull<Header>) {
        // SAFETY: per the contract.
        let mut result = unsafe { Self::cell(h) }.result.borrow_mut();
        if result.is_none() {
            *result = Some(Err(JoinError::Cancelled));
        }
    }

    /// # Safety
    ///
    /// `h` points at the header of a live `TaskCell<T>`.
    unsafe fn take_unretrieved_at(h: NonNull<Header>) -> Option<Panic> {
        // SAFETY: per the contract.
        unsafe { Self::cell(h) }.take_unretrieved()
    }
}

/// A task's heap cell as spawned: the cell, then what its first run starts from.
///
/// `#[repr(C)]` with the cell first: a pointer to it is a pointer to the cell and its header.
#[repr(C)]
pub(crate) struct SpawnCell<T: 'static, S: Start<T>> {
    pub(crate) cell: TaskCell<T>,
    pub(crate) start: S,
}

impl<T: 'static, S: Start<T>> SpawnCell<T, S> {
    /// The operations of a `SpawnCell<T, S>`.
    pub(crate) const VTABLE: Vtable = Vtable {
        dealloc: Self::dealloc,
        store_cancelled: TaskCell::<T>::store_cancelled,
        take_unretrieved: TaskCell::<T>::take_unretrieved_at,
        start: Self::start_at,
    };

    /// Puts `cell` (its header counting one reference, its vtable `VTABLE`) on the heap; the
    /// returned `TaskRef` is that reference.
    pub(crate) fn allocate(cell: SpawnCell<T, S>) -> TaskRef {
        let ptr = NonNull::from(Box::leak(Box::new(cell)));
        TaskRef { ptr: ptr.cast() }
    }

    /// # Safety
    ///
    /// `h` points at the header of a `SpawnCell<T, S>` made by [`allocate`](Self::allocate)
    /// whose last reference is being dropped.
    unsafe fn dealloc(h: NonNull<Header>) {
        // SAFETY: the cell came from `Box::leak` in `allocate` with this very type, and no
        // reference is left to use it.
        drop(unsafe { Box::from_raw(h.cast::<SpawnCell<T, S>>().as_ptr()) });
    }

    /// # Safety
    ///
    /// `h` points at the header of a live `SpawnCell<T, S>`, with the whole cell's
    /// provenance, whose coroutine was not made yet.
    unsafe fn start_at(h: NonNull<Header>, slot: &mut CoroSlot) {
        let Some(stack) = slot.take_fresh() else {
            return;
        };
        // SAFETY: per the contract, and the cell is `#[repr(C)]` with the header first.
        let cell = unsafe { h.cast::<SpawnCell<T, S>>().as_ref() };
        // SAFETY: `h` points at this cell, live per the contract. The coroutine made is kept
        // in the cell's own header, and runs only in a step whose runner holds a reference to
        // the task (`step::run`), so the cell outlives every run of it.
        let coro = unsafe { cell.start.start(h.cast(), stack) };
        // SAFETY: the slot is `Gone` (`take_fresh`), which owns nothing to drop.
        unsafe { std::ptr::write(slot, CoroSlot::Live(coro)) };
    }
}

/// A counted reference to a task of any result type: one word.
///
/// Cloning adds to the count in the task's header, dropping the last reference frees the cell.
/// `!Send`: a task belongs to its loop's thread.
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

impl TaskRef {
    /// The task's header.
    #[inline]
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: this reference keeps the cell alive, and the cell starts with its header.
        unsafe { self.ptr.as_ref() }
    }

    /// The pointer to the task's header, with the provenance of the whole cell (unlike a
    /// pointer made from [`header`](Self::header)'s reference): what the running-task
    /// thread-local keeps, so a `TaskRef` can be made from it again.
    #[inline]
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// A new reference to the task whose header `ptr` points at.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`as_ptr`](Self::as_ptr) of a reference to a task that is still
    /// alive (some `TaskRef` to it exists).
    #[inline]
    pub(crate) unsafe fn from_ptr(ptr: NonNull<Header>) -> TaskRef {
        // SAFETY: per the contract the header is alive.
        unsafe { ptr.as_ref() }.add_ref();
        TaskRef { ptr }
    }

    /// `true` if both refer to the same task.
    #[inline]
    pub(crate) fn ptr_eq(&self, other: &TaskRef) -> bool {
        self.ptr == other.ptr
    }

    /// `true` if this is the task whose header is `h`.
    #[inline]
    pub(crate) fn is(&self, h: &Header) -> bool {
        std::ptr::eq(self.ptr.as_ptr(), h)
    }

    /// Stores `Err(JoinError::Cancelled)` as the result unless one is stored.
    pub(crate) fn store_cancelled(&self) {
        // SAFETY: the header's vtable is its cell's own, and this reference keeps it alive.
        unsafe { (self.header().vtable.store_cancelled)(self.ptr) }
    }

    /// Makes the coroutine of a task that has not run yet in `slot`, the task's own (its
    /// header's, borrowed by the caller), on the fresh stack it holds; a slot that holds none
    /// is left alone.
    pub(crate) fn start_in(&self, slot: &mut CoroSlot) {
        // SAFETY: as in `store_cancelled`; the pointer has the whole cell's provenance, and
        // a fresh stack in the slot means the coroutine was not made yet (only spawn puts
        // one there, and making the coroutine takes it out).
        unsafe { (self.header().vtable.start)(self.ptr, slot) }
    }

    /// Takes a stored panic that no handle is left to retrieve, to report it.
    pub(crate) fn take_unretrieved(&self) -> Option<Panic> {
        // SAFETY: as in `store_cancelled`.
        unsafe { (self.header().vtable.take_unretrieved)(self.ptr) }
    }
}

impl Clone for TaskRef {
    #[inline]
    fn clone(&self) -> TaskRef {
        self.header().add_ref();
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        if self.header().release_ref() {
            let dealloc = self.header().vtable.dealloc;
            // SAFETY: that was the last reference; the vtable is the cell's own.
            unsafe { dealloc(self.ptr) }
        }
    }
}

impl std::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TaskRef({})", self.header().id())
    }
}

/// A typed handle's reference: a [`TaskRef`] known to point at a `TaskCell<T>`.
pub(crate) struct TypedRef<T: 'static> {
    task: TaskRef,
    _result: PhantomData<T>,
}

impl<T: 'static> TypedRef<T> {
    /// # Safety
    ///
    /// `task` was spawned with result type `T`.
    pub(crate) unsafe fn new(task: TaskRef) -> TypedRef<T> {
        TypedRef {
            task,
            _result: PhantomData,
        }
    }

    /// The untyped reference.
    #[inline]
    pub(crate) fn raw(&self) -> &TaskRef {
        &self.task
    }
}

impl<T: 'static> std::ops::Deref for TypedRef<T> {
    type Target = TaskCell<T>;

    #[inline]
    fn deref(&self) -> &TaskCell<T> {
        // SAFETY: `new`'s contract; `self.task` keeps the cell alive.
        unsafe { TaskCell::<T>::cell(self.task.ptr) }
    }
}

impl<T: 'static> Clone for TypedRef<T> {
    fn clone(&self) -> Self {
        TypedRef {
            task: self.task.clone(),
            _result: PhantomData,
        }
    }
}

#[cfg(test)]
#[path = "task_ref_tests.rs"]
mod tests;
