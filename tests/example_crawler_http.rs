//! The crawler example's HTTP code, which does no I/O (`examples/crawler/http.rs`): the
//! response parser must give the same response however the bytes are split between reads,
//! and links must resolve as a browser resolves them.

#[path = "../examples/crawler/http.rs"]
mod http;

use http::{HttpError, ResponseParser, Url};

const LENGTH: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\nhello world";
const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
    5;name=value\r\nhello\r\n1\r\n \r\nA\r\nworld, and\r\n0\r\nX-Trailer: 1\r\n\r\n";
const UNTIL_EOF: &[u8] = b"HTTP/1.0 200 OK\r\n\r\nuntil the end";

/// Feeds `parts` then the end of the stream; the first complete response or error.
fn parse(parts: &[&[u8]]) -> Result<(u16, Vec<u8>), HttpError> {
    let mut p = ResponseParser::new();
    for part in parts.iter().filter(|p| !p.is_empty()).chain([&&b""[..]]) {
        if let Some(r) = p.feed(part)? {
            return Ok((r.status, r.body));
        }
    }
    unreachable!("the end of the stream always settles the response")
}

#[test]
fn response_parser_gives_one_response_however_the_bytes_are_split() {
    for (raw, body) in [
        (LENGTH, &b"hello world"[..]),
        (CHUNKED, b"hello world, and"),
        (UNTIL_EOF, b"until the end"),
    ] {
        assert_eq!(parse(&[raw]).unwrap(), (200, body.to_vec()));
        for cut in 0..raw.len() {
            let got = parse(&[&raw[..cut], &raw[cut..]]).unwrap();
            assert_eq!(got, (200, body.to_vec()), "split at {cut}");
        }
        let bytes: Vec<&[u8]> = raw.chunks(1).collect();
        assert_eq!(parse(&bytes).unwrap(), (200, body.to_vec()), "byte by byte");
    }
}

#[test]
fn response_parser_stops_at_the_end_of_the_body_without_waiting_for_the_close() {
    let mut p = ResponseParser::new();
    let r = p
        .feed(LENGTH)
        .unwrap()
        .expect("complete without the end of the stream");
    assert_eq!(r.body, b"hello world");
    let mut p = ResponseParser::new();
    assert!(p.feed(CHUNKED).unwrap().is_some());
    let mut p = ResponseParser::new();
    assert!(
        p.feed(UNTIL_EOF).unwrap().is_none(),
        "no length: the body ends at the close"
    );
    let mut p = ResponseParser::new();
    let no_body = p.feed(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n");
    assert_eq!(no_body.unwrap().expect("complete").body, b"");
}

#[test]
fn response_parser_reports_bad_and_cut_responses_as_errors() {
    let err = |parts: &[&[u8]]| parse(parts).unwrap_err().to_string();
    assert!(err(&[b"garbage\r\n\r\n"]).contains("malformed"));
    assert!(err(&[b"HTTP/1.1 200 OK\r\nContent-Le"]).contains("closed in the middle"));
    assert!(err(&[&LENGTH[..LENGTH.len() - 1]]).contains("closed in the middle"));
    assert!(err(&[&CHUNKED[..CHUNKED.len() - 2]]).contains("closed in the middle"));
    assert!(
        err(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"])
            .contains("bad chunk size")
    );
    assert!(
        err(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"])
            .contains("does not end with CRLF")
    );
    assert!(err(&[b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"]).contains("Content-Length"));
    let huge = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        http::BODY_LIMIT + 1
    );
    assert!(matches!(
        parse(&[huge.as_bytes()]),
        Err(HttpError::TooLarge)
    ));
}

#[test]
fn links_resolve_against_their_page_like_a_browser() {
    let page = Url::parse("http://Example.test:8080/a/b/page.html?x=1#top").unwrap();
    assert_eq!(
        page.to_string(),
        "http://example.test:8080/a/b/page.html?x=1"
    );
    let cases: &[(&str, Option<&str>)] = &[
        ("next.html", Some("/a/b/next.html")),
        ("./next.html#frag", Some("/a/b/next.html")),
        ("../up.html", Some("/a/up.html")),
        ("../../../../top.html", Some("/top.html")),
        ("/root?q=1", Some("/root?q=1")),
        ("?y=2", Some("/a/b/page.html?y=2")),
        ("http://example.test:8080/abs", Some("/abs")),
        (
            "//example.test:8080/proto-relative",
            Some("/proto-relative"),
        ),
        ("#only-a-fragment", None),
        ("page.html?x=1", None),
        ("http://example.test/other-port", None),
        ("http://elsewhere.test:8080/", None),
        ("https://example.test:8080/tls", None),
        ("mailto:someone@example.test", None),
        ("javascript:void(0)", None),
    ];
    for (href, want) in cases {
        let got = page.join(href).map(|u| u.path);
        assert_eq!(got.as_deref(), *want, "{href}");
    }
    for bad in [
        "ftp://x/",
        "example.test/",
        "http://",
        "http://h:99999/",
        "http://u@h/",
    ] {
        assert!(
            matches!(Url::parse(bad), Err(HttpError::BadUrl(_))),
            "{bad}"
        );
    }
    let v6 = Url::parse("http://[::1]:81/").unwrap();
    assert_eq!(
        (v6.host.as_str(), v6.port, v6.origin()),
        ("::1", 81, "[::1]:81".into())
    );
}

#[test]
fn links_are_found_in_any_quoting_and_case() {
    let html = b"<a href=\"one\">1</a><A HREF='two'>2</A><a href=three>3</a>\
                 <a class=x href=\"four?a=1&amp;b=2\">4</a>";
    assert_eq!(http::links(html), ["one", "two", "three", "four?a=1&b=2"]);
}
