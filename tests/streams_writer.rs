//! StreamWriter: buffering, drain and its water marks, write_eof, close and wait_closed.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read};
use std::rc::Rc;
use std::time::Duration;

use common::{Log, Rng};
use corio::net::UnixStream;
use corio::streams::{self, DEFAULT_HIGH_WATER};

#[test]
fn write_never_parks_and_the_loop_sends_the_buffer() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let payload = Rng::new(1).bytes(8 * 1024 * 1024);
        // Far more than a socket buffer holds: most of it is buffered, none of it parks.
        wa.write(&payload);
        assert!(wa.write_buffer_size() > 0);
        // Nobody drains: the loop flushes in the background while we read.
        let got = rb.readexactly(payload.len()).unwrap();
        assert!(got == payload);
        assert_eq!(wa.write_buffer_size(), 0);
    });
}

#[test]
fn drain_below_the_high_water_mark_returns_at_once() {
    corio::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let (_r, w) = streams::split(a);
        assert_eq!(
            w.write_buffer_limits(),
            (DEFAULT_HIGH_WATER, DEFAULT_HIGH_WATER / 4)
        );
        w.write(b"small");
        let t = corio::spawn(move || {
            w.drain().unwrap();
            w
        });
        corio::yield_now();
        assert!(t.is_done(), "drain did not park");
    });
}

#[test]
fn drain_parks_for_a_slow_reader_and_resumes_at_the_low_water_mark() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let log: Log<&'static str> = Log::new();
        let total = 4 * 1024 * 1024;
        let l = log.clone();
        let writer = corio::spawn(move || {
            let chunk = vec![7u8; 256 * 1024];
            let mut sent = 0;
            let mut parked_drains = 0;
            let (_, low) = wa.write_buffer_limits();
            while sent < total {
                wa.write(&chunk);
                sent += chunk.len();
                let must_park = wa.write_buffer_size() > DEFAULT_HIGH_WATER;
                if must_park {
                    parked_drains += 1;
                    l.push("drain parks");
                }
                wa.drain().unwrap();
                if must_park {
                    assert!(
                        wa.write_buffer_size() <= low,
                        "resumed at the low-water mark"
                    );
                }
                l.push("drained");
            }
            wa.close().unwrap();
            wa.wait_closed().unwrap();
            parked_drains
        });
        // A slow reader: small reads with pauses.
        let mut got = 0;
        let mut reads = 0;
        loop {
            let d = rb.read(16 * 1024).unwrap();
            if d.is_empty() {
                break;
            }
            got += d.len();
            reads += 1;
            if reads % 16 == 0 {
                corio::sleep(Duration::from_millis(1));
            }
        }
        assert_eq!(got, total);
        let parked = writer.join().unwrap();
        assert!(parked > 0, "the writer had to wait for the reader");
        let entries = log.get();
        assert_eq!(entries.iter().filter(|e| **e == "drained").count(), 16);
    });
}

#[test]
fn drain_with_a_zero_high_water_mark_waits_until_everything_is_sent() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        wa.set_write_buffer_limits(0, 0);
        let n = 2 * 1024 * 1024;
        let reader = corio::spawn(move || rb.readexactly(n).unwrap().len());
        wa.write(&vec![1u8; n]);
        wa.drain().unwrap();
        assert_eq!(wa.write_buffer_size(), 0);
        assert_eq!(reader.join().unwrap(), n);
    });
}

#[test]
fn concurrent_drains_all_resume() {
    // cpython: test_streams.py StreamTests.test_multiple_drain
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let wa = Rc::new(wa);
        wa.write(&vec![0u8; 4 * 1024 * 1024]);
        let drained = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (w, d) = (wa.clone(), drained.clone());
                corio::spawn(move || {
                    w.drain().unwrap();
                    d.set(d.get() + 1);
                })
            })
            .collect();
        corio::yield_now();
        assert_eq!(drained.get(), 0, "every drain parks");
        let _ = rb.readexactly(4 * 1024 * 1024).unwrap();
        for t in tasks {
            t.join().unwrap();
        }
        assert_eq!(drained.get(), 10);
    });
}

