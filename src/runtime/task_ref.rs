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

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::raw::Header;
use crate::error::JoinError;

/// The typed operations of a task, reached from its header.
#[derive(Debug)]
pub(crate) struct Vtable {
    /// Frees the cell (the last reference is gone).
    dealloc: unsafe fn(NonNull<Header>),
    /// Stores `Err(JoinError::Cancelled)` unless a result is stored (forced unwind, or the
    /// coroutine never ran).
    store_cancelled: unsafe fn(NonNull<Header>),
    /// Reports a panic stored as the result, which no handle is left to retrieve.
    report_unretrieved: unsafe fn(NonNull<Header>),
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

    /// Called when the last `Task<T>` handle goes away: reports a failure nobody will see.
    pub(crate) fn handle_dropped(&self) {
        self.header.handle_alive.set(false);
        if self.header.is_done() {
            self.report();
        }
    }

    /// Hands a panic stored as the result to the loop's exception handler (nobody is left to
    /// retrieve it, so the payload is taken out).
    fn report(&self) {
        let failed = self
            .result
            .borrow_mut()
            .take_if(|r| matches!(r, Err(JoinError::Panicked(_))));
        if let Some(Err(JoinError::Panicked(p))) = failed {
            super::exception::task_unretrieved(&self.header, p);
        }
    }

    /// The operations of a `TaskCell<T>`.
    pub(crate) const VTABLE: Vtable = Vtable {
        dealloc: Self::dealloc,
        store_cancelled: Self::store_cancelled,
        report_unretrieved: Self::report_unretrieved,
    };

    /// Puts `cell` (its header counting one reference) on the heap; the returned `TaskRef` is
    /// that reference.
    pub(crate) fn allocate(cell: TaskCell<T>) -> TaskRef {
        let ptr = NonNull::from(Box::leak(Box::new(cell)));
        TaskRef { ptr: ptr.cast() }
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
    /// `h` points at the header of a `TaskCell<T>` made by [`allocate`](Self::allocate) whose
    /// last reference is being dropped.
    unsafe fn dealloc(h: NonNull<Header>) {
        // SAFETY: the cell came from `Box::leak` in `allocate` with this very type, and no
        // reference is left to use it.
        drop(unsafe { Box::from_raw(h.cast::<TaskCell<T>>().as_ptr()) });
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
    unsafe fn report_unretrieved(h: NonNull<Header>) {
        // SAFETY: per the contract.
        unsafe { Self::cell(h) }.report();
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

    /// Reports a stored panic that no handle is left to retrieve.
    pub(crate) fn report_unretrieved(&self) {
        // SAFETY: as in `store_cancelled`.
        unsafe { (self.header().vtable.report_unretrieved)(self.ptr) }
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
        write!(f, "TaskRef({})", self.header().id)
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
