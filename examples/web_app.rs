//! A tiny web application in the style of the asyncio talks: an HTTP/1.1 server whose handler
//! gathers three backend calls concurrently and answers JSON.
//!
//! * a slow HTTP service (served by this program too, on a second port) called over a socket;
//! * a blocking "database" call, run on the thread pool with `run_in_executor`;
//! * a CPU-heavy step, run on a thread with `to_thread`.
//!
//! The three run at the same time, so a request takes as long as the slowest one, not their
//! sum, and the loop keeps serving other requests meanwhile.
//!
//! ```text
//! cargo run --release --example web_app                     # serve, exercise, print, exit
//! cargo run --release --example web_app -- --serve 127.0.0.1:8080   # serve until Ctrl+C
//! curl http://127.0.0.1:8080/
//! ```

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::streams::{StreamReader, StreamWriter, open_connection, start_server};

/// How long the slow backend takes to answer.
const SLOW_SERVICE: Duration = Duration::from_millis(60);
/// How long the blocking "database" call takes.
const DATABASE: Duration = Duration::from_millis(40);

/// An HTTP/1.1 request head: its request line and whether the client asked to close.
struct Request {
    line: String,
    close: bool,
}

/// Reads an HTTP/1.1 request head; `None` at a clean EOF.
fn read_request(reader: &mut StreamReader) -> io::Result<Option<Request>> {
    let line = reader.readline()?;
    if line.is_empty() {
        return Ok(None);
    }
    let mut close = false;
    loop {
        let header = reader.readline()?;
        if header == b"\r\n" || header == b"\n" || header.is_empty() {
            break;
        }
        let h = String::from_utf8_lossy(&header).to_ascii_lowercase();
        close |= h.starts_with("connection:") && h.contains("close");
    }
    let line = String::from_utf8_lossy(&line).trim_end().to_string();
    Ok(Some(Request { line, close }))
}

fn respond(writer: &StreamWriter, status: &str, body: &str) -> io::Result<()> {
    writer.write(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    writer.drain()
}

/// The slow backend: answers every request after `SLOW_SERVICE`.
fn slow_service(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(request) = read_request(&mut reader)? {
        corio::sleep(SLOW_SERVICE);
        respond(&writer, "200 OK", "{\"slow\":\"ok\"}")?;
        if request.close {
            break;
        }
    }
    writer.close()
}

/// An HTTP client call to the slow backend: one request, read the whole response.
fn call_slow_service(addr: SocketAddr) -> io::Result<String> {
    let (mut reader, writer) = open_connection(addr)?;
    writer.write(b"GET /slow HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n");
    writer.drain()?;
    let head = reader.readuntil(b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&head);
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no Content-Length"))?;
    let body = reader.readexactly(len)?;
    writer.close()?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A blocking call, as a database driver without async support would make.
fn database_query() -> u64 {
    std::thread::sleep(DATABASE);
    42
}

/// A CPU-heavy step: how many primes are below 200,000.
fn count_primes() -> usize {
    let n = 200_000;
    let mut sieve = vec![true; n];
    sieve[0] = false;
    sieve[1] = false;
    let mut i = 2;
    while i * i < n {
        if sieve[i] {
            (i * i..n).step_by(i).for_each(|j| sieve[j] = false);
        }
        i += 1;
    }
    sieve.iter().filter(|&&p| p).count()
}

/// The application: `GET /` gathers the three backends and answers JSON.
fn app(backend: SocketAddr, mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(request) = read_request(&mut reader)? {
        if !request.line.starts_with("GET / ") {
            respond(&writer, "404 Not Found", "{\"error\":\"not found\"}")?;
            if request.close {
                break;
            }
            continue;
        }
        let t0 = Instant::now();
        let (slow, db, cpu) = corio::gather!(
            move || call_slow_service(backend),
            || corio::run_in_executor(database_query),
            || corio::to_thread(count_primes),
        );
        let body = match (slow, db, cpu) {
            (Ok(Ok(slow)), Ok(Ok(db)), Ok(Ok(cpu))) => format!(
                "{{\"backend\":{slow},\"db\":{db},\"primes\":{cpu},\"elapsed_ms\":{}}}",
                t0.elapsed().as_millis()
            ),
            other => {
                let msg = format!("{other:?}").replace('"', "'");
                respond(
                    &writer,
                    "502 Bad Gateway",
                    &format!("{{\"error\":\"{msg}\"}}"),
                )?;
                continue;
            }
        };
        respond(&writer, "200 OK", &body)?;
        if request.close {
            break;
        }
    }
    writer.close()
}

/// A server running as a task.
type Serving = corio::Task<io::Result<()>>;

/// Starts the backend and the application; returns the application's address.
fn start(addr: &str) -> io::Result<(SocketAddr, Serving, Serving)> {
    let backend = Rc::new(start_server("127.0.0.1:0", slow_service)?);
    let backend_addr = backend.local_addr()?;
    let server = Rc::new(start_server(addr, move |r, w| app(backend_addr, r, w))?);
    let app_addr = server.local_addr()?;
    let b = backend.clone();
    let backend_task = corio::spawn(move || b.serve_forever());
    let s = server.clone();
    let app_task = corio::spawn(move || s.serve_forever());
    Ok((app_addr, backend_task, app_task))
}

/// A plain HTTP client call: `GET /`, returns (status line, body).
fn get(addr: SocketAddr) -> io::Result<(String, String)> {
    let (mut reader, writer) = open_connection(addr)?;
    writer.write(b"GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n");
    writer.drain()?;
    let head = reader.readuntil(b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let body = reader.readexactly(len)?;
    writer.close()?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        let addr = args
            .get(i + 1)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        return corio::run(move || {
            let (app_addr, _backend, app) = start(&addr)?;
            println!("serving on http://{app_addr}/ (Ctrl+C to stop)");
            app.join().map_err(|e| io::Error::other(e.to_string()))?
        });
    }

    corio::run(|| {
        let (addr, backend, app) = start("127.0.0.1:0")?;
        const CLIENTS: usize = 50;
        let t0 = Instant::now();
        let results = corio::gather((0..CLIENTS).map(|_| move || get(addr)));
        let wall = t0.elapsed();
        let mut ok = 0;
        let mut sample = String::new();
        for r in results {
            match r {
                Ok(Ok((status, body)))
                    if status.contains("200") && body.contains("\"primes\":17984") =>
                {
                    ok += 1;
                    sample = body;
                }
                other => eprintln!("bad response: {other:?}"),
            }
        }
        println!("web_app on http://{addr}/");
        println!("  {CLIENTS} concurrent GET / requests: {ok} answered 200 with the gathered JSON");
        println!("  sample body: {sample}");
        println!(
            "  wall time {} ms for all of them (one request alone waits {} ms for its slowest backend)",
            wall.as_millis(),
            SLOW_SERVICE.max(DATABASE).as_millis()
        );
        backend.cancel();
        app.cancel();
        if ok == CLIENTS {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} requests failed",
                CLIENTS - ok
            )))
        }
    })
}
