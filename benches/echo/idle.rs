//! Idle connections: RSS per connection of a server holding many of them.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};

use crate::servers::{protocol_echo_server, streams_echo_server};

/// Raises this process's open-file limit to its hard limit (15,000 connections need more
/// than the usual soft 1,024).
pub(crate) fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

pub(crate) fn rss_kib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4.0
}

/// A corio server (`style`: `corio` for streams, `protocol` for protocols) holds `n` idle
/// connections; returns KiB of RSS per connection on the server side: for streams the
/// socket's registration, the task and its coroutine stack; for protocols the registration,
/// the transport and the protocol. The kernel's socket buffers are not in a process's RSS, so
/// the figure is what the server adds beyond them. The server runs in a child process of its
/// own (so the figure is not muddled by the other servers, and each side has its own fd
/// table); this process opens the connections.
pub(crate) fn idle_connections(n: usize, style: &str) -> Option<f64> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    raise_nofile();
    let mut child = Command::new(std::env::current_exe().ok()?)
        .args(["--child-idle", &n.to_string(), style])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = io::BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    let addr: SocketAddr = line.trim().parse().ok()?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        match StdStream::connect(addr) {
            Ok(s) => clients.push(s),
            Err(e) => {
                eprintln!(
                    "idle connections: connect failed after {}: {e}",
                    clients.len()
                );
                let _ = child.kill();
                return None;
            }
        }
    }
    // One echo on the last connection: the server has accepted them all by then.
    let mut last = clients.last()?;
    last.write_all(b"x").ok()?;
    let mut b = [0u8; 1];
    last.read_exact(&mut b).ok()?;
    child.stdin.take()?.write_all(b"go\n").ok()?;
    line.clear();
    out.read_line(&mut line).ok()?;
    drop(clients);
    let _ = child.wait();
    line.trim().parse().ok()
}

pub(crate) fn child_idle(n: usize, style: &str) {
    raise_nofile();
    let start = if style == "protocol" {
        protocol_echo_server
    } else {
        streams_echo_server
    };
    corio::run(move || {
        let server = start();
        println!("{}", server.local_addr().unwrap());
        let before = rss_kib();
        let server = std::rc::Rc::new(server);
        let s = server.clone();
        let _serving = corio::spawn(move || s.serve_forever());
        // Wait, off the loop, for the parent to say every connection is open.
        let go = corio::to_thread(|| {
            let mut l = String::new();
            let _ = io::stdin().read_line(&mut l);
        });
        go.expect("stdin reader");
        for _ in 0..3 {
            corio::yield_now(); // every connection task has run and parked on its read
        }
        let conns = server.active_connections().max(1);
        println!("{}", (rss_kib() - before) / conns as f64);
        let _ = n;
    })
}
