//! A peer cannot make a `StreamReader` hold more memory than it sent: a length prefix read
//! from the wire (`readexactly(u32::MAX as usize)`) from a peer that then closes costs the
//! bytes that came, and an endless line ends in `LimitOverrun` with the buffer bounded by the
//! limit plus a read or two.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use corio::error::ReadError;
use corio::net::UnixStream;
use corio::streams::{self, DEFAULT_LIMIT, StreamReader, StreamWriter};

/// What one read syscall of a `StreamReader` asks for (64 KiB).
const READ_SIZE: usize = 64 * 1024;

/// A reader, and the writer of its peer.
fn pair() -> (StreamReader, StreamWriter, StreamWriter) {
    let (a, b) = UnixStream::pair().unwrap();
    let (reader, writer) = streams::split(a);
    let (_, peer) = streams::split(b);
    (reader, writer, peer)
}

fn incomplete(e: ReadError) -> corio::IncompleteRead {
    match e {
        ReadError::IncompleteRead(e) => e,
        other => panic!("expected IncompleteRead, got {other:?}"),
    }
}

fn overrun(e: ReadError) -> corio::LimitOverrun {
    match e {
        ReadError::LimitOverrun(e) => e,
        other => panic!("expected LimitOverrun, got {other:?}"),
    }
}

#[test]
fn readexactly_of_usize_max_from_a_peer_that_closes_is_an_incomplete_read() {
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        peer.write(b"0123");
        peer.close().unwrap();
        let e = incomplete(reader.readexactly(usize::MAX).unwrap_err());
        assert_eq!(e.partial, b"0123");
        assert_eq!(e.expected, Some(usize::MAX));
        assert!(reader.at_eof());
    });
}

const ADDRESS_SPACE_KEY: &str = "CORIO_TEST_READEXACTLY_ADDRESS_SPACE_CHILD";

/// The process's virtual memory size in bytes (`VmSize` of /proc/self/status).
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn readexactly_of_a_4_gib_length_prefix_costs_only_the_bytes_that_came() {
    if !common::is_child(ADDRESS_SPACE_KEY) {
        common::run_child(
            "readexactly_of_a_4_gib_length_prefix_costs_only_the_bytes_that_came",
            ADDRESS_SPACE_KEY,
        );
        return;
    }
    // In the child: 1 GiB of address space beyond what the process maps now, so reserving
    // the 4 GiB a length prefix asks for would abort the process, while the megabytes the
    // peer really sends fit easily.
    let limit = vm_size() + (1 << 30);
    let lim = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the structs passed by pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut old), 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &lim), 0);
    }
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        let message = common::Rng::new(7).bytes(3 << 20);
        let m = message.clone();
        corio::spawn(move || {
            peer.write(&(u32::MAX).to_be_bytes());
            peer.write(&m);
            peer.close()
        });
        let len = u32::from_be_bytes(reader.readexactly(4).unwrap().try_into().unwrap());
        let e = incomplete(reader.readexactly(len as usize).unwrap_err());
        assert_eq!(e.expected, Some(u32::MAX as usize));
        assert!(e.partial == message, "every byte that came is given back");
    });
    // A large message that does come whole still arrives through the same growth.
    corio::run(|| {
        let (mut reader, _w, peer) = pair();
        let message = common::Rng::new(8).bytes(16 << 20);
        let m = message.clone();
        corio::spawn(move || {
            peer.write(&m);
            peer.drain()
        });
        assert!(reader.readexactly(message.len()).unwrap() == message);
    });
}

/// A client that sends one line without end: 64 KiB writes of `a`, never a newline, until
/// `cap` bytes (a bound, so the test stops by itself even if the reader kept reading). It
/// keeps the connection open afterwards. Returns the count of bytes handed to the socket.
fn endless_line(writer: StreamWriter, cap: usize) -> Rc<Cell<usize>> {
    let sent = Rc::new(Cell::new(0));
    let s = sent.clone();
    corio::spawn(move || {
        let chunk = vec![b'a'; READ_SIZE];
        while s.get() < cap {
            writer.write(&chunk);
            s.set(s.get() + chunk.len());
            if writer.drain().is_err() {
                return;
            }
        }
        corio::sleep(Duration::from_secs(3600));
    });
    sent
}

/// The most a reader buffers before it gives up on a separator: the limit, the read that
/// crossed it and the one look-ahead read that checks what already arrived.
fn bound(limit: usize, seplen: usize) -> usize {
    limit + seplen + 2 * READ_SIZE
}

#[test]
fn readuntil_over_an_endless_line_keeps_at_most_the_limit_and_two_reads() {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", |r: StreamReader, w: StreamWriter| {
            drop(r);
            endless_line(w, 64 << 20);
        })
        .unwrap();
        for limit in [1, 1000, DEFAULT_LIMIT, 1 << 20] {
            let (mut reader, _w) = streams::open_connection(server.local_addr().unwrap()).unwrap();
            reader.set_limit(limit);
            let e = corio::wait_for(Duration::from_secs(60), || reader.readuntil(b"\r\n"))
                .expect("LimitOverrun before the client's cap; the reader kept buffering the line")
                .unwrap_err();
            let e = overrun(e);
            assert!(!e.found);
            assert!(e.consumed > limit, "{e:?} with limit {limit}");
            let kept = reader.buffer().len();
            assert!(
                kept > limit && kept <= bound(limit, 2),
                "{kept} bytes buffered with limit {limit}"
            );
            assert!(reader.buffer().iter().all(|&b| b == b'a'), "the data stays");
            assert!(
                e.to_string().contains("separator is not found")
                    && e.to_string().contains("set_limit"),
                "{e}"
            );
            // The data kept can be read on: it is the start of the line.
            assert_eq!(reader.readexactly(e.consumed).unwrap().len(), e.consumed);
        }
        server.close();
    });
}

#[test]
fn readline_over_an_endless_line_is_limit_overrun_again_and_again_in_bounded_memory() {
    // A "10 GB line": the client writes until the reader has refused 256 limits' worth
    // (16 MiB with the default limit); the reader's buffer never outgrows the bound.
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut reader, _w) = streams::split(a);
        let (_, writer) = streams::split(b);
        let sent = endless_line(writer, 64 << 20);
        let mut refused = 0usize;
        let mut dropped = 0usize;
        while refused < 256 {
            // readline drops the overlong line's bytes (as asyncio does); readuntil shows
            // what it had buffered first.
            let e = corio::wait_for(Duration::from_secs(60), || reader.readuntil(b"\n"))
                .expect("LimitOverrun before the client's cap; the reader kept buffering the line")
                .unwrap_err();
            assert!(!overrun(e).found);
            let kept = reader.buffer().len();
            assert!(
                kept > DEFAULT_LIMIT && kept <= bound(DEFAULT_LIMIT, 1),
                "{kept} bytes buffered"
            );
            let e = reader.readline().unwrap_err();
            assert!(matches!(e, ReadError::LimitOverrun(_)), "{e:?}");
            assert_eq!(
                std::io::Error::from(e).kind(),
                std::io::ErrorKind::InvalidData
            );
            assert!(
                reader.buffer().is_empty(),
                "readline dropped the overlong part"
            );
            dropped += kept;
            refused += 1;
        }
        assert!(dropped >= 256 * DEFAULT_LIMIT);
        assert!(sent.get() >= dropped, "the client was still sending");
    });
}
