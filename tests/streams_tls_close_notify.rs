//! A TLS writer closed while its socket has no room still sends `close_notify`: the close
//! waits for the socket to be writable, as it would for buffered bytes, so a peer that reads
//! slowly sees a clean end of the stream, not an EOF without `close_notify`. The same holds
//! for a half-close (`write_eof`), after which the connection still carries the reply.

#![cfg(feature = "tls")]

mod common;
mod tls_common;

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use corio::net::UnixStream;
use corio::streams::split;
use tls_common::certs;

/// Sets the socket's send buffer to `bytes` (the kernel doubles it).
fn set_send_buffer(s: &UnixStream, bytes: libc::c_int) {
    // SAFETY: a valid socket fd and a c_int option value of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&bytes as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

/// One connection: the client writes `size` bytes into a small send buffer that the server
/// does not read yet, closes, and only then does the server read, a little at a time.
/// With `half_close`, the client ends with `write_eof` instead and then reads the server's
/// reply. Returns what the server read and how its reading ended.
fn close_into_a_full_socket(
    c: &tls_common::Certs,
    size: usize,
    half_close: bool,
) -> (usize, std::io::Result<()>) {
    let (a, b) = UnixStream::pair().unwrap();
    set_send_buffer(&a, 4096);
    let (ready, closed) = (Rc::new(corio::Event::new()), Rc::new(corio::Event::new()));
    let (ready2, closed2) = (ready.clone(), closed.clone());
    let server_cfg = c.server.clone();
    let server = corio::spawn(move || {
        let (rb, wb) = split(b);
        let (mut rb, wb) = wb.start_tls_server_side(rb, server_cfg).unwrap();
        ready2.set();
        closed2.wait();
        let mut got = 0;
        let end = loop {
            match rb.read(700) {
                Ok(d) if d.is_empty() => break Ok(()),
                Ok(d) => got += d.len(),
                Err(e) => break Err(e),
            }
            corio::yield_now();
        };
        if half_close && end.is_ok() {
            wb.write(b"reply");
            wb.drain().unwrap();
        }
        wb.close().unwrap();
        (got, end)
    });
    let (ra, wa) = split(a);
    let (mut ra, wa) = wa.start_tls(ra, "localhost", c.client.clone()).unwrap();
    // The server has read the whole handshake: the client's socket holds nothing now.
    ready.wait();
    wa.write(&vec![0x42; size]);
    if half_close {
        wa.write_eof().unwrap();
    } else {
        wa.close().unwrap();
    }
    closed.set();
    if half_close {
        let reply = corio::wait_for(Duration::from_secs(20), || ra.read(100))
            .expect("the reply comes once the server has read everything")
            .unwrap();
        let result = server.join().unwrap();
        if result.1.is_ok() {
            assert_eq!(
                reply, b"reply",
                "{size} bytes: the connection still carries the reply"
            );
        }
        wa.close().unwrap();
        return result;
    }
    let closing = corio::timeout(Duration::from_secs(20), |_| wa.wait_closed());
    closing
        .expect("wait_closed ends once the peer reads")
        .unwrap();
    server.join().unwrap()
}

#[test]
fn tls_close_into_a_full_socket_still_sends_close_notify_to_a_slow_reader() {
    let _w = common::watchdog();
    let c = certs();
    corio::run(move || {
        // Sizes around the send buffer's (8 KiB once doubled): some of them leave the socket
        // full right after a send that took every byte, where the close must wait to send
        // the close_notify.
        for size in (3000..12_000).step_by(250) {
            let (got, end) = close_into_a_full_socket(&c, size, false);
            assert_eq!(got, size, "{size} bytes written");
            if let Err(e) = end {
                panic!("{size} bytes: the reader's end was not clean: {e}");
            }
        }
    });
}

#[test]
fn tls_write_eof_into_a_full_socket_still_sends_close_notify_to_a_slow_reader() {
    let _w = common::watchdog();
    let c = certs();
    corio::run(move || {
        for size in (3000..12_000).step_by(250) {
            let (got, end) = close_into_a_full_socket(&c, size, true);
            assert_eq!(got, size, "{size} bytes written");
            if let Err(e) = end {
                panic!("{size} bytes: the reader's end after write_eof was not clean: {e}");
            }
        }
    });
}
