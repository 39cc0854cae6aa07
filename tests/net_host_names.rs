//! Host names in socket addresses are resolved on the thread pool, not on the loop's thread.
//! Each lookup is checked to wait for the executor while the loop goes on
//! ([`common::runs_on_the_pool`]): a blocking lookup on the loop's thread fails these tests.

mod common;

use std::io::Read;
use std::net::ToSocketAddrs as _;

use common::{needs_no_pool, runs_on_the_pool};

fn system_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0)?;
    String::from_utf8(buf[..end].to_vec()).ok()
}

#[test]
fn connect_and_open_connection_accept_a_host_name_and_look_it_up_on_the_pool() {
    let Some(host) = system_hostname() else {
        return common::skip("gethostname gave no host name; give the machine one (hostname)");
    };
    // Only run where the name resolves (to an address we can listen on) without the network.
    let resolvable = (host.as_str(), 1)
        .to_socket_addrs()
        .map(|mut a| a.next().is_some())
        .unwrap_or(false);
    if !resolvable {
        return common::skip(&format!(
            "the host name {host:?} does not resolve here; add it to /etc/hosts \
             (127.0.1.1 {host})"
        ));
    }
    corio::run(move || {
        let listener = corio::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio::spawn(move || {
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut b = [0u8; 4];
                s.read_exact(&mut b).unwrap();
                s.write_all(&b).unwrap();
            }
        });
        let h = host.clone();
        let mut s =
            runs_on_the_pool(move || corio::net::TcpStream::connect((h.as_str(), port)).unwrap());
        s.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        s.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");

        let (mut r, w) = runs_on_the_pool(move || {
            corio::streams::open_connection(format!("{host}:{port}")).unwrap()
        });
        w.write(b"pong");
        w.drain().unwrap();
        assert_eq!(r.readexactly(4).unwrap(), b"pong");
        server.join().unwrap();
    });
}

#[test]
fn lookup_host_resolves_localhost_on_the_pool_and_literals_in_place() {
    corio::run(|| {
        let v = needs_no_pool(|| corio::net::lookup_host("127.0.0.1", 80).unwrap());
        assert_eq!(v, vec!["127.0.0.1:80".parse().unwrap()]);
        let v = runs_on_the_pool(|| corio::net::lookup_host("localhost", 8080).unwrap());
        assert!(!v.is_empty());
        assert!(
            v.iter().all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{v:?}"
        );
    });
}
