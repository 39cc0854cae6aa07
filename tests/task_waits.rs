//! `corio::tasks()` says what each parked task waits on, whichever primitive it parked in.

use std::rc::Rc;

use corio::streams::{self, StreamWriter};

/// What the task named `name` waits on right now.
fn waiting_on(name: &str) -> &'static str {
    corio::task::tasks()
        .into_iter()
        .find(|t| t.name == name)
        .map_or("<gone>", |t| t.waiting_on)
}

#[test]
fn tasks_report_what_each_parked_task_waits_on() {
    corio::run(|| {
        let lock = Rc::new(corio::Lock::new());
        let held = lock.acquire();
        let event = Rc::new(corio::Event::new());
        let sem = Rc::new(corio::Semaphore::new(0));
        let cond = Rc::new(corio::Condition::new());
        let barrier = Rc::new(corio::Barrier::new(2));
        let empty: Rc<corio::Queue<u32>> = Rc::new(corio::Queue::new(1));
        let full: Rc<corio::Queue<u32>> = Rc::new(corio::Queue::new(1));
        full.put_nowait(1).unwrap();
        let joined = Rc::new(corio::Queue::<u32>::new(0));
        joined.put_nowait(1).unwrap();
        let threads = corio::ThreadQueue::<u32>::new(0);
        let fut: corio::Future<u32> = corio::Future::new();
        let sleeper = corio::spawn(|| corio::sleep(std::time::Duration::from_secs(3600)));

        let mut tasks = Vec::new();
        let mut named = |name: &str, f: Box<dyn FnOnce()>| {
            tasks.push(corio::Builder::new().name(name).spawn(f).unwrap());
        };
        let l = lock.clone();
        named(
            "lock",
            Box::new(move || {
                let _ = l.acquire();
            }),
        );
        let e = event.clone();
        named("event", Box::new(move || e.wait()));
        let s = sem.clone();
        named(
            "semaphore",
            Box::new(move || {
                let _ = s.acquire();
            }),
        );
        let c = cond.clone();
        named(
            "condition",
            Box::new(move || {
                let _held = c.acquire();
                let _ = c.wait();
            }),
        );
        let b = barrier.clone();
        named(
            "barrier",
            Box::new(move || {
                let _ = b.wait();
            }),
        );
        let q = empty.clone();
        named(
            "get",
            Box::new(move || {
                let _ = q.get();
            }),
        );
        let q = full.clone();
        named(
            "put",
            Box::new(move || {
                let _ = q.put(2);
            }),
        );
        let q = joined.clone();
        named("queue join", Box::new(move || q.join()));
        let q = threads.clone();
        named(
            "thread get",
            Box::new(move || {
                let _ = q.get();
            }),
        );
        let f = fut.clone();
        named(
            "future",
            Box::new(move || {
                let _ = f.wait();
            }),
        );
        named(
            "join",
            Box::new(move || {
                let _ = sleeper.join();
            }),
        );
        let (a, _b) = corio::net::UnixStream::pair().unwrap();
        let (_r, w) = streams::split(a);
        let w: Rc<StreamWriter> = Rc::new(w);
        w.set_write_buffer_limits(0, 0);
        w.write(&vec![0u8; 16 << 20]); // far more than the socket buffers take
        let d = w.clone();
        named(
            "drain",
            Box::new(move || {
                let _ = d.drain();
            }),
        );
        let d = w.clone();
        named(
            "wait_closed",
            Box::new(move || {
                let _ = d.wait_closed();
            }),
        );

        corio::yield_now();
        corio::yield_now();
        for (name, what) in [
            ("lock", "lock"),
            ("event", "event"),
            ("semaphore", "semaphore"),
            ("condition", "condition"),
            ("barrier", "barrier"),
            ("get", "queue get"),
            ("put", "queue put"),
            ("queue join", "queue join"),
            ("thread get", "thread queue get"),
            ("future", "future"),
            ("join", "join"),
            ("drain", "drain"),
            ("wait_closed", "wait_closed"),
        ] {
            assert_eq!(waiting_on(name), what, "task {name}");
        }
        for t in &tasks {
            t.cancel();
        }
        drop(held);
        w.abort();
        threads.close();
        for t in tasks {
            let _ = t.join();
        }
    });
}
