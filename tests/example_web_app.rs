//! The web_app example served for real and asked with a real HTTP client: curl (installed by
//! `.ci/run`; where it is missing, a visible notice and a std-only client instead); then 200
//! concurrent requests whose every answer is checked against the SQLite database the example
//! serves from (read here with rusqlite on its own); then bad requests. The example binary is
//! built by cargo for this test, so it is never missing or stale.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{KillOnDrop, build_example};

fn std_get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn web_app_answers_get_with_the_gathered_json() {
    let bin = build_example("web_app");
    let mut child = Command::new(bin)
        .args(["--serve", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _guard = KillOnDrop(child);
    // "serving on http://127.0.0.1:PORT/ (Ctrl+C to stop)"
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("the example prints its URL");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let t0 = Instant::now();
    let curl = Command::new("curl")
        .args(["-s", "-i", "--max-time", "20", url])
        .output();
    let response = match curl {
        Ok(out) => {
            assert!(
                out.status.success(),
                "curl failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            common::skip(
                "curl is not installed, so the request comes from a std client instead of a \
                 real HTTP client; install curl (apt-get install curl)",
            );
            std_get(&addr)
        }
        Err(e) => panic!("curl could not be started: {e}"),
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("application/json"), "{response}");
    assert!(response.contains("\"primes\":17984"), "{response}");
    assert!(response.contains("\"slow\":\"ok\""), "{response}");
    // No date asked: the default day, with its places and menus from the database.
    assert!(response.contains("\"date\":\"2026-12-01\""), "{response}");
    assert!(response.contains("\"places\":[{\"id\":1,"), "{response}");
    assert!(
        response.contains("\"menu_items\":[{\"id\":1,"),
        "{response}"
    );
    assert!(t0.elapsed() < Duration::from_secs(20));

    // Unknown paths get a 404, and the server keeps serving.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    assert!(std_get(&addr).starts_with("HTTP/1.1 200"));
}

/// Starts `web_app --serve 127.0.0.1:0` with `extra` arguments; returns the guard and the
/// address it serves on.
fn serve_app(extra: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(build_example("web_app"))
        .args(["--serve", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let guard = KillOnDrop(child);
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("the example prints its URL, not {line:?}"))
        .trim_end_matches('/')
        .to_string();
    (guard, addr)
}

/// Sends `request` and reads the whole answer: (status code, body).
fn ask(addr: &str, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {out:?}"));
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A JSON string literal, written here independently of the example.
fn json(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What the database holds for `date`: the JSON the answer must carry for `places` and
/// `menu_items`.
fn expected(db: &rusqlite::Connection, date: &str) -> (String, String) {
    let mut q = db
        .prepare("SELECT id, name, category FROM places WHERE date = ?1 ORDER BY id")
        .unwrap();
    let places: Vec<String> = q
        .query_map([date], |r| {
            let (id, name, cat): (i64, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(format!(
                "{{\"id\":{id},\"name\":{},\"category\":{}}}",
                json(&name),
                json(&cat)
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut q = db
        .prepare(
            "SELECT id, place_id, name, price_cents FROM menu_items WHERE place_id IN \
             (SELECT id FROM places WHERE date = ?1) ORDER BY id",
        )
        .unwrap();
    let items: Vec<String> = q
        .query_map([date], |r| {
            let (id, place, name, cents): (i64, i64, String, i64) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok(format!(
                "{{\"id\":{id},\"place_id\":{place},\"name\":{},\"price_cents\":{cents}}}",
                json(&name)
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (
        format!("[{}]", places.join(",")),
        format!("[{}]", items.join(",")),
    )
}

/// Removes the database file when the test ends, however it ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn web_app_answers_200_concurrent_requests_from_the_database() {
    let path =
        std::env::temp_dir().join(format!("corio-web-app-test-{}.sqlite3", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let _cleanup = RemoveOnDrop(path.clone());
    let (_guard, addr) = serve_app(&["--db", path.to_str().unwrap()]);
    let db = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = db
        .query_row("SELECT COUNT(*) FROM menu_items", [], |r| r.get(0))
        .unwrap();
    assert!(
        rows > 10,
        "the example filled the database ({rows} menu items)"
    );

    const REQUESTS: usize = 200;
    // Every day of the sample week, a day with nothing on (empty lists), and no date at all.
    let target = |i: usize| match i % 9 {
        8 => "/".to_string(),
        d => format!("/?date=2026-12-{:02}", d + 1),
    };
    let start = std::sync::Arc::new(std::sync::Barrier::new(REQUESTS));
    let clients: Vec<_> = (0..REQUESTS)
        .map(|i| {
            let (addr, start, target) = (addr.clone(), start.clone(), target(i));
            std::thread::spawn(move || {
                start.wait(); // all 200 requests in flight together
                let req =
                    format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
                ask(&addr, &req)
            })
        })
        .collect();
    for (i, client) in clients.into_iter().enumerate() {
        let (status, body) = client.join().expect("the client thread");
        let date = match i % 9 {
            8 => "2026-12-01".to_string(),
            d => format!("2026-12-{:02}", d + 1),
        };
        let (places, items) = expected(&db, &date);
        assert_eq!(status, 200, "{}: {body}", target(i));
        let want = format!(
            "{{\"date\":\"{date}\",\"event\":{{\"slow\":\"ok\",\"date\":\"{date}\",\"title\":\"Market day\"}},\
             \"places\":{places},\"menu_items\":{items},\"primes\":17984,\"elapsed_ms\":"
        );
        assert!(
            body.starts_with(&want),
            "{}:\n got {body}\nwant {want}...",
            target(i)
        );
        let elapsed: u64 = body[want.len()..].trim_end_matches('}').parse().unwrap();
        assert!(
            elapsed >= 60,
            "the answer waited for the slow backend: {body}"
        );
        if date == "2026-12-08" {
            assert!(body.contains("\"places\":[],\"menu_items\":[]"), "{body}");
        }
    }
}

#[test]
fn web_app_answers_bad_requests_with_json_errors_and_keeps_serving() {
    let (_guard, addr) = serve_app(&[]);
    let get = |target: &str| {
        ask(
            &addr,
            &format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
        )
    };
    let (status, body) = get("/?date=../../etc/passwd");
    assert_eq!(status, 400, "{body}");
    assert!(
        body.starts_with("{\"error\":\"date must be YYYY-MM-DD"),
        "{body}"
    );
    let (status, body) = get("/?date=2026-1x-01");
    assert_eq!(status, 400, "{body}");
    let (status, body) = ask(
        &addr,
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = ask(&addr, "this is not http\r\n\r\n");
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("{\"error\":\"bad request"), "{body}");
    // A client that leaves in the middle of a head costs nothing either.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    drop(s);
    let (status, body) = get("/?date=2026-12-02");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"date\":\"2026-12-02\""), "{body}");
}
