//! Faults are errors, never panics or hangs: refused and reset connections, EOF in the
//! middle of a message, a peer that never reads, a cancelled read, and a server out of file
//! descriptors.

mod common;

use common::echo;

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::rc::Rc;
use std::time::Duration;

use corio::error::ReadError;
use corio::net::TcpStream;
use corio::streams::{self, StreamReader, StreamWriter};

/// Closes `s` with a reset (RST) instead of a FIN.
fn reset(s: TcpStream) {
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

type Outcome = Rc<RefCell<Vec<io::Result<usize>>>>;

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    corio::run(|| {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let e = streams::open_connection(addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        let e = TcpStream::connect(addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_reset_while_the_server_reads_is_an_error() {
    corio::run(|| {
        let outcome: Outcome = Rc::default();
        let o = outcome.clone();
        let server = streams::start_server("127.0.0.1:0", move |mut r: StreamReader, w| {
            let first = r.readexactly(3).unwrap();
            w.write(&first); // tells the client we read, and are now parked in read
            let res = r.read(1024).map(|d| d.len());
            o.borrow_mut().push(res);
        })
        .unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        client.write_all(b"abc").unwrap();
        let mut ack = [0u8; 3];
        std::io::Read::read_exact(&mut &client, &mut ack).unwrap();
        reset(client);
        server.close();
        server.wait_closed();
        let got = outcome.borrow_mut().pop().unwrap();
        assert_eq!(got.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_reset_while_the_server_writes_is_an_error_from_drain() {
    corio::run(|| {
        let outcome: Outcome = Rc::default();
        let o = outcome.clone();
        let server = streams::start_server("127.0.0.1:0", move |_r, w: StreamWriter| {
            let chunk = vec![0u8; 256 * 1024];
            let mut result = Ok(0);
            // Bounded: the reset must show up long before 4 GiB.
            for i in 0..16 * 1024 {
                w.write(&chunk);
                if let Err(e) = w.drain() {
                    result = Err(e);
                    break;
                }
                result = Ok(i);
            }
            o.borrow_mut().push(result);
        })
        .unwrap();
        let client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let mut got = vec![0u8; 64 * 1024];
        std::io::Read::read_exact(&mut &client, &mut got).unwrap();
        reset(client);
        server.close();
        server.wait_closed();
        let got = outcome.borrow_mut().pop().unwrap();
        let kind = got.unwrap_err().kind();
        assert!(
            matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
            "{kind:?}"
        );
    });
}

#[test]
fn drain_reports_a_peer_that_closed_instead_of_spinning() {
    // cpython: test_streams.py StreamTests.test_drain_raises
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        drop(conn);
    });
    corio::run(move || {
        let (_r, w) = streams::open_connection(addr).unwrap();
        let mut err = None;
        for _ in 0..10_000_000 {
            w.write(b"foo\n");
            if let Err(e) = w.drain() {
                err = Some(e);
                break;
            }
        }
        let kind = err.expect("the closed peer was reported").kind();
        assert!(
            matches!(
                kind,
                ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
            ),
            "{kind:?}"
        );
    });
    thread.join().unwrap();
}

#[test]
fn eof_inside_readexactly_gives_back_the_partial_message() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |_r, w: StreamWriter| {
            w.write(b"12345");
            w.close()
        })
        .unwrap();
        let (mut r, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        match r.readexactly(10).unwrap_err() {
            ReadError::IncompleteRead(e) => {
                assert_eq!(e.partial, b"12345");
                assert_eq!(e.expected, Some(10));
            }
            other => panic!("{other:?}"),
        }
        let as_io: io::Error = ReadError::IncompleteRead(corio::IncompleteRead {
            partial: vec![],
            expected: Some(1),
        })
        .into();
        assert_eq!(as_io.kind(), ErrorKind::UnexpectedEof);
    });
}

#[test]
fn eof_inside_readuntil_gives_back_what_came() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |_r, w: StreamWriter| {
            w.write(b"no separator here");
            w.close()
        })
        .unwrap();
        let (mut r, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        match r.readuntil(b"\r\n").unwrap_err() {
            ReadError::IncompleteRead(e) => {
                assert_eq!(e.partial, b"no separator here");
                assert_eq!(e.expected, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(r.at_eof());
    });
}

#[test]
fn a_cancelled_read_loses_no_bytes_for_the_next_read() {
    corio::run(|| {
        let go_on = corio::Event::new();
        let g = go_on.clone();
        let server = streams::start_server("127.0.0.1:0", move |_r, w: StreamWriter| {
            w.write(b"hello");
            g.wait();
            w.write(b" world\nsecond line\n");
            w.drain()
        })
        .unwrap();
        let (mut r, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
        // Cancel readexactly(11) by short deadlines until the first half of the message has
        // been taken off the socket by a read that was then cancelled.
        let mut tries = 0;
        while r.buffer().is_empty() {
            let t = corio::wait_for(Duration::from_millis(2), || r.readexactly(11));
            assert!(t.is_err(), "only half the message can have come");
            tries += 1;
            assert!(tries < 10_000, "the first half never arrived");
        }
        assert_eq!(r.buffer(), b"hello");
        let t = corio::wait_for(Duration::from_millis(2), || r.readline());
        assert!(t.is_err(), "no line yet");
        assert_eq!(r.buffer(), b"hello", "the cancelled readline lost nothing");
        go_on.set();
        assert_eq!(r.readexactly(11).unwrap(), b"hello world");
        assert_eq!(r.readline().unwrap(), b"\n");
        assert_eq!(r.readline().unwrap(), b"second line\n");
    });
}

#[test]
fn a_peer_that_never_reads_parks_only_its_own_handler() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        // This client sends 16 MiB and never reads the echo: its handler's drain parks.
        let (_stuck_r, stuck_w) = streams::open_connection(addr).unwrap();
        stuck_w.write(&vec![b'x'; 16 * 1024 * 1024]);
        corio::sleep(Duration::from_millis(50));
        assert!(
            stuck_w.write_buffer_size() > 0,
            "the server stopped reading from the stuck client"
        );
        // Everyone else is served meanwhile.
        let clients: Vec<_> = (0..20)
            .map(|i| {
                corio::spawn(move || {
                    let (mut r, w) = streams::open_connection(addr).unwrap();
                    let msg = format!("client {i} says hi\n");
                    w.write(msg.as_bytes());
                    assert_eq!(r.readline().unwrap(), msg.as_bytes());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        assert!(server.is_serving());
        assert!(
            server.active_connections() >= 1,
            "the stuck handler is still there"
        );
        // Once the stuck client goes away, its handler ends with an error, not a hang. (A
        // plain drop would linger until the 16 MiB are sent, which this server never reads.)
        stuck_w.abort();
        drop(stuck_w);
        drop(_stuck_r);
        server.close();
        let done = corio::wait_for(Duration::from_secs(30), || server.wait_closed());
        assert!(done.is_ok(), "every handler ended");
    });
}

const EMFILE_KEY: &str = "CORIO_TEST_EMFILE_CHILD";

#[test]
fn accept_out_of_file_descriptors_backs_off_and_serves_again() {
    if !common::is_child(EMFILE_KEY) {
        let out = common::run_child(
            "accept_out_of_file_descriptors_backs_off_and_serves_again",
            EMFILE_KEY,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("accept failed") && stderr.contains("retries"),
            "the server reported its back-off:\n{stderr}"
        );
        assert_eq!(
            common::count_lines(&out.stderr, &["accept failed"]),
            1,
            "one report per shortage, not one per retry:\n{stderr}"
        );
        return;
    }
    // In the child: a low descriptor limit, so exhausting it is quick.
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the structs passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r0, w0) = streams::open_connection(addr).unwrap();
        w0.write(b"before\n");
        assert_eq!(r0.readline().unwrap(), b"before\n");
        let mut hoard = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hoard.push(f),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
                    break;
                }
            }
        }
        // Four descriptors for four clients; the server's accept finds none. The clients
        // connect without letting the loop run (the handshake ends in the kernel), so the
        // server cannot take the descriptors first.
        hoard.truncate(hoard.len() - 4);
        let mut queued = Vec::new();
        for i in 0..4 {
            let s = std::net::TcpStream::connect(addr).unwrap();
            let (r, w) = streams::split(TcpStream::from_std(s).unwrap());
            w.write(format!("ping {i}\n").as_bytes());
            queued.push((r, w));
        }
        let starved = corio::wait_for(Duration::from_millis(200), || queued[0].0.readline());
        assert!(starved.is_err(), "not served while out of descriptors");
        assert!(server.is_serving(), "the server survived EMFILE");
        // The connection it already had is still served meanwhile.
        w0.write(b"during\n");
        let line = corio::wait_for(Duration::from_secs(20), || r0.readline())
            .expect("an established connection is served during the back-off")
            .unwrap();
        assert_eq!(line, b"during\n");
        // Descriptors come back: the server's next try accepts every queued client.
        drop(hoard);
        for (i, (r, _w)) in queued.iter_mut().enumerate() {
            let line = corio::wait_for(Duration::from_secs(20), || r.readline())
                .expect("served after the back-off")
                .unwrap();
            assert_eq!(line, format!("ping {i}\n").as_bytes());
        }
        let (mut r2, w2) = streams::open_connection(addr).unwrap();
        w2.write(b"pong\n");
        assert_eq!(r2.readline().unwrap(), b"pong\n");
        server.close();
    });
}

