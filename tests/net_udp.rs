//! UDP sockets: datagram round trips, connected sockets, parking receives, and the ICMP
//! error of a closed port.

mod common;

use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use common::Log;
use corio::net::UdpSocket;

#[test]
fn send_to_and_recv_from_round_trip() {
    corio::run(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let saddr = server.local_addr().unwrap();
        let echo = corio::spawn(move || {
            let mut buf = [0u8; 1500];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        for msg in [&b"a"[..], b"bb", &[7u8; 1400]] {
            client.send_to(msg, saddr).unwrap();
            let mut buf = [0u8; 1500];
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (msg, saddr));
        }
        echo.join().unwrap();
    });
}

#[test]
fn connected_sockets_send_and_recv() {
    corio::run(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"ping").unwrap();
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        a.send(b"pong").unwrap();
        let (n, from) = b.peek_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], a.local_addr().unwrap()));
        let n = b.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pong", "peek left the datagram queued");
    });
}

#[test]
fn recv_parks_until_a_datagram_arrives_and_a_cancelled_recv_takes_none() {
    corio::run(|| {
        let a = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = a.clone();
        let t = corio::wait_for(Duration::from_millis(10), move || {
            r.recv_from(&mut [0u8; 16])
        });
        assert!(
            t.is_err(),
            "nothing came: the receive parked until the deadline"
        );
        b.send_to(b"after the cancel", a.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 32];
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"after the cancel");
    });
}

#[test]
fn two_tasks_receiving_on_one_socket_both_get_a_datagram() {
    corio::run(|| {
        let a = Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let got: Log<Vec<u8>> = Log::new();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (s, g) = (a.clone(), got.clone());
                corio::spawn(move || {
                    let mut buf = [0u8; 8];
                    let n = s.recv(&mut buf).unwrap();
                    g.push(buf[..n].to_vec());
                })
            })
            .collect();
        corio::yield_now();
        let to = a.local_addr().unwrap();
        b.send_to(b"one", to).unwrap();
        corio::sleep(Duration::from_millis(5));
        b.send_to(b"two", to).unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        let mut all = got.get();
        all.sort();
        assert_eq!(all, [b"one".to_vec(), b"two".to_vec()]);
    });
}

#[test]
fn a_datagram_to_a_closed_port_comes_back_as_connection_refused() {
    corio::run(|| {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.connect(closed).unwrap();
        s.send(b"anyone?").unwrap();
        let r = corio::wait_for(Duration::from_secs(10), || s.recv(&mut [0u8; 8]));
        let e = r.expect("the ICMP error arrived").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn std_udp_sockets_go_in_and_come_back_out() {
    corio::run(|| {
        let std_sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = std_sock.local_addr().unwrap();
        let s = UdpSocket::from_std(std_sock).unwrap();
        s.set_broadcast(true).unwrap();
        assert_eq!(s.into_std().local_addr().unwrap(), addr);
    });
}
