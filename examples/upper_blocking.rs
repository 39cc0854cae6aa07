//! Seed 000, step 1: the upper-casing server on blocking `std::net` sockets.
//!
//! Every call that waits (`accept`, `read`) stops the whole program, so the server talks to
//! one client at a time: a second client's connection waits in the kernel's accept queue
//! until the first client leaves.
//!
//! * `cargo run --example upper_blocking` serves on a free port, runs the shared check
//!   against itself (which shows the second client waiting) and exits.
//! * `cargo run --example upper_blocking -- --serve 127.0.0.1:50007` serves until Ctrl+C.

#[path = "common/upper_client.rs"]
mod upper_client;

use std::io::{self, Read, Write};
use std::net::TcpListener;

// ANCHOR: serve
/// Serves clients one after another, forever or until `clients` have come and gone.
fn serve(listener: TcpListener, clients: Option<usize>) -> io::Result<()> {
    let mut served = 0;
    while clients != Some(served) {
        let (mut sock, addr) = listener.accept()?; // waits for a client
        println!("connected by {addr}");
        let mut buf = [0u8; 1024];
        loop {
            // Waits for this client; nobody else is served meanwhile.
            let n = match sock.read(&mut buf) {
                Ok(0) => break, // the client closed its side
                Ok(n) => n,
                Err(e) => {
                    println!("{addr}: {e}");
                    break;
                }
            };
            buf[..n].make_ascii_uppercase();
            if let Err(e) = sock.write_all(&buf[..n]) {
                println!("{addr}: {e}");
                break;
            }
        }
        println!("disconnected by {addr}");
        served += 1;
    }
    Ok(())
}
// ANCHOR_END: serve

fn main() -> io::Result<()> {
    upper_client::main_on_threads("upper_blocking", true, serve)
}
