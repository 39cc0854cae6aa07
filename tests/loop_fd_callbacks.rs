//! File-descriptor callbacks: `add_reader`, `add_writer`, their removal and replacement
//! (asyncio's `events.py`).

mod common;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use common::{Drops, Log};
use corio::runtime;
use corio::{EventLoop, Future};

// ----- fd callbacks -----

fn pair() -> (Rc<UnixStream>, Rc<UnixStream>) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (Rc::new(a), Rc::new(b))
}

#[test]
fn add_reader_echo_server_on_a_unix_stream_pair() {
    // The server side of the talk's callback example: echo what arrives, close on EOF.
    let (server, client) = pair();
    let received = corio::run(move || {
        let closed = Future::<bool>::new();
        let (s, c) = (server.clone(), closed.clone());
        runtime::add_reader(&*server, move || {
            let mut buf = [0u8; 64];
            match (&*s).read(&mut buf) {
                Ok(0) => {
                    let was = runtime::remove_reader(&*s);
                    c.set_result(was).unwrap();
                }
                Ok(n) => (&*s).write_all(&buf[..n]).unwrap(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        })
        .unwrap();

        let echoed = Rc::new(RefCell::new(Vec::new()));
        let got = Future::<()>::new();
        let (cl, e, g) = (client.clone(), echoed.clone(), got.clone());
        runtime::add_reader(&*client, move || {
            let mut buf = [0u8; 64];
            if let Ok(n) = (&*cl).read(&mut buf) {
                e.borrow_mut().extend_from_slice(&buf[..n]);
                if e.borrow().len() == 5 && !g.done() {
                    g.set_result(()).unwrap();
                }
            }
        })
        .unwrap();
        (&*client).write_all(b"hello").unwrap();
        got.wait().unwrap();
        assert!(runtime::remove_reader(&*client));
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(closed.wait().unwrap(), "remove_reader found the reader");
        echoed.borrow().clone()
    });
    assert_eq!(received, b"hello");
}

// cpython: test_events.py EventLoopTestsMixin.test_reader_callback
#[test]
fn add_reader_is_level_triggered() {
    // The reader takes one byte per call: the fd stays readable, so it is called again.
    let (a, b) = pair();
    let (calls, bytes) = corio::run(move || {
        let calls = Rc::new(Cell::new(0));
        let bytes = Rc::new(RefCell::new(Vec::new()));
        let all = Future::<()>::new();
        let (a2, c, by, f) = (a.clone(), calls.clone(), bytes.clone(), all.clone());
        runtime::add_reader(&*a, move || {
            c.set(c.get() + 1);
            let mut one = [0u8; 1];
            if let Ok(1) = (&*a2).read(&mut one) {
                by.borrow_mut().push(one[0]);
                if by.borrow().len() == 3 {
                    f.set_result(()).unwrap();
                }
            }
        })
        .unwrap();
        (&*b).write_all(b"abc").unwrap();
        all.wait().unwrap();
        assert!(runtime::remove_reader(&*a));
        (calls.get(), bytes.borrow().clone())
    });
    assert_eq!(bytes, b"abc");
    assert!(calls >= 3, "called {calls} times");
}

#[test]
fn remove_reader_and_replacing_a_reader_drop_the_old_callback() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = pair();
    let drops = Drops::new();
    let g = drops.guard();
    lp.add_reader(&*a, move || {
        let _ = &g;
    })
    .unwrap();
    let g = drops.guard();
    lp.add_reader(&*a, move || {
        let _ = &g;
    })
    .unwrap();
    assert_eq!(drops.count(), 1, "the replaced reader was dropped");
    assert!(lp.remove_reader(&*a));
    assert_eq!(drops.count(), 2, "the removed reader was dropped");
}

#[test]
fn add_reader_on_a_regular_file_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let file = std::fs::File::open(std::env::current_exe().unwrap()).unwrap();
    assert!(lp.add_reader(&file, || {}).is_err());
    assert!(!lp.remove_reader(&file));
    assert_eq!(
        lp.run_until_complete(|| 1).unwrap(),
        1,
        "the loop is unharmed"
    );
}

