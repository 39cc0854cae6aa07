//! A write to a peer that is gone is an error (`BrokenPipe` or `ConnectionReset`), never a
//! `SIGPIPE`, even in a process that has not ignored the signal.
//!
//! A Rust binary's `main` ignores `SIGPIPE` before it runs, so the other tests would pass
//! even if a socket write forgot `MSG_NOSIGNAL`. This file puts the signal back to its
//! default action (terminate) for its whole process, so it holds this one test only: a
//! missing flag kills the test binary instead of passing unnoticed.

use std::io::{ErrorKind, IoSlice, Write};
use std::time::Duration;

use corio::net::{TcpListener, TcpStream, UnixStream};
use corio::streams;

fn gone(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
}

/// Writes `write` until it fails (the first writes after a close may still be taken by the
/// kernel) and returns the error's kind.
fn first_error(mut write: impl FnMut() -> std::io::Result<()>) -> ErrorKind {
    for _ in 0..1000 {
        if let Err(e) = write() {
            return e.kind();
        }
        corio::sleep(Duration::from_millis(1));
    }
    panic!("writes to a closed peer kept succeeding");
}

#[test]
fn writes_to_a_closed_peer_are_errors_with_sigpipe_at_its_default_action() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code; this test
    // binary runs this one test, so nothing else depends on SIGPIPE being ignored.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
    corio::run(|| {
        // TcpStream::write.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(move || TcpStream::connect(addr).unwrap());
        let (server, _) = listener.accept().unwrap();
        let client = client.join().unwrap();
        drop(server);
        let kind = first_error(|| client.write(b"data").map(drop));
        assert!(gone(kind), "TcpStream::write: {kind:?}");
        // TcpStream::write_vectored (std's `Write`), to the same closed peer.
        let bufs = [IoSlice::new(b"da"), IoSlice::new(b"ta")];
        let kind = first_error(|| (&client).write_vectored(&bufs).map(drop));
        assert!(gone(kind), "TcpStream::write_vectored: {kind:?}");

        // UnixStream::write.
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert_eq!(a.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
        let bufs = [IoSlice::new(b"x"), IoSlice::new(b"y")];
        let e = (&a).write_vectored(&bufs).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::BrokenPipe,
            "UnixStream::write_vectored"
        );

        // A stream writer's drain, over TCP.
        let server = corio::spawn(move || listener.accept().map(drop));
        let (_r, w) = streams::open_connection(addr).unwrap();
        server.join().unwrap().unwrap();
        let kind = first_error(|| {
            w.write(b"data");
            w.drain()
        });
        assert!(gone(kind), "StreamWriter::drain: {kind:?}");
    });
}
