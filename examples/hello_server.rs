//! Seed 001's server: prints what each client sent and answers "Hello from server!".
//!
//! The seed's first server was blocking: it accepted a client, waited for its message,
//! answered, closed, and only then accepted the next. Its client opens 20 connections before
//! sending anything, so the server sits waiting for the first message while the other
//! connections pile up in the accept queue (with the seed's `listen(10)`, connecting stalls).
//! Here each connection is a coroutine: accepting never waits for a message.
//!
//! * `cargo run --example hello_server` first shows the stall: it starts the seed's blocking
//!   server (backlog 10) on a thread and lets the seed's client try it, each connect with a
//!   2 s timeout. Then it serves on a free port as coroutines, runs the seed's client (20
//!   connections, see `hello_client`) against itself, checks every answer and exits.
//! * `cargo run --example hello_server -- --serve 127.0.0.1:8686` serves until Ctrl+C.

#[path = "common/hello_client.rs"]
mod hello;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use corio::streams::{self, StreamReader, StreamWriter};

// ANCHOR: handle
/// One client: read its message (up to 1 KiB), print it, answer, close.
fn handle(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let addr = writer.peer_addr()?;
    println!("new connection from {addr}");
    let data = reader.read(1024)?; // parks this coroutine only
    println!("received from {addr}: {}", String::from_utf8_lossy(&data));
    writer.write(hello::ANSWER);
    writer.drain()?;
    writer.close()
}
// ANCHOR_END: handle

// ANCHOR: blocking
/// The seed's first server: accept, wait for the message, answer, close, accept the next.
fn serve_blocking(listener: TcpListener) -> io::Result<()> {
    loop {
        let (mut conn, addr) = listener.accept()?;
        println!("blocking server: new connection from {addr}");
        let mut data = [0u8; 1024];
        let n = conn.read(&mut data)?; // waits for this client's message, and only for it
        println!(
            "blocking server: received {:?}",
            String::from_utf8_lossy(&data[..n])
        );
        conn.write_all(hello::ANSWER)?;
    }
}
// ANCHOR_END: blocking

/// A blocking listener with the seed's `listen(10)`.
fn listen_10() -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    sock.listen(10)?;
    Ok(sock.into())
}

/// The seed's client against the blocking server, connecting with a timeout so that the
/// stall shows instead of hanging; returns the connections it made (kept open, the server
/// stays stuck on the first one's message).
fn show_the_stall() -> io::Result<Vec<TcpStream>> {
    let listener = listen_10()?;
    let addr = listener.local_addr()?;
    // The server stays stuck on its thread; the process ends without it.
    std::thread::spawn(move || serve_blocking(listener));
    let mut conns = Vec::new();
    for i in 0..hello::CONNECTIONS {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(c) => conns.push(c),
            Err(e) => {
                println!(
                    "blocking server: connection {i} was not accepted within 2 s ({e}): the server \
                     waits for the first client's message, the client for its connections"
                );
                break;
            }
        }
    }
    Ok(conns)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            // Kept open to the end: the blocking server stays stuck on the first message.
            let stalled = show_the_stall()?;
            let made = stalled.len();
            println!(
                "blocking server: {made} of {} connections made",
                hello::CONNECTIONS
            );
            if made == hello::CONNECTIONS {
                eprintln!("check failed: the blocking server did not stall");
                std::process::exit(1);
            }
            let result = check();
            // Not closed: closing would wake the stuck server while the process exits.
            std::mem::forget(stalled);
            result
        }
        [flag, addr] if flag == "--serve" => {
            let addr = addr.clone();
            corio::run(move || {
                let server = streams::start_server(addr.as_str(), handle)?;
                println!("serving on {}", server.local_addr()?);
                println!("server is running, please, press ctrl+c to stop");
                let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
                println!("{summary}");
                Ok(())
            })
        }
        _ => {
            eprintln!("usage: hello_server [--serve ADDR]");
            std::process::exit(2);
        }
    }
}

/// Counts a handler that has ended, and sets the event when all have.
struct Counted(Rc<Cell<usize>>, corio::Event);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        if self.0.get() == hello::CONNECTIONS {
            self.1.set();
        }
    }
}

/// The bounded mode: the seed's client against this server, in one program.
fn check() -> io::Result<()> {
    let (wrong, handled) = corio::run(|| {
        let handled = Rc::new(Cell::new(0));
        let all_handled = corio::Event::new();
        let (h, all) = (handled.clone(), all_handled.clone());
        let server = streams::start_server("127.0.0.1:0", move |r, w| {
            // Counted on the way out, even if the handler fails or panics.
            let _counted = Counted(h.clone(), all.clone());
            handle(r, w)
        })?;
        let answers = hello::talk(server.local_addr()?, hello::CONNECTIONS)?;
        // Every answer is in; let the last handlers return before the server goes.
        all_handled.wait();
        server.close();
        io::Result::Ok((hello::report(&answers), handled.get()))
    })?;
    if wrong > 0 || handled != hello::CONNECTIONS {
        eprintln!("check failed: {wrong} wrong answers, {handled} connections handled");
        std::process::exit(1);
    }
    println!(
        "check passed: {} connections opened before any was answered, each answered \"Hello from server!\"",
        hello::CONNECTIONS
    );
    Ok(())
}
