//! A tiny web application in the style of the asyncio talks: an HTTP/1.1 server whose handler
//! gathers three backend calls concurrently and answers JSON. `GET /?date=YYYY-MM-DD` asks
//! what is on that day:
//!
//! * the day's event, from a slow HTTP service (served by this program too, on a second
//!   port) called over a socket;
//! * the places featured that day and their menus, from a real SQLite database (`rusqlite`,
//!   SQLite compiled in), queried on the executor's thread pool with `run_in_executor`:
//!   SQLite's calls block, so they must not run on the loop's thread;
//! * a CPU-heavy step, run on a thread with `to_thread`.
//!
//! The three run at the same time, so a request takes as long as the slowest one, not their
//! sum, and the loop keeps serving other requests meanwhile. Request heads are parsed with
//! `httparse`.
//!
//! ```text
//! cargo run --release --example web_app                     # serve, exercise, print, exit
//! cargo run --release --example web_app -- --serve 127.0.0.1:8080   # serve until Ctrl+C
//! cargo run --release --example web_app -- --serve 127.0.0.1:8080 --db app.sqlite3
//! curl 'http://127.0.0.1:8080/?date=2026-12-04'
//! ```
//!
//! The database is an in-memory one unless `--db PATH` names a file; either way it is
//! created and filled with a week of sample places and menus when it has no tables yet.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use corio::streams::{StreamReader, StreamWriter, open_connection, start_server};
use rusqlite::Connection;

/// How long the slow backend takes to answer.
const SLOW_SERVICE: Duration = Duration::from_millis(60);
/// The day asked about when a request names none.
const DEFAULT_DATE: &str = "2026-12-01";

// ----- HTTP -----

/// An HTTP/1.1 request head: method, target and whether the client asked to close.
struct Request {
    method: String,
    target: String,
    close: bool,
}

/// Reads and parses a request head; `Ok(None)` at the end of the stream.
///
/// # Errors
///
/// `InvalidData` for a head that is not HTTP/1.x or is larger than the reader's limit.
fn read_request(reader: &mut StreamReader) -> io::Result<Option<Request>> {
    let head = match reader.readuntil(b"\r\n\r\n") {
        Ok(head) => head,
        // The end of the stream, before a head or in the middle of one.
        Err(e) if e.partial().is_some() => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "incomplete head",
            ));
        }
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
    let close = req.version == Some(0)
        || req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection")
                && String::from_utf8_lossy(h.value).eq_ignore_ascii_case("close")
        });
    Ok(Some(Request {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        close,
    }))
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

/// `s` as a JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `date` query parameter of a target such as `/?date=2026-12-04`, checked to be a
/// `YYYY-MM-DD` date (so it is safe to echo and to send on); the default date without one.
fn date_param(target: &str) -> Result<String, String> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let date = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("date="))
        .unwrap_or(DEFAULT_DATE);
    let b = date.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if shape {
        Ok(date.to_string())
    } else {
        Err(format!("date must be YYYY-MM-DD, not {date:?}"))
    }
}

// ----- the slow backend -----

/// The slow backend: `GET /events/<date>` answers the day's event after `SLOW_SERVICE`.
fn slow_service(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(request) = read_request(&mut reader)? {
        corio::sleep(SLOW_SERVICE);
        match request.target.strip_prefix("/events/") {
            Some(date) => respond(
                &writer,
                "200 OK",
                &format!(
                    "{{\"slow\":\"ok\",\"date\":{},\"title\":\"Market day\"}}",
                    json_str(date)
                ),
            )?,
            None => respond(&writer, "404 Not Found", "{\"error\":\"not found\"}")?,
        }
        if request.close {
            break;
        }
    }
    writer.close()
}