#[test]
fn data_and_fin_arriving_together_end_in_eof_after_a_short_read() {
    // A short read marks the socket drained only when the poller said no FIN is queued
    // behind the data; here the FIN comes in the same burst, and the next read must see it.
    corio::run(|| {
        for round in 0..50 {
            let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = corio::spawn(move || {
                let (s, _) = listener.accept().unwrap();
                s.write_all(b"last words").unwrap();
                s.shutdown(std::net::Shutdown::Write).unwrap();
                corio::sleep(std::time::Duration::from_millis(if round % 2 == 0 {
                    0
                } else {
                    2
                }));
            });
            let (mut r, _w) = corio::streams::open_connection(addr).unwrap();
            corio::sleep(std::time::Duration::from_millis(1)); // let data and FIN both land
            assert_eq!(r.read(100).unwrap(), b"last words");
            let end = corio::wait_for(std::time::Duration::from_secs(5), || r.read(100))
                .expect("EOF within 5 s, not a hang");
            assert!(end.unwrap().is_empty());
            peer.join().unwrap();
        }
    });
}

/// A connection (`open_connection`) whose peer resets and has sent a few bytes first.
fn reset_after(payload: &'static [u8]) -> (StreamReader, StreamWriter) {
    let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = corio::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.write_all(payload).unwrap();
        s
    });
    let (r, w) = streams::open_connection(addr).unwrap();
    reset(peer.join().unwrap());
    (r, w)
}

