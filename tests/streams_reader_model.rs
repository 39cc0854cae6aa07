//! `StreamReader` against a model: random data cut into random chunks, with or without an
//! EOF after it, read by random sequences of `read`, `readline`, `readuntil`, `readexactly`,
//! `at_eof` and `set_limit`, some of them cancelled while parked. Every result and error, and
//! the reader's buffer after every step, equal the model's; the model itself checks that no
//! byte is lost or duplicated (what was returned, dropped by `readline` past the limit, still
//! buffered and not yet sent add up to the data, in order).
//!
//! Deterministic: the peer sends a chunk only while the read is parked and the socket is
//! empty (`FIONREAD` is 0), so each `recv` of the reader takes exactly one chunk, whatever
//! the timing. The seed is fixed unless `PROPTEST_RNG_SEED` is set.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use corio::error::ReadError;
use corio::net::UnixStream;
use corio::streams::{self, DEFAULT_LIMIT, StreamReader, StreamWriter};
use corio::{JoinError, Task};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

#[derive(Debug, Clone)]
enum Kind {
    Read(usize),
    ReadLine,
    ReadUntil(Vec<u8>),
    ReadExactly(usize),
    AtEof,
    SetLimit(usize),
}

/// One step: what to call, and after how many chunks (0: at its first park) to cancel it if
/// it is still parked then.
#[derive(Debug, Clone)]
struct Op {
    kind: Kind,
    cancel_after: Option<usize>,
}

/// What a step gave, comparable between the reader and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Bytes(Vec<u8>),
    Incomplete {
        partial: Vec<u8>,
        expected: Option<usize>,
    },
    Overrun {
        consumed: usize,
        found: bool,
    },
    InvalidInput,
    AtEof(bool),
    Done,
    Cancelled,
}

