//! What the five upper-casing servers of seed 000 share: the line protocol's client, the
//! self-check every one of them runs in its bounded mode, and the command line.
//!
//! The protocol: a client sends lines, the server sends every byte back in upper case (so each
//! line comes back upper-cased, whatever chunks the server happened to read it in).
//!
//! The check uses plain blocking `std::net` sockets on OS threads, so that it exercises the
//! server from outside, the way separate client programs would.

#![allow(dead_code)] // each example uses the parts it needs

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// How many clients the check connects; a bounded server stops after this many have left.
pub const CLIENTS: usize = 10;

/// How long client b waits for an answer while client a is still connected. Against a server
/// that serves one client at a time no answer can come in this time, however slow the
/// machine; against the others it is only the first look (see [`ANSWER`]).
const FIRST_LOOK: Duration = Duration::from_millis(500);

/// A generous bound for an answer that must come.
const ANSWER: Duration = Duration::from_secs(60);

/// What the program was asked to do.
pub enum Mode {
    /// Serve on a free port, run [`check`] against itself, exit 0 if it passed.
    Check,
    /// Serve on this address until Ctrl+C.
    Serve(String),
}

/// Reads the command line shared by the five servers: nothing, or `--serve ADDR`.
pub fn mode(program: &str) -> Mode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Mode::Check,
        [flag, addr] if flag == "--serve" => Mode::Serve(addr.clone()),
        _ => {
            eprintln!("usage: {program} [--serve ADDR]");
            eprintln!("  without arguments: serve on a free port, check itself, exit");
            std::process::exit(2);
        }
    }
}

/// One client connection of the line protocol.
pub struct Client {
    name: String,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr`; `name` is used in messages.
    pub fn connect(addr: SocketAddr, name: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(ANSWER))?;
        Ok(Client {
            name: name.to_string(),
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Sends `line` (a newline is added).
    pub fn send(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(format!("{line}\n").as_bytes())
    }

    /// Reads one answer line and checks that it is `sent` upper-cased.
    pub fn expect_upper(&mut self, sent: &str) -> Result<(), String> {
        let mut got = String::new();
        self.reader
            .read_line(&mut got)
            .map_err(|e| format!("{}: no answer to {sent:?}: {e}", self.name))?;
        let want = format!("{}\n", sent.to_ascii_uppercase());
        if got != want {
            return Err(format!("{}: sent {sent:?}, got {got:?}", self.name));
        }
        Ok(())
    }

    /// Sends `line` and checks the answer.
    pub fn round_trip(&mut self, line: &str) -> Result<(), String> {
        self.send(line)
            .map_err(|e| format!("{}: send: {e}", self.name))?;
        self.expect_upper(line)
    }

    /// `true` if an answer line arrives within `wait`; nothing is consumed if none does.
    fn answers_within(&mut self, wait: Duration) -> io::Result<bool> {
        self.reader.get_ref().set_read_timeout(Some(wait))?;
        let r = self.reader.fill_buf().map(|b| !b.is_empty());
        self.reader.get_ref().set_read_timeout(Some(ANSWER))?;
        match r {
            Ok(any) => Ok(any),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Closes the connection: the server reads end-of-file and lets the client go.
    pub fn leave(self) {
        let _ = self.writer.shutdown(Shutdown::Both);
    }
}

/// Exercises the server at `addr` with [`CLIENTS`] clients and checks every answer.
///
/// Client a connects and talks; client b connects while a stays connected and sends a line.
/// `one_at_a_time` says what the server is: if `true`, b must get no answer until a leaves
/// (a blocking server serves one client at a time); if `false`, b must be answered while a is
/// still there. Then a crowd of clients send lines at once, some longer than one 1 KiB read.
pub fn check(addr: SocketAddr, one_at_a_time: bool) -> Result<usize, String> {
    let err = |e: io::Error| e.to_string();
    let mut lines = 0;
    let mut a = Client::connect(addr, "client a").map_err(err)?;
    a.round_trip("hello from a")?;
    lines += 1;
    let mut b = Client::connect(addr, "client b").map_err(err)?;
    b.send("hello from b").map_err(err)?;
    let answered = b.answers_within(FIRST_LOOK).map_err(err)?;
    match (one_at_a_time, answered) {
        (true, false) => println!("check: client b gets no answer while client a is connected"),
        (true, true) => return Err("client b was answered while client a was connected".into()),
        (false, _) => {
            b.expect_upper("hello from b")?;
            lines += 1;
            println!("check: client b is answered while client a is still connected");
        }
    }
    a.round_trip("bye from a")?;
    lines += 1;
    a.leave();
    if one_at_a_time {
        b.expect_upper("hello from b")?;
        lines += 1;
        println!("check: client b is answered once client a has left");
    }
    b.round_trip("bye from b")?;
    lines += 1;
    b.leave();

    let crowd: Vec<_> = (0..CLIENTS - 2)
        .map(|i| std::thread::spawn(move || talk(addr, i)))
        .collect();
    for t in crowd {
        lines += t
            .join()
            .map_err(|_| "a client thread panicked".to_string())??;
    }
    println!("check passed: {CLIENTS} clients, {lines} lines came back upper-cased");
    Ok(lines)
}

/// One client of the crowd: a few lines, one of them longer than a 1 KiB read.
fn talk(addr: SocketAddr, i: usize) -> Result<usize, String> {
    let mut c = Client::connect(addr, &format!("client {i}")).map_err(|e| e.to_string())?;
    let long = format!("long line {i} ").repeat(300);
    let lines = [
        format!("line one from {i}"),
        long,
        format!("last line from {i}"),
    ];
    for l in &lines {
        c.round_trip(l)?;
    }
    c.leave();
    Ok(lines.len())
}

/// Runs [`check`] and turns its outcome into the process's exit status.
pub fn finish(outcome: Result<usize, String>) {
    if let Err(e) = outcome {
        eprintln!("check failed: {e}");
        std::process::exit(1);
    }
}

/// The bounded mode of the servers that run on OS threads: `serve` runs on its own thread
/// with `listener`, [`check`] runs here, and the process exits 0 only if the check passed and
/// the server then returned (it serves exactly [`CLIENTS`] clients in this mode).
pub fn check_in_process<S>(listener: std::net::TcpListener, one_at_a_time: bool, serve: S)
where
    S: FnOnce(std::net::TcpListener) -> io::Result<()> + Send + 'static,
{
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let server = std::thread::spawn(move || serve(listener));
    finish(check(addr, one_at_a_time));
    // The check passed, so every client has left and the server is about to return.
    match server.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => finish(Err(format!("the server failed: {e}"))),
        Err(_) => finish(Err("the server panicked".to_string())),
    }
}

/// The whole `main` of a server that runs on OS threads: `--serve ADDR` serves until Ctrl+C,
/// no argument runs [`check_in_process`] with `serve` bounded to [`CLIENTS`] clients.
pub fn main_on_threads(
    program: &str,
    one_at_a_time: bool,
    serve: fn(std::net::TcpListener, Option<usize>) -> io::Result<()>,
) -> io::Result<()> {
    match mode(program) {
        Mode::Serve(addr) => {
            let listener = std::net::TcpListener::bind(addr)?;
            println!("serving on {} until Ctrl+C", listener.local_addr()?);
            serve(listener, None)
        }
        Mode::Check => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            check_in_process(listener, one_at_a_time, move |l| serve(l, Some(CLIENTS)));
            Ok(())
        }
    }
}
