//! One loop per thread, each with its own listener on one port (SO_REUSEPORT).

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[test]
fn loops_on_threads_run_independently_and_return_in_thread_order() {
    let out = corio::runtime::run_per_thread(3, |i| {
        let t = corio::spawn(move || i + 1);
        (
            std::thread::current().name().unwrap().to_string(),
            t.join().unwrap(),
        )
    });
    let out: Vec<_> = out.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        out,
        [
            ("corio-loop-0".to_string(), 1),
            ("corio-loop-1".to_string(), 2),
            ("corio-loop-2".to_string(), 3)
        ]
    );
}

#[test]
fn a_panic_in_one_loop_leaves_the_others_alone() {
    let out = corio::runtime::run_per_thread(2, |i| {
        if i == 1 {
            panic!("loop {i} failed");
        }
        corio::sleep(Duration::from_millis(5));
        i
    });
    assert_eq!(*out[0].as_ref().unwrap(), 0);
    assert!(out[1].is_err());
}

#[test]
fn loops_share_a_port_with_reuse_port_and_serve_every_connection() {
    const CONNECTIONS: usize = 40;
    // A free port, then two loops each with their own listener on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let served = Arc::new(AtomicUsize::new(0));
    let bound = Arc::new(AtomicUsize::new(0));
    let (s, b) = (served.clone(), bound.clone());
    let servers = std::thread::spawn(move || {
        corio::runtime::run_per_thread(2, move |_| {
            let listener = corio::net::TcpListener::builder()
                .reuse_port(true)
                .bind(("127.0.0.1", port))
                .unwrap();
            b.fetch_add(1, Ordering::SeqCst);
            let mut mine = 0;
            while s.load(Ordering::SeqCst) < CONNECTIONS {
                if let Ok(Ok((c, _))) =
                    corio::wait_for(Duration::from_millis(20), || listener.accept())
                {
                    c.write_all(b"hi").unwrap();
                    mine += 1;
                    s.fetch_add(1, Ordering::SeqCst);
                }
            }
            mine
        })
    });
    while bound.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..CONNECTIONS {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hi");
    }
    let per_loop: Vec<usize> = servers
        .join()
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(per_loop.iter().sum::<usize>(), CONNECTIONS, "{per_loop:?}");
}