impl From<Result<Vec<u8>, ReadError>> for Outcome {
    fn from(r: Result<Vec<u8>, ReadError>) -> Outcome {
        match r {
            Ok(b) => Outcome::Bytes(b),
            Err(ReadError::IncompleteRead(e)) => Outcome::Incomplete {
                partial: e.partial,
                expected: e.expected,
            },
            Err(ReadError::LimitOverrun(e)) => Outcome::Overrun {
                consumed: e.consumed,
                found: e.found,
            },
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidInput => {
                Outcome::InvalidInput
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
}

/// `Some(outcome)` when the step is done, `None` when it needs more data.
type Step = Option<Outcome>;

/// asyncio's `StreamReader` semantics on a plain buffer.
struct Model {
    /// What the reader holds.
    buf: Vec<u8>,
    /// The peer's EOF was read.
    eof: bool,
    limit: usize,
    /// Chunks not sent yet, and whether an EOF follows them.
    pending: VecDeque<Vec<u8>>,
    eof_pending: bool,
    /// Every byte that left the buffer (returned or dropped), in order.
    out: Vec<u8>,
}

impl Model {
    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len());
        let b: Vec<u8> = self.buf.drain(..n).collect();
        self.out.extend_from_slice(&b);
        b
    }

    fn try_step(&mut self, kind: &Kind) -> Step {
        match kind {
            Kind::Read(0) => Some(Outcome::Bytes(Vec::new())),
            Kind::Read(n) if !self.buf.is_empty() => Some(Outcome::Bytes(self.take(*n))),
            Kind::Read(_) if self.eof => Some(Outcome::Bytes(Vec::new())),
            Kind::Read(_) => None,
            Kind::ReadExactly(n) if self.buf.len() >= *n => Some(Outcome::Bytes(self.take(*n))),
            Kind::ReadExactly(n) if self.eof => Some(Outcome::Incomplete {
                partial: self.take(usize::MAX),
                expected: Some(*n),
            }),
            Kind::ReadExactly(_) => None,
            Kind::ReadUntil(sep) => self.readuntil(sep),
            Kind::ReadLine => match self.readuntil(b"\n")? {
                Outcome::Incomplete { partial, .. } => Some(Outcome::Bytes(partial)),
                Outcome::Overrun { consumed, found } => {
                    // asyncio drops the overlong line: through its newline if it came.
                    if self.buf[consumed..].starts_with(b"\n") {
                        self.take(consumed + 1);
                    } else {
                        self.take(usize::MAX);
                    }
                    Some(Outcome::Overrun { consumed, found })
                }
                done => Some(done),
            },
            Kind::AtEof => Some(Outcome::AtEof(self.buf.is_empty() && self.eof)),
            Kind::SetLimit(l) => {
                self.limit = (*l).max(1);
                Some(Outcome::Done)
            }
        }
    }

    fn readuntil(&mut self, sep: &[u8]) -> Step {
        if sep.is_empty() {
            return Some(Outcome::InvalidInput);
        }
        if self.buf.len() >= sep.len() {
            if let Some(i) = self.buf.windows(sep.len()).position(|w| w == sep) {
                if i > self.limit {
                    return Some(Outcome::Overrun {
                        consumed: i,
                        found: true,
                    });
                }
                return Some(Outcome::Bytes(self.take(i + sep.len())));
            }
            let searched = self.buf.len() + 1 - sep.len();
            if searched > self.limit {
                return Some(Outcome::Overrun {
                    consumed: searched,
                    found: false,
                });
            }
        }
        if self.eof {
            return Some(Outcome::Incomplete {
                partial: self.take(usize::MAX),
                expected: None,
            });
        }
        None
    }

    /// Runs a step as the driver does: feed the next chunk (or the EOF) while it needs data,
    /// cancel it after `cancel_after` chunks, or when nothing more will come.
    fn step(&mut self, op: &Op) -> Outcome {
        let mut fed = 0;
        loop {
            if let Some(done) = self.try_step(&op.kind) {
                return done;
            }
            if op.cancel_after == Some(fed) {
                return Outcome::Cancelled;
            }
            if let Some(chunk) = self.pending.pop_front() {
                self.buf.extend_from_slice(&chunk);
            } else if std::mem::take(&mut self.eof_pending) {
                self.eof = true;
            } else {
                return Outcome::Cancelled;
            }
            fed += 1;
        }
    }
}

/// The reader under test, its socket's fd (to see what is still queued in it), and the peer
/// that feeds it.
struct Real {
    reader: Rc<RefCell<StreamReader>>,
    _writer: StreamWriter,
    fd: RawFd,
    peer: UnixStream,
    pending: VecDeque<Vec<u8>>,
    eof_pending: bool,
}

/// Bytes queued in the socket, not yet read by the reader.
fn queued(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int into `n`; `fd` is the reader's open socket.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD");
    n as usize
}

impl Real {
    fn new(chunks: Vec<Vec<u8>>, eof: bool) -> Real {
        let (a, peer) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        let (reader, writer) = streams::split(a);
        Real {
            reader: Rc::new(RefCell::new(reader)),
            _writer: writer,
            fd,
            peer,
            pending: chunks.into(),
            eof_pending: eof,
        }
    }

    /// Lets the step's task run until it is done, or parked with the socket empty (it has
    /// read everything sent, so it waits for more).
    fn settle(&self, t: &Task<Outcome>, started: &Cell<bool>) {
        for _ in 0..1_000_000 {
            if t.is_done() || (started.get() && queued(self.fd) == 0) {
                return;
            }
            corio::yield_now();
        }
        panic!("the reader never took the chunk sent to it");
    }