#[test]
fn remove_reader_returns_whether_a_reader_was_registered() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = pair();
    assert!(!lp.remove_reader(&*a));
    lp.add_reader(&*a, || {}).unwrap();
    assert!(!lp.remove_writer(&*a), "no writer was registered");
    assert!(lp.remove_reader(&*a));
    assert!(!lp.remove_reader(&*a));
}

// cpython: test_events.py EventLoopTestsMixin.test_writer_callback
#[test]
fn add_writer_fires_when_writable_and_remove_writer_reports_it() {
    let lp = EventLoop::new().unwrap();
    let (r, w) = pair();
    let data = vec![b'x'; 1024];
    let (w2, d) = (w.clone(), data.clone());
    lp.add_writer(&*w, move || {
        (&*w2).write_all(&d).unwrap();
        runtime::stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert!(lp.remove_writer(&*w));
    assert!(!lp.remove_writer(&*w));
    let mut got = vec![0u8; 4096];
    let n = (&*r).read(&mut got).unwrap();
    assert_eq!(&got[..n], &data[..]);
}

#[test]
fn add_reader_replaces_the_previous_reader_of_the_same_fd() {
    let (a, b) = pair();
    let log = corio::run(move || {
        let log = Log::new();
        let l = log.clone();
        runtime::add_reader(&*a, move || l.push("old")).unwrap();
        let done = Future::<()>::new();
        let (l, a2, d) = (log.clone(), a.clone(), done.clone());
        runtime::add_reader(&*a, move || {
            let mut buf = [0u8; 8];
            let _ = (&*a2).read(&mut buf);
            l.push("new");
            let _ = d.set_result(());
        })
        .unwrap();
        (&*b).write_all(b"x").unwrap();
        done.wait().unwrap();
        assert!(runtime::remove_reader(&*a));
        log.get()
    });
    assert_eq!(log, ["new"]);
}

#[test]
fn reader_and_writer_on_the_same_fd_both_fire() {
    let (a, b) = pair();
    corio::run(move || {
        let wrote = Future::<()>::new();
        let w = wrote.clone();
        runtime::add_writer(&*a, move || {
            let _ = w.set_result(());
        })
        .unwrap();
        let read = Future::<u8>::new();
        let (a2, r) = (a.clone(), read.clone());
        runtime::add_reader(&*a, move || {
            let mut one = [0u8; 1];
            if let Ok(1) = (&*a2).read(&mut one) {
                let _ = r.set_result(one[0]);
            }
        })
        .unwrap();
        wrote.wait().unwrap();
        assert!(runtime::remove_writer(&*a));
        (&*b).write_all(b"z").unwrap();
        assert_eq!(
            read.wait().unwrap(),
            b'z',
            "the reader survived removing the writer"
        );
        assert!(runtime::remove_reader(&*a));
    });
}

#[test]
fn remove_reader_from_inside_its_callback_stops_further_calls() {
    let (a, b) = pair();
    let calls = corio::run(move || {
        let calls = Rc::new(Cell::new(0));
        let (a2, c) = (a.clone(), calls.clone());
        runtime::add_reader(&*a, move || {
            c.set(c.get() + 1);
            let mut one = [0u8; 1];
            let _ = (&*a2).read(&mut one);
            assert!(runtime::remove_reader(&*a2));
        })
        .unwrap();
        (&*b).write_all(b"abc").unwrap();
        for _ in 0..5 {
            corio::sleep(Duration::from_millis(5));
        }
        calls.get()
    });
    assert_eq!(
        calls, 1,
        "two bytes are left unread, yet the reader is gone"
    );
}

#[test]
fn add_reader_callback_can_panic_without_killing_the_loop() {
    let (a, b) = pair();
    corio::run(move || {
        let (a2, fired) = (a.clone(), Rc::new(Cell::new(0)));
        let f = fired.clone();
        runtime::add_reader(&*a, move || {
            f.set(f.get() + 1);
            let _ = runtime::remove_reader(&*a2);
            panic!("reader failure");
        })
        .unwrap();
        (&*b).write_all(b"x").unwrap();
        corio::sleep(Duration::from_millis(20));
        assert_eq!(fired.get(), 1);
    });
}
