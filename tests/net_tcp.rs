//! TCP sockets: accept, connect, read and write through std's traits, sharing a stream
//! between tasks, options, and the errors of misuse.

mod common;

use std::io::{ErrorKind, Read};
use std::net::Shutdown;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, Rng};
use corio::net::{TcpListener, TcpStream};

fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = corio::spawn(move || TcpStream::connect(addr).unwrap());
    let (server, _) = listener.accept().unwrap();
    (client.join().unwrap(), server)
}

#[test]
fn a_client_and_a_server_echo_through_std_read_and_write() {
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = corio::spawn(move || {
            let (conn, peer) = listener.accept().unwrap();
            assert_eq!(conn.peer_addr().unwrap(), peer);
            let mut buf = [0u8; 1024];
            loop {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                conn.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = TcpStream::connect(addr).unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        for msg in [&b"one"[..], b"two two", b"three three three"] {
            c.write_all(msg).unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg);
        }
        c.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap();
        assert_eq!(
            c.read(&mut [0u8; 8]).unwrap(),
            0,
            "EOF once the server is gone"
        );
    });
}

#[test]
fn accept_parks_until_a_client_connects() {
    corio::run(|| {
        let log: Log<&'static str> = Log::new();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let l = log.clone();
        let server = corio::spawn(move || {
            l.push("accepting");
            let _ = listener.accept().unwrap();
            l.push("accepted");
        });
        corio::yield_now();
        corio::yield_now();
        assert_eq!(log.get(), ["accepting"]);
        log.push("connecting");
        let _c = TcpStream::connect(addr).unwrap();
        server.join().unwrap();
        assert_eq!(log.get(), ["accepting", "connecting", "accepted"]);
    });
}

#[test]
fn a_cancelled_accept_leaves_the_connection_queued() {
    corio::run(|| {
        let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let l = listener.clone();
        let t = corio::spawn(move || l.accept().map(|(s, _)| s));
        corio::yield_now();
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
        let c = TcpStream::connect(addr).unwrap();
        let (s, peer) = listener.accept().unwrap();
        assert_eq!(peer, c.local_addr().unwrap());
        drop(s);
    });
}

#[test]
fn two_tasks_share_one_stream_one_reading_while_the_other_writes() {
    corio::run(|| {
        let (client, server) = connected_pair();
        // The server echoes with a reader task and a writer task on one socket.
        let server = Rc::new(server);
        let (tx, rx) = (server.clone(), server.clone());
        let q = Rc::new(corio::Queue::<Vec<u8>>::new(4));
        let q2 = q.clone();
        let reader = corio::spawn(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = rx.read(&mut buf).unwrap();
                q2.put(buf[..n].to_vec()).unwrap();
                if n == 0 {
                    break;
                }
            }
        });
        let writer = corio::spawn(move || {
            loop {
                let chunk = q.get().unwrap();
                if chunk.is_empty() {
                    tx.shutdown(Shutdown::Write).unwrap();
                    break;
                }
                tx.write_all(&chunk).unwrap();
            }
        });
        // The client too: far more than the socket buffers hold, both ways at once.
        let client = Rc::new(client);
        let payload = Rng::new(11).bytes(8 * 1024 * 1024 + 3);
        let c = client.clone();
        let p = payload.clone();
        let sender = corio::spawn(move || {
            c.write_all(&p).unwrap();
            c.shutdown(Shutdown::Write).unwrap();
        });
        let mut back = Vec::new();
        (&*client).read_to_end(&mut back).unwrap();
        sender.join().unwrap();
        reader.join().unwrap();
        writer.join().unwrap();
        assert!(back == payload);
    });
}

#[test]
fn two_tasks_reading_one_socket_both_get_data() {
    corio::run(|| {
        let (client, server) = connected_pair();
        let server = Rc::new(server);
        let got = Log::<usize>::new();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (s, g) = (server.clone(), got.clone());
                corio::spawn(move || {
                    let mut buf = [0u8; 1];
                    let n = s.read(&mut buf).unwrap();
                    g.push(n);
                })
            })
            .collect();
        corio::yield_now();
        client.write_all(b"a").unwrap();
        corio::sleep(Duration::from_millis(5));
        client.write_all(b"b").unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(got.get(), [1, 1], "neither reader was forgotten");
    });
}

#[test]
fn peek_does_not_consume() {
    corio::run(|| {
        let (client, server) = connected_pair();
        client.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        let n = server.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], &b"hello"[..n]);
        let mut all = [0u8; 5];
        (&server).read_exact(&mut all).unwrap();
        assert_eq!(&all, b"hello");
    });
}

#[test]
fn a_half_closed_stream_still_carries_the_other_direction() {
    corio::run(|| {
        let (client, server) = connected_pair();
        client.write_all(b"question").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut q = String::new();
        (&server).read_to_string(&mut q).unwrap();
        assert_eq!(q, "question");
        server.write_all(b"answer").unwrap();
        drop(server);
        let mut a = String::new();
        (&client).read_to_string(&mut a).unwrap();
        assert_eq!(a, "answer");
    });
}

