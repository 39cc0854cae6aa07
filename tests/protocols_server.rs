//! create_server / create_connection / create_datagram_endpoint: servers that survive their
//! protocols, buffered reads, UDP, and what the loop's close does to open transports.

mod common;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use common::{Log, TempDir, collect_reports};
use corio::protocols::{
    self, BaseProtocol, Buffered, BufferedProtocol, DatagramProtocol, DatagramTransport, Protocol,
    Transport,
};
use corio::streams;

/// Echoes what arrives; panics on a chunk that starts with `!`.
#[derive(Default)]
struct Echo {
    t: Option<Transport>,
    lost: Option<Log<String>>,
}

impl BaseProtocol for Echo {
    fn connection_made(&mut self, t: Transport) {
        self.t = Some(t);
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        if let Some(l) = &self.lost {
            l.push(format!("{:?}", exc.map(|e| e.to_string())));
        }
    }
}

impl Protocol for Echo {
    fn data_received(&mut self, data: &[u8]) {
        assert!(!data.starts_with(b"!"), "asked to panic");
        self.t.as_ref().unwrap().write(data);
    }
}

fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if done() {
            return;
        }
        corio::sleep(Duration::from_micros(200));
    }
    panic!("condition not reached");
}

#[test]
fn create_server_echoes_and_counts_its_transports() {
    // cpython: test_events.py EventLoopTestsMixin.test_create_server
    corio::run(|| {
        let server = protocols::create_server(Echo::default, "127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r, w) = streams::open_connection(addr).unwrap();
        w.write(b"hello\n");
        assert_eq!(r.readline().unwrap(), b"hello\n");
        assert_eq!(server.active_connections(), 1);
        assert_eq!(protocols::open_transports(), 1);
        assert_eq!(
            corio::get_running_loop().task_count(),
            1,
            "only the main task: a protocol connection has no task and no stack"
        );
        w.close().unwrap();
        until(|| server.active_connections() == 0);
        server.close();
        server.wait_closed();
        assert_eq!(protocols::open_transports(), 0);
    });
}

#[test]
fn a_panicking_callback_closes_its_connection_and_the_server_goes_on() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_data_received_error
    // (a failure in the protocol is fatal to its connection only)
    corio::run(|| {
        let reports = collect_reports();
        let lost = Log::new();
        let l = lost.clone();
        let server = protocols::create_server(
            move || Echo {
                t: None,
                lost: Some(l.clone()),
            },
            "127.0.0.1:0",
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r1, w1) = streams::open_connection(addr).unwrap();
        w1.write(b"!boom");
        let read = corio::wait_for(Duration::from_secs(30), || r1.read(100));
        assert!(
            read.expect("closed, not left open")
                .unwrap_or_default()
                .is_empty()
        );
        until(|| lost.len() == 1);
        assert!(
            lost.get()[0].contains("data_received panicked"),
            "{:?}",
            lost.get()
        );
        assert_eq!(reports.len(), 1);
        assert!(reports.get()[0].contains("data_received panicked"));
        let (mut r2, w2) = streams::open_connection(addr).unwrap();
        w2.write(b"fine\n");
        assert_eq!(r2.readline().unwrap(), b"fine\n");
        server.close();
    });
}

