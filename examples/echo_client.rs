//! The streams echo client of the asyncio talk, in corio: connect, send lines, check that each
//! comes back as sent.
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
//! lines). It prints each echo, and exits with status 1 if any line did not come back
//! byte for byte.

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
    let total = lines.len();
    let wrong = corio::run(move || -> io::Result<usize> {
        let (mut reader, writer) = streams::open_connection(addr.as_str())?;
        println!("connected to {}", writer.peer_addr()?);
        let mut wrong = 0;
        for line in &lines {
            let sent = format!("{line}\n");
            writer.write(sent.as_bytes());
            writer.drain()?;
            let echo = reader.readline()?;
            if echo == sent.as_bytes() {
                print!("echo: {sent}");
            } else {
                eprintln!(
                    "sent {sent:?}, got back {:?}",
                    String::from_utf8_lossy(&echo)
                );
                wrong += 1;
            }
        }
        writer.close()?;
        writer.wait_closed()?;
        Ok(wrong)
    })?;
    if wrong > 0 {
        eprintln!("{wrong} of {total} lines did not come back as sent");
        std::process::exit(1);
    }
    Ok(())
}