    fn step(&mut self, op: &Op) -> Outcome {
        let r = self.reader.clone();
        let kind = op.kind.clone();
        match kind {
            Kind::AtEof => return Outcome::AtEof(r.borrow_mut().at_eof()),
            Kind::SetLimit(l) => {
                r.borrow_mut().set_limit(l);
                return Outcome::Done;
            }
            _ => {}
        }
        let started = Rc::new(Cell::new(false));
        let s = started.clone();
        let t = corio::spawn(move || {
            s.set(true);
            let mut r = r.borrow_mut();
            Outcome::from(match kind {
                Kind::Read(n) => r.read(n).map_err(ReadError::Io),
                Kind::ReadLine => r.readline(),
                Kind::ReadUntil(sep) => r.readuntil(&sep),
                Kind::ReadExactly(n) => r.readexactly(n),
                Kind::AtEof | Kind::SetLimit(_) => unreachable!(),
            })
        });
        let mut fed = 0;
        loop {
            self.settle(&t, &started);
            if t.is_done() {
                return t.join().unwrap();
            }
            if op.cancel_after == Some(fed) {
                return cancel(t);
            }
            if let Some(chunk) = self.pending.pop_front() {
                self.peer.write_all(&chunk).unwrap();
            } else if std::mem::take(&mut self.eof_pending) {
                self.peer.shutdown(Shutdown::Write).unwrap();
                // Every read ends at EOF: no settling on an empty socket here.
                return corio::wait_for(Duration::from_secs(60), || t.join())
                    .expect("a read parked past EOF")
                    .unwrap();
            } else {
                return cancel(t);
            }
            fed += 1;
        }
    }
}

fn cancel(t: Task<Outcome>) -> Outcome {
    assert!(t.cancel());
    match t.join() {
        Err(JoinError::Cancelled) => Outcome::Cancelled,
        other => panic!("a cancelled read ended with {other:?}"),
    }
}

fn chunked(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = data;
    for &n in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (c, r) = rest.split_at(n.min(rest.len()));
        chunks.push(c.to_vec());
        rest = r;
    }
    chunks
}

/// One case: `data` sent in chunks of `sizes` (cycled), then an EOF if `eof`; the reader
/// starts with `limit`, then runs `ops`.
struct Case {
    data: Vec<u8>,
    sizes: Vec<usize>,
    eof: bool,
    limit: usize,
    ops: Vec<Op>,
}

fn check(case: Case) -> Result<(), TestCaseError> {
    let Case {
        data,
        sizes,
        eof,
        limit,
        ops,
    } = case;
    let chunks = chunked(&data, &sizes);
    corio::run(move || {
        let mut real = Real::new(chunks.clone(), eof);
        real.reader.borrow_mut().set_limit(limit);
        let mut model = Model {
            buf: Vec::new(),
            eof: false,
            limit,
            pending: chunks.into(),
            eof_pending: eof,
            out: Vec::new(),
        };
        for (i, op) in ops.iter().enumerate() {
            let want = model.step(op);
            let got = real.step(op);
            prop_assert_eq!(&got, &want, "step {} {:?}", i, op);
            let buffered = real.reader.borrow().buffer().to_vec();
            prop_assert_eq!(buffered, &model.buf[..], "buffer after step {} {:?}", i, op);
        }
        let mut all = model.out.clone();
        all.extend_from_slice(&model.buf);
        all.extend(model.pending.iter().flatten());
        prop_assert_eq!(all, data, "bytes lost or duplicated");
        Ok(())
    })
}

fn op() -> impl Strategy<Value = Op> {
    let sep = prop_oneof![
        Just(b";".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"ab".to_vec()),
        Just(b"a;a".to_vec()),
        Just(Vec::new()),
    ];
    let kind = prop_oneof![
        3 => (0usize..24).prop_map(Kind::Read),
        3 => Just(Kind::ReadLine),
        3 => sep.prop_map(Kind::ReadUntil),
        3 => (0usize..40).prop_map(Kind::ReadExactly),
        1 => Just(Kind::AtEof),
        2 => (0usize..48).prop_map(Kind::SetLimit),
    ];
    (kind, proptest::option::weighted(0.3, 0usize..3))
        .prop_map(|(kind, cancel_after)| Op { kind, cancel_after })
}

fn config() -> Config {
    let mut c = Config {
        cases: 192,
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_some() {
        c.cases = Config::default().cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        c.rng_seed = RngSeed::Fixed(0x00c0_710e_5eed);
    }
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn stream_reader_matches_the_model_and_loses_no_byte(
        data in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), Just(b';'), Just(b'\n')],
            0..160,
        ),
        sizes in proptest::collection::vec(1usize..=24, 1..12),
        eof in any::<bool>(),
        limit in prop_oneof![Just(DEFAULT_LIMIT), 1usize..32],
        ops in proptest::collection::vec(op(), 0..24),
    ) {
        check(Case { data, sizes, eof, limit, ops })?;
    }
}
