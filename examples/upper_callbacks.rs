//! Seed 000, step 4: the seed's callback server, `run_server(on_connect, on_read,
//! on_disconnect)`, over corio's event loop.
//!
//! The loop of step 3 becomes a library: `run_server` registers the listening socket with the
//! loop's `add_reader`, and every accepted socket too; the loop calls back when one is ready.
//! The application only writes the three callbacks. `on_connect` is scheduled with
//! `call_soon`, as asyncio's transports schedule `connection_made`. What a callback may not do
//! is wait: it runs on the loop, so a callback that blocks stops every client.
//!
//! * `cargo run --example upper_callbacks` serves on a free port, runs the shared check
//!   against itself and exits.
//! * `cargo run --example upper_callbacks -- --serve 127.0.0.1:50007` serves until Ctrl+C.

#[path = "common/upper_client.rs"]
mod upper_client;

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::rc::Rc;

use upper_client::Mode;

// ANCHOR: run_server
/// Listens on `addr` and calls the callbacks from the running corio loop: `on_connect` for a
/// new client, `on_read` when a client's socket is readable (it returns `false` when the
/// client is gone) and `on_disconnect` before the socket is closed. Returns the address
/// listened on; the loop does the rest.
fn run_server<C, R, D>(
    addr: impl ToSocketAddrs,
    on_connect: C,
    on_read: R,
    on_disconnect: D,
) -> io::Result<SocketAddr>
where
    C: Fn(&TcpStream, SocketAddr) + 'static,
    R: Fn(&TcpStream, SocketAddr) -> bool + 'static,
    D: Fn(&TcpStream, SocketAddr) + 'static,
{
    let listener = Rc::new(TcpListener::bind(addr)?);
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let (on_connect, on_read, on_disconnect) = (
        Rc::new(on_connect),
        Rc::new(on_read),
        Rc::new(on_disconnect),
    );
    let l = listener.clone();
    let on_accept_ready = move || {
        let (sock, addr) = match l.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return, // another took it
            Err(e) => return println!("accept: {e}"),
        };
        if let Err(e) = sock.set_nonblocking(true) {
            return println!("{addr}: {e}");
        }
        let sock = Rc::new(sock);
        let (s, on_read, on_disconnect) = (sock.clone(), on_read.clone(), on_disconnect.clone());
        let on_read_ready = move || {
            if !on_read(&s, addr) {
                on_disconnect(&s, addr);
                // Dropping the registration drops this closure's `Rc`: the socket closes.
                corio::runtime::remove_reader(&*s);
            }
        };
        if let Err(e) = corio::runtime::add_reader(&*sock, on_read_ready) {
            return println!("{addr}: {e}");
        }
        let on_connect = on_connect.clone();
        corio::runtime::call_soon(move || on_connect(&sock, addr));
    };
    corio::runtime::add_reader(&*listener, on_accept_ready)?;
    Ok(local)
}
// ANCHOR_END: run_server

// ANCHOR: callbacks
fn on_connect(_sock: &TcpStream, addr: SocketAddr) {
    println!("connected by {addr}");
}

/// The socket is readable, so this read does not wait; it returns `false` when the client
/// is gone.
fn on_read(mut sock: &TcpStream, addr: SocketAddr) -> bool {
    let mut buf = [0u8; 1024];
    let n = match sock.read(&mut buf) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return true, // nothing after all
        Err(e) => {
            println!("{addr}: {e}");
            return false;
        }
    };
    buf[..n].make_ascii_uppercase();
    // No waiting for room in the send buffer here either: if it is full, the client goes.
    sock.write_all(&buf[..n]).is_ok()
}

fn on_disconnect(_sock: &TcpStream, addr: SocketAddr) {
    println!("disconnected by {addr}");
}
// ANCHOR_END: callbacks

fn main() -> io::Result<()> {
    match upper_client::mode("upper_callbacks") {
        Mode::Serve(addr) => {
            // The seed's `while True: sel.select(); ...` is the loop's `run_forever`.
            let lp = corio::EventLoop::new()?;
            let local = lp
                .run_until_complete(move || run_server(addr, on_connect, on_read, on_disconnect))
                .map_err(io::Error::other)??;
            println!("serving on {local} until Ctrl+C");
            lp.run_forever().map_err(io::Error::other)
        }
        Mode::Check => corio::run(|| {
            let addr = run_server("127.0.0.1:0", on_connect, on_read, on_disconnect)?;
            // The check's clients block, so they run on a thread, off the loop.
            let outcome = corio::to_thread(move || upper_client::check(addr, false))
                .map_err(|e| format!("the check did not finish: {e}"))
                .and_then(|checked| checked);
            upper_client::finish(outcome);
            Ok(())
        }),
    }
}
