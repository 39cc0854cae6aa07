//! Plain HTTP/1.1 for a crawler, with no I/O in it: URLs and how a link resolves against the
//! page it was found on, the GET request, a response parser fed with bytes as they arrive
//! (`Content-Length`, `chunked`, or up to the end of the stream), and the links of a page.
//!
//! Keeping the I/O out lets one parser serve every way of moving the bytes: the corio
//! crawler's streams, and in the crawl benchmark the blocking sockets of the thread crawler
//! and tokio's sockets, so that the three differ only in how they wait.

// The crawler example and the crawl benchmark each use part of this module.
#![allow(dead_code)]

use std::fmt;
use std::io;

/// The most a response head may take.
const HEAD_LIMIT: usize = 64 * 1024;
/// The most a response body may take.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;
/// The most header lines a response head may have.
const MAX_HEADERS: usize = 100;

/// Why a URL could not be used or a page could not be fetched.
#[derive(Debug)]
pub enum HttpError {
    /// The URL is not a plain `http://host[:port]/path` URL.
    BadUrl(String),
    /// The peer's answer is not HTTP/1.x.
    Malformed(String),
    /// The connection ended before the response did.
    Truncated,
    /// The body is larger than [`BODY_LIMIT`].
    TooLarge,
    /// The fetch took longer than the crawler allows.
    Timeout,
    /// A socket error (refused, reset, name not found, ...).
    Io(io::Error),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(why) => write!(f, "bad URL: {why}"),
            HttpError::Malformed(why) => write!(f, "malformed HTTP response: {why}"),
            HttpError::Truncated => {
                write!(f, "the connection closed in the middle of the response")
            }
            HttpError::TooLarge => write!(f, "response body over {BODY_LIMIT} bytes"),
            HttpError::Timeout => write!(f, "no complete response in time"),
            HttpError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// An `http://` URL: host, port and path (with its query; never a fragment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// The host name or address, without brackets for IPv6.
    pub host: String,
    /// The port (80 when the URL names none).
    pub port: u16,
    /// The path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Parses `http://host[:port][/path]`. Other schemes are refused: the crawler speaks
    /// plain HTTP only.
    pub fn parse(s: &str) -> Result<Url, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{s:?}: {why}"));
        let rest = match s.trim().split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => return Err(bad(&format!("{scheme}: is not plain http:"))),
            None => return Err(bad("expected http://HOST[:PORT]/")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if authority.contains('@') {
            return Err(bad("user names in URLs are not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None | Some("") => 80,
            Some(p) => p
                .parse()
                .map_err(|_| bad("the port is not a number below 65536"))?,
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port,
            path: normalize(&path),
        })
    }

    /// `host:port`, the part that decides whether a link stays on the site.
    pub fn origin(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves a link found on this page. `None` for links the crawler does not follow:
    /// other sites, other schemes (`https:`, `mailto:`, ...), and links to this very page.
    pub fn join(&self, href: &str) -> Option<Url> {
        let href = href.trim();
        let href = href.split('#').next().unwrap_or_default();
        if href.is_empty() {
            return None;
        }
        let next = if let Some(rest) = href.strip_prefix("//") {
            Url::parse(&format!("http://{rest}")).ok()?
        } else if href
            .find(':')
            .is_some_and(|c| !href[..c].contains(['/', '?']))
        {
            // A scheme: only plain http on this same site is followed.
            Url::parse(href).ok()?
        } else if href.starts_with('/') {
            Url {
                path: normalize(href),
                ..self.clone()
            }
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..=base.rfind('/').unwrap_or(0)];
            let joined = if href.starts_with('?') {
                format!("{base}{href}")
            } else {
                format!("{dir}{href}")
            };
            Url {
                path: normalize(&joined),
                ..self.clone()
            }
        };
        (next.origin() == self.origin() && next != *self).then_some(next)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.origin(), self.path)
    }
}

/// Removes `.` and `..` segments from a path (which starts with `/`), keeping its query.
fn normalize(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
        if last && (*seg == "." || *seg == "..") {
            out.push("");
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if let Some(q) = query {
        s.push('?');
        s.push_str(q);
    }
    s
}

/// The bytes of `GET url HTTP/1.1`, asking the server to close after answering.
pub fn request(url: &Url) -> Vec<u8> {
    let host = if url.port == 80 {
        url.origin().trim_end_matches(":80").to_string()
    } else {
        url.origin()
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: corio-crawler\r\nAccept: text/html\r\n\
         Connection: close\r\n\r\n",
        url.path
    )
    .into_bytes()
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// The status code (200, 404, ...).
    pub status: u16,
    /// The `Content-Type` header, empty if there was none.
    pub content_type: String,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
}

/// How the body's end is found.
#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilEof,
}

