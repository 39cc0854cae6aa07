//! The client of seed 001, shared by `hello_client` and the bounded mode of `hello_server`:
//! it opens all its connections first, then sends on each, then reads each answer.

#![allow(dead_code)] // each example uses the parts it needs

use std::io;
use std::net::SocketAddr;

use corio::streams::{self, StreamReader, StreamWriter};

/// How many connections the seed's client opens.
pub const CONNECTIONS: usize = 20;

/// What the server answers.
pub const ANSWER: &[u8] = b"Hello from server!";

// ANCHOR: client
/// Opens `n` connections to `addr`, then sends a message on each, then reads each answer to
/// its end, in that order. Returns the answers, in connection order.
pub fn talk(addr: SocketAddr, n: usize) -> io::Result<Vec<Vec<u8>>> {
    // 1. Connect them all before sending anything: a server that waits for the first
    //    client's message before accepting the second is stuck from here on.
    let mut conns: Vec<(StreamReader, StreamWriter)> = Vec::new();
    for _ in 0..n {
        conns.push(streams::open_connection(addr)?);
    }
    // 2. Send on each.
    for (i, (_, writer)) in conns.iter().enumerate() {
        writer.write(format!("hello from client number {i}").as_bytes());
        writer.drain()?;
    }
    // 3. Read each answer, until the server closes the connection.
    let mut answers = Vec::new();
    for (reader, _) in &mut conns {
        let mut answer = Vec::new();
        loop {
            let chunk = reader.read(1024)?;
            if chunk.is_empty() {
                break;
            }
            answer.extend_from_slice(&chunk);
        }
        answers.push(answer);
    }
    Ok(answers)
}
// ANCHOR_END: client

/// Prints each answer and returns how many were not [`ANSWER`].
pub fn report(answers: &[Vec<u8>]) -> usize {
    let mut wrong = 0;
    for (i, a) in answers.iter().enumerate() {
        println!("answer {i}: {}", String::from_utf8_lossy(a));
        if a != ANSWER {
            wrong += 1;
        }
    }
    wrong
}