#[test]
fn a_panicking_factory_drops_that_connection_only() {
    corio::run(|| {
        let reports = collect_reports();
        let n = Rc::new(std::cell::Cell::new(0));
        let server = protocols::create_server(
            move || {
                n.set(n.get() + 1);
                assert!(n.get() != 1, "the first one fails");
                Echo::default()
            },
            "127.0.0.1:0",
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (mut r1, _w1) = streams::open_connection(addr).unwrap();
        let read = corio::wait_for(Duration::from_secs(30), || r1.read(10));
        assert!(
            read.expect("dropped, not left open")
                .unwrap_or_default()
                .is_empty()
        );
        assert_eq!(reports.len(), 1);
        let (mut r2, w2) = streams::open_connection(addr).unwrap();
        w2.write(b"ok\n");
        assert_eq!(r2.readline().unwrap(), b"ok\n");
    });
}

#[test]
fn unix_server_and_create_unix_connection() {
    // cpython: test_events.py EventLoopTestsMixin.test_create_unix_server
    let dir = TempDir::new("proto-unix");
    let path = dir.path("s");
    corio::run(move || {
        let server = protocols::create_unix_server(Echo::default, &path).unwrap();
        let got = Log::new();
        struct Client(Log<String>);
        impl BaseProtocol for Client {
            fn connection_made(&mut self, t: Transport) {
                t.write(b"via unix");
            }
        }
        impl Protocol for Client {
            fn data_received(&mut self, d: &[u8]) {
                self.0.push(String::from_utf8_lossy(d).into());
            }
        }
        let g = got.clone();
        let t = protocols::create_unix_connection(move || Client(g), &path).unwrap();
        until(|| got.get().concat() == "via unix");
        assert!(t.peer_addr().is_err(), "no IP address on a Unix socket");
        t.close();
        server.close();
        server.wait_closed();
    });
}

#[test]
fn create_connection_talks_to_a_streams_server() {
    // cpython: test_events.py EventLoopTestsMixin.test_create_connection
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |mut r, w| {
            let line = r.readline()?;
            w.write(&line.to_ascii_uppercase());
            w.close()
        })
        .unwrap();
        let log = Log::new();
        struct Client(Log<String>);
        impl BaseProtocol for Client {
            fn connection_lost(&mut self, _: Option<io::Error>) {
                self.0.push("lost".into());
            }
        }
        impl Protocol for Client {
            fn data_received(&mut self, d: &[u8]) {
                self.0.push(String::from_utf8_lossy(d).into());
            }
        }
        let l = log.clone();
        let t =
            protocols::create_connection(move || Client(l), server.local_addr().unwrap()).unwrap();
        assert_eq!(t.peer_addr().unwrap(), server.local_addr().unwrap());
        assert!(t.local_addr().is_ok());
        t.write(b"shout\n");
        until(|| log.get().last().map(String::as_str) == Some("lost"));
        assert_eq!(log.get(), ["SHOUT\n", "lost"]);
    });
}

/// Collects what arrives through a small lent buffer.
struct Small {
    buf: [u8; 3],
    got: Rc<RefCell<Vec<u8>>>,
    calls: Rc<RefCell<Vec<usize>>>,
}

impl BaseProtocol for Small {}

impl BufferedProtocol for Small {
    fn get_buffer(&mut self, size_hint: usize) -> &mut [u8] {
        assert!(size_hint > 0);
        &mut self.buf
    }
    fn buffer_updated(&mut self, n: usize) {
        self.calls.borrow_mut().push(n);
        self.got.borrow_mut().extend_from_slice(&self.buf[..n]);
    }
}

#[test]
fn buffered_protocol_reads_into_the_lent_buffer() {
    // cpython: test_buffered_proto.py BaseTestBufferedProtocol.test_buffered_proto_create_connection
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |_r, w| {
            w.write(b"0123456789");
            w.close()
        })
        .unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let calls = Rc::new(RefCell::new(Vec::new()));
        let (g, c) = (got.clone(), calls.clone());
        let t = protocols::create_connection(
            move || {
                Buffered(Small {
                    buf: [0; 3],
                    got: g,
                    calls: c,
                })
            },
            server.local_addr().unwrap(),
        )
        .unwrap();
        until(|| t.is_closing());
        assert_eq!(*got.borrow(), b"0123456789");
        assert!(calls.borrow().iter().all(|&n| (1..=3).contains(&n)));
    });
}

#[test]
fn an_empty_lent_buffer_closes_the_connection_with_an_error() {
    // cpython: test_selector_events.py
    // SelectorSocketTransportBufferedProtocolTests.test_get_buffer_zerosized
    struct Empty(Log<String>);
    impl BaseProtocol for Empty {
        fn connection_lost(&mut self, exc: Option<io::Error>) {
            self.0.push(format!("{}", exc.is_some()));
        }
    }
    impl BufferedProtocol for Empty {
        fn get_buffer(&mut self, _: usize) -> &mut [u8] {
            &mut []
        }
        fn buffer_updated(&mut self, _: usize) {
            unreachable!("nothing can be read into an empty buffer")
        }
    }
    corio::run(|| {
        let (a, b) = corio::net::UnixStream::pair().unwrap();
        let log = Log::new();
        let l = log.clone();
        protocols::connect_accepted_socket(move || Buffered(Empty(l)), a).unwrap();
        b.write_all(b"x").unwrap();
        until(|| log.len() == 1);
        assert_eq!(log.get(), ["true"]);
    });
}