#[test]
fn writing_to_a_reset_peer_is_an_error() {
    corio::run(|| {
        let (client, server) = connected_pair();
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        corio::sleep(Duration::from_millis(5));
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = client.write(b"data") {
                err = Some(e);
                break;
            }
        }
        let kind = err.expect("the reset was reported").kind();
        assert!(
            matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{kind:?}"
        );
    });
}

#[test]
fn socket_options_are_set_and_read_back() {
    corio::run(|| {
        let (client, _server) = connected_pair();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        client.set_nodelay(false).unwrap();
        assert!(!client.nodelay().unwrap());
        client.set_linger(Some(Duration::from_secs(1))).unwrap();
        assert!(client.take_error().unwrap().is_none());
    });
}

#[test]
fn std_sockets_go_in_and_come_back_out() {
    corio::run(|| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let std_client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(std_client).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"via corio").unwrap();
        let std_server = server.into_std();
        std_server.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 9];
        (&std_server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"via corio");
        let back = listener.into_std();
        assert_eq!(back.local_addr().unwrap(), addr);
    });
}

#[test]
fn binding_a_used_address_is_addr_in_use() {
    corio::run(|| {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let e = TcpListener::builder()
            .reuse_address(false)
            .bind(a.local_addr().unwrap())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn localhost_needs_no_lookup_and_an_unknown_name_is_an_error_from_the_pool() {
    corio::run(|| {
        // With the executor's only thread held, `localhost` still binds and connects: no
        // lookup, no thread.
        let (l, c) = common::needs_no_pool(|| {
            let l = TcpListener::bind(("localhost", 0)).unwrap();
            let c = TcpStream::connect(("localhost", l.local_addr().unwrap().port())).unwrap();
            (l, c)
        });
        assert!(l.local_addr().unwrap().ip().is_loopback());
        assert!(c.peer_addr().unwrap().ip().is_loopback());
        // `.invalid` never resolves (RFC 6761); the lookup waits for the thread pool (the
        // loop goes on meanwhile) and its failure comes back as an error.
        let e =
            common::runs_on_the_pool(|| TcpStream::connect("db.example.invalid:5432")).unwrap_err();
        assert!(!e.to_string().is_empty());
    });
}

#[test]
fn ipv6_loopback_works_where_the_host_has_it() {
    corio::run(|| match TcpListener::bind("[::1]:0") {
        Err(e) => common::skip(&format!(
            "no IPv6 loopback here ({e}); enable it: sysctl -w net.ipv6.conf.lo.disable_ipv6=0"
        )),
        Ok(l) => {
            let addr = l.local_addr().unwrap();
            let c = corio::spawn(move || TcpStream::connect(addr).unwrap());
            let (s, _) = l.accept().unwrap();
            let c = c.join().unwrap();
            c.write_all(b"v6").unwrap();
            let mut buf = [0u8; 2];
            (&s).read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"v6");
        }
    });
}

#[test]
fn a_socket_made_outside_a_loop_is_an_error() {
    let e = TcpListener::bind("127.0.0.1:0").unwrap_err();
    assert!(e.to_string().contains("no running event loop"), "{e}");
}

#[test]
fn a_socket_used_on_another_loop_is_an_error() {
    let (a, b) = corio::run(corio::net::UnixStream::pair).unwrap();
    corio::run(move || {
        let e = b.read(&mut [0u8; 4]).unwrap_err();
        assert!(e.to_string().contains("another event loop"), "{e}");
        drop(a);
    });
}

#[test]
fn std_read_sees_eof_after_a_short_read_when_data_and_fin_come_together() {
    // TcpStream's Read skips the recv that would only say WouldBlock after a short read,
    // but only when the poller said no FIN is queued: here it is, and must be seen.
    corio::run(|| {
        for _ in 0..50 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = corio::spawn(move || {
                let (s, _) = listener.accept().unwrap();
                s.write_all(b"bye").unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                s
            });
            let mut c = TcpStream::connect(addr).unwrap();
            let _server_side = peer.join().unwrap();
            corio::sleep(Duration::from_millis(1)); // data and FIN have both landed
            let mut got = Vec::new();
            corio::wait_for(Duration::from_secs(5), || {
                std::io::Read::read_to_end(&mut c, &mut got)
            })
            .expect("EOF within 5 s, not a hang")
            .unwrap();
            assert_eq!(got, b"bye");
        }
    });
}

#[test]
fn a_short_read_then_more_data_later_still_wakes_the_reader() {
    // After a short read marks the socket drained, the next bytes' edge must wake it.
    corio::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = corio::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            for chunk in [&b"one"[..], b"two", b"three"] {
                s.write_all(chunk).unwrap();
                corio::sleep(Duration::from_millis(2));
            }
        });
        let c = TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while got.len() < 11 {
            let n = corio::wait_for(Duration::from_secs(5), || c.read(&mut buf))
                .expect("woken within 5 s")
                .unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"onetwothree");
        peer.join().unwrap();
    });
}