#[test]
fn a_cancelled_drain_still_sends_the_buffer() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let wa = Rc::new(wa);
        let payload = Rng::new(2).bytes(3 * 1024 * 1024);
        wa.write(&payload);
        let w = wa.clone();
        let r = corio::wait_for(Duration::from_millis(5), move || w.drain());
        assert!(r.is_err(), "the drain timed out: nobody reads");
        assert!(rb.readexactly(payload.len()).unwrap() == payload);
        wa.drain().unwrap();
    });
}

#[test]
fn write_eof_half_closes_and_the_other_direction_still_works() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut ra, wa) = streams::split(a);
        let (mut rb, wb) = streams::split(b);
        assert!(wa.can_write_eof());
        wa.write(b"request");
        wa.write_eof().unwrap();
        let mut req = Vec::new();
        rb.read_to_end(&mut req).unwrap();
        assert_eq!(req, b"request");
        assert!(rb.at_eof());
        wb.write(b"response after EOF");
        wb.close().unwrap();
        let mut resp = Vec::new();
        ra.read_to_end(&mut resp).unwrap();
        assert_eq!(resp, b"response after EOF");
    });
}

#[test]
fn write_eof_waits_for_the_buffer_to_be_sent() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let payload = Rng::new(3).bytes(2 * 1024 * 1024);
        wa.write(&payload);
        wa.write_eof().unwrap();
        let mut all = Vec::new();
        rb.read_to_end(&mut all).unwrap();
        assert!(all == payload, "every byte, then EOF");
    });
}

#[test]
fn a_write_after_write_eof_is_dropped_and_reported_by_drain() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        wa.write_eof().unwrap();
        wa.write(b"too late");
        assert_eq!(wa.drain().unwrap_err().kind(), ErrorKind::BrokenPipe);
        wa.drain().unwrap();
        assert_eq!(rb.read(100).unwrap(), b"");
    });
}

#[test]
fn close_flushes_then_closes_and_wait_closed_returns() {
    // cpython: test_streams.py StreamTests.test_wait_closed_on_close
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let payload = Rng::new(4).bytes(1024 * 1024);
        wa.write(&payload);
        assert!(!wa.is_closing());
        wa.close().unwrap();
        assert!(wa.is_closing());
        let reader = corio::spawn(move || {
            let mut all = Vec::new();
            rb.read_to_end(&mut all).unwrap();
            all
        });
        wa.wait_closed().unwrap();
        assert!(reader.join().unwrap() == payload);
    });
}

#[test]
fn after_close_the_reader_is_at_eof() {
    // cpython: test_streams.py StreamTests.test_eof_feed_when_closing_writer
    corio::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let (mut ra, wa) = streams::split(a);
        wa.close().unwrap();
        wa.wait_closed().unwrap();
        assert!(ra.at_eof());
        assert_eq!(ra.read(10).unwrap(), b"");
    });
}

/// Bytes the peer sent before the close and not read yet are still read, and `at_eof`
/// agrees with `read`: not at the end while a read returns data.
#[test]
fn after_close_unread_bytes_come_first_and_at_eof_agrees() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut ra, wa) = streams::split(a);
        b.write_all(b"pending").unwrap();
        wa.close().unwrap();
        wa.wait_closed().unwrap();
        assert!(!ra.at_eof(), "a read still returns data");
        assert_eq!(ra.read(100).unwrap(), b"pending");
        assert!(ra.at_eof());
        assert_eq!(ra.read(100).unwrap(), b"");
    });
}

