//! A real asyncio peer over TLS (Python's `ssl` module): an asyncio client with
//! `open_connection(..., ssl=context)` against a corio `start_tls_server`, and a corio
//! `open_tls_connection` client against an asyncio `start_server(..., ssl=context)`. The
//! certificate is made at test time and handed to Python in a file. Where `python3` is missing
//! the tests are skipped with a notice, and fail under CI.

#![cfg(feature = "tls")]

mod common;

use common::echo;
mod tls_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{KillOnDrop, TempDir, output_within};
use corio::streams::{self};
use tls_common::certs;

const PY_CLIENT: &str = r#"
import asyncio, ssl, sys

async def one(port, ctx, i):
    r, w = await asyncio.open_connection('127.0.0.1', port, ssl=ctx, server_hostname='localhost')
    for n in (1, 5000, 70000, 300000):
        data = bytes((i + j) % 256 for j in range(n))
        w.write(data)
        assert await r.readexactly(n) == data, f'client {i}: echo differs'
        await w.drain()
    w.write(b'hello over TLS\n')
    assert await r.readline() == b'hello over TLS\n'
    w.close()
    await w.wait_closed()

async def main(port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    await asyncio.gather(*(one(port, ctx, i) for i in range(20)))

asyncio.run(asyncio.wait_for(main(int(sys.argv[1]), sys.argv[2]), 60))
print('asyncio TLS client: 20 connections echoed')
"#;

const PY_SERVER: &str = r#"
import asyncio, ssl, sys

async def handle(r, w):
    while True:
        data = await r.read(65536)
        if not data:
            break
        w.write(data)
        await w.drain()
    w.close()
    try:
        await w.wait_closed()
    except Exception:
        pass

async def main(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    srv = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=ctx)
    print(srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

/// `true` if `python3` runs with its `ssl` module; else the test is skipped (a visible
/// notice, a failure under CI).
fn have_python_ssl() -> bool {
    match Command::new("python3")
        .args(["-c", "import ssl, asyncio"])
        .output()
    {
        Ok(out) if out.status.success() => true,
        found => {
            common::skip(&format!(
                "no python3 with ssl to run an asyncio TLS peer ({found:?}); install it, e.g. \
                 apt-get install python3"
            ));
            false
        }
    }
}

#[test]
fn an_asyncio_tls_client_is_served_by_a_corio_tls_server() {
    if !have_python_ssl() {
        return;
    }
    let c = certs();
    let dir = TempDir::new("tls-peer");
    let cafile = dir.path("cert.pem");
    std::fs::write(&cafile, &c.cert_pem).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let config = c.server.clone();
    let server = std::thread::spawn(move || {
        corio::run(move || {
            let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
            let r = reports.clone();
            corio::set_exception_handler(Some(std::rc::Rc::new(
                move |ctx: &corio::ExceptionContext| {
                    r.lock().unwrap().push(ctx.to_string());
                },
            )));
            let server = streams::start_tls_server("127.0.0.1:0", config, echo).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            while !s.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(10));
            }
            server.close();
            server.wait_closed();
            reports.lock().unwrap().clone()
        })
    });
    let addr = rx.recv().unwrap();
    let out = output_within(
        Command::new("python3")
            .args(["-c", PY_CLIENT, &addr.port().to_string()])
            .arg(&cafile),
        Duration::from_secs(120),
    );
    stop.store(true, Ordering::SeqCst);
    let reports = server.join().unwrap();
    assert!(
        out.status.success(),
        "the asyncio client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("20 connections echoed"));
    assert!(
        reports.is_empty(),
        "the server reported no failure: {reports:?}"
    );
}

#[test]
fn a_corio_tls_client_is_served_by_an_asyncio_tls_server() {
    if !have_python_ssl() {
        return;
    }
    let c = certs();
    let dir = TempDir::new("tls-peer");
    let (certfile, keyfile) = (dir.path("cert.pem"), dir.path("key.pem"));
    std::fs::write(&certfile, &c.cert_pem).unwrap();
    std::fs::write(&keyfile, &c.key_pem).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", PY_SERVER])
        .arg(&certfile)
        .arg(&keyfile)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = KillOnDrop(child);
    let port: u16 = line
        .trim()
        .parse()
        .expect("the asyncio server printed its port");
    let client = c.client.clone();
    corio::run(move || {
        let clients: Vec<_> = (0..20usize)
            .map(|i| {
                let client = client.clone();
                corio::spawn(move || {
                    let (mut r, w) =
                        streams::open_tls_connection(("127.0.0.1", port), "localhost", client)
                            .unwrap();
                    for n in [1, 5000, 70_000, 300_000] {
                        let data: Vec<u8> = (0..n).map(|j| ((i + j) % 256) as u8).collect();
                        w.write(&data);
                        assert!(
                            r.readexactly(n).unwrap() == data,
                            "client {i}: echo differs"
                        );
                        w.drain().unwrap();
                    }
                    w.write(b"a line\n");
                    assert_eq!(r.readline().unwrap(), b"a line\n");
                    // close_notify and FIN: asyncio reads EOF, closes with its own close_notify.
                    w.write_eof().unwrap();
                    assert_eq!(r.read(10).unwrap(), b"", "asyncio closed after our EOF");
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    });
}
