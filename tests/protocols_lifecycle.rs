//! The order of a stream protocol's calls, as asyncio documents it, pinned by recording the
//! call sequence: `connection_made` first, `data_received` any number of times, at most one
//! `eof_received`, `connection_lost` exactly once and always from the loop.

mod common;

use std::io::{self, Read};
use std::rc::Rc;
use std::time::Duration;

use common::{Log, collect_reports};
use corio::net::UnixStream;
use corio::protocols::{self, BaseProtocol, Protocol, Transport};

type OnData = Box<dyn FnMut(&Transport, &[u8], &Log<String>)>;

/// Records every call; `on_data` says what `data_received` does besides recording.
struct Rec {
    log: Log<String>,
    t: Option<Transport>,
    on_data: OnData,
    keep_open: bool,
}

impl Rec {
    fn new(log: &Log<String>) -> Rec {
        Rec {
            log: log.clone(),
            t: None,
            on_data: Box::new(|_, _, _| {}),
            keep_open: false,
        }
    }

    fn on_data(mut self, f: impl FnMut(&Transport, &[u8], &Log<String>) + 'static) -> Rec {
        self.on_data = Box::new(f);
        self
    }
}

impl BaseProtocol for Rec {
    fn connection_made(&mut self, t: Transport) {
        self.log.push("made".into());
        self.t = Some(t);
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        self.log.push(match exc {
            None => "lost".into(),
            Some(e) => format!("lost:{:?}", e.kind()),
        });
    }
    fn pause_writing(&mut self) {
        self.log.push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.log.push("resume".into());
    }
}

impl Protocol for Rec {
    fn data_received(&mut self, data: &[u8]) {
        self.log
            .push(format!("data:{}", String::from_utf8_lossy(data)));
        let t = self.t.clone().unwrap();
        (self.on_data)(&t, data, &self.log);
    }
    fn eof_received(&mut self) -> bool {
        self.log.push("eof".into());
        self.keep_open
    }
}

/// Runs the loop until `done`, for at most a generous number of iterations.
fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if done() {
            return;
        }
        corio::sleep(Duration::from_micros(200));
    }
    panic!("condition not reached");
}

fn last_is_lost(log: &Log<String>) -> bool {
    log.get().last().is_some_and(|s| s.starts_with("lost"))
}

/// A transport over one end of a socket pair, and the other end (blocking std calls
/// would stall the loop, so the peer is a corio socket too).
fn pair(p: impl FnOnce() -> Rec) -> (Transport, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    (protocols::connect_accepted_socket(p, a).unwrap(), b)
}

#[test]
fn calls_come_in_order_made_data_eof_lost() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_read_ready and
    // test_read_ready_eof (data_received, then eof_received and close)
    let log = corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (_t, b) = pair(move || Rec::new(&l));
        b.write_all(b"one").unwrap();
        until(|| log.len() == 2);
        b.write_all(b"two").unwrap();
        b.shutdown(std::net::Shutdown::Write).unwrap();
        until(|| last_is_lost(&log));
        let mut rest = Vec::new();
        (&b).read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "closed after EOF: the peer reads EOF");
        log.get()
    });
    assert_eq!(log, ["made", "data:one", "data:two", "eof", "lost"]);
}

#[test]
fn eof_received_true_keeps_the_write_side_open() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_read_ready_eof_keep_open
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || {
            let mut r = Rec::new(&l);
            r.keep_open = true;
            r
        });
        b.shutdown(std::net::Shutdown::Write).unwrap();
        until(|| log.get().contains(&"eof".to_string()));
        assert!(!t.is_reading(), "no reads after EOF");
        assert!(!t.is_closing());
        t.write(b"still here");
        t.close();
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"still here");
        until(|| last_is_lost(&log));
        assert_eq!(log.get(), ["made", "eof", "lost"]);
    });
}

#[test]
fn connection_lost_never_runs_inside_close_abort_or_write() {
    // cpython: test_selector_events.py SelectorTransportTests.test_close (connection_lost
    // goes through call_soon, once) and test_force_close
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || {
            Rec::new(&l).on_data(|t, _, log| {
                t.close();
                log.push("after close".into());
                t.abort();
                log.push("after abort".into());
                t.write(b"dropped");
                log.push("after write".into());
                t.close();
            })
        });
        b.write_all(b"x").unwrap();
        until(|| last_is_lost(&log));
        assert_eq!(
            log.get(),
            [
                "made",
                "data:x",
                "after close",
                "after abort",
                "after write",
                "lost"
            ]
        );
        assert_eq!(t.dropped_writes(), 1);
        assert!(t.is_closing());
    });
}