/// An HTTP client call to the slow backend: one request, read the whole response.
fn call_slow_service(addr: SocketAddr, date: &str) -> io::Result<String> {
    let (mut reader, writer) = open_connection(addr)?;
    writer.write(
        format!("GET /events/{date} HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    writer.drain()?;
    let (status, body) = read_response(&mut reader)?;
    writer.close()?;
    if status != 200 {
        return Err(io::Error::other(format!("the backend answered {status}")));
    }
    Ok(body)
}

/// Reads a response with a `Content-Length` body: (status code, body).
fn read_response(reader: &mut StreamReader) -> io::Result<(u16, String)> {
    let head = reader.readuntil(b"\r\n\r\n")?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
    if !matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(bad("not an HTTP response".into()));
    }
    let len: usize = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .ok_or_else(|| bad("no Content-Length".into()))?;
    let body = reader.readexactly(len)?;
    Ok((
        resp.code.unwrap_or(0),
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

// ----- the database -----

/// Where the database is: a file, or the name of a shared in-memory database.
static DB_PATH: OnceLock<String> = OnceLock::new();

thread_local! {
    /// Each executor thread keeps one connection, opened at its first query, as a
    /// connection pool of one per thread would.
    static DB: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's connection. Blocking: call it on the executor.
fn with_db<T>(f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    DB.with(|db| {
        let mut db = db.borrow_mut();
        if db.is_none() {
            let path = DB_PATH.get().expect("open_database ran first");
            *db = Some(Connection::open(path)?);
        }
        f(db.as_ref().expect("opened above"))
    })
}

/// Opens the database (`path`, or a shared in-memory one), creates and fills the tables if
/// they are missing, and returns a connection that keeps an in-memory database alive.
fn open_database(path: Option<&str>) -> rusqlite::Result<Connection> {
    let path = path.map_or_else(
        || {
            format!(
                "file:web-app-{}?mode=memory&cache=shared",
                std::process::id()
            )
        },
        str::to_string,
    );
    let _ = DB_PATH.set(path.clone());
    let conn = Connection::open(&path)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS places (
             id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, date TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS menu_items (
             id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL REFERENCES places(id),
             name TEXT NOT NULL, price_cents INTEGER NOT NULL);
         CREATE INDEX IF NOT EXISTS places_by_date ON places(date);
         CREATE INDEX IF NOT EXISTS items_by_place ON menu_items(place_id);",
    )?;
    let empty: bool = conn.query_row("SELECT COUNT(*) = 0 FROM places", [], |r| r.get(0))?;
    if empty {
        let categories = ["bakery", "noodles", "tacos", "vegan", "coffee"];
        let dishes = ["soup", "bread", "salad", "pie", "tea", "dumplings", "stew"];
        let tx = conn.unchecked_transaction()?;
        for day in 1..=7 {
            for k in 0..(day % 3 + 1) {
                let category = categories[(day + k) % categories.len()];
                tx.execute(
                    "INSERT INTO places (name, category, date) VALUES (?1, ?2, ?3)",
                    (
                        format!("The {category} place \"{day}-{k}\""),
                        category,
                        format!("2026-12-{day:02}"),
                    ),
                )?;
                let place = tx.last_insert_rowid();
                for d in 0..(k + 2) {
                    tx.execute(
                        "INSERT INTO menu_items (place_id, name, price_cents) VALUES (?1, ?2, ?3)",
                        (
                            place,
                            dishes[(day + d) % dishes.len()],
                            250 + 75 * (day + d) as i64,
                        ),
                    )?;
                }
            }
        }
        tx.commit()?;
    }
    Ok(conn)
}

/// The day's places and their menu items as JSON arrays: `(places, menu_items)`, both in
/// id order (seed 003's `find_by_categories` and `find_by_place_id`).
fn places_and_menus(date: &str) -> rusqlite::Result<(String, String)> {
    with_db(|db| {
        let mut places =
            db.prepare_cached("SELECT id, name, category FROM places WHERE date = ?1 ORDER BY id")?;
        let places: Vec<String> = places
            .query_map([date], |r| {
                Ok(format!(
                    "{{\"id\":{},\"name\":{},\"category\":{}}}",
                    r.get::<_, i64>(0)?,
                    json_str(&r.get::<_, String>(1)?),
                    json_str(&r.get::<_, String>(2)?)
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut items = db.prepare_cached(
            "SELECT m.id, m.place_id, m.name, m.price_cents FROM menu_items m
             JOIN places p ON p.id = m.place_id WHERE p.date = ?1 ORDER BY m.id",
        )?;
        let items: Vec<String> = items
            .query_map([date], |r| {
                Ok(format!(
                    "{{\"id\":{},\"place_id\":{},\"name\":{},\"price_cents\":{}}}",
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    json_str(&r.get::<_, String>(2)?),
                    r.get::<_, i64>(3)?
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((
            format!("[{}]", places.join(",")),
            format!("[{}]", items.join(",")),
        ))
    })
}

// ----- the application -----

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

/// The answer to `GET /?date=D`: gathers the three backends; `Err` is (status, message).
fn business_logic(backend: SocketAddr, date: String) -> Result<String, (&'static str, String)> {
    let t0 = Instant::now();
    let d = date.clone();
    let (event, db, cpu) = corio::gather!(
        move || call_slow_service(backend, &d),
        {
            let d = date.clone();
            move || corio::run_in_executor(move || places_and_menus(&d))
        },
        || corio::to_thread(count_primes),
    );
    let gateway = |what: &str, e: String| ("502 Bad Gateway", format!("{what}: {e}"));
    let event = event
        .map_err(|e| gateway("backend", e.to_string()))?
        .map_err(|e| gateway("backend", e.to_string()))?;
    let (places, items) = db
        .map_err(|e| gateway("database", e.to_string()))?
        .map_err(|e| gateway("database", e.to_string()))?
        .map_err(|e| gateway("database", e.to_string()))?;
    let primes = cpu
        .map_err(|e| gateway("cpu", e.to_string()))?
        .map_err(|e| gateway("cpu", e.to_string()))?;
    Ok(format!(
        "{{\"date\":{},\"event\":{event},\"places\":{places},\"menu_items\":{items},\
         \"primes\":{primes},\"elapsed_ms\":{}}}",
        json_str(&date),
        t0.elapsed().as_millis()
    ))
}

/// The application: `GET /?date=D` answers the gathered JSON.
fn app(backend: SocketAddr, mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let msg = json_str(&format!("bad request: {e}"));
                respond(&writer, "400 Bad Request", &format!("{{\"error\":{msg}}}"))?;
                break;
            }
            Err(e) => return Err(e),
        };
        let path = request.target.split('?').next().unwrap_or_default();
        let answer = if request.method != "GET" || path != "/" {
            Err(("404 Not Found", "not found".to_string()))
        } else {
            date_param(&request.target)
                .map_err(|e| ("400 Bad Request", e))
                .and_then(|date| business_logic(backend, date))
        };
        match answer {
            Ok(body) => respond(&writer, "200 OK", &body)?,
            Err((status, msg)) => respond(
                &writer,
                status,
                &format!("{{\"error\":{}}}", json_str(&msg)),
            )?,
        }
        if request.close {
            break;
        }
    }
    writer.close()
}

/// A server running as a task.
type Serving = corio::Task<io::Result<()>>;

/// Starts the backend and the application; returns the application's address.
fn start(addr: &str) -> io::Result<(SocketAddr, Serving, Serving, Rc<corio::streams::Server>)> {
    let backend = Rc::new(start_server("127.0.0.1:0", slow_service)?);
    let backend_addr = backend.local_addr()?;
    let server = Rc::new(start_server(addr, move |r, w| app(backend_addr, r, w))?);
    let app_addr = server.local_addr()?;
    let b = backend.clone();
    let backend_task = corio::spawn(move || b.serve_forever());
    let s = server.clone();
    let app_task = corio::spawn(move || s.serve_forever());
    Ok((app_addr, backend_task, app_task, server))
}

/// A plain HTTP client call: `GET target`, returns (status, body).
fn get(addr: SocketAddr, target: &str) -> io::Result<(u16, String)> {
    let (mut reader, writer) = open_connection(addr)?;
    writer.write(
        format!("GET {target} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    writer.drain()?;
    let answer = read_response(&mut reader)?;
    writer.close()?;
    Ok(answer)
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let db_path = arg_value(&args, "--db");
    let _keep_alive = open_database(db_path.as_deref())
        .map_err(|e| io::Error::other(format!("opening the database: {e}")))?;
    if args.iter().any(|a| a == "--serve") {
        let addr = arg_value(&args, "--serve").unwrap_or_else(|| "127.0.0.1:8080".into());
        return corio::run(move || {
            let (app_addr, _backend, app, server) = start(&addr)?;
            println!("serving on http://{app_addr}/ (Ctrl+C to stop)");
            // The serving task returns once the signal has closed the server.
            let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
            println!("{summary}");
            app.join().map_err(|e| io::Error::other(e.to_string()))?
        });
    }

    corio::run(|| {
        let (addr, backend, app, _server) = start("127.0.0.1:0")?;
        const CLIENTS: usize = 50;
        let t0 = Instant::now();
        let results = corio::gather(
            (0..CLIENTS).map(|i| move || get(addr, &format!("/?date=2026-12-{:02}", i % 7 + 1))),
        );
        let wall = t0.elapsed();
        let mut ok = 0;
        let mut sample = String::new();
        for r in results {
            match r {
                Ok(Ok((200, body))) if body.contains("\"primes\":17984") => {
                    ok += 1;
                    sample = body;
                }
                other => eprintln!("bad response: {other:?}"),
            }
        }
        println!("web_app on http://{addr}/");
        println!(
            "  {CLIENTS} concurrent GET /?date=... requests: {ok} answered 200 with the gathered JSON"
        );
        println!("  sample body: {sample}");
        println!(
            "  wall time {} ms for all of them (one request alone waits {} ms for its slowest backend)",
            wall.as_millis(),
            SLOW_SERVICE.as_millis()
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
