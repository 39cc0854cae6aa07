//! The client side: one task per connection slot, each connecting, sending messages of random
//! sizes and checking every echoed byte, with faults drawn per connection.
//!
//! Message sizes (1 B to 1 MiB, log-uniform within each class, so that in-flight memory stays
//! bounded while every size range is hit):
//!
//! | class  | share | sizes           | in flight at once                     |
//! |--------|-------|-----------------|---------------------------------------|
//! | small  | 70 %  | 1 B – 1 KiB     | one per slot                          |
//! | medium | 25 %  | 1 KiB – 64 KiB  | one per slot                          |
//! | large  | 5 %   | 64 KiB – 1 MiB  | at most [`LARGE_IN_FLIGHT`] (a tenth of them exactly 1 MiB) |
//!
//! With 2,000 slots that is about 2000 × 5 KiB of small and medium messages plus at most
//! 16 MiB of large ones, each held by the client (to compare) and passing through the server
//! in 64 KiB reads.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use corio::net::TcpStream;

use crate::probe::Rng;
use crate::server::Cancelled;

/// Large messages in flight at once, over all slots.
pub const LARGE_IN_FLIGHT: usize = 16;
/// Messages per connection: 1 to this.
const MAX_MESSAGES: u64 = 8;
/// Connections (per thousand) that end with a reset (SO_LINGER 0, close) in the middle of
/// their last message.
pub const RESET_PER_MILLE: u64 = 60;
/// Connections (per thousand) that read each echo under a `wait_for` of 1 to 20 ms.
pub const TIMEOUT_PER_MILLE: u64 = 50;
/// Connections (per thousand) that read slowly: 1 to 4 KiB at a time, 1 to 3 ms apart.
pub const SLOW_PER_MILLE: u64 = 50;
/// An echo that takes longer than this on a connection without a planned timeout is a stall.
const STALL: Duration = Duration::from_secs(60);
/// Bytes per read on a connection that is not slow.
const READ_CHUNK: usize = 64 * 1024;

/// What one slot counted.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub connections: u64,
    pub completed: u64,
    pub messages: u64,
    pub bytes_whole: u64,
    pub bytes_prefix: u64,
    pub resets: u64,
    pub timeouts: u64,
    pub server_cancels: u64,
    pub slow: u64,
    pub large: u64,
    pub min_size: usize,
    pub max_size: usize,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.connections += o.connections;
        self.completed += o.completed;
        self.messages += o.messages;
        self.bytes_whole += o.bytes_whole;
        self.bytes_prefix += o.bytes_prefix;
        self.resets += o.resets;
        self.timeouts += o.timeouts;
        self.server_cancels += o.server_cancels;
        self.slow += o.slow;
        self.large += o.large;
        self.min_size = match (self.min_size, o.min_size) {
            (0, m) | (m, 0) => m,
            (a, b) => a.min(b),
        };
        self.max_size = self.max_size.max(o.max_size);
    }
}

/// What the slots share.
pub struct Shared {
    pub addr: SocketAddr,
    pub stop: Cell<bool>,
    /// Connections open right now.
    pub open: Cell<usize>,
    pub large: corio::Semaphore,
    pub cancelled: Cancelled,
    pub failures: RefCell<Vec<String>>,
    pub failure_count: Cell<u64>,
}

impl Shared {
    /// Records a failed check (the first 20 are kept to print).
    pub fn fail_with(&self, what: String) {
        self.failure_count.set(self.failure_count.get() + 1);
        let mut f = self.failures.borrow_mut();
        if f.len() < 20 {
            f.push(what);
        }
    }

