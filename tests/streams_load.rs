//! Many connections at once: a thousand clients echoing random payloads byte for byte, and
//! thousands of idle connections held while the server keeps serving.

mod common;

use common::echo;

use std::time::Duration;

use common::Rng;
use corio::net::TcpStream;
use corio::streams::{self};

/// Raises the soft descriptor limit towards the hard one if needed; `true` if `need` fit.
fn ensure_fd_limit(need: u64) -> bool {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return false;
    }
    if lim.rlim_cur >= need {
        return true;
    }
    let raised = libc::rlimit {
        rlim_cur: need.min(lim.rlim_max),
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit reads only the struct passed by pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 && raised.rlim_cur >= need }
}

/// Skips (visibly; a failure under CI) a test that needs `need` descriptors.
fn skip_for_fd_limit(need: u64) {
    common::skip(&format!(
        "the open-file hard limit (ulimit -Hn) is below the {need} descriptors this test \
         needs; raise it (ulimit -Hn {need} as root, or LimitNOFILE=)"
    ));
}

#[test]
fn a_thousand_concurrent_clients_get_random_payloads_back_byte_for_byte() {
    const CLIENTS: u64 = 1000;
    const MESSAGES: usize = 2;
    if !ensure_fd_limit(2 * CLIENTS + 200) {
        return skip_for_fd_limit(2 * CLIENTS + 200);
    }
    let (total, checked) = corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|i| {
                corio::spawn(move || {
                    let mut rng = Rng::new(1000 + i);
                    let (mut r, w) = streams::open_connection(addr).unwrap();
                    let mut bytes = 0;
                    for _ in 0..MESSAGES {
                        let size = rng.size_log_uniform(1, 1024 * 1024);
                        let payload = rng.bytes(size);
                        // No drain before reading: write never parks, the loop sends the
                        // buffer while this task reads the echo.
                        w.write(&payload);
                        let back = r.readexactly(payload.len()).unwrap();
                        assert!(back == payload, "client {i}: the echo differs");
                        bytes += payload.len();
                    }
                    w.write_eof().unwrap();
                    assert_eq!(r.read(1).unwrap(), b"", "client {i}: the server closed");
                    bytes
                })
            })
            .collect();
        let mut total = 0;
        let mut checked = 0;
        for c in clients {
            total += c.join().unwrap();
            checked += 1;
        }
        server.close();
        server.wait_closed();
        (total, checked)
    });
    assert_eq!(checked, CLIENTS);
    println!("{CLIENTS} clients echoed {total} bytes each way, all byte for byte");
    assert!(
        total > 10 * 1024 * 1024,
        "the payloads were not trivially small"
    );
}

#[test]
fn two_thousand_idle_connections_are_held_while_the_server_echoes() {
    const IDLE: usize = 2000;
    let need = 2 * IDLE as u64 + 200;
    if !ensure_fd_limit(need) {
        return skip_for_fd_limit(need);
    }
    corio::run(|| {
        let server = streams::start_server("127.0.0.1:0", echo).unwrap();
        let addr = server.local_addr().unwrap();
        let idle: Vec<TcpStream> = (0..IDLE)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        let held = corio::wait_for(Duration::from_secs(60), || {
            while server.active_connections() < IDLE {
                corio::sleep(Duration::from_millis(5));
            }
        });
        assert!(held.is_ok(), "the server accepted every idle connection");
        assert_eq!(server.active_connections(), IDLE);
        // A new client is served at once.
        let (mut r, w) = streams::open_connection(addr).unwrap();
        w.write(b"still here?\n");
        assert_eq!(r.readline().unwrap(), b"still here?\n");
        // And so is any of the idle ones.
        for s in idle.iter().step_by(250) {
            s.write_all(b"wake up\n").unwrap();
            let mut buf = [0u8; 8];
            std::io::Read::read_exact(&mut &*s, &mut buf).unwrap();
            assert_eq!(&buf, b"wake up\n");
        }
        drop(idle);
        drop((r, w));
        server.close();
        let closed = corio::wait_for(Duration::from_secs(60), || server.wait_closed());
        assert!(closed.is_ok(), "every handler saw its client go");
    });
}
