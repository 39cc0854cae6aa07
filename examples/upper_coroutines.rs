//! Seed 000, step 5: the upper-casing server as coroutines over corio streams.
//!
//! One coroutine per client, written as plainly as the blocking server of step 1: read a
//! line, answer it, repeat. Each call that would wait (`readline`, `drain`) parks only this
//! coroutine, and the loop serves the other clients meanwhile, the way the callbacks of step 4
//! did, but without cutting the code into callbacks. `drain` also waits for room in the send
//! buffer, which the earlier steps could not do.
//!
//! * `cargo run --example upper_coroutines` serves on a free port, runs the shared check
//!   against itself and exits.
//! * `cargo run --example upper_coroutines -- --serve 127.0.0.1:50007` serves until Ctrl+C.

#[path = "common/upper_client.rs"]
mod upper_client;

use std::io;

use corio::streams::{self, StreamReader, StreamWriter};
use upper_client::Mode;

// ANCHOR: handle
/// Serves one client: every line it sends comes back upper-cased.
fn handle(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let addr = writer.peer_addr()?;
    println!("connected by {addr}");
    loop {
        let mut line = match reader.readline() {
            Ok(line) if line.is_empty() => break, // the client left
            Ok(line) => line,
            Err(e) => {
                println!("{addr}: {e}");
                break;
            }
        };
        line.make_ascii_uppercase();
        writer.write(&line);
        writer.drain()?; // parks while the client is slow to read
    }
    println!("disconnected by {addr}");
    writer.close()
}
// ANCHOR_END: handle

fn main() -> io::Result<()> {
    match upper_client::mode("upper_coroutines") {
        Mode::Serve(addr) => corio::run(move || {
            let server = streams::start_server(addr.as_str(), handle)?;
            println!("serving on {} until Ctrl+C", server.local_addr()?);
            let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
            println!("{summary}");
            Ok(())
        }),
        Mode::Check => corio::run(|| {
            let server = streams::start_server("127.0.0.1:0", handle)?;
            let addr = server.local_addr()?;
            // The check's clients block, so they run on a thread, off the loop.
            let outcome = corio::to_thread(move || upper_client::check(addr, false))
                .map_err(|e| format!("the check did not finish: {e}"))
                .and_then(|checked| checked);
            server.close();
            upper_client::finish(outcome);
            Ok(())
        }),
    }
}
