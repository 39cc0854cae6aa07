//! Seed 000, step 2: the upper-casing server on non-blocking sockets, polled in a busy loop.
//!
//! No call waits any more: `accept` and `read` return `WouldBlock` at once when there is
//! nothing to do, and the loop simply tries every socket again, and again. Many clients are
//! served at once, but the loop burns a whole core even when every client is idle; at the end
//! it prints how many of its tries found nothing.
//!
//! * `cargo run --example upper_busy_poll` serves on a free port, runs the shared check
//!   against itself and exits.
//! * `cargo run --example upper_busy_poll -- --serve 127.0.0.1:50007` serves until Ctrl+C
//!   (watch it take 100% of a core in `top` while nobody is connected).

#[path = "common/upper_client.rs"]
mod upper_client;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

// ANCHOR: serve
/// Tries the listener and then every client, round and round, never waiting.
fn serve(listener: TcpListener, clients: Option<usize>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut conns: Vec<(TcpStream, SocketAddr)> = Vec::new();
    let (mut served, mut tries, mut empty) = (0, 0u64, 0u64);
    let mut buf = [0u8; 1024];
    while clients != Some(served) {
        tries += 1;
        match listener.accept() {
            Ok((sock, addr)) => {
                sock.set_nonblocking(true)?;
                println!("connected by {addr}");
                conns.push((sock, addr));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => empty += 1, // nobody: go on
            Err(e) => return Err(e),
        }
        conns.retain_mut(|(sock, addr)| {
            tries += 1;
            let n = match sock.read(&mut buf) {
                Ok(0) => {
                    println!("disconnected by {addr}");
                    served += 1;
                    return false;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    empty += 1; // no data yet: try the next socket
                    return true;
                }
                Err(e) => {
                    println!("{addr}: {e}");
                    served += 1;
                    return false;
                }
            };
            buf[..n].make_ascii_uppercase();
            // A full send buffer would make this fail with WouldBlock too; this server then
            // drops the client (the coroutine version waits for room instead).
            if let Err(e) = sock.write_all(&buf[..n]) {
                println!("{addr}: {e}");
                served += 1;
                return false;
            }
            true
        });
    }
    println!("server: {tries} tries, {empty} of them found nothing to do");
    Ok(())
}
// ANCHOR_END: serve

fn main() -> io::Result<()> {
    upper_client::main_on_threads("upper_busy_poll", false, serve)
}