// asyncio: a read error is fatal to the transport (`_fatal_error`, then `_force_close`): the
// writer is closing, `drain` and `wait_closed` raise the error.
#[test]
fn a_reset_seen_by_the_reader_ends_the_writer_too() {
    corio::run(|| {
        let (mut r, w) = reset_after(b"hi");
        let w = Rc::new(w);
        let waiter = corio::spawn({
            let w = w.clone();
            move || w.wait_closed()
        });
        corio::yield_now(); // parked in wait_closed
        assert_eq!(
            r.read(100).unwrap(),
            b"hi",
            "the bytes before the reset come first"
        );
        let e = r.read(100).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset);
        // asyncio: `at_eof` is `_eof and not _buffer`; a reset is the reader's exception,
        // not its EOF.
        assert!(!r.at_eof());
        assert!(w.is_closing());
        w.write(b"dropped");
        assert_eq!(w.drain().unwrap_err().kind(), ErrorKind::ConnectionReset);
        let closed = corio::wait_for(Duration::from_secs(5), || waiter.join().unwrap());
        let closed = closed.expect("wait_closed woke when the read failed");
        assert_eq!(closed.unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

// asyncio: once a read raised, every later read raises the same error (the reader keeps its
// exception); the socket itself says EOF after reporting the reset once.
#[test]
fn every_read_after_a_reset_reports_it_again() {
    corio::run(|| {
        let (mut r, _w) = reset_after(b"");
        let first = r.read(100).unwrap_err();
        assert_eq!(first.kind(), ErrorKind::ConnectionReset);
        assert_eq!(r.read(100).unwrap_err().kind(), ErrorKind::ConnectionReset);
        match r.readexactly(1) {
            Err(ReadError::Io(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
            other => panic!("readexactly after a reset: {other:?}"),
        }
        let mut buf = [0u8; 8];
        let e = std::io::Read::read(&mut r, &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionReset, "std::io::Read too");
    });
}
