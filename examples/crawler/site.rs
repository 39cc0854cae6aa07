//! The site the crawler starts from: `pages` generated HTML pages that link to each other,
//! served over HTTP/1.1 by corio (`start_server`, one task per connection, request heads
//! parsed with `httparse`).
//!
//! Page 0 is `/`, page `i` is `/p/<i>.html`. Every page links to the next one (so all are
//! reachable from `/`) and to a few far-away ones (so the crawl fans out at once), in every
//! form a crawler has to resolve: absolute paths, relative paths, full URLs of the same site,
//! fragments, duplicates, and links it must not follow (another site, `mailto:`, `https:`).
//! Every fourth page is sent `Transfer-Encoding: chunked`, the rest with `Content-Length`.
//! The server counts how often each page was served, so a crawl can be checked from the
//! server's side.

// The crawler example and the crawl benchmark each use part of this module.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use corio::streams::{StreamReader, StreamWriter};

/// The path of page `i`.
pub fn page_path(i: usize) -> String {
    if i == 0 {
        "/".to_string()
    } else {
        format!("/p/{i}.html")
    }
}

/// Which page a request path names.
fn page_index(path: &str, pages: usize) -> Option<usize> {
    if path == "/" {
        return Some(0);
    }
    let i: usize = path
        .strip_prefix("/p/")?
        .strip_suffix(".html")?
        .parse()
        .ok()?;
    (i > 0 && i < pages && path == page_path(i)).then_some(i)
}

/// The HTML of page `i` of `pages`, served from `origin` (`host:port`).
fn page_html(i: usize, pages: usize, origin: &str) -> String {
    let far = |k: usize| (i * k + 7) % pages;
    let mut links = vec![
        page_path((i + 1) % pages),
        format!("{}#top", page_path(far(7))),
        format!("http://{origin}{}", page_path(far(31))),
        page_path((i * i + 1) % pages),
        page_path(0),
        page_path((i + 1) % pages),
        "http://example.invalid/elsewhere.html".to_string(),
        "https://example.invalid/secure.html".to_string(),
        "mailto:webmaster@example.invalid".to_string(),
    ];
    // A relative link: from `/` into `p/`, from `/p/x.html` to a sibling.
    let rel = far(13);
    if rel != 0 {
        links.push(if i == 0 {
            format!("p/{rel}.html")
        } else {
            format!("{rel}.html")
        });
    }
    let mut html = format!(
        "<!doctype html>\n<html><head><title>Page {i}</title></head><body>\n\
         <h1 id=\"top\">Page {i} of {pages}</h1>\n"
    );
    for l in &links {
        html.push_str(&format!("<p><a href=\"{l}\">{l}</a></p>\n"));
    }
    // Some text, so a page weighs what a small real one does (about 2 KiB).
    for line in 0..12 {
        html.push_str(&format!(
            "<p>Paragraph {line} of page {i}: nothing to see here but words to download.</p>\n"
        ));
    }
    html.push_str("</body></html>\n");
    html
}

/// The full response bytes for page `i`: chunked for every fourth page.
fn page_response(i: usize, pages: usize, origin: &str) -> Vec<u8> {
    let body = page_html(i, pages, origin);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n";
    if i % 4 == 3 {
        let mut out = format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
        for chunk in body.as_bytes().chunks(700) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    } else {
        format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }
}

const NOT_FOUND: &[u8] =
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// What every connection of one site shares: the rendered pages and the hit counts.
struct Pages {
    responses: Vec<Vec<u8>>,
    hits: Arc<[AtomicU32]>,
}

