//! StreamReader: reads, lines, separators, limits and EOF, ported from CPython's
//! test_streams.py. asyncio's tests push bytes with `feed_data`/`feed_eof`; here a peer
//! socket writes them (`feed`) and shuts its write side (`feed_eof`).

mod common;

use std::io::{BufRead, Read};
use std::net::Shutdown;
use std::time::Duration;

use corio::error::ReadError;
use corio::net::UnixStream;
use corio::streams::{self, StreamReader, StreamWriter};

const DATA: &[u8] = b"line1\nline2\nline3\n";

/// A reader whose bytes come from `peer`.
struct Fed {
    reader: StreamReader,
    _writer: StreamWriter,
    peer: UnixStream,
}

impl Fed {
    fn new() -> Fed {
        let (a, peer) = UnixStream::pair().unwrap();
        let (reader, writer) = streams::split(a);
        Fed {
            reader,
            _writer: writer,
            peer,
        }
    }

    fn with_limit(limit: usize) -> Fed {
        let mut f = Fed::new();
        f.reader.set_limit(limit);
        f
    }

    fn feed(&self, data: &[u8]) {
        self.peer.write_all(data).unwrap();
    }

    fn feed_eof(&self) {
        self.peer.shutdown(Shutdown::Write).unwrap();
    }
}

fn overrun(e: ReadError) -> corio::LimitOverrun {
    match e {
        ReadError::LimitOverrun(e) => e,
        other => panic!("expected LimitOverrun, got {other:?}"),
    }
}

fn incomplete(e: ReadError) -> corio::IncompleteRead {
    match e {
        ReadError::IncompleteRead(e) => e,
        other => panic!("expected IncompleteRead, got {other:?}"),
    }
}

#[test]
fn read_zero_returns_nothing_and_consumes_nothing() {
    // cpython: test_streams.py StreamTests.test_read_zero
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(DATA);
        assert_eq!(f.reader.read(0).unwrap(), b"");
        assert_eq!(f.reader.read(100).unwrap(), DATA);
    });
}

#[test]
fn read_parks_until_data_is_fed() {
    // cpython: test_streams.py StreamTests.test_read
    corio::run(|| {
        let f = Fed::new();
        let Fed {
            mut reader,
            _writer,
            peer,
        } = f;
        let t = corio::spawn(move || {
            let data = reader.read(30).unwrap();
            (data, reader.buffer().to_vec(), reader)
        });
        corio::yield_now();
        assert!(!t.is_done(), "the read parks while nothing was fed");
        peer.write_all(DATA).unwrap();
        let (data, rest, _reader) = t.join().unwrap();
        assert_eq!(data, DATA);
        assert_eq!(rest, b"");
        drop(_writer);
    });
}

#[test]
fn read_returns_at_most_n_and_keeps_the_rest() {
    // cpython: test_streams.py StreamTests.test_read_line_breaks
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"line1");
        f.feed(b"line2");
        assert_eq!(f.reader.read(5).unwrap(), b"line1");
        assert_eq!(f.reader.buffer(), b"line2");
    });
}

#[test]
fn read_at_eof_returns_empty() {
    // cpython: test_streams.py StreamTests.test_read_eof
    corio::run(|| {
        let mut f = Fed::new();
        f.feed_eof();
        assert_eq!(f.reader.read(1024).unwrap(), b"");
        assert_eq!(f.reader.buffer(), b"");
        assert!(f.reader.at_eof());
    });
}

#[test]
fn read_to_end_reads_every_chunk_until_eof() {
    // cpython: test_streams.py StreamTests.test_read_until_eof
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"chunk1\n");
        f.feed(b"chunk2");
        f.feed_eof();
        let mut all = Vec::new();
        f.reader.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"chunk1\nchunk2");
        assert_eq!(f.reader.buffer(), b"");
    });
}

#[test]
fn read_ignores_the_limit() {
    // cpython: test_streams.py StreamTests.test_read_limit
    corio::run(|| {
        let mut f = Fed::with_limit(3);
        f.feed(b"chunk");
        assert_eq!(f.reader.read(5).unwrap(), b"chunk");
        assert_eq!(f.reader.buffer(), b"");
    });
}

