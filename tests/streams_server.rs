//! start_server / open_connection and the Server's life: serving, closing, waiting.

mod common;

use common::echo;

use std::cell::Cell;
use std::io::{self, ErrorKind, Read};
use std::rc::Rc;
use std::time::Duration;

use common::TempDir;
use corio::net::TcpListener;
use corio::streams::{self, Server, StreamReader, StreamWriter};

/// asyncio's test handler: echo one line, then close.
fn echo_line(mut r: StreamReader, w: StreamWriter) -> io::Result<()> {
    let line = r.readline()?;
    w.write(&line);
    w.drain()?;
    w.close()?;
    w.wait_closed()
}

fn hello_client(server: &Server) -> Vec<u8> {
    let (mut r, w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
    w.write(b"hello world!\n");
    let back = r.readline().unwrap();
    w.close().unwrap();
    w.wait_closed().unwrap();
    back
}

#[test]
fn start_server_serves_a_line_echo() {
    // cpython: test_streams.py StreamTests.test_start_server
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo_line).unwrap();
        assert!(server.is_serving());
        assert_eq!(hello_client(&server), b"hello world!\n");
        server.close();
        server.wait_closed();
        assert!(!server.is_serving());
    });
}

#[test]
fn a_handler_may_spawn_the_real_work() {
    // cpython: test_streams.py StreamTests.test_start_server (the callback variant)
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |r, w| {
            corio::spawn(move || echo_line(r, w));
        })
        .unwrap();
        assert_eq!(hello_client(&server), b"hello world!\n");
        server.close();
        server.wait_closed();
    });
}

