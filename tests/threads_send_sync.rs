//! The thread-facing types are `Send + Sync`; the loop-bound ones are not (see the
//! `compile_fail` doc tests on `Task`).

use corio::ThreadQueue;
use corio::executor::Executor;
use corio::runtime::{LoopHandle, RemoteTask};

fn send_sync<T: Send + Sync>() {}

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