/// Records datagrams and errors.
struct Udp {
    log: Log<String>,
    t: Option<DatagramTransport>,
    echo: bool,
}

impl DatagramProtocol for Udp {
    fn connection_made(&mut self, t: DatagramTransport) {
        self.log.push("made".into());
        self.t = Some(t);
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.log
            .push(format!("dgram:{}", String::from_utf8_lossy(data)));
        if self.echo {
            self.t.as_ref().unwrap().sendto(data, Some(addr));
        }
    }
    fn error_received(&mut self, exc: io::Error) {
        self.log.push(format!("error:{:?}", exc.kind()));
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        self.log.push(format!("lost:{}", exc.is_some()));
    }
}

/// A datagram endpoint whose protocol records into `log` (and echoes if `echo`), bound to
/// `local` and connected to `remote` where given.
fn udp_endpoint(
    log: &Log<String>,
    echo: bool,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
) -> DatagramTransport {
    let log = log.clone();
    protocols::create_datagram_endpoint(move || Udp { log, t: None, echo }, local, remote).unwrap()
}

/// Any free UDP port on the loopback interface.
fn loopback() -> Option<SocketAddr> {
    Some("127.0.0.1:0".parse().unwrap())
}

// asyncio: `close` between two runs schedules `connection_lost` on the endpoint's loop.
#[test]
fn a_datagram_endpoint_closed_between_two_runs_is_lost_in_the_next_run() {
    let lp = corio::EventLoop::new().unwrap();
    let log = Log::new();
    let l = log.clone();
    let t = lp
        .run_until_complete(move || udp_endpoint(&l, false, loopback(), None))
        .unwrap();
    t.sendto(b"x", Some(t.local_addr().unwrap()));
    t.close();
    assert!(t.is_closing());
    lp.run_until_complete(|| corio::sleep(Duration::from_millis(20)))
        .unwrap();
    assert_eq!(
        log.get().last().map(String::as_str),
        Some("lost:false"),
        "{:?}",
        log.get()
    );
}

#[test]
fn datagram_endpoints_exchange_and_close_once() {
    // cpython: test_events.py EventLoopTestsMixin.test_create_datagram_endpoint
    corio::run(|| {
        let slog = Log::new();
        let server = udp_endpoint(&slog, true, loopback(), None);
        let clog = Log::new();
        let client = udp_endpoint(&clog, false, None, Some(server.local_addr().unwrap()));
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        client.sendto(b"ping", None);
        until(|| clog.len() == 2);
        assert_eq!(slog.get(), ["made", "dgram:ping"]);
        assert_eq!(clog.get(), ["made", "dgram:ping"]);
        client.close();
        client.close();
        client.abort();
        client.sendto(b"late", None);
        assert_eq!(client.dropped_writes(), 1);
        until(|| clog.len() == 3);
        server.close();
        until(|| slog.len() == 3);
        assert_eq!(clog.get()[2], "lost:false");
        assert_eq!(slog.get()[2], "lost:false");
    });
}

#[test]
fn datagram_send_errors_go_to_error_received() {
    // cpython: test_selector_events.py SelectorDatagramTransportTests.test_sendto_error_received
    corio::run(|| {
        let log = Log::new();
        let t = udp_endpoint(&log, false, loopback(), None);
        t.sendto(b"where to?", None);
        assert_eq!(
            log.get(),
            ["made"],
            "reported from the loop, not inside sendto"
        );
        until(|| log.len() == 2);
        assert_eq!(log.get()[1], "error:InvalidInput");
        assert!(!t.is_closing(), "an endpoint survives send errors");
        t.abort();
    });
}