/// What the parser knows once the head has arrived.
#[derive(Debug)]
struct Head {
    len: usize,
    status: u16,
    content_type: String,
    framing: Framing,
}

/// Parses one response from bytes fed as they arrive. Feed every read's bytes to
/// [`feed`](ResponseParser::feed), and an empty slice at the end of the stream; it returns the
/// response as soon as it is complete.
#[derive(Debug, Default)]
pub struct ResponseParser {
    buf: Vec<u8>,
    head: Option<Head>,
    /// Chunked bodies: where the next chunk-size line starts, and the body so far.
    chunk_at: usize,
    body: Vec<u8>,
}

impl ResponseParser {
    /// A parser waiting for the first byte of a response.
    pub fn new() -> ResponseParser {
        ResponseParser::default()
    }

    /// Takes the next bytes of the stream (`data` empty: the stream ended). `Ok(None)`: more
    /// bytes are needed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Option<Response>, HttpError> {
        let eof = data.is_empty();
        self.buf.extend_from_slice(data);
        if self.head.is_none() {
            match parse_head(&self.buf)? {
                Some(head) => {
                    self.chunk_at = head.len;
                    self.head = Some(head);
                }
                None if eof => return Err(HttpError::Truncated),
                None => return Ok(None),
            }
        }
        let framing = self.head.as_ref().expect("parsed above").framing;
        let chunked_done = matches!(framing, Framing::Chunked) && self.dechunk()?;
        let head = self.head.as_ref().expect("parsed above");
        let body_len = self.buf.len() - head.len;
        let done = match framing {
            Framing::Length(n) if body_len >= n => Some(self.buf[head.len..head.len + n].to_vec()),
            Framing::Length(_) => None,
            Framing::UntilEof if eof => Some(self.buf[head.len..].to_vec()),
            Framing::UntilEof => None,
            Framing::Chunked if chunked_done => Some(std::mem::take(&mut self.body)),
            Framing::Chunked => None,
        };
        if body_len > BODY_LIMIT + HEAD_LIMIT {
            return Err(HttpError::TooLarge);
        }
        match done {
            Some(body) => Ok(Some(Response {
                status: head.status,
                content_type: head.content_type.clone(),
                body,
            })),
            None if eof => Err(HttpError::Truncated),
            None => Ok(None),
        }
    }

    /// Decodes the chunks that have fully arrived; `true` once the last chunk and the
    /// trailers are in.
    fn dechunk(&mut self) -> Result<bool, HttpError> {
        loop {
            let rest = &self.buf[self.chunk_at..];
            let Some(eol) = find(rest, b"\r\n") else {
                return Ok(false);
            };
            let line = std::str::from_utf8(&rest[..eol]).unwrap_or("?");
            let hex = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(hex, 16)
                .map_err(|_| HttpError::Malformed(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, then an empty line.
                return Ok(find(&rest[eol..], b"\r\n\r\n").is_some());
            }
            if self.body.len() + size > BODY_LIMIT {
                return Err(HttpError::TooLarge);
            }
            let start = eol + 2;
            if rest.len() < start + size + 2 {
                return Ok(false);
            }
            if &rest[start + size..start + size + 2] != b"\r\n" {
                return Err(HttpError::Malformed(
                    "a chunk does not end with CRLF".into(),
                ));
            }
            self.body.extend_from_slice(&rest[start..start + size]);
            self.chunk_at += start + size + 2;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses the head if it has fully arrived. A `1xx`, `204` or `304` head has no body (a
/// crawler never asks for an interim `1xx`, so one is taken as the answer).
fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > HEAD_LIMIT => {
            return Err(HttpError::Malformed(format!(
                "head over {HEAD_LIMIT} bytes"
            )));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut content_type = String::new();
    let mut framing = Framing::UntilEof;
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-type") {
            content_type = value.trim().to_string();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().trim_end().ends_with("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-length")
            && !matches!(framing, Framing::Chunked)
        {
            let n = value.trim().parse().map_err(|_| {
                HttpError::Malformed(format!("bad Content-Length {:?}", value.trim()))
            })?;
            framing = Framing::Length(n);
        }
    }
    if matches!(status, 100..=199 | 204 | 304) {
        framing = Framing::Length(0);
    }
    if matches!(framing, Framing::Length(n) if n > BODY_LIMIT) {
        return Err(HttpError::TooLarge);
    }
    Ok(Some(Head {
        len,
        status,
        content_type,
        framing,
    }))
}

/// The `href` targets in an HTML page, in order, with `&amp;` decoded.
pub fn links(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find("href=") {
        let start = at + i + "href=".len();
        let rest = &text[start..];
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or_default(),
        };
        out.push(value.replace("&amp;", "&"));
        at = start;
    }
    out
}