#[test]
fn writes_after_close_are_dropped_and_counted_without_errors() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_write_closing
    // (asyncio counts them in _conn_lost and only logs past a threshold)
    corio::run(|| {
        let reports = collect_reports();
        let log = Log::new();
        let l = log.clone();
        let (t, _b) = pair(move || Rec::new(&l));
        t.write(b"before");
        t.close();
        for _ in 0..1000 {
            t.write(b"after");
        }
        t.writelines([b"a".as_slice(), b"b"]);
        assert_eq!(t.dropped_writes(), 1001);
        until(|| last_is_lost(&log));
        t.write(b"after lost");
        assert_eq!(t.dropped_writes(), 1002);
        assert_eq!(log.get(), ["made", "lost"]);
        assert!(
            reports.get().is_empty(),
            "no error flood: {:?}",
            reports.get()
        );
    });
}

#[test]
fn close_sends_the_buffer_first_then_loses_the_connection() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_write_ready_closing and
    // SelectorTransportTests.test_close_write_buffer
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        let big = vec![7u8; 4 << 20];
        t.write(&big);
        assert!(
            t.get_write_buffer_size() > 0,
            "more than the socket takes at once"
        );
        t.close();
        corio::yield_now();
        assert!(
            !last_is_lost(&log),
            "not lost while the buffer is being sent"
        );
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), big.len());
        until(|| last_is_lost(&log));
        assert_eq!(log.get(), ["made", "pause", "resume", "lost"]);
    });
}

#[test]
fn abort_drops_the_buffer() {
    // cpython: test_selector_events.py SelectorTransportTests.test_abort
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        let big = vec![7u8; 4 << 20];
        t.write(&big);
        t.abort();
        assert_eq!(t.get_write_buffer_size(), 0);
        until(|| last_is_lost(&log));
        let mut got = Vec::new();
        let _ = (&b).read_to_end(&mut got);
        assert!(got.len() < big.len(), "the buffer was not sent");
    });
}

#[test]
fn a_write_error_reaches_connection_lost_from_the_loop() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_write_exception
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        t.pause_reading(); // the peer's close is seen by the write, not by a read
        drop(b);
        t.write(b"to nobody");
        log.push("after write".into());
        until(|| last_is_lost(&log));
        assert_eq!(log.get(), ["made", "after write", "lost:BrokenPipe"]);
        assert_eq!(protocols::open_transports(), 0);
    });
}

#[test]
fn pause_reading_stops_data_until_resumed() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_pause_resume_reading
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        assert!(t.is_reading());
        t.pause_reading();
        assert!(!t.is_reading());
        b.write_all(b"held").unwrap();
        for _ in 0..20 {
            corio::sleep(Duration::from_micros(100));
        }
        assert_eq!(log.get(), ["made"]);
        t.resume_reading();
        assert!(t.is_reading());
        until(|| log.len() == 2);
        assert_eq!(log.get(), ["made", "data:held"]);
        t.close();
        assert!(!t.is_reading());
    });
}

#[test]
fn pause_writing_above_the_high_mark_resume_at_the_low_mark() {
    // cpython: test_transports.py TransportTests.test_flowcontrol_mixin_set_write_limits
    // (_maybe_pause_protocol / _maybe_resume_protocol around the marks)
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        assert_eq!(
            t.get_write_buffer_limits(),
            (
                protocols::DEFAULT_HIGH_WATER,
                protocols::DEFAULT_HIGH_WATER / 4
            )
        );
        t.set_write_buffer_limits(1000, 100);
        // Fill the socket's buffer first, then go over the mark.
        let chunk = vec![1u8; 64 * 1024];
        while t.get_write_buffer_size() == 0 {
            t.write(&chunk);
        }
        while !log.get().contains(&"pause".to_string()) {
            t.write(&chunk[..500]);
        }
        assert!(t.get_write_buffer_size() > 1000);
        assert_eq!(log.get(), ["made", "pause"], "paused inside write, once");
        let mut buf = vec![0u8; 1 << 20];
        until(|| {
            let _ = b.read(&mut buf);
            log.len() == 3
        });
        assert_eq!(log.get(), ["made", "pause", "resume"]);
        assert!(t.get_write_buffer_size() <= 100);
    });
}