// cpython: test_selector_events.py SelectorDatagramTransportTests.test_sendto_connected_addr
// (asyncio raises ValueError): a connected endpoint sends to its remote address only.
#[test]
fn datagram_sendto_another_address_on_a_connected_endpoint_is_an_error() {
    corio::run(|| {
        let peer = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = corio::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let log = Log::new();
        let t = udp_endpoint(&log, false, None, Some(peer.local_addr().unwrap()));
        t.sendto(b"elsewhere", Some(other.local_addr().unwrap()));
        until(|| log.len() == 2);
        assert_eq!(log.get()[1], "error:InvalidInput");
        // Its own remote address, given or not, is fine.
        t.sendto(b"one", Some(peer.local_addr().unwrap()));
        t.sendto(b"two", None);
        let mut buf = [0u8; 16];
        for want in [&b"one"[..], b"two"] {
            let (n, _) = peer.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], want);
        }
        let nothing = corio::wait_for(std::time::Duration::from_millis(50), || {
            other.recv_from(&mut buf)
        });
        assert!(nothing.is_err(), "nothing reached the other address");
        t.abort();
    });
}

#[test]
fn closing_the_loop_tears_down_open_transports() {
    let lp = corio::EventLoop::new().unwrap();
    let peer = lp
        .run_until_complete(|| {
            let (a, b) = corio::net::UnixStream::pair().unwrap();
            protocols::connect_accepted_socket(Echo::default, a).unwrap();
            assert_eq!(protocols::open_transports(), 1);
            b.into_std()
        })
        .unwrap();
    lp.close().unwrap();
    peer.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 8];
    let n = io::Read::read(&mut &peer, &mut buf).unwrap();
    assert_eq!(n, 0, "the transport's socket was closed with the loop");
}

#[test]
fn a_streams_pair_works_over_a_transport() {
    // cpython: test_streams.py StreamTests.test_open_connection (the reader/writer pair is a
    // StreamReaderProtocol over a transport there)
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |mut r, w| {
            loop {
                let data = r.read(64 * 1024)?;
                if data.is_empty() {
                    return w.close();
                }
                w.write(&data.to_ascii_uppercase());
                w.drain()?;
            }
        })
        .unwrap();
        let (proto, mut reader, writer) = protocols::streams_bridge().unwrap();
        let t = protocols::create_connection(move || proto, server.local_addr().unwrap()).unwrap();
        writer.write(b"first\n");
        assert_eq!(reader.readexactly(6).unwrap(), b"FIRST\n");
        // More than both water marks: flow control on every hop, nothing lost.
        let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        writer.write(&big);
        writer.drain().unwrap();
        let back = reader.readexactly(big.len()).unwrap();
        assert_eq!(back, big.to_ascii_uppercase());
        writer.write_eof().unwrap();
        assert!(
            reader.read(10).unwrap().is_empty(),
            "the server closed after our EOF"
        );
        until(|| protocols::open_transports() == 0);
        assert!(t.is_closing());
    });
}

// asyncio's StreamReaderProtocol.connection_lost: an error is set on the reader
// (`set_exception`), only a clean loss is its EOF.
#[test]
fn a_reset_under_a_streams_bridge_is_the_readers_error_not_its_eof() {
    corio::run(|| {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (proto, mut reader, writer) = protocols::streams_bridge().unwrap();
        let _t = protocols::create_connection(move || proto, addr).unwrap();
        let (peer, _) = listener.accept().unwrap();
        peer.write_all(b"partial").unwrap();
        assert_eq!(reader.readexactly(7).unwrap(), b"partial");
        peer.set_linger(Some(Duration::ZERO)).unwrap();
        drop(peer);
        let err = corio::wait_for(Duration::from_secs(10), || reader.read(100))
            .expect("the reader wakes")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert!(
            !reader.at_eof(),
            "asyncio: a reader with an exception is not at EOF"
        );
        let again = reader.read(1).unwrap_err();
        assert_eq!(
            again.kind(),
            io::ErrorKind::ConnectionReset,
            "reported again"
        );
        drop(writer);
    });
}

