//! Seed 000, step 3: the upper-casing server over a readiness call, `poll(2)`.
//!
//! Instead of trying every socket, the loop hands the kernel the whole list of sockets and
//! sleeps until at least one of them is ready; then it reads only from those, which cannot
//! wait. This is the seed's `select` loop. It uses `poll(2)` through `libc` rather than the
//! `polling` crate on purpose: `poll`, like `select`, takes the full list on every call and
//! answers with flags on the same list, with nothing registered in between, which is the
//! shape the seed shows. `polling` (epoll) keeps a registered interest set in the kernel,
//! which is what corio's own loop is built on: the next step uses it.
//!
//! * `cargo run --example upper_poll` serves on a free port, runs the shared check against
//!   itself and exits.
//! * `cargo run --example upper_poll -- --serve 127.0.0.1:50007` serves until Ctrl+C.

#[path = "common/upper_client.rs"]
mod upper_client;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

// ANCHOR: ready
/// Waits until at least one of `fds` is readable (or closed, or in error) and returns, for
/// each of them in order, whether it is.
fn wait_readable(fds: &[i32]) -> io::Result<Vec<bool>> {
    let mut polled: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: `polled` is a live, writable array of `polled.len()` pollfd structs for the
        // whole call; poll only writes their `revents` fields.
        let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, -1) };
        if n >= 0 {
            return Ok(polled.iter().map(|p| p.revents != 0).collect());
        }
        let e = io::Error::last_os_error();
        if e.kind() != ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
// ANCHOR_END: ready

// ANCHOR: serve
/// Sleeps in `poll` until something is ready, then serves what is ready, and only that.
fn serve(listener: TcpListener, clients: Option<usize>) -> io::Result<()> {
    let mut conns: Vec<(TcpStream, SocketAddr)> = Vec::new();
    let (mut served, mut wakeups) = (0, 0u64);
    let mut buf = [0u8; 1024];
    while clients != Some(served) {
        let fds: Vec<i32> = std::iter::once(listener.as_raw_fd())
            .chain(conns.iter().map(|(s, _)| s.as_raw_fd()))
            .collect();
        let ready = wait_readable(&fds)?; // the only call that waits
        wakeups += 1;
        // Clients first, from the back, so that removing one does not shift the others.
        for i in (0..conns.len()).rev() {
            if !ready[i + 1] {
                continue;
            }
            let (sock, addr) = &mut conns[i];
            let keep = match sock.read(&mut buf) {
                Ok(0) => false, // the client left
                Ok(n) => {
                    buf[..n].make_ascii_uppercase();
                    // Sockets are blocking here: a client that never reads would stall
                    // this write, and with it every other client.
                    sock.write_all(&buf[..n]).is_ok()
                }
                Err(e) => {
                    println!("{addr}: {e}");
                    false
                }
            };
            if !keep {
                println!("disconnected by {addr}");
                conns.remove(i);
                served += 1;
            }
        }
        if ready[0] {
            let (sock, addr) = listener.accept()?; // ready: returns at once
            println!("connected by {addr}");
            conns.push((sock, addr));
        }
    }
    println!("server: woke up {wakeups} times");
    Ok(())
}
// ANCHOR_END: serve

fn main() -> io::Result<()> {
    upper_client::main_on_threads("upper_poll", false, serve)
}
