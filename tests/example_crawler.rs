//! The crawler example, run for real: against its own generated site (every page fetched
//! exactly once, counted on both sides), against a small plain-HTTP site given with `--url`
//! (`Content-Length`, chunked and until-close bodies, relative links, links it must not
//! follow), against a server that answers garbage (error lines, no panic), and in `--c10k`
//! mode. The example binary is built by cargo for this test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{build_example, output_within};

/// Far above what any run takes (a few seconds in a debug build).
const LIMIT: Duration = Duration::from_secs(180);

fn crawler(args: &[&str]) -> Output {
    output_within(Command::new(build_example("crawler")).args(args), LIMIT)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The `--list` lines: (status, URL).
fn listed(stdout: &str) -> Vec<(u16, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let status = w.next()?.parse().ok()?;
            let url = w.next()?.to_string();
            Some((status, url))
        })
        .collect()
}

#[test]
fn crawler_fetches_every_page_of_the_local_site_exactly_once() {
    let out = crawler(&["--pages", "150", "--limit", "20", "--list"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let pages = listed(&stdout);
    assert_eq!(pages.len(), 150, "{stdout}");
    let urls: BTreeSet<String> = pages
        .iter()
        .map(|(_, u)| {
            u.split_once("/p/")
                .map_or("/".into(), |(_, p)| format!("/p/{p}"))
        })
        .collect();
    let expected: BTreeSet<String> = std::iter::once("/".to_string())
        .chain((1..150).map(|i| format!("/p/{i}.html")))
        .collect();
    assert_eq!(urls, expected, "each page once, and only the site's pages");
    assert!(pages.iter().all(|(s, _)| *s == 200), "{stdout}");
    assert!(
        stdout.contains("crawled 150 pages (0 errors)") && stdout.contains("pages/s"),
        "{stdout}"
    );
    assert!(
        stdout.contains("site served each of its 150 pages exactly once"),
        "{stdout}"
    );
}

#[test]
fn crawler_stops_at_max_pages_without_fetching_any_twice() {
    let out = crawler(&["--pages", "200", "--max", "40", "--list"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let pages = listed(&stdout);
    assert_eq!(pages.len(), 40, "{stdout}");
    let unique: BTreeSet<_> = pages.iter().map(|(_, u)| u).collect();
    assert_eq!(unique.len(), 40);
    assert!(stdout.contains("site served no page twice"), "{stdout}");
}

/// What the small site saw: requests per path, and the most connections open at once.
#[derive(Default)]
struct Seen {
    hits: BTreeMap<String, usize>,
    open: usize,
    most_open: usize,
}

/// A tiny plain-HTTP site on std sockets, one thread per connection, each answer 20 ms late
/// (so concurrent fetches overlap). `routes` maps a path to the raw response bytes; unknown
/// paths get a 404.
fn serve(routes: Vec<(&'static str, Vec<u8>)>) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let routes = Arc::new(routes);
    let h = seen.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (routes, seen) = (routes.clone(), h.clone());
            {
                let mut s = seen.lock().unwrap();
                s.open += 1;
                s.most_open = s.most_open.max(s.open);
            }
            thread::spawn(move || answer(conn, &routes, &seen));
        }
    });
    (format!("http://{addr}/"), seen)
}

/// Answers one request. The connection stops counting as open before the answer is sent,
/// so it is never counted after the crawler has its response and took the next permit.
fn answer(mut conn: TcpStream, routes: &[(&'static str, Vec<u8>)], seen: &Mutex<Seen>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    thread::sleep(Duration::from_millis(20));
    {
        let mut s = seen.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        s.open -= 1;
    }
    let response = routes
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec());
    let _ = conn.write_all(&response);
}

fn with_length(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked(body: &str) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for c in body.as_bytes().chunks(7) {
        out.extend_from_slice(format!("{:X};ext=1\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

#[test]
fn crawler_with_url_follows_each_link_of_a_plain_http_site_once_within_the_limit() {
    let (url, seen) = serve(vec![
        (
            "/",
            with_length(
                "<a href=\"a.html\">a</a> <A HREF='/b'>b</A> <a href=\"a.html#x\">again</a> \
                 <a href=\"http://other.invalid/x\">away</a> <a href=\"https://x.invalid/\">tls</a> \
                 <a href=\"mailto:me@x.invalid\">mail</a> <a href=/b?q=1&amp;r=2>query</a>",
            ),
        ),
        (
            "/a.html",
            chunked("<a href=\"/\">home</a> <a href=\"sub/c.html\">c</a>"),
        ),
        (
            "/b",
            b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<a href=\"./sub/./c.html\">c</a>"
                .to_vec(),
        ),
        ("/b?q=1&r=2", with_length("no links")),
        (
            "/sub/c.html",
            with_length("<a href=\"../a.html\">up</a> <a href=\"d.html\">d</a>"),
        ),
    ]);
    let out = crawler(&["--url", &url, "--list", "--limit", "2"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let mut got: Vec<(u16, String)> = listed(&stdout)
        .into_iter()
        .map(|(s, u)| {
            (
                s,
                u.trim_start_matches(url.trim_end_matches('/')).to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(u16, String)> = vec![
        (200, "/".into()),
        (200, "/a.html".into()),
        (200, "/b".into()),
        (200, "/b?q=1&r=2".into()),
        (200, "/sub/c.html".into()),
        (404, "/sub/d.html".into()),
    ];
    assert_eq!(got, want, "{stdout}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.hits.len(), 6, "{:?}", seen.hits);
    assert!(
        seen.hits.values().all(|&n| n == 1),
        "every path asked once: {:?}",
        seen.hits
    );
    let most = seen.most_open;
    assert!(most <= 2, "--limit 2, yet {most} connections at once");
    assert!(stdout.contains("crawled 6 pages (0 errors)"), "{stdout}");
}

#[test]
fn crawler_reports_malformed_and_truncated_responses_as_error_lines() {
    let (url, seen) = serve(vec![
        (
            "/",
            with_length(
                "<a href=\"/garbage\">1</a> <a href=\"/short\">2</a> <a href=\"/badchunk\">3</a> \
                 <a href=\"/badlength\">4</a> <a href=\"/fine\">5</a>",
            ),
        ),
        ("/garbage", b"this is not HTTP at all\r\n\r\n".to_vec()),
        (
            "/short",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec(),
        ),
        (
            "/badchunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "/badlength",
            b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n".to_vec(),
        ),
        ("/fine", with_length("fine")),
    ]);
    let out = crawler(&["--url", &url, "--list"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (path, why) in [
        ("/garbage", "malformed HTTP response"),
        ("/short", "closed in the middle of the response"),
        ("/badchunk", "bad chunk size"),
        ("/badlength", "bad Content-Length"),
    ] {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error: ") && l.contains(path) && l.contains(why)),
            "no error line for {path} ({why}):\n{stderr}"
        );
    }
    assert!(stdout.contains("crawled 2 pages (4 errors)"), "{stdout}");
    assert_eq!(seen.lock().unwrap().hits.len(), 6);
}

#[test]
fn crawler_rejects_bad_arguments_with_an_error_line() {
    for args in [
        &["--url", "ftp://example.invalid/"][..],
        &["--url", "http://:80/"],
        &["--url", "http://127.0.0.1:99999/"],
        &["--limit", "many"],
        &["--what"],
    ] {
        let out = crawler(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn crawler_c10k_holds_ten_thousand_connections_at_once() {
    let out = crawler(&["--c10k"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    if !out.status.success() && stderr.contains("open files are needed") {
        common::skip(&format!(
            "the open-files limit is too low for --c10k: {stderr}"
        ));
        return;
    }
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("10000 of 10000 connections open at once")
            && stdout.contains("(10000 accepted by the site)"),
        "{stdout}"
    );
    assert!(stdout.contains("KiB in the crawler"), "{stdout}");
    assert!(
        stdout.contains("10000 of 10000 connections got their page"),
        "{stdout}"
    );
}
