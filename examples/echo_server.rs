//! The streams echo server of the asyncio talk, in corio: read, write, drain.
//!
//! ```python
//! # asyncio, 2014
//! def handle(reader, writer):
//!     while True:
//!         data = yield from reader.read(1024)
//!         if not data:
//!             break
//!         writer.write(data)
//!         yield from writer.drain()
//! ```
//!
//! Run with `cargo run --example echo_server [ADDR]` (default `127.0.0.1:8888`), then talk to
//! it with `cargo run --example echo_client`. Ctrl+C (or `SIGTERM`) stops it gracefully: it
//! stops accepting, gives open connections up to 5 s to finish, prints a summary and exits 0.

use std::io;
use std::time::Duration;

use corio::streams::{self, StreamReader, StreamWriter};

fn handle(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let peer = writer.peer_addr()?;
    println!("{peer} connected");
    loop {
        let data = reader.read(64 * 1024)?; // parks this coroutine until bytes arrive
        if data.is_empty() {
            println!("{peer} left");
            return writer.close();
        }
        writer.write(&data);
        writer.drain()?; // parks while the send buffer is over its high-water mark
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".to_string());
    corio::run(move || {
        let server = streams::start_server(addr.as_str(), handle)?;
        println!("serving on {}", server.local_addr()?);
        let summary = server.serve_until_signal(Duration::from_secs(5))?;
        println!("{summary}");
        Ok(())
    })
}