#[test]
fn readline_waits_for_the_newline_across_chunks() {
    // cpython: test_streams.py StreamTests.test_readline
    corio::run(|| {
        let Fed {
            mut reader,
            _writer,
            peer,
        } = Fed::new();
        peer.write_all(b"chunk1 ").unwrap();
        let t = corio::spawn(move || {
            let line = reader.readline().unwrap();
            (line, reader)
        });
        corio::yield_now();
        assert!(!t.is_done());
        for chunk in [&b"chunk2 "[..], b"chunk3 ", b"\n chunk4"] {
            peer.write_all(chunk).unwrap();
            corio::yield_now();
        }
        let (line, reader) = t.join().unwrap();
        assert_eq!(line, b"chunk1 chunk2 chunk3 \n");
        assert_eq!(reader.buffer(), b" chunk4");
    });
}

#[test]
fn readline_over_the_limit_with_data_already_buffered() {
    // cpython: test_streams.py StreamTests.test_readline_limit_with_existing_data
    corio::run(|| {
        let mut f = Fed::with_limit(3);
        f.feed(b"li");
        f.feed(b"ne1\nline2\n");
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(
            f.reader.buffer(),
            b"line2\n",
            "the overlong line is dropped"
        );

        let mut f = Fed::with_limit(3);
        f.feed(b"li");
        f.feed(b"ne1");
        f.feed(b"li");
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(f.reader.buffer(), b"", "no newline: everything is dropped");
    });
}

#[test]
fn at_eof_only_after_the_last_byte_and_the_eof() {
    // cpython: test_streams.py StreamTests.test_at_eof
    corio::run(|| {
        let mut f = Fed::new();
        assert!(!f.reader.at_eof());
        f.feed(b"some data\n");
        assert!(!f.reader.at_eof());
        f.reader.readline().unwrap();
        assert!(!f.reader.at_eof());
        f.feed(b"some data\n");
        f.feed_eof();
        f.reader.readline().unwrap();
        assert!(f.reader.at_eof());
    });
}

#[test]
fn readline_limit_is_strict() {
    // cpython: test_streams.py StreamTests.test_readline_limit
    corio::run(|| {
        let mut f = Fed::with_limit(7);
        f.feed(b"chunk1");
        f.feed(b"chunk2");
        f.feed(b"chunk3\n");
        f.feed_eof();
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(f.reader.buffer(), b"");

        let mut f = Fed::with_limit(7);
        f.feed(b"chunk1");
        f.feed(b"chunk2\n");
        f.feed(b"chunk3\n");
        f.feed_eof();
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(f.reader.buffer(), b"chunk3\n");

        let mut f = Fed::with_limit(7);
        f.feed(b"1234567\n");
        assert_eq!(f.reader.readline().unwrap(), b"1234567\n");
        assert_eq!(f.reader.buffer(), b"");
        f.feed(b"12345678\n");
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(f.reader.buffer(), b"");
        f.feed(b"12345678");
        overrun(f.reader.readline().unwrap_err());
        assert_eq!(f.reader.buffer(), b"");
    });
}

#[test]
fn readline_returns_the_first_of_buffered_lines() {
    // cpython: test_streams.py StreamTests.test_readline_nolimit_nowait
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(&DATA[..6]);
        f.feed(&DATA[6..]);
        assert_eq!(f.reader.readline().unwrap(), b"line1\n");
        assert_eq!(f.reader.buffer(), b"line2\nline3\n");
    });
}

#[test]
fn readline_at_eof_returns_the_unterminated_rest() {
    // cpython: test_streams.py StreamTests.test_readline_eof
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"some data");
        f.feed_eof();
        assert_eq!(f.reader.readline().unwrap(), b"some data");
    });
}

#[test]
fn readline_at_eof_with_nothing_left_returns_empty() {
    // cpython: test_streams.py StreamTests.test_readline_empty_eof
    corio::run(|| {
        let mut f = Fed::new();
        f.feed_eof();
        assert_eq!(f.reader.readline().unwrap(), b"");
    });
}

#[test]
fn read_after_readline_counts_bytes_from_the_buffer() {
    // cpython: test_streams.py StreamTests.test_readline_read_byte_count
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(DATA);
        f.reader.readline().unwrap();
        assert_eq!(f.reader.read(7).unwrap(), b"line2\nl");
        assert_eq!(f.reader.buffer(), b"ine3\n");
    });
}

