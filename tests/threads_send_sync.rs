//! The thread-facing types are `Send + Sync`; the loop-bound ones are neither (see also the
//! `compile_fail` doc tests on each of them).

use corio::ThreadQueue;
use corio::executor::Executor;
use corio::runtime::{EventLoopBuilder, LoopHandle, RemoteTask};

fn send_sync<T: Send + Sync>() {}

// Checked at compile time: a change that makes one of these `!Send` or `!Sync` does not build.
const _: () = {
    let _ = send_sync::<LoopHandle>;
    let _ = send_sync::<ThreadQueue<u64>>;
    let _ = send_sync::<Executor>;
    let _ = send_sync::<RemoteTask<u64>>;
    let _ = send_sync::<EventLoopBuilder>;
    let _ = send_sync::<corio::Builder>;
};

/// `is_send!(T)` / `is_sync!(T)`: whether a concrete type implements the trait, as a `bool`
/// (an inherent constant, present only when the bound holds, shadows the trait's `false`).
macro_rules! is_marker {
    ($name:ident, $tr:ident) => {
        macro_rules! $name {
            ($t:ty) => {{
                struct Probe<T: ?Sized>(std::marker::PhantomData<T>);
                #[allow(dead_code)]
                trait Fallback {
                    const YES: bool = false;
                }
                impl<T: ?Sized> Fallback for Probe<T> {}
                #[allow(dead_code)]
                impl<T: ?Sized + $tr> Probe<T> {
                    const YES: bool = true;
                }
                <Probe<$t>>::YES
            }};
        }
    };
}
is_marker!(is_send, Send);
is_marker!(is_sync, Sync);

#[test]
fn the_probe_tells_send_from_not_send() {
    assert!(is_send!(u32) && is_sync!(u32));
    assert!(!is_send!(std::rc::Rc<u32>) && !is_sync!(std::cell::Cell<u32>));
}

/// Everything tied to one loop: a socket's registration, a task's stack, a primitive's
/// waiters. Moved to another thread and dropped there, it would act on (or fail to clean up)
/// a loop that is not there.
#[test]
fn loop_bound_types_are_neither_send_nor_sync() {
    macro_rules! loop_bound {
        ($($t:ty),+ $(,)?) => {{
            let mut wrong = Vec::new();
            $(
                if is_send!($t) || is_sync!($t) {
                    wrong.push(stringify!($t));
                }
            )+
            wrong
        }};
    }
    let wrong = loop_bound!(
        corio::net::TcpStream,
        corio::net::TcpListener,
        corio::net::UdpSocket,
        corio::net::UnixStream,
        corio::net::UnixListener,
        corio::net::UnixDatagram,
        corio::StreamReader,
        corio::StreamWriter,
        corio::Server,
        corio::Task<u32>,
        corio::CurrentTask,
        corio::Future<u32>,
        corio::Lock,
        corio::LockGuard<'static>,
        corio::Event,
        corio::Condition,
        corio::Semaphore,
        corio::SemaphorePermit<'static>,
        corio::BoundedSemaphore,
        corio::Barrier,
        corio::Queue<u32>,
        corio::LifoQueue<u32>,
        corio::PriorityQueue<u32>,
        corio::TaskGroup,
        corio::AsCompleted<u32>,
        corio::TimeoutScope,
        corio::EventLoop,
        corio::Handle,
        corio::TimerHandle,
    );
    assert!(wrong.is_empty(), "Send or Sync by accident: {wrong:?}");
}

#[test]
fn loop_handle_is_send_and_sync() {
    send_sync::<LoopHandle>();
}

#[test]
fn thread_queue_is_send_and_sync_for_send_items() {
    send_sync::<ThreadQueue<u64>>();
    send_sync::<ThreadQueue<String>>();
    send_sync::<ThreadQueue<Box<dyn std::any::Any + Send>>>();
}

#[test]
fn executor_is_send_and_sync() {
    send_sync::<Executor>();
}

#[test]
fn remote_task_is_send_and_sync() {
    send_sync::<RemoteTask<u64>>();
    send_sync::<RemoteTask<Vec<String>>>();
}

#[test]
fn a_block_on_waker_may_be_sent_and_woken_anywhere() {
    // The waker compat::block_on polls with travels to a thread and is woken there.
    let v = corio::run(|| {
        corio::compat::block_on(std::future::poll_fn({
            let mut sent = false;
            move |cx| {
                if sent {
                    return std::task::Poll::Ready("woken from a thread");
                }
                sent = true;
                let w = cx.waker().clone();
                std::thread::spawn(move || w.wake());
                std::task::Poll::Pending
            }
        }))
    });
    assert_eq!(v, "woken from a thread");
}
