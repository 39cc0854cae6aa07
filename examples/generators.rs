//! Generators the way the asyncio talk tells it: `send`, `throw`, `close`, `yield from`, and
//! then the punchline — a tiny round-robin scheduler of generators that yield "wait for this
//! socket" requests to a readiness loop over `polling`, which is how asyncio was born.
//!
//! * `cargo run --example generators` runs the small demos, then serves the upper-casing line
//!   echo on 127.0.0.1 (a free port) to several client threads at once, checks every answer,
//!   and exits (status 1 if an answer differed).
//! * `cargo run --example generators -- --serve ADDR` only serves, until Ctrl+C
//!   (try `nc ADDR` and type lines).

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use corio::generator::{GeneratorExit, Yielder, catch};
use corio::{Generator, GeneratorState};

const CLIENTS: usize = 5;
const LINES: usize = 20;

// ---------------------------------------------------------------------------------------
// Part 1: the generator protocol.

/// A running average fed with `send` (Python: `term = yield average`).
fn running_average() {
    let mut avg: Generator<Option<f64>, (), f64> = Generator::new(|co| {
        let (mut total, mut count) = (0.0, 0.0);
        let mut average = None;
        loop {
            let term = co.yield_(average);
            total += term;
            count += 1.0;
            average = Some(total / count);
        }
    });
    avg.start(); // Python's priming next(g)
    for term in [10.0, 30.0, 5.0] {
        let GeneratorState::Yielded(Some(a)) = avg.send(term) else {
            unreachable!("the averager runs forever")
        };
        println!("average after sending {term}: {a}");
    }
    assert_eq!(avg.send(15.0), GeneratorState::Yielded(Some(15.0)));
}