#[test]
fn start_unix_server_serves_a_line_echo() {
    // cpython: test_streams.py StreamTests.test_start_unix_server
    let dir = TempDir::new("unix-server");
    let path = dir.path("sock");
    corio::run(move || {
        let server = streams::start_unix_server(&path, echo_line).unwrap();
        assert_eq!(
            server.local_unix_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        assert_eq!(
            server.local_addr().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let (mut r, w) = streams::open_unix_connection(&path).unwrap();
        w.write(b"hello world!\n");
        assert_eq!(r.readline().unwrap(), b"hello world!\n");
        assert!(w.peer_unix_addr().unwrap().as_pathname() == Some(path.as_path()));
        drop(w);
        server.close();
        server.wait_closed();
    });
}

#[test]
fn open_connection_reads_a_response_to_eof() {
    // cpython: test_streams.py StreamTests.test_open_connection
    corio::run(|| {
        let server =
            streams::start_server("127.0.0.1:0", |mut r: StreamReader, w: StreamWriter| {
                let _request = r.readuntil(b"\r\n\r\n")?;
                w.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nTest message");
                w.close()
            })
            .unwrap();
        let (mut r, w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        w.write(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(r.readline().unwrap(), b"HTTP/1.0 200 OK\r\n");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert!(rest.ends_with(b"\r\n\r\nTest message"));
        assert_eq!(w.peer_addr().unwrap(), server.local_addr().unwrap());
        assert!(w.local_addr().unwrap().ip().is_loopback());
        w.close().unwrap();
    });
}

#[test]
fn close_stops_accepting_and_closes_the_listening_socket() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        server.close();
        server.close();
        let e = streams::open_connection(addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn wait_closed_waits_for_the_running_handlers() {
    corio::run(|| {
        let finished = Rc::new(Cell::new(false));
        let f = finished.clone();
        let server = streams::start_server("127.0.0.1:0", move |mut r: StreamReader, _w| {
            let _ = r.read(10);
            corio::sleep(Duration::from_millis(20));
            f.set(true);
        })
        .unwrap();
        let (_r, w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        w.write(b"x");
        while server.active_connections() == 0 {
            corio::sleep(Duration::from_millis(1));
        }
        server.close();
        server.wait_closed();
        assert!(
            finished.get(),
            "wait_closed returned after the handler ended"
        );
        assert_eq!(server.active_connections(), 0);
    });
}

#[test]
fn serve_forever_returns_when_another_task_closes_the_server() {
    corio::run(|| {
        let server = Rc::new(streams::start_server("127.0.0.1:0", echo).unwrap());
        let s = server.clone();
        corio::spawn(move || {
            assert_eq!(hello_client(&s), b"hello world!\n");
            s.close();
        });
        server.serve_forever().unwrap();
        assert!(!server.is_serving());
        assert!(
            server.serve_forever().is_err(),
            "a closed server cannot serve"
        );
    });
}

#[test]
fn serve_forever_twice_at_once_is_an_error() {
    corio::run(|| {
        let server = Rc::new(streams::start_server("127.0.0.1:0", echo).unwrap());
        let s = server.clone();
        let t = corio::spawn(move || s.serve_forever());
        corio::yield_now();
        assert!(server.serve_forever().is_err());
        server.close();
        t.join().unwrap().unwrap();
    });
}

#[test]
fn cancelling_serve_forever_closes_the_server() {
    corio::run(|| {
        let server = Rc::new(streams::start_server("127.0.0.1:0", echo).unwrap());
        let s = server.clone();
        let t = corio::spawn(move || s.serve_forever());
        corio::yield_now();
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
        assert!(!server.is_serving());
    });
}

#[test]
fn a_panicking_handler_does_not_stop_the_server() {
    corio::run(|| {
        let server =
            streams::start_server("127.0.0.1:0", |mut r: StreamReader, w: StreamWriter| {
                let line = r.readline().unwrap();
                if line == b"boom\n" {
                    panic!("handler failure on purpose");
                }
                w.write(&line);
                w.drain()
            })
            .unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r, w) = streams::open_connection(addr).unwrap();
        w.write(b"boom\n");
        assert_eq!(
            r.read(10).unwrap(),
            b"",
            "the failed handler's connection closes"
        );
        assert_eq!(hello_client(&server), b"hello world!\n");
    });
}

#[test]
fn servers_on_one_port_with_reuse_port_both_serve() {
    corio::run(|| {
        let l1 = TcpListener::builder()
            .reuse_port(true)
            .bind("127.0.0.1:0")
            .unwrap();
        let addr = l1.local_addr().unwrap();
        let l2 = TcpListener::builder().reuse_port(true).bind(addr).unwrap();
        let hits = Rc::new([Cell::new(0), Cell::new(0)]);
        let servers: Vec<Server> = [l1, l2]
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                let h = hits.clone();
                streams::start_server_on(l, move |r, w| {
                    h[i].set(h[i].get() + 1);
                    echo(r, w)
                })
                .unwrap()
            })
            .collect();
        for _ in 0..64 {
            let (mut r, w) = streams::open_connection(addr).unwrap();
            w.write(b"ping\n");
            assert_eq!(r.readline().unwrap(), b"ping\n");
        }
        assert_eq!(hits[0].get() + hits[1].get(), 64);
        assert!(
            hits[0].get() > 0 && hits[1].get() > 0,
            "the kernel spread 64 connections over both listeners: {:?}",
            (hits[0].get(), hits[1].get())
        );
        for s in &servers {
            s.close();
        }
    });
}

#[test]
fn many_connections_arriving_at_once_are_all_accepted() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        // More than one accept batch, connecting before the server runs.
        let conns: Vec<_> = (0..300)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let clients: Vec<_> = conns
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                corio::spawn(move || {
                    let s = corio::net::TcpStream::from_std(c).unwrap();
                    let (mut r, w) = streams::split(s);
                    let msg = format!("client {i}\n");
                    w.write(msg.as_bytes());
                    assert_eq!(r.readline().unwrap(), msg.as_bytes());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        server.close();
        server.wait_closed();
    });
}

#[test]
fn a_half_closed_client_still_reads_the_response() {
    corio::run(|| {
        let server =
            streams::start_server("127.0.0.1:0", |mut r: StreamReader, w: StreamWriter| {
                let mut request = Vec::new();
                r.read_to_end(&mut request)?;
                w.write(format!("got {} bytes", request.len()).as_bytes());
                w.close()
            })
            .unwrap();
        let (mut r, w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        w.write(&vec![b'q'; 100_000]);
        w.write_eof().unwrap();
        let mut response = Vec::new();
        r.read_to_end(&mut response).unwrap();
        assert_eq!(response, b"got 100000 bytes");
    });
}