#[test]
fn write_and_drain_after_close_report_connection_reset() {
    // cpython: test_streams.py StreamTests.test_async_writer_api_exception_after_close
    corio::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        wa.close().unwrap();
        wa.write(b"data");
        assert_eq!(wa.drain().unwrap_err().kind(), ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_dropped_writer_sends_its_buffer_before_closing() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let payload = Rng::new(5).bytes(4 * 1024 * 1024);
        wa.write(&payload);
        drop(wa);
        drop(_ra);
        let mut all = Vec::new();
        rb.read_to_end(&mut all).unwrap();
        assert!(all == payload);
    });
}

#[test]
fn writelines_sends_every_buffer_in_order() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        wa.writelines([&b"one\n"[..], b"two\n", b"three\n"]);
        wa.writelines(vec![b"four\n".to_vec()]);
        wa.drain().unwrap();
        for want in ["one\n", "two\n", "three\n", "four\n"] {
            assert_eq!(rb.readline().unwrap(), want.as_bytes());
        }
    });
}

/// asyncio holds the buffer against the high-water mark after the write's send, for
/// `writelines` as for `write`: lines the socket partly took, leaving less than the mark
/// buffered, do not make `drain` park.
#[test]
fn writelines_checks_the_high_water_mark_after_its_send() {
    corio::run(|| {
        // What one send takes on a fresh pair whose peer does not read.
        let (a, _pa) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let probe = vec![1u8; 4 * 1024 * 1024];
        wa.write(&probe);
        let taken = probe.len() - wa.write_buffer_size();

        let high = 64 * 1024;
        let (b, _pb) = UnixStream::pair().unwrap();
        let (_rb, wb) = streams::split(b);
        wb.set_write_buffer_limits(high, high / 4);
        // More than the mark in all, half the mark left once the socket took its share.
        let line = vec![2u8; (taken + high / 2) / 2];
        wb.writelines([&line[..], &line[..]]);
        let left = wb.write_buffer_size();
        assert!(
            left > high / 4 && left <= high,
            "{left} bytes left buffered (the socket took {} of {})",
            2 * line.len() - left,
            2 * line.len()
        );
        let t = corio::spawn(move || {
            wb.drain().unwrap();
            wb
        });
        corio::yield_now();
        assert!(
            t.is_done(),
            "drain parked with {left} bytes buffered, below {high}"
        );
    });
}

#[test]
fn raising_the_limits_releases_a_parked_drain() {
    corio::run(|| {
        let (a, _b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let wa = Rc::new(wa);
        wa.write(&vec![0u8; 4 * 1024 * 1024]);
        let w = wa.clone();
        let t = corio::spawn(move || w.drain());
        corio::yield_now();
        assert!(!t.is_done());
        wa.set_write_buffer_limits(usize::MAX, usize::MAX);
        t.join().unwrap().unwrap();
    });
}

#[test]
fn writers_shared_by_tasks_never_interleave_one_write() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        let wa = Rc::new(wa);
        let reader = corio::spawn(move || {
            for _ in 0..400 {
                let rec = rb.readexactly(1000).unwrap();
                assert!(
                    rec.iter().all(|&c| c == rec[0]),
                    "one write stays in one piece"
                );
            }
        });
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let w = wa.clone();
                corio::spawn(move || {
                    for _ in 0..50 {
                        w.write(&[b'a' + i; 1000]);
                        w.drain().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join().unwrap();
        }
        reader.join().unwrap();
    });
}

#[test]
fn abort_drops_the_buffer_and_closes_at_once() {
    corio::run(|| {
        let (a, b) = UnixStream::pair().unwrap();
        let (_ra, wa) = streams::split(a);
        let (mut rb, _wb) = streams::split(b);
        wa.write(&vec![1u8; 8 * 1024 * 1024]);
        assert!(wa.write_buffer_size() > 0);
        wa.abort();
        assert!(wa.is_closing());
        assert_eq!(wa.write_buffer_size(), 0);
        wa.wait_closed().unwrap();
        // The peer gets what the socket had taken before the abort, then EOF: not 8 MiB.
        let mut got = Vec::new();
        rb.read_to_end(&mut got).unwrap();
        assert!(got.len() < 8 * 1024 * 1024);
    });
}