#[derive(Debug, PartialEq)]
struct Interrupt(&'static str);

/// A resource that reports its release: the body's cleanup (`finally`) is its `Drop`.
struct Resource(&'static str);

impl Drop for Resource {
    fn drop(&mut self) {
        println!("  {} released", self.0);
    }
}

/// `throw` into a generator that catches it and cleans up.
fn throw_and_clean_up() {
    let mut worker: Generator<&str, &str> = Generator::new(|co| {
        let _file = Resource("file");
        match catch::<Interrupt, _>(|| {
            loop {
                co.yield_("working");
            }
        }) {
            Err(Interrupt(why)) => {
                println!("  worker caught Interrupt({why:?}), cleaning up");
                co.yield_("cleaned up");
                "finished after the interrupt"
            }
        }
    });
    println!("throw:");
    assert_eq!(worker.start(), GeneratorState::Yielded("working"));
    assert_eq!(worker.resume(()), GeneratorState::Yielded("working"));
    assert_eq!(
        worker.throw(Interrupt("stop")),
        Ok(GeneratorState::Yielded("cleaned up"))
    );
    assert_eq!(
        worker.resume(()),
        GeneratorState::Complete("finished after the interrupt")
    );
    // A throw the body does not catch comes back to the caller as `Err`.
    let mut plain: Generator<u32> = Generator::new(|co| co.yield_(1));
    plain.start();
    assert_eq!(
        plain.throw(Interrupt("uncaught")),
        Err(Interrupt("uncaught"))
    );
}

/// `close` unwinds the body with `GeneratorExit`, running its `Drop`s.
fn close() {
    println!("close:");
    let mut ticker: Generator<u32> = Generator::new(|co| {
        let _lock = Resource("lock");
        let r = catch::<GeneratorExit, _>(|| {
            for i in 0.. {
                co.yield_(i);
            }
        });
        if r.is_err() {
            println!("  ticker got GeneratorExit");
        }
    });
    assert_eq!(ticker.by_ref().take(3).count(), 3);
    ticker.close();
    assert!(ticker.is_finished());
}

/// Three generators delegating with `yield_from`: values come out of the innermost one, the
/// results go back up.
fn yield_from_three_levels() {
    println!("yield_from:");
    fn words(line: &'static str) -> Generator<String, usize> {
        Generator::new(move |co| {
            let mut n = 0;
            for w in line.split_whitespace() {
                co.yield_(w.to_string());
                n += 1;
            }
            n
        })
    }
    fn lines(text: &'static [&'static str]) -> Generator<String, usize> {
        Generator::new(move |co| {
            let mut total = 0;
            for line in text {
                total += co.yield_from(&mut words(line));
            }
            total
        })
    }
    let mut document: Generator<String, String> = Generator::new(|co| {
        let n = co.yield_from(&mut lines(&["the quick brown", "fox jumps"]));
        format!("{n} words")
    });
    let mut seen = Vec::new();
    let summary = loop {
        match document.resume(()) {
            GeneratorState::Yielded(w) => seen.push(w),
            GeneratorState::Complete(s) => break s,
        }
    };
    println!("  {seen:?} -> {summary}");
    assert_eq!(seen, ["the", "quick", "brown", "fox", "jumps"]);
    assert_eq!(summary, "5 words");
}

// ---------------------------------------------------------------------------------------
// Part 2: a scheduler of generators over a readiness loop.

/// What a generator asks its scheduler for.
enum Request {
    /// Resume me when this socket is readable.
    Read(RawFd),
    /// Resume me when this socket is writable.
    Write(RawFd),
    /// Run this new generator too (and resume me at once).
    Spawn(Coroutine),
}

/// A lightweight thread: a generator that yields requests.
type Coroutine = Generator<Request>;

/// Round-robin over ready generators; a generator waiting for a socket sleeps in the poller
/// until the socket is ready. The whole "event loop", in one struct.
struct Scheduler {
    poller: polling::Poller,
    next_id: usize,
    ready: VecDeque<(usize, Coroutine)>,
    /// Generators waiting for a socket, by poller key, with the socket they wait for.
    waiting: HashMap<usize, (Coroutine, RawFd)>,
}

impl Scheduler {
    fn new() -> io::Result<Scheduler> {
        Ok(Scheduler {
            poller: polling::Poller::new()?,
            next_id: 0,
            ready: VecDeque::new(),
            waiting: HashMap::new(),
        })
    }

    fn spawn(&mut self, g: Coroutine) {
        self.next_id += 1;
        self.ready.push_back((self.next_id, g));
    }

    /// Runs until no generator is left, or nothing happens for `idle_limit`.
    fn run(&mut self, idle_limit: Duration) -> io::Result<()> {
        let mut events = polling::Events::new();
        while !self.ready.is_empty() || !self.waiting.is_empty() {
            while let Some((id, mut g)) = self.ready.pop_front() {
                match g.resume(()) {
                    GeneratorState::Complete(()) => {}
                    GeneratorState::Yielded(Request::Spawn(child)) => {
                        self.spawn(child);
                        self.ready.push_back((id, g));
                    }
                    GeneratorState::Yielded(Request::Read(fd)) => {
                        self.wait(id, g, fd, polling::Event::readable(id))?
                    }
                    GeneratorState::Yielded(Request::Write(fd)) => {
                        self.wait(id, g, fd, polling::Event::writable(id))?
                    }
                }
            }
            if self.waiting.is_empty() {
                break;
            }
            events.clear();
            if self.poller.wait(&mut events, Some(idle_limit))? == 0 {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "nothing happened"));
            }
            for ev in events.iter() {
                if let Some((g, fd)) = self.waiting.remove(&ev.key) {
                    self.poller.delete(borrow(fd))?;
                    self.ready.push_back((ev.key, g));
                }
            }
        }
        Ok(())
    }

    fn wait(&mut self, id: usize, g: Coroutine, fd: RawFd, ev: polling::Event) -> io::Result<()> {
        // SAFETY: the socket lives on the suspended generator's stack and stays open while the
        // generator waits; the registration is deleted before the generator runs again (in
        // `run`) or is dropped (`Drop for Scheduler`).
        unsafe { self.poller.add(fd, ev)? };
        self.waiting.insert(id, (g, fd));
        Ok(())
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for (_, (g, fd)) in self.waiting.drain() {
            let _ = self.poller.delete(borrow(fd));
            drop(g); // closes the generator, which closes its socket
        }
    }
}

