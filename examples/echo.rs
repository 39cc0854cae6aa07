//! An echo server and a crowd of clients in one program: the streams echo of the asyncio
//! talk (read, write, drain), exercised by many concurrent coroutines.
//!
//! * `cargo run --example echo` starts the server on 127.0.0.1 (a free port), runs 100
//!   clients at once, each sending several messages of random sizes and checking that every
//!   byte comes back, prints a summary and exits (status 1 if any echo differed).
//! * `cargo run --example echo -- --serve ADDR` only serves, until Ctrl+C or `SIGTERM`, then
//!   shuts down gracefully (open connections get 5 s) and prints a summary.

use std::io;
use std::time::Instant;

use corio::streams::{self, StreamReader, StreamWriter};

const CLIENTS: u64 = 100;
const MESSAGES: usize = 5;
const MAX_MESSAGE: usize = 256 * 1024;

fn handle(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let data = reader.read(64 * 1024)?;
        if data.is_empty() {
            return writer.close();
        }
        writer.write(&data);
        writer.drain()?;
    }
}

/// xorshift64*: reproducible message sizes and bytes without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One client: sends its messages, reads each echo back, and says whether all matched.
fn client(addr: std::net::SocketAddr, id: u64) -> io::Result<(usize, bool)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1));
    let (mut reader, writer) = streams::open_connection(addr)?;
    let (mut bytes, mut same) = (0, true);
    for _ in 0..MESSAGES {
        let size = 1 + (rng.next() as usize) % MAX_MESSAGE;
        let message = rng.bytes(size);
        writer.write(&message);
        let echo = reader.readexactly(size)?;
        writer.drain()?;
        same &= echo == message;
        bytes += size;
    }
    writer.close()?;
    Ok((bytes, same))
}

fn demo() -> io::Result<bool> {
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", handle)?;
        let addr = server.local_addr()?;
        println!(
            "echo server on {addr}; {CLIENTS} clients x {MESSAGES} messages of up to {MAX_MESSAGE} bytes"
        );
        let start = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| corio::spawn(move || client(addr, id)))
            .collect();
        let (mut bytes, mut good, mut failed) = (0, 0, 0);
        for t in tasks {
            match t.join() {
                Ok(Ok((n, true))) => {
                    bytes += n;
                    good += 1;
                }
                Ok(Ok((_, false))) => failed += 1,
                Ok(Err(e)) => {
                    eprintln!("a client failed: {e}");
                    failed += 1;
                }
                Err(e) => {
                    eprintln!("a client task failed: {e}");
                    failed += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{good} clients got every byte back ({:.1} MiB each way in {secs:.2} s), {failed} failed",
            bytes as f64 / (1024.0 * 1024.0)
        );
        server.close();
        server.wait_closed();
        Ok(failed == 0)
    })
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            if !demo()? {
                std::process::exit(1);
            }
            Ok(())
        }
        [flag, addr] if flag == "--serve" => {
            let addr = addr.clone();
            corio::run(move || {
                let server = streams::start_server(addr.as_str(), handle)?;
                println!("serving on {} until Ctrl+C", server.local_addr()?);
                // SIGINT/SIGTERM: stop accepting, give open connections 5 s, summarise.
                let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
                println!("{summary}");
                Ok(())
            })
        }
        _ => {
            eprintln!("usage: echo [--serve ADDR]");
            std::process::exit(2);
        }
    }
}
