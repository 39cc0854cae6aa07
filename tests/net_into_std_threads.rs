//! Sockets belong to their loop (`!Send`, see the `compile_fail` doc tests on each type);
//! `into_std` is the way to hand one to another thread: it deregisters the socket and gives
//! the std socket back, still non-blocking.

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use corio::{EventLoop, RuntimeError};

/// Runs `f` as a loop's main coroutine, then parks on a future nobody sets: with no
/// registration left behind by `f`, the loop reports the deadlock instead of sleeping on.
/// A stale registration makes the loop sleep forever instead: a watchdog thread turns that
/// into a failure.
fn then_nothing_is_left_registered<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    let (done, watch) = std::sync::mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if watch.recv_timeout(Duration::from_secs(60)).is_err() {
            eprintln!("the loop still sleeps after 60 s: a registration was left behind");
            std::process::abort();
        }
    });
    let lp = EventLoop::new().unwrap();
    let out = std::rc::Rc::new(std::cell::RefCell::new(None));
    let o = out.clone();
    let r = lp.run_until_complete(move || {
        let l = corio::get_running_loop();
        let before = l.registered_fds();
        *o.borrow_mut() = Some(f());
        assert_eq!(
            l.registered_fds(),
            before,
            "a socket taken out with into_std is still registered"
        );
        corio::Future::<()>::new().wait_done();
    });
    done.send(()).unwrap();
    watchdog.join().unwrap();
    assert!(
        matches!(r, Err(RuntimeError::Deadlock(_))),
        "a stale registration kept the loop waiting: {r:?}"
    );
    out.borrow_mut().take().expect("the body ran to its end")
}

#[test]
fn a_tcp_stream_taken_out_with_into_std_works_on_another_thread() {
    let got = then_nothing_is_left_registered(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(move || TcpStream::connect(addr).unwrap());
        let (server, _) = listener.accept().unwrap();
        let std_client = client.join().unwrap().into_std();
        let t = thread::spawn(move || {
            let mut buf = [0u8; 16];
            let e = (&std_client).read(&mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "still non-blocking");
            std_client.set_nonblocking(false).unwrap();
            (&std_client).write_all(b"from a thread").unwrap();
            let n = (&std_client).read(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        let mut buf = [0u8; 13];
        (&server).read_exact(&mut buf).unwrap(); // parks the coroutine, not the thread
        server.write_all(b"back").unwrap();
        let back = t.join().unwrap();
        (buf.to_vec(), back)
    });
    assert_eq!(got, (b"from a thread".to_vec(), b"back".to_vec()));
}

#[test]
fn a_tcp_listener_taken_out_with_into_std_accepts_on_another_thread() {
    let peer = then_nothing_is_left_registered(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap().into_std();
        let addr = listener.local_addr().unwrap();
        let t = thread::spawn(move || {
            listener.set_nonblocking(false).unwrap();
            let (mut conn, peer) = listener.accept().unwrap();
            conn.write_all(b"accepted").unwrap();
            peer
        });
        let client = TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 8];
        (&client).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"accepted");
        let peer = t.join().unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        peer
    });
    assert!(peer.ip().is_loopback());
}

#[test]
fn a_udp_socket_taken_out_with_into_std_sends_from_another_thread() {
    let got = then_nothing_is_left_registered(|| {
        let here = UdpSocket::bind("127.0.0.1:0").unwrap();
        let there = UdpSocket::bind("127.0.0.1:0").unwrap().into_std();
        let to = here.local_addr().unwrap();
        let t = thread::spawn(move || there.send_to(b"datagram", to).unwrap());
        let mut buf = [0u8; 16];
        let (n, _) = here.recv_from(&mut buf).unwrap();
        assert_eq!(t.join().unwrap(), 8);
        buf[..n].to_vec()
    });
    assert_eq!(got, b"datagram");
}

#[test]
fn unix_sockets_taken_out_with_into_std_work_on_another_thread() {
    let dir = std::env::temp_dir().join(format!("corio-into-std-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let p = path.clone();
    let got = then_nothing_is_left_registered(move || {
        // A stream of a pair, and a datagram socket of a pair.
        let (a, b) = UnixStream::pair().unwrap();
        let (da, db) = UnixDatagram::pair().unwrap();
        let (a, da) = (a.into_std(), da.into_std());
        // A listener, accepting on the thread.
        let listener = UnixListener::bind(&p).unwrap().into_std();
        let t = thread::spawn(move || {
            a.set_nonblocking(false).unwrap();
            (&a).write_all(b"stream").unwrap();
            da.send(b"dgram").unwrap();
            listener.set_nonblocking(false).unwrap();
            let (mut conn, _) = listener.accept().unwrap();
            conn.write_all(b"listener").unwrap();
        });
        let mut s = [0u8; 6];
        (&b).read_exact(&mut s).unwrap();
        let mut d = [0u8; 8];
        let n = db.recv(&mut d).unwrap();
        let c = UnixStream::connect(&p).unwrap();
        let mut l = [0u8; 8];
        (&c).read_exact(&mut l).unwrap();
        t.join().unwrap();
        (s.to_vec(), d[..n].to_vec(), l.to_vec())
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        got,
        (b"stream".to_vec(), b"dgram".to_vec(), b"listener".to_vec())
    );
}
