//! The streams echo client of the asyncio talk, in corio: connect, send lines, print what
//! comes back.
//!
//! ```python
//! # asyncio, 2014
//! reader, writer = yield from open_connection('localhost', 8888)
//! writer.write(line)
//! echo = yield from reader.readline()
//! ```
//!
//! Run `cargo run --example echo_server` first, then
//! `cargo run --example echo_client [ADDR] [LINE...]` (default `127.0.0.1:8888` and three
//! lines).

use std::io;

use corio::streams;

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".to_string());
    let mut lines: Vec<String> = args.collect();
    if lines.is_empty() {
        lines = ["hello", "from a corio coroutine", "bye"]
            .map(String::from)
            .to_vec();
    }
    corio::run(move || {
        let (mut reader, writer) = streams::open_connection(addr.as_str())?;
        println!("connected to {}", writer.peer_addr()?);
        for line in &lines {
            writer.write(line.as_bytes());
            writer.write(b"\n");
            writer.drain()?;
            let echo = reader.readline()?;
            print!("echo: {}", String::from_utf8_lossy(&echo));
        }
        writer.close()?;
        writer.wait_closed()
    })
}