/// Serves one connection: requests until the client closes or asks to.
fn serve(pages: &Pages, mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let head = match reader.readuntil(b"\r\n\r\n") {
            Ok(head) => head,
            Err(e) if e.partial().is_some_and(|p| p.is_empty()) => break, // clean EOF
            Err(e) => return Err(e.into()),
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let path = match req.parse(&head) {
            Ok(httparse::Status::Complete(_)) => req.path.unwrap_or_default(),
            _ => {
                writer.write(BAD_REQUEST);
                break;
            }
        };
        let close = req.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection")
                && String::from_utf8_lossy(h.value).eq_ignore_ascii_case("close")
        }) || req.version == Some(0);
        match page_index(path, pages.responses.len()) {
            Some(i) if req.method == Some("GET") => {
                pages.hits[i].fetch_add(1, Ordering::Relaxed);
                writer.write(&pages.responses[i]);
            }
            _ => writer.write(NOT_FOUND),
        }
        writer.drain()?;
        if close {
            break;
        }
    }
    writer.close()
}

/// A site served by a corio loop on a thread of its own, so that whatever crawls it (corio,
/// OS threads, tokio) meets the same server on another core.
#[derive(Debug)]
pub struct SiteThread {
    addr: SocketAddr,
    hits: Arc<[AtomicU32]>,
    stop: corio::ThreadQueue<()>,
    thread: Option<thread::JoinHandle<io::Result<()>>>,
}

impl SiteThread {
    /// Starts a site of `pages` pages on `127.0.0.1` (any free port) on a new thread.
    pub fn start(pages: usize) -> io::Result<SiteThread> {
        Self::start_on("127.0.0.1:0", pages)
    }

    /// Starts a site of `pages` pages on `addr` on a new thread.
    pub fn start_on(addr: &str, pages: usize) -> io::Result<SiteThread> {
        let pages = pages.max(1);
        let hits: Arc<[AtomicU32]> = (0..pages).map(|_| AtomicU32::new(0)).collect();
        let stop = corio::ThreadQueue::new(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let (h, q, addr) = (hits.clone(), stop.clone(), addr.to_string());
        let thread = thread::Builder::new().name("site".into()).spawn(move || {
            corio::run(move || {
                let started = serve_site(&addr, pages, h);
                let (_server, serving, local) = match started {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                        return Err(e);
                    }
                };
                let _ = tx.send(Ok(local));
                let _ = q.get(); // until stop() (or the queue is closed)
                serving.cancel();
                Ok(())
            })
        })?;
        let addr = rx
            .recv()
            .map_err(|_| io::Error::other("the site thread ended before serving"))??;
        Ok(SiteThread {
            addr,
            hits,
            stop,
            thread: Some(thread),
        })
    }

    /// The site's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the site's first page.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// How often each page was served so far (index = page number).
    pub fn hits(&self) -> Vec<u32> {
        self.hits
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect()
    }

    /// Sets every page's count back to 0.
    pub fn reset_hits(&self) {
        self.hits.iter().for_each(|h| h.store(0, Ordering::Relaxed));
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.shut()
    }

    fn shut(&mut self) -> io::Result<()> {
        self.stop.close();
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("the site thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for SiteThread {
    fn drop(&mut self) {
        let _ = self.shut();
    }
}

/// Starts the site's server on the running loop and a task serving it; returns the server,
/// that task and the address. The hit counts go to `hits`.
pub fn serve_site(
    addr: &str,
    pages: usize,
    hits: Arc<[AtomicU32]>,
) -> io::Result<(Rc<corio::Server>, corio::Task<io::Result<()>>, SocketAddr)> {
    let listener = corio::net::TcpListener::builder()
        .backlog(4096)
        .bind(addr)?;
    let local = listener.local_addr()?;
    let origin = local.to_string();
    let site = Rc::new(Pages {
        responses: (0..pages)
            .map(|i| page_response(i, pages, &origin))
            .collect(),
        hits,
    });
    let server = Rc::new(corio::streams::start_server_on(listener, move |r, w| {
        serve(&site, r, w)
    })?);
    let serving = server.clone();
    let task = corio::spawn(move || serving.serve_forever());
    Ok((server, task, local))
}
