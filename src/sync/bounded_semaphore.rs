//! `BoundedSemaphore`: a semaphore that refuses to grow past its initial value (asyncio's
//! `BoundedSemaphore`).

use std::fmt;
use std::rc::Rc;

use super::semaphore::{Inner, SemaphorePermit};
use crate::error::TooManyReleases;

/// A [`Semaphore`](super::Semaphore) whose count never exceeds its initial value (asyncio's
/// `BoundedSemaphore`): releasing a permit that was never taken is an error, which catches
/// unbalanced `acquire`/`release` pairs. Serves waiters in order, exactly like `Semaphore`.
///
/// ```
/// corio::run(|| {
///     let sem = corio::BoundedSemaphore::new(1);
///     sem.acquire().forget();
///     sem.release().unwrap();
///     assert!(sem.release().is_err(), "one more release than acquires");
///     assert_eq!(sem.available(), 1);
/// });
/// ```
///
/// A `BoundedSemaphore` belongs to one loop's thread (`!Send`).
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio::BoundedSemaphore>();
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    inner: Rc<Inner>,
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.available())
            .field("bound", &self.inner.bound)
            .field("waiters", &self.inner.waiters())
            .finish()
    }
}

impl Default for BoundedSemaphore {
    /// A bounded semaphore with one permit, as asyncio's default.
    #[track_caller]
    fn default() -> Self {
        BoundedSemaphore::new(1)
    }
}

impl BoundedSemaphore {
    /// A semaphore with `value` permits, never more.
    #[track_caller]
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            inner: Rc::new(Inner::new(value, value)),
        }
    }

    /// Takes a permit, parking until one is free and it is this coroutine's turn.
    ///
    /// ```
    /// corio::run(|| {
    ///     let sem = corio::BoundedSemaphore::new(2);
    ///     let _a = sem.acquire();
    ///     let _b = sem.acquire();
    ///     assert!(sem.locked());
    /// });
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As [`Semaphore::acquire`](super::Semaphore::acquire): no permit is lost.
    ///
    /// # Panics
    ///
    /// As [`Semaphore::acquire`](super::Semaphore::acquire).
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.inner.acquire();
        SemaphorePermit { inner: &self.inner }
    }

    /// Takes a permit if one is free; never parks, never goes ahead of a waiter.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.inner
            .try_acquire()
            .then(|| SemaphorePermit { inner: &self.inner })
    }

    /// Gives back a permit taken with [`SemaphorePermit::forget`]: the first waiter gets it,
    /// or it goes back to the pool.
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if every permit is already free; the count does not change.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        if self.inner.unheld() >= self.inner.bound {
            return Err(TooManyReleases);
        }
        self.inner.add_permit();
        Ok(())
    }

    /// `true` if [`acquire`](BoundedSemaphore::acquire) would park, as
    /// [`Semaphore::locked`](super::Semaphore::locked).
    pub fn locked(&self) -> bool {
        self.inner.locked()
    }

    /// How many permits are free.
    pub fn available(&self) -> usize {
        self.inner.value()
    }
}