fn borrow<'a>(fd: RawFd) -> BorrowedFd<'a> {
    // SAFETY: only called for sockets registered by `Scheduler::wait`, which are open until
    // their generator is resumed or dropped, each after this call.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Reads into `buf`, yielding "wait until readable" while there is nothing to read.
fn recv(co: &Yielder<Request, ()>, sock: &mut TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                co.yield_(Request::Read(sock.as_raw_fd()))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// Writes all of `data`, yielding "wait until writable" while the send buffer is full.
fn send_all(co: &Yielder<Request, ()>, sock: &mut TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match sock.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                co.yield_(Request::Write(sock.as_raw_fd()))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One connection: upper-cases every line it receives (seed 000's echo), until EOF.
fn handler(mut sock: TcpStream, peer: SocketAddr) -> Coroutine {
    Generator::new(move |co| {
        let mut pending = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = match recv(co, &mut sock, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            if let Some(end) = pending.iter().rposition(|&b| b == b'\n') {
                let lines: Vec<u8> = pending.drain(..=end).collect();
                if send_all(co, &mut sock, &lines.to_ascii_uppercase()).is_err() {
                    break;
                }
            }
        }
        if !pending.is_empty() {
            // A last line without its newline still gets its answer.
            let _ = send_all(co, &mut sock, &pending.to_ascii_uppercase());
        }
        println!("  {peer} disconnected");
    })
}

/// Accepts connections (`limit` of them, or for ever) and spawns a handler for each.
fn acceptor(listener: TcpListener, limit: Option<usize>) -> Coroutine {
    Generator::new(move |co| {
        let mut accepted = 0;
        while limit.is_none_or(|l| accepted < l) {
            match listener.accept() {
                Ok((sock, peer)) => {
                    sock.set_nonblocking(true)
                        .expect("a socket can be made non-blocking");
                    println!("  {peer} connected");
                    co.yield_(Request::Spawn(handler(sock, peer)));
                    accepted += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    co.yield_(Request::Read(listener.as_raw_fd()))
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

/// A client thread: sends its lines (two at a time, to see the server cope with partial
/// reads) and checks that each comes back upper-cased.
fn client(addr: SocketAddr, id: usize) -> io::Result<bool> {
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(sock.try_clone()?);
    let mut writer = sock;
    let mut ok = true;
    for i in (0..LINES).step_by(2) {
        let sent = format!("client {id} line {i}\nclient {id} line {}\n", i + 1);
        writer.write_all(sent.as_bytes())?;
        for want in sent.lines() {
            let mut got = String::new();
            reader.read_line(&mut got)?;
            ok &= got.trim_end() == want.to_uppercase();
        }
    }
    writer.shutdown(std::net::Shutdown::Write)?;
    Ok(ok)
}

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    println!(
        "serving the upper-casing echo on {}",
        listener.local_addr()?
    );
    let mut sched = Scheduler::new()?;
    sched.spawn(acceptor(listener, None));
    sched.run(Duration::MAX)
}

fn self_check() -> io::Result<bool> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    println!("scheduler of generators serving {CLIENTS} clients on {addr}:");
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| std::thread::spawn(move || client(addr, id)))
        .collect();
    let mut sched = Scheduler::new()?;
    sched.spawn(acceptor(listener, Some(CLIENTS)));
    sched.run(Duration::from_secs(10))?;
    let mut ok = 0;
    for (id, c) in clients.into_iter().enumerate() {
        match c.join().expect("client thread") {
            Ok(true) => ok += 1,
            Ok(false) => eprintln!("client {id}: an answer differed"),
            Err(e) => eprintln!("client {id}: {e}"),
        }
    }
    println!("{ok} of {CLIENTS} clients got all {LINES} lines back upper-cased");
    Ok(ok == CLIENTS)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let addr = args.get(i + 1).map_or("127.0.0.1:7777", String::as_str);
        return serve(addr);
    }
    running_average();
    throw_and_clean_up();
    close();
    yield_from_three_levels();
    if !self_check()? {
        std::process::exit(1);
    }
    Ok(())
}
