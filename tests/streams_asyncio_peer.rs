//! A real asyncio peer: Python's asyncio streams against a corio server, and a corio client
//! against a Python asyncio echo server. Where `python3` (3.9 or later) is missing the tests
//! are skipped with a notice that shows in the test output, and fail under CI.

mod common;

use common::{echo, output_within};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Rng;
use corio::streams::{self};

const PY_CLIENT: &str = r#"
import asyncio, random, sys

async def one(port, i):
    r, w = await asyncio.open_connection('127.0.0.1', port)
    rng = random.Random(i)
    for _ in range(3):
        n = rng.choice([1, 100, 5000, 70000, 300000])
        data = rng.randbytes(n)
        w.write(data)
        got = await r.readexactly(n)
        assert got == data, f'client {i}: echo differs'
        await w.drain()
    w.write(b'hello from asyncio\n')
    assert await r.readline() == b'hello from asyncio\n'
    w.write_eof()
    assert await r.read() == b''
    w.close()
    await w.wait_closed()

async def main(port):
    await asyncio.gather(*(one(port, i) for i in range(50)))

asyncio.run(asyncio.wait_for(main(int(sys.argv[1])), 60))
print('asyncio client: 50 connections echoed')
"#;

const PY_SERVER: &str = r#"
import asyncio

async def handle(r, w):
    while True:
        data = await r.read(65536)
        if not data:
            break
        w.write(data)
        await w.drain()
    w.close()
    await w.wait_closed()

async def main():
    srv = await asyncio.start_server(handle, '127.0.0.1', 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
"#;

/// `true` if `python3` runs and is 3.9 or later (the client uses `random.randbytes`); else
/// the test is skipped ([`common::skip`]: a visible notice, a failure under CI).
fn have_python() -> bool {
    let check = "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)";
    match Command::new("python3").args(["-c", check]).output() {
        Ok(out) if out.status.success() => true,
        found => {
            common::skip(&format!(
                "no python3 3.9+ to run an asyncio peer ({}); install it, e.g. \
                 apt-get install python3",
                match found {
                    Ok(_) => "python3 is older than 3.9".to_string(),
                    Err(e) => format!("python3: {e}"),
                }
            ));
            false
        }
    }
}

#[test]
fn an_asyncio_client_is_served_by_a_corio_server() {
    if !have_python() {
        return;
    }
    // The corio server runs its own loop on a thread; this thread waits for Python.
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let server = std::thread::spawn(move || {
        corio::run(move || {
            let server = streams::start_server("127.0.0.1:0", echo).unwrap();
            tx.send(server.local_addr().unwrap()).unwrap();
            while !s.load(Ordering::SeqCst) {
                corio::sleep(Duration::from_millis(10));
            }
            server.close();
            server.wait_closed();
        })
    });
    let addr = rx.recv().unwrap();
    let out = output_within(
        Command::new("python3").args(["-c", PY_CLIENT, &addr.port().to_string()]),
        Duration::from_secs(120),
    );
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();
    assert!(
        out.status.success(),
        "the asyncio client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("50 connections echoed"));
}

#[test]
fn a_corio_client_is_served_by_an_asyncio_server() {
    if !have_python() {
        return;
    }
    let mut child = Command::new("python3")
        .args(["-c", PY_SERVER])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .expect("the asyncio server printed its port");
    let result = std::panic::catch_unwind(|| {
        corio::run(move || {
            let clients: Vec<_> = (0..20u64)
                .map(|i| {
                    corio::spawn(move || {
                        let mut rng = Rng::new(500 + i);
                        let (mut r, w) = streams::open_connection(("127.0.0.1", port)).unwrap();
                        for _ in 0..3 {
                            let size = rng.size_log_uniform(1, 512 * 1024);
                            let payload = rng.bytes(size);
                            w.write(&payload);
                            assert!(r.readexactly(size).unwrap() == payload);
                            w.drain().unwrap();
                        }
                        w.write(b"a line\n");
                        assert_eq!(r.readline().unwrap(), b"a line\n");
                        w.write_eof().unwrap();
                        assert_eq!(r.read(10).unwrap(), b"", "asyncio closed after our EOF");
                    })
                })
                .collect();
            for c in clients {
                c.join().unwrap();
            }
        })
    });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if let Err(p) = result {
        eprintln!(
            "asyncio server stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::panic::resume_unwind(p);
    }
}
