//! Seed 001's client: opens 20 connections to a "Hello from server!" server first, then sends
//! a message on each, then reads each answer, and prints what it got.
//!
//! `cargo run --example hello_client -- 127.0.0.1:8686 [CONNECTIONS]` exits with status 1 if an
//! answer was not "Hello from server!", 2 on bad arguments.

#[path = "common/hello_client.rs"]
mod hello;

use std::net::SocketAddr;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [addr] => addr
            .parse::<SocketAddr>()
            .ok()
            .map(|a| (a, hello::CONNECTIONS)),
        [addr, n] => addr.parse().ok().zip(n.parse().ok()),
        _ => None,
    };
    let Some((addr, n)) = parsed else {
        eprintln!("usage: hello_client HOST:PORT [CONNECTIONS]");
        std::process::exit(2);
    };
    let answers = corio::run(move || hello::talk(addr, n))?;
    let wrong = hello::report(&answers);
    if wrong > 0 {
        eprintln!("{wrong} of {n} answers were not \"Hello from server!\"");
        std::process::exit(1);
    }
    println!("{n} connections, every answer was \"Hello from server!\"");
    Ok(())
}
