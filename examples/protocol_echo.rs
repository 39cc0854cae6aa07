//! One program in two styles: a server that answers every line in upper case (the callback
//! server of the "evolution of a game framework" articles, whose `handle` does
//! `sock.send(data.upper())`), written once as a protocol (callbacks, no stack per
//! connection) and once as a coroutine (linear code on a stack of its own).
//!
//! ```python
//! # the callback server it comes from
//! def on_read_ready(sel, sock, mask):
//!     data = sock.recv(1024)
//!     if not data:
//!         sel.unregister(sock); sock.close()
//!     else:
//!         sock.send(data.upper())
//! ```
//!
//! * `cargo run --example protocol_echo` starts both servers on free ports, runs the same
//!   clients against each (every line must come back upper-cased, Cyrillic included), prints
//!   a summary and exits (status 1 if any answer differed).
//! * `cargo run --example protocol_echo -- --serve ADDR [--coroutine]` only serves (the
//!   protocol style unless `--coroutine`), printing `serving on ADDR`, until Ctrl+C.

use std::io;
use std::net::SocketAddr;

use corio::protocols::{self, BaseProtocol, Protocol, Transport};
use corio::streams::{self, StreamReader, StreamWriter};

/// Lines longer than this close the connection (the coroutine's `readline` limit too).
const MAX_LINE: usize = 64 * 1024;

fn upper(line: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(line).to_uppercase().into_bytes()
}

// ----- the protocol style: callbacks on the loop -----

/// Keeps a partial line between `data_received` calls; answers each full line.
#[derive(Default)]
struct UpperLines {
    transport: Option<Transport>,
    partial: Vec<u8>,
}

impl BaseProtocol for UpperLines {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }
}

impl Protocol for UpperLines {
    fn data_received(&mut self, data: &[u8]) {
        let t = self.transport.as_ref().expect("connection_made came first");
        let mut rest = data;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                t.write(&upper(&rest[..=i]));
            } else {
                self.partial.extend_from_slice(&rest[..=i]);
                t.write(&upper(&self.partial));
                self.partial.clear();
            }
            rest = &rest[i + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            t.close();
        }
    }

    fn eof_received(&mut self) -> bool {
        // A last line without its newline is answered too; then close (return false).
        if let (Some(t), false) = (&self.transport, self.partial.is_empty()) {
            t.write(&upper(&self.partial));
        }
        false
    }
}

fn protocol_server(addr: &str) -> io::Result<streams::Server> {
    protocols::create_server(UpperLines::default, addr)
}

// ----- the coroutine style: one task per connection -----

fn upper_lines(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let line = reader.readline()?; // parks until a line (or EOF) is there
        if line.is_empty() {
            return writer.close();
        }
        writer.write(&upper(&line));
        writer.drain()?;
    }
}

fn coroutine_server(addr: &str) -> io::Result<streams::Server> {
    streams::start_server(addr, upper_lines)
}

// ----- the same client for both -----

const CLIENTS: usize = 50;
const LINES: [&str; 4] = [
    "hello, world\n",
    "привет, мир\n",
    "a longer line that arrives in one piece most of the time\n",
    "last\n",
];

/// Sends the lines (split across writes at odd places) and checks every answer.
fn client(addr: SocketAddr, id: usize) -> io::Result<bool> {
    let (mut reader, writer) = streams::open_connection(addr)?;
    let all: Vec<u8> = LINES.concat().into_bytes();
    let cut = 1 + id % (all.len() - 1);
    writer.write(&all[..cut]);
    writer.drain()?;
    corio::yield_now();
    writer.write(&all[cut..]);
    let mut ok = true;
    for line in LINES {
        ok &= reader.readline().map_err(io::Error::other)? == upper(line.as_bytes());
    }
    writer.write_eof()?;
    ok &= reader.read(1)?.is_empty();
    Ok(ok)
}

fn check(style: &str, server: &streams::Server) -> io::Result<usize> {
    let addr = server.local_addr()?;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| corio::spawn(move || client(addr, id)))
        .collect();
    let mut failed = 0;
    for c in clients {
        if !matches!(c.join(), Ok(Ok(true))) {
            failed += 1;
        }
    }
    println!("{style}: {CLIENTS} clients, {failed} failed");
    Ok(failed)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let addr = args.get(i + 1).cloned().unwrap_or("127.0.0.1:8888".into());
        let coroutine = args.iter().any(|a| a == "--coroutine");
        return corio::run(move || {
            let server = if coroutine {
                coroutine_server(&addr)?
            } else {
                protocol_server(&addr)?
            };
            println!("serving on {}", server.local_addr()?);
            let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
            println!("{summary}");
            Ok(())
        });
    }
    let failed = corio::run(|| -> io::Result<usize> {
        let p = protocol_server("127.0.0.1:0")?;
        let c = coroutine_server("127.0.0.1:0")?;
        Ok(check("protocol", &p)? + check("coroutine", &c)?)
    })?;
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