#[test]
fn readuntil_rejects_an_empty_separator() {
    // cpython: test_streams.py StreamTests.test_readuntil_separator
    corio::run(|| {
        let mut f = Fed::new();
        match f.reader.readuntil(b"").unwrap_err() {
            ReadError::Io(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
                assert!(e.to_string().contains("Separator should be"));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn readuntil_a_multi_byte_separator() {
    // cpython: test_streams.py StreamTests.test_readuntil_multi_chunks
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"lineAAA");
        assert_eq!(f.reader.readuntil(b"AAA").unwrap(), b"lineAAA");
        assert_eq!(f.reader.buffer(), b"");
        f.feed(b"lineAAA");
        assert_eq!(f.reader.readuntil(b"AAA").unwrap(), b"lineAAA");
        assert_eq!(f.reader.buffer(), b"");
        f.feed(b"lineAAAxxx");
        assert_eq!(f.reader.readuntil(b"AAA").unwrap(), b"lineAAA");
        assert_eq!(f.reader.buffer(), b"xxx");
    });
}

#[test]
fn readuntil_a_separator_split_across_chunks() {
    // cpython: test_streams.py StreamTests.test_readuntil_multi_chunks_1
    corio::run(|| {
        let mut f = Fed::new();
        let cases: &[(&[&[u8]], &[u8])] = &[
            (&[b"QWEaa", b"XYaa", b"a"], b"QWEaaXYaaa"),
            (&[b"QWEaa", b"XYa", b"aa"], b"QWEaaXYaaa"),
            (&[b"aaa"], b"aaa"),
            (&[b"Xaaa"], b"Xaaa"),
            (&[b"XXX", b"a", b"a", b"a"], b"XXXaaa"),
        ];
        for (chunks, want) in cases {
            for c in *chunks {
                f.feed(c);
            }
            assert_eq!(f.reader.readuntil(b"aaa").unwrap(), *want);
            assert_eq!(f.reader.buffer(), b"");
        }
        // The separator arriving byte by byte while the reader waits.
        let Fed {
            mut reader,
            _writer,
            peer,
        } = f;
        let t = corio::spawn(move || reader.readuntil(b"aaa").unwrap());
        for c in [&b"XX"[..], b"a", b"a", b"a"] {
            corio::yield_now();
            peer.write_all(c).unwrap();
        }
        assert_eq!(t.join().unwrap(), b"XXaaa");
    });
}

#[test]
fn readuntil_at_eof_gives_back_everything_buffered() {
    // cpython: test_streams.py StreamTests.test_readuntil_eof
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"some dataAA");
        f.feed_eof();
        let e = incomplete(f.reader.readuntil(b"AAA").unwrap_err());
        assert_eq!(e.partial, b"some dataAA");
        assert_eq!(e.expected, None);
        assert!(e.to_string().contains("undefined expected bytes"));
        assert_eq!(f.reader.buffer(), b"");
    });
}

#[test]
fn readuntil_limit_found_sep() {
    // cpython: test_streams.py StreamTests.test_readuntil_limit_found_sep
    corio::run(|| {
        let mut f = Fed::with_limit(3);
        f.feed(b"some dataAA");
        let e = overrun(f.reader.readuntil(b"AAA").unwrap_err());
        assert!(!e.found);
        assert!(e.to_string().contains("not found"));
        assert_eq!(f.reader.buffer(), b"some dataAA", "the data is kept");

        f.feed(b"A");
        let e = overrun(f.reader.readuntil(b"AAA").unwrap_err());
        assert!(e.found);
        assert!(e.to_string().contains("is found"));
        assert_eq!(e.consumed, 9);
        assert_eq!(f.reader.buffer(), b"some dataAAA");
        // The caller can consume what the error says and go on.
        assert_eq!(f.reader.readexactly(e.consumed).unwrap(), b"some data");
        assert_eq!(f.reader.readuntil(b"AAA").unwrap(), b"AAA");
    });
}

#[test]
fn readexactly_zero_returns_nothing() {
    // cpython: test_streams.py StreamTests.test_readexactly_zero_or_less
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(DATA);
        assert_eq!(f.reader.readexactly(0).unwrap(), b"");
        assert_eq!(f.reader.read(100).unwrap(), DATA);
    });
}

#[test]
fn readexactly_waits_for_every_byte() {
    // cpython: test_streams.py StreamTests.test_readexactly
    corio::run(|| {
        let Fed {
            mut reader,
            _writer,
            peer,
        } = Fed::new();
        let n = 2 * DATA.len();
        let t = corio::spawn(move || {
            let data = reader.readexactly(n).unwrap();
            corio::sleep(Duration::from_millis(1));
            let _ = reader.read(1000).unwrap();
            data
        });
        for _ in 0..3 {
            corio::yield_now();
            peer.write_all(DATA).unwrap();
        }
        let data = t.join().unwrap();
        assert_eq!(data, [DATA, DATA].concat());
    });
}

