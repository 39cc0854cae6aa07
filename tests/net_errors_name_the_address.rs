//! Connect, bind and lookup errors say which address failed, as asyncio's "Connect call
//! failed ('127.0.0.1', 1)" does, and keep the `io::ErrorKind`; the OS error code is one
//! step away (`corio::error::raw_os_error`, or the error's `source()`).

mod common;

use std::error::Error as _;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use common::TempDir;
use corio::error::{SocketError, SocketOp};
use corio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};
use corio::streams::{self, StreamReader, StreamWriter};

/// A local port nobody listens on.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Checks the kind, that the message names `addr` and says what was tried, and that the OS
/// error code comes through.
#[track_caller]
fn check(e: &io::Error, kind: ErrorKind, op: SocketOp, addr: &str, errno: Option<i32>) {
    assert_eq!(e.kind(), kind, "{e}");
    let msg = e.to_string();
    assert!(msg.contains(addr), "{msg:?} does not name {addr:?}");
    let verb = match op {
        SocketOp::Connect => "connect to",
        SocketOp::Bind => "bind on",
        SocketOp::Lookup => "lookup of",
        _ => unreachable!(),
    };
    assert!(msg.starts_with(verb), "{msg:?} does not say {verb:?}");
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<SocketError>())
        .expect("a SocketError inside");
    assert_eq!(inner.op(), op);
    assert!(inner.addr().contains(addr), "{:?}", inner.addr());
    if let Some(code) = errno {
        assert_eq!(corio::error::raw_os_error(e), Some(code), "{e}");
        let source = e.source().and_then(|s| s.downcast_ref::<io::Error>());
        assert_eq!(source.and_then(io::Error::raw_os_error), Some(code), "{e}");
    }
}

#[test]
fn tcp_connect_refused_names_the_address() {
    corio::run(|| {
        let addr = closed_port();
        let a = addr.to_string();
        let refused = Some(libc::ECONNREFUSED);
        let e = TcpStream::connect(addr).unwrap_err();
        check(
            &e,
            ErrorKind::ConnectionRefused,
            SocketOp::Connect,
            &a,
            refused,
        );
        assert_eq!(
            e.to_string(),
            format!(
                "connect to {a} failed: {}",
                io::Error::from_raw_os_error(libc::ECONNREFUSED)
            )
        );
        let e = streams::open_connection(addr).unwrap_err();
        check(
            &e,
            ErrorKind::ConnectionRefused,
            SocketOp::Connect,
            &a,
            refused,
        );
        // `localhost` tries 127.0.0.1, then ::1: the error names the last address tried.
        let e = TcpStream::connect(("localhost", addr.port())).unwrap_err();
        assert!(e.to_string().contains(&format!(":{}", addr.port())), "{e}");
        assert!(e.get_ref().unwrap().is::<SocketError>());
    });
}

#[test]
fn tcp_bind_in_use_names_the_address() {
    corio::run(|| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let a = addr.to_string();
        let in_use = Some(libc::EADDRINUSE);
        let e = TcpListener::bind(addr).unwrap_err();
        check(&e, ErrorKind::AddrInUse, SocketOp::Bind, &a, in_use);
        let e = streams::start_server(addr, |_: StreamReader, _: StreamWriter| ()).unwrap_err();
        check(&e, ErrorKind::AddrInUse, SocketOp::Bind, &a, in_use);
    });
}

#[test]
fn udp_bind_and_connect_errors_name_the_address() {
    corio::run(|| {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        let e = UdpSocket::bind(addr).unwrap_err();
        let in_use = Some(libc::EADDRINUSE);
        check(
            &e,
            ErrorKind::AddrInUse,
            SocketOp::Bind,
            &addr.to_string(),
            in_use,
        );
        // An IPv4 socket cannot be connected to an IPv6 address.
        let e = s.connect("[::1]:9").unwrap_err();
        let kind = io::Error::from_raw_os_error(libc::EAFNOSUPPORT).kind();
        check(
            &e,
            kind,
            SocketOp::Connect,
            "[::1]:9",
            Some(libc::EAFNOSUPPORT),
        );
    });
}

#[test]
fn unix_connect_and_bind_errors_name_the_path() {
    let dir = TempDir::new("errpath");
    let missing = dir.path("missing.sock");
    let taken = dir.path("taken.sock");
    let m = missing.display().to_string();
    let t = taken.display().to_string();
    corio::run(move || {
        let not_found = Some(libc::ENOENT);
        let e = UnixStream::connect(&missing).unwrap_err();
        check(&e, ErrorKind::NotFound, SocketOp::Connect, &m, not_found);
        let e = streams::open_unix_connection(&missing).unwrap_err();
        check(&e, ErrorKind::NotFound, SocketOp::Connect, &m, not_found);
        let _l = UnixListener::bind(&taken).unwrap();
        let in_use = Some(libc::EADDRINUSE);
        let e = UnixListener::bind(&taken).unwrap_err();
        check(&e, ErrorKind::AddrInUse, SocketOp::Bind, &t, in_use);
        let e =
            streams::start_unix_server(&taken, |_: StreamReader, _: StreamWriter| ()).unwrap_err();
        check(&e, ErrorKind::AddrInUse, SocketOp::Bind, &t, in_use);
        let e = UnixDatagram::bind(&taken).unwrap_err();
        check(&e, ErrorKind::AddrInUse, SocketOp::Bind, &t, in_use);
        let d = UnixDatagram::unbound().unwrap();
        let e = d.connect(&missing).unwrap_err();
        check(&e, ErrorKind::NotFound, SocketOp::Connect, &m, not_found);
        // A path too long for a socket address is refused before any syscall.
        let long = "x".repeat(200);
        let e = UnixListener::bind(&long).unwrap_err();
        check(&e, ErrorKind::InvalidInput, SocketOp::Bind, &long, None);
    });
}

#[test]
fn a_failed_lookup_names_the_host_and_keeps_the_resolvers_kind() {
    // `.invalid` never resolves (RFC 6761).
    let host = "db.example.invalid";
    let std_kind = std::net::ToSocketAddrs::to_socket_addrs(&(host, 5432))
        .unwrap_err()
        .kind();
    corio::run(move || {
        let e = corio::net::lookup_host(host, 5432).unwrap_err();
        check(
            &e,
            std_kind,
            SocketOp::Lookup,
            "db.example.invalid:5432",
            None,
        );
        let e = TcpStream::connect("db.example.invalid:5432").unwrap_err();
        check(
            &e,
            std_kind,
            SocketOp::Lookup,
            "db.example.invalid:5432",
            None,
        );
        let e = TcpListener::bind(("db.example.invalid", 80)).unwrap_err();
        check(
            &e,
            std_kind,
            SocketOp::Lookup,
            "db.example.invalid:80",
            None,
        );
    });
}

#[test]
fn an_address_without_a_port_is_named_in_the_error() {
    corio::run(|| {
        let e = TcpStream::connect("db.example.org").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("\"db.example.org\""), "{e}");
        let e = TcpListener::bind("127.0.0.1:http").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("\"127.0.0.1:http\""), "{e}");
    });
}
