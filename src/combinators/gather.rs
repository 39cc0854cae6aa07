//! `gather` and `gather!`: run tasks concurrently, collect every result in input order.

use super::{Child, IntoTask, join_all_or_cancel};
use crate::error::JoinError;
use crate::task::Task;

/// Runs the tasks concurrently and returns every result, in input order (asyncio's
/// `gather(..., return_exceptions=True)`). Closures are spawned first, so all of them run
/// at the same time; tasks already spawned are waited for.
///
/// A failure is one `Err` among the results: it cancels nothing and loses no other result.
/// For closures of different types use [`gather!`](crate::gather!).
///
/// ```
/// use std::time::Duration;
/// corio::run(|| {
///     let results = corio::gather((1..=3u64).map(|i| move || {
///         corio::sleep(Duration::from_millis(4 - i)); // the last one ends first
///         if i == 2 { panic!("two failed") }
///         i * 10
///     }));
///     assert_eq!(results[0].as_ref().unwrap(), &10);
///     assert_eq!(results[1].as_ref().unwrap_err().panic_message(), Some("two failed"));
///     assert_eq!(results[2].as_ref().unwrap(), &30);
/// });
/// ```
///
/// # Cancel safety
///
/// If the coroutine waiting in `gather` is cancelled, every task still running is cancelled
/// and waited for, then the cancellation goes on (as in asyncio, where cancelling a gather
/// cancels its children). Their results are dropped.
///
/// # Panics
///
/// Outside a coroutine, unless every task has already ended; when a closure cannot be
/// spawned (see [`spawn`](crate::spawn)).
#[track_caller]
pub fn gather<T, I>(tasks: I) -> Vec<Result<T, JoinError>>
where
    T: 'static,
    I: IntoIterator,
    I::Item: IntoTask<T>,
{
    let tasks: Vec<Task<T>> = tasks.into_iter().map(IntoTask::into_task).collect();
    let children: Vec<&dyn Child> = tasks.iter().map(|t| t as &dyn Child).collect();
    join_all_or_cancel(&children);
    tasks.iter().map(take).collect()
}

fn take<T: 'static>(t: &Task<T>) -> Result<T, JoinError> {
    t.try_take().unwrap_or(Err(JoinError::Cancelled))
}

/// Runs closures or tasks of different types concurrently and returns a tuple of their
/// results, in argument order: `gather!(a, b, c)` gives `(Result<A, JoinError>, Result<B,
/// JoinError>, Result<C, JoinError>)`. Up to 12 arguments; semantics as
/// [`gather`](crate::gather()).
///
/// ```
/// corio::run(|| {
///     let t = corio::spawn(|| "spawned before");
///     let (n, s, unit) = corio::gather!(|| 6 * 7, t, || corio::yield_now());
///     assert_eq!(n.unwrap(), 42);
///     assert_eq!(s.unwrap(), "spawned before");
///     assert!(unit.is_ok());
/// });
/// ```
///
/// # Cancel safety
///
/// As [`gather`](crate::gather()): cancelling the waiter cancels every child and waits for
/// them.
#[macro_export]
macro_rules! gather {
    ($($task:expr),+ $(,)?) => {
        $crate::combinators::__gather_tuple((
            $($crate::combinators::IntoTask::into_task($task),)+
        ))
    };
}

/// A tuple of tasks that [`gather!`](crate::gather!) can wait for. Not meant to be named.
#[doc(hidden)]
pub trait GatherTuple {
    /// The tuple of results.
    type Output;
    /// Waits for every task (cancelling them all if the waiter is cancelled).
    fn gather_all(self) -> Self::Output;
}

/// The function behind [`gather!`](crate::gather!).
#[doc(hidden)]
pub fn __gather_tuple<G: GatherTuple>(tasks: G) -> G::Output {
    tasks.gather_all()
}

macro_rules! gather_tuple_impls {
    ($( ($($T:ident $t:ident),+) )+) => {$(
        impl<$($T: 'static),+> GatherTuple for ($(Task<$T>,)+) {
            type Output = ($(Result<$T, JoinError>,)+);
            fn gather_all(self) -> Self::Output {
                let ($($t,)+) = self;
                join_all_or_cancel(&[$(&$t as &dyn Child),+]);
                ($(take(&$t),)+)
            }
        }
    )+};
}

gather_tuple_impls! {
    (A a)
    (A a, B b)
    (A a, B b, C c)
    (A a, B b, C c, D d)
    (A a, B b, C c, D d, E e)
    (A a, B b, C c, D d, E e, F f)
    (A a, B b, C c, D d, E e, F f, G g)
    (A a, B b, C c, D d, E e, F f, G g, H h)
    (A a, B b, C c, D d, E e, F f, G g, H h, I i)
    (A a, B b, C c, D d, E e, F f, G g, H h, I i, J j)
    (A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k)
    (A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l)
}