    /// `true` (once) if the server cancelled the task serving the connection from `port`.
    fn server_cancelled(&self, port: u16) -> bool {
        self.cancelled.lock().unwrap().remove(&port)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Reset,
    Timeout,
    Slow,
}

/// One slot: connections one after another until the run stops.
pub fn slot(shared: Rc<Shared>, mut rng: Rng) -> Counts {
    let mut counts = Counts::default();
    while !shared.stop.get() {
        counts.connections += 1;
        let conn = Conn::open(&shared);
        match conn {
            Ok(c) => {
                shared.open.set(shared.open.get() + 1);
                let r = c.run(&shared, &mut rng, &mut counts);
                shared.open.set(shared.open.get() - 1);
                if let Err(e) = r {
                    shared.fail_with(e);
                }
            }
            Err(e) => shared.fail_with(format!("connect: {e}")),
        }
    }
    counts
}

/// How one echo read ended early.
enum Cut {
    /// EOF or an error from the socket.
    Closed(String),
    /// A byte differed.
    Mismatch(usize),
}

struct Conn {
    sock: Rc<TcpStream>,
    port: u16,
}

impl Conn {
    fn open(shared: &Shared) -> io::Result<Conn> {
        let sock = TcpStream::connect(shared.addr)?;
        let port = sock.local_addr()?.port();
        Ok(Conn {
            sock: Rc::new(sock),
            port,
        })
    }

    /// The connection's messages; `Err` describes a check that failed.
    fn run(self, shared: &Shared, rng: &mut Rng, counts: &mut Counts) -> Result<(), String> {
        let fault = match rng.next() % 1000 {
            x if x < RESET_PER_MILLE => Fault::Reset,
            x if x < RESET_PER_MILLE + TIMEOUT_PER_MILLE => Fault::Timeout,
            x if x < RESET_PER_MILLE + TIMEOUT_PER_MILLE + SLOW_PER_MILLE => Fault::Slow,
            _ => Fault::None,
        };
        if fault == Fault::Slow {
            counts.slow += 1;
        }
        let messages = rng.range(1, MAX_MESSAGES);
        for m in 0..messages {
            if m > 0 && shared.stop.get() {
                break;
            }
            let size = message_size(rng);
            let _permit = (size > 64 * 1024).then(|| shared.large.acquire());
            counts.large += u64::from(size > 64 * 1024);
            counts.min_size = if counts.min_size == 0 {
                size
            } else {
                counts.min_size.min(size)
            };
            counts.max_size = counts.max_size.max(size);
            let msg = Rc::new(rng.bytes(size));
            // A reset cuts the last message: `sent` bytes go out, `want` of them are awaited.
            let reset_here = fault == Fault::Reset && m + 1 == messages;
            let sent = if reset_here {
                rng.range(0, size as u64 - 1) as usize
            } else {
                size
            };
            let want = if reset_here {
                rng.range(0, sent as u64) as usize
            } else {
                size
            };
            let writer = {
                let (sock, msg) = (self.sock.clone(), msg.clone());
                corio::spawn(move || sock.write_all(&msg[..sent]))
            };
            let deadline = if fault == Fault::Timeout {
                Duration::from_millis(rng.range(1, 20))
            } else {
                STALL
            };
            let slow = fault == Fault::Slow;
            let mut got = 0;
            let read = corio::wait_for(deadline, || {
                read_echo(&self.sock, &msg, &mut got, want, slow.then_some(&mut *rng))
            });
            match read {
                Ok(Ok(())) if reset_here => {
                    // Mid-message: unsent bytes, unread echo; SO_LINGER 0 makes the close a RST.
                    self.sock
                        .set_linger(Some(Duration::ZERO))
                        .map_err(|e| e.to_string())?;
                    writer.cancel();
                    let _ = writer.join();
                    counts.resets += 1;
                    counts.bytes_prefix += got as u64;
                    return Ok(());
                }
                Ok(Ok(())) => match writer.join() {
                    Ok(Ok(())) => {
                        counts.messages += 1;
                        counts.bytes_whole += size as u64;
                    }
                    Ok(Err(e)) => return self.ended_early(shared, counts, got, m, &e.to_string()),
                    Err(e) => return Err(format!("port {}: writer task: {e}", self.port)),
                },
                Ok(Err(Cut::Mismatch(at))) => {
                    writer.cancel();
                    return Err(format!(
                        "port {}: message {m} ({size} B): echoed byte {at} differs",
                        self.port
                    ));
                }
                Ok(Err(Cut::Closed(why))) => {
                    writer.cancel();
                    let _ = writer.join();
                    return self.ended_early(shared, counts, got, m, &why);
                }
                Err(corio::Timeout) => {
                    writer.cancel();
                    let _ = writer.join();
                    if fault == Fault::Timeout {
                        counts.timeouts += 1;
                        counts.bytes_prefix += got as u64;
                        return Ok(());
                    }
                    return Err(format!(
                        "port {}: message {m} ({size} B): no echo for {STALL:?} after {got} B",
                        self.port
                    ));
                }
            }
        }
        // Done: half-close, and the server closes its side too.
        let _ = self.sock.shutdown(Shutdown::Write);
        let mut byte = [0u8; 1];
        match corio::wait_for(STALL, || self.sock.read(&mut byte)) {
            Ok(Ok(0)) => {
                counts.completed += 1;
                Ok(())
            }
            Ok(Ok(_)) => Err(format!("port {}: a byte after the last echo", self.port)),
            Ok(Err(e)) => self.ended_early(shared, counts, 0, messages, &e.to_string()),
            Err(_) => Err(format!("port {}: no EOF from the server", self.port)),
        }
    }