#[test]
fn a_streams_bridge_whose_connection_never_comes_closes_its_pipe() {
    let lp = corio::EventLoop::new().unwrap();
    lp.run_until_complete(|| {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let (proto, mut reader, writer) = protocols::streams_bridge().unwrap();
        assert_eq!(protocols::open_transports(), 1, "the pipe");
        // Written before the connection exists: bounded, so a drain parks instead of
        // letting the bytes pile up (it ends when the pipe closes below).
        let w = corio::spawn(move || {
            writer.write(&vec![7u8; 1 << 20]);
            writer.drain()
        });
        corio::sleep(Duration::from_millis(100));
        assert!(!w.done(), "the drain parks on a bounded pipe");
        assert!(protocols::create_connection(move || proto, addr).is_err());
        until(|| protocols::open_transports() == 0);
        assert!(
            corio::wait_for(Duration::from_secs(10), || w.join())
                .expect("the drain ends")
                .unwrap()
                .is_err(),
            "nothing can carry the bytes"
        );
        // The pipe went with unread bytes in it: a reset or an EOF, never a hang.
        assert!(reader.read(10).map_or(true, |d| d.is_empty()));
    })
    .unwrap();
    // No pipe left behind to keep the loop waiting on the outside world: a wait on nothing
    // is reported as a deadlock rather than hanging.
    let r = lp.run_until_complete(|| corio::Future::<()>::new().wait());
    assert!(matches!(r, Err(corio::RuntimeError::Deadlock(_))), "{r:?}");
}

/// Echo with backpressure: stops reading while its transport's buffer is over the mark, and
/// records the largest buffer it saw.
struct FlowEcho {
    t: Option<Transport>,
    max_buffered: Rc<std::cell::Cell<usize>>,
}

impl BaseProtocol for FlowEcho {
    fn connection_made(&mut self, t: Transport) {
        self.t = Some(t);
    }
    fn pause_writing(&mut self) {
        self.t.as_ref().unwrap().pause_reading();
    }
    fn resume_writing(&mut self) {
        self.t.as_ref().unwrap().resume_reading();
    }
}

impl Protocol for FlowEcho {
    fn data_received(&mut self, data: &[u8]) {
        let t = self.t.as_ref().unwrap();
        t.write(data);
        let m = self.max_buffered.get().max(t.get_write_buffer_size());
        self.max_buffered.set(m);
    }
}

#[test]
fn backpressure_keeps_a_slow_readers_buffer_bounded_and_every_byte_arrives() {
    // asyncio's flow control end to end: pause_writing -> pause_reading keeps the server's
    // memory bounded by the marks, not by how much the peer sends
    corio::run(|| {
        let max_buffered = Rc::new(std::cell::Cell::new(0));
        let m = max_buffered.clone();
        let server = protocols::create_server(
            move || FlowEcho {
                t: None,
                max_buffered: m.clone(),
            },
            "127.0.0.1:0",
        )
        .unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..2u8)
            .map(|id| {
                corio::spawn(move || {
                    let (mut r, w) = streams::open_connection(addr).unwrap();
                    // Far more than the kernel's socket buffers hold on both sides.
                    let data: Vec<u8> = (0..(16 << 20) as u32)
                        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(id))
                        .collect();
                    let d = data.clone();
                    let sender = corio::spawn(move || {
                        for chunk in d.chunks(256 * 1024) {
                            w.write(chunk);
                            w.drain().unwrap();
                        }
                        w
                    });
                    // A reader that starts late: meanwhile only backpressure keeps the
                    // server from buffering what the sender pushes.
                    corio::sleep(Duration::from_millis(200));
                    let mut got = Vec::with_capacity(data.len());
                    while got.len() < data.len() {
                        got.extend(r.read(64 * 1024).unwrap());
                    }
                    drop(sender.join().unwrap());
                    got == data
                })
            })
            .collect();
        for c in clients {
            assert!(c.join().unwrap(), "every byte back, in order");
        }
        // One read (64 KiB) can land on a buffer just under the high mark.
        let bound = protocols::DEFAULT_HIGH_WATER + 64 * 1024;
        assert!(
            max_buffered.get() <= bound,
            "buffer reached {} (bound {bound})",
            max_buffered.get()
        );
        server.close();
    });
}
