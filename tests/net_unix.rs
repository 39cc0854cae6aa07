//! Unix domain sockets: listener and stream over a path, datagrams, socket pairs.

mod common;

use std::io::{ErrorKind, Read};
use std::net::Shutdown;

use common::TempDir;
use corio::net::{UnixDatagram, UnixListener, UnixStream};

#[test]
fn a_unix_listener_and_stream_echo_over_a_path() {
    let dir = TempDir::new("net-unix");
    let path = dir.path("echo.sock");
    corio::run(move || {
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(&*path));
        let server = corio::spawn(move || {
            for _ in 0..3 {
                let (mut conn, _peer) = listener.accept().unwrap();
                let mut buf = Vec::new();
                conn.read_to_end(&mut buf).unwrap();
                conn.write_all(&buf).unwrap();
            }
        });
        for i in 0..3 {
            let mut c = UnixStream::connect(&path).unwrap();
            let msg = format!("message {i}");
            c.write_all(msg.as_bytes()).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut back = String::new();
            c.read_to_string(&mut back).unwrap();
            assert_eq!(back, msg);
        }
        server.join().unwrap();
    });
}

#[test]
fn connecting_to_a_missing_path_is_not_found() {
    let dir = TempDir::new("net-unix-missing");
    let path = dir.path("nobody-here.sock");
    corio::run(move || {
        let e = UnixStream::connect(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn binding_an_existing_path_is_addr_in_use() {
    let dir = TempDir::new("net-unix-inuse");
    let path = dir.path("taken.sock");
    corio::run(move || {
        let _a = UnixListener::bind(&path).unwrap();
        let e = UnixListener::bind(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn a_stream_pair_carries_large_data_both_ways_at_once() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let payload = common::Rng::new(21).bytes(4 * 1024 * 1024);
        let p = payload.clone();
        let t = corio::spawn(move || {
            b.write_all(&p).unwrap();
            b.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            (&b).read_to_end(&mut got).unwrap();
            got
        });
        let a = std::rc::Rc::new(a);
        let a2 = a.clone();
        let p2 = payload.clone();
        let w = corio::spawn(move || {
            a2.write_all(&p2).unwrap();
            a2.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        (&*a).read_to_end(&mut got).unwrap();
        w.join().unwrap();
        assert!(got == payload);
        assert!(t.join().unwrap() == payload);
    });
}

#[test]
fn writing_to_a_closed_peer_is_broken_pipe() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert_eq!(a.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
    });
}

#[test]
fn datagrams_between_bound_paths_keep_their_boundaries() {
    let dir = TempDir::new("net-unix-dgram");
    let (pa, pb) = (dir.path("a.sock"), dir.path("b.sock"));
    corio::run(move || {
        let a = UnixDatagram::bind(&pa).unwrap();
        let b = UnixDatagram::bind(&pb).unwrap();
        a.send_to(b"first", &pb).unwrap();
        a.send_to(b"second", &pb).unwrap();
        let mut buf = [0u8; 32];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"first");
        assert_eq!(from.as_pathname(), Some(&*pa));
        let (n, _) = b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"second");
        // A connected, unbound socket.
        let c = UnixDatagram::unbound().unwrap();
        c.connect(&pb).unwrap();
        assert_eq!(c.peer_addr().unwrap().as_pathname(), Some(&*pb));
        c.send(b"third").unwrap();
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"third");
    });
}

#[test]
fn a_datagram_recv_parks_until_the_peer_sends() {
    corio::run(|| {
        let (a, b) = UnixDatagram::pair().unwrap();
        let t = corio::spawn(move || {
            let mut buf = [0u8; 8];
            let n = b.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        corio::yield_now();
        assert!(!t.is_done());
        a.send(b"late").unwrap();
        assert_eq!(t.join().unwrap(), b"late");
        assert!(a.local_addr().is_ok());
        let std_back = a.into_std();
        assert!(std_back.peer_addr().is_ok());
    });
}

#[test]
fn connecting_while_the_backlog_is_full_waits_instead_of_failing() {
    let dir = TempDir::new("net-unix-backlog");
    let path = dir.path("busy.sock");
    corio::run(move || {
        // A listener with a backlog of one that nobody accepts from yet: further connects
        // get EAGAIN from the kernel, which UnixStream::connect retries after a pause.
        let sock =
            socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        sock.bind(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
        sock.listen(1).unwrap();
        let listener = UnixListener::from_std(sock.into()).unwrap();
        let clients: Vec<_> = (0..5)
            .map(|_| {
                let p = path.clone();
                corio::spawn(move || UnixStream::connect(&p))
            })
            .collect();
        corio::sleep(std::time::Duration::from_millis(20));
        let done = clients.iter().filter(|c| c.is_done()).count();
        assert!(done < 5, "the full backlog held some connects back");
        let accepted: Vec<_> = (0..5).map(|_| listener.accept().unwrap()).collect();
        for c in clients {
            c.join().unwrap().expect("every connect got through");
        }
        assert_eq!(accepted.len(), 5);
    });
}