#[test]
fn readexactly_ignores_the_limit() {
    // cpython: test_streams.py StreamTests.test_readexactly_limit
    corio::run(|| {
        let mut f = Fed::with_limit(3);
        f.feed(b"chunk");
        assert_eq!(f.reader.readexactly(5).unwrap(), b"chunk");
        assert_eq!(f.reader.buffer(), b"");
    });
}

#[test]
fn readexactly_at_eof_gives_back_the_partial_data() {
    // cpython: test_streams.py StreamTests.test_readexactly_eof
    corio::run(|| {
        let Fed {
            mut reader,
            _writer,
            peer,
        } = Fed::new();
        let n = 2 * DATA.len();
        let t = corio::spawn(move || (reader.readexactly(n), reader));
        corio::yield_now();
        peer.write_all(DATA).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        let (r, reader) = t.join().unwrap();
        let e = incomplete(r.unwrap_err());
        assert_eq!(e.partial, DATA);
        assert_eq!(e.expected, Some(n));
        assert_eq!(
            e.to_string(),
            "18 bytes read on a total of 36 expected bytes"
        );
        assert_eq!(reader.buffer(), b"");
    });
}

#[test]
fn a_cancelled_readline_leaves_the_reader_usable() {
    // cpython: test_streams.py StreamTests.test_exception_cancel
    corio::run(|| {
        let Fed {
            reader,
            _writer,
            peer,
        } = Fed::new();
        let reader = std::rc::Rc::new(std::cell::RefCell::new(Some(reader)));
        let r = reader.clone();
        let t = corio::spawn(move || {
            let mut g = PutBack(r.clone(), r.borrow_mut().take());
            g.1.as_mut().unwrap().readline()
        });
        corio::yield_now();
        peer.write_all(b"half a li").unwrap();
        corio::yield_now();
        t.cancel();
        assert!(t.join().unwrap_err().is_cancelled());
        peer.write_all(b"ne\n").unwrap();
        let mut rd = reader.borrow_mut().take().expect("the reader came back");
        assert_eq!(rd.readline().unwrap(), b"half a line\n");
    });
}

/// Puts the reader back into its cell when dropped (also during a cancel-unwind).
struct PutBack(
    std::rc::Rc<std::cell::RefCell<Option<StreamReader>>>,
    Option<StreamReader>,
);

impl Drop for PutBack {
    fn drop(&mut self) {
        if let Some(r) = self.1.take() {
            *self.0.borrow_mut() = Some(r);
        }
    }
}

#[test]
fn bufread_lines_work_over_a_stream_reader() {
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(DATA);
        f.feed_eof();
        let lines: Vec<String> = (&mut f.reader).lines().map(Result::unwrap).collect();
        assert_eq!(lines, ["line1", "line2", "line3"]);
    });
}

#[test]
fn std_read_uses_the_buffer_first_then_the_socket() {
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"abcdef");
        assert_eq!(f.reader.read(2).unwrap(), b"ab");
        let mut buf = [0u8; 16];
        let n = Read::read(&mut f.reader, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"cdef", "what was buffered");
        f.feed(b"gh");
        let n = Read::read(&mut f.reader, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"gh", "then straight from the socket");
    });
}

#[test]
fn a_large_message_arrives_whole_through_readexactly() {
    corio::run(|| {
        let Fed {
            mut reader,
            _writer,
            peer,
        } = Fed::new();
        let payload = common::Rng::new(7).bytes(3 * 1024 * 1024 + 17);
        let p = payload.clone();
        let feeder = corio::spawn(move || peer.write_all(&p).unwrap());
        let got = reader.readexactly(payload.len()).unwrap();
        feeder.join().unwrap();
        assert!(got == payload);
    });
}

#[test]
fn eof_after_a_partial_read_gives_back_only_the_unread_bytes() {
    corio::run(|| {
        let mut f = Fed::new();
        f.feed(b"abcdef");
        f.feed_eof();
        assert_eq!(f.reader.read(2).unwrap(), b"ab");
        let e = incomplete(f.reader.readexactly(10).unwrap_err());
        assert_eq!(e.partial, b"cdef");
        let mut g = Fed::new();
        g.feed(b"xyz-rest");
        g.feed_eof();
        assert_eq!(g.reader.readuntil(b"-").unwrap(), b"xyz-");
        let e = incomplete(g.reader.readuntil(b"-").unwrap_err());
        assert_eq!(e.partial, b"rest");
        assert!(g.reader.at_eof());
    });
}