    /// The server's side ended before the client's: fine only if the server cancelled it.
    fn ended_early(
        &self,
        shared: &Shared,
        counts: &mut Counts,
        got: usize,
        m: u64,
        why: &str,
    ) -> Result<(), String> {
        if shared.server_cancelled(self.port) {
            counts.server_cancels += 1;
            counts.bytes_prefix += got as u64;
            Ok(())
        } else {
            Err(format!(
                "port {}: message {m}: ended after {got} B echoed: {why}",
                self.port
            ))
        }
    }
}

/// Reads the echo of `msg` until `want` bytes came back, checking each one; `got` counts the
/// bytes checked so far (also when the read is cut short by a timeout).
fn read_echo(
    sock: &TcpStream,
    msg: &[u8],
    got: &mut usize,
    want: usize,
    mut slow: Option<&mut Rng>,
) -> Result<(), Cut> {
    let mut buf = vec![0u8; (want - *got).clamp(1, READ_CHUNK)];
    while *got < want {
        let limit = match slow.as_deref_mut() {
            Some(rng) => rng.range(1024, 4096) as usize,
            None => READ_CHUNK,
        }
        .min(want - *got)
        .min(buf.len());
        let n = match sock.read(&mut buf[..limit]) {
            Ok(0) => return Err(Cut::Closed("EOF".into())),
            Ok(n) => n,
            Err(e) => return Err(Cut::Closed(e.to_string())),
        };
        if buf[..n] != msg[*got..*got + n] {
            let i = (0..n).find(|&i| buf[i] != msg[*got + i]).unwrap_or(0);
            return Err(Cut::Mismatch(*got + i));
        }
        *got += n;
        if let Some(rng) = slow.as_deref_mut() {
            corio::sleep(Duration::from_millis(rng.range(1, 3)));
        }
    }
    Ok(())
}

/// A message size from the table in the module docs.
fn message_size(rng: &mut Rng) -> usize {
    let class = rng.next() % 100;
    let (lo_bits, hi_bits) = match class {
        0..70 => (0.0, 10.0),
        70..95 => (10.0, 16.0),
        _ if rng.chance(100) => return 1 << 20,
        _ => (16.0, 20.0),
    };
    let bits = lo_bits + rng.unit() * (hi_bits - lo_bits);
    (2f64.powf(bits) as usize).clamp(1, 1 << 20)
}
