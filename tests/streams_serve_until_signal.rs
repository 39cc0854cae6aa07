//! `Server::serve_until_signal`: serve until SIGINT/SIGTERM, then stop accepting and give
//! open connections a grace period. (The examples' processes are signalled in
//! `example_graceful_shutdown.rs`.)

use std::time::Duration;

use corio::streams::{StreamReader, StreamWriter};

/// The tests of this file take turns: a signal goes to every loop that watches it, and each
/// of them watches SIGINT and SIGTERM while it serves.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn idle_handler(mut r: StreamReader, _w: StreamWriter) {
    // Holds the connection until the peer closes it.
    while !r.read(1024).unwrap_or_default().is_empty() {}
}

#[test]
fn serve_until_signal_reports_connections_left_after_the_grace_period() {
    let _turn = turn();
    let (summary, accepted_after) = corio::run(|| {
        let server = corio::start_server("127.0.0.1:0", idle_handler).unwrap();
        let addr = server.local_addr().unwrap();
        let conn = corio::open_connection(addr).unwrap();
        corio::spawn(|| {
            corio::sleep(Duration::from_millis(20));
            // SAFETY: raise(3) sends SIGINT to this thread, which the server watches now.
            unsafe { libc::raise(corio::signal::SIGINT) };
        });
        let t0 = corio::runtime::time();
        let summary = server
            .serve_until_signal(Duration::from_millis(50))
            .unwrap();
        assert!(
            corio::runtime::time() - t0 >= 0.05,
            "waited for the grace period"
        );
        let accepted_after = corio::open_connection(addr).is_ok();
        drop(conn);
        (summary, accepted_after)
    });
    assert!(!accepted_after, "the listener is closed");
    assert_eq!(summary.signal, Some(corio::signal::SIGINT));
    assert_eq!(summary.open_at_close, 1);
    assert_eq!(summary.unfinished, 1);
    assert!(summary.waited >= Duration::from_millis(50));
    let text = summary.to_string();
    assert!(
        text.starts_with("stopped by SIGINT: 1 open connection, 1 still open"),
        "{text}"
    );
}

#[test]
fn serve_until_signal_returns_when_the_server_is_closed_otherwise() {
    let _turn = turn();
    let summary = corio::run(|| {
        let server = std::rc::Rc::new(corio::start_server("127.0.0.1:0", idle_handler).unwrap());
        let s = server.clone();
        corio::spawn(move || {
            corio::sleep(Duration::from_millis(5));
            s.close();
        });
        server.serve_until_signal(Duration::from_secs(5)).unwrap()
    });
    assert_eq!(summary.signal, None);
    assert_eq!(summary.unfinished, 0);
    assert!(
        summary
            .to_string()
            .starts_with("server closed: 0 open connections")
    );
}

#[test]
fn serve_until_signal_works_beside_a_task_in_serve_forever() {
    let _turn = turn();
    let (summary, forever) = corio::run(|| {
        let server = std::rc::Rc::new(corio::start_server("127.0.0.1:0", idle_handler).unwrap());
        let s = server.clone();
        let forever = corio::spawn(move || s.serve_forever());
        corio::spawn(|| {
            corio::sleep(Duration::from_millis(20));
            // SAFETY: raise(3) sends SIGTERM to this thread, which the server watches now.
            unsafe { libc::raise(corio::signal::SIGTERM) };
        });
        let summary = server.serve_until_signal(Duration::from_secs(5)).unwrap();
        (summary, forever.join().unwrap())
    });
    assert_eq!(summary.signal, Some(corio::signal::SIGTERM));
    assert!(
        forever.is_ok(),
        "serve_forever returned when the signal closed the server"
    );
}