#[test]
fn pause_writing_inside_a_callback_comes_right_after_it() {
    // The protocol is busy in data_received when its write crosses the mark: pause_writing
    // comes after data_received returns, never nested in it.
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, _b) = pair(move || {
            Rec::new(&l).on_data(|t, _, log| {
                let chunk = vec![0u8; 256 * 1024];
                t.set_write_buffer_limits(1000, 100);
                t.write(&chunk);
                t.write(&chunk);
                log.push("data done".into());
            })
        });
        _b.write_all(b"go").unwrap();
        until(|| log.len() >= 4);
        assert_eq!(log.get(), ["made", "data:go", "data done", "pause"]);
        t.abort();
    });
}

#[test]
fn write_eof_half_closes_and_keeps_reading() {
    // cpython: test_selector_events.py SelectorSocketTransportTests.test_write_eof and
    // test_write_eof_buffer
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        assert!(t.can_write_eof());
        t.write(b"last words");
        t.write_eof();
        t.write(b"dropped");
        assert_eq!(t.dropped_writes(), 1);
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last words");
        b.write_all(b"reply").unwrap();
        until(|| log.len() == 2);
        assert_eq!(log.get(), ["made", "data:reply"]);
        t.close();
    });
}

#[test]
fn a_callback_may_spawn_a_coroutine_and_hand_it_data() {
    corio::run(|| {
        let q = Rc::new(corio::Queue::<Vec<u8>>::new(0));
        let log = Log::new();
        let (l, q2) = (log.clone(), q.clone());
        let (_t, b) = pair(move || {
            Rec::new(&l).on_data(move |t, data, _| {
                let (q, data, t) = (q2.clone(), data.to_vec(), t.clone());
                corio::spawn(move || {
                    corio::sleep(Duration::from_millis(1));
                    t.write(&data);
                    q.put_nowait(data).unwrap();
                });
            })
        });
        b.write_all(b"work").unwrap();
        assert_eq!(q.get().unwrap(), b"work");
        let mut buf = [0u8; 4];
        (&b).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"work");
    });
}

#[test]
fn writelines_sends_the_chunks_in_order() {
    // cpython: test_transports.py TransportTests.test_writelines
    corio::run(|| {
        let log = Log::new();
        let l = log.clone();
        let (t, b) = pair(move || Rec::new(&l));
        t.writelines([b"one ".as_slice(), b"two ", b"three"]);
        t.writelines(Vec::<Vec<u8>>::new());
        t.close();
        let mut got = Vec::new();
        (&b).read_to_end(&mut got).unwrap();
        assert_eq!(got, b"one two three");
        assert_eq!(t.dropped_writes(), 0);
    });
}

#[test]
fn a_callback_that_parks_fails_its_connection_not_the_loop() {
    // Callbacks run on the loop's own stack: a park there is a panic, which closes that
    // connection and reaches the exception handler.
    corio::run(|| {
        let reports = collect_reports();
        let log = Log::new();
        let l = log.clone();
        let (_t, b) =
            pair(move || Rec::new(&l).on_data(|_, _, _| corio::sleep(Duration::from_millis(1))));
        b.write_all(b"x").unwrap();
        until(|| last_is_lost(&log));
        assert_eq!(log.get(), ["made", "data:x", "lost:Other"]);
        assert_eq!(reports.len(), 1, "{:?}", reports.get());
        assert!(reports.get()[0].contains("data_received panicked"));
    });
}

// asyncio: a transport's `write` and `close` between two `run_until_complete` calls schedule
// their work on the transport's loop; nothing raises, and the bytes and `connection_lost`
// come in the next run.
#[test]
fn a_transport_used_between_two_runs_does_its_work_in_the_next_run() {
    let lp = corio::EventLoop::new().unwrap();
    let log = Log::new();
    let l = log.clone();
    let (t, peer) = lp
        .run_until_complete(move || pair(move || Rec::new(&l)))
        .unwrap();
    // More than the socket pair holds: most of it waits for the loop's writability.
    let big = vec![3u8; 4 << 20];
    t.write(&big);
    t.close();
    assert!(t.is_closing());
    // asyncio calls `pause_writing` from `write` itself; `connection_lost` waits for the loop.
    assert_eq!(log.get(), ["made", "pause"]);
    let got = lp
        .run_until_complete(move || {
            let mut got = Vec::new();
            (&peer).read_to_end(&mut got).unwrap();
            got.len()
        })
        .unwrap();
    assert_eq!(got, big.len(), "every byte arrived");
    let l = log.clone();
    lp.run_until_complete(move || until(|| last_is_lost(&l)))
        .unwrap();
    assert_eq!(log.get(), ["made", "pause", "resume", "lost"]);
}
