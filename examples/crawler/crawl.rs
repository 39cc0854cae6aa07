//! The crawl: the bookkeeping every crawler shares ([`Frontier`]: which pages were seen, what
//! each fetch gave), and the corio crawler, which fetches over corio streams with at most
//! `limit` fetches at once under a `corio::Semaphore`.

// The crawler example and the crawl benchmark each use part of this module.
#![allow(dead_code)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::http::{self, HttpError, Response, ResponseParser, Url};

/// One page fetched.
#[derive(Debug)]
pub struct Page {
    /// Where it was.
    pub url: Url,
    /// Its status code.
    pub status: u16,
    /// Its body's length in bytes.
    pub bytes: usize,
}

/// What a crawl found.
#[derive(Debug, Default)]
pub struct Report {
    /// Every page fetched, in the order the fetches ended.
    pub pages: Vec<Page>,
    /// Every fetch that failed, with why.
    pub errors: Vec<(Url, HttpError)>,
    /// How long the crawl took.
    pub elapsed: Duration,
}

impl Report {
    /// Pages fetched per second.
    pub fn rate(&self) -> f64 {
        self.pages.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The crawl's memory: every URL ever scheduled, so none is fetched twice, and what the
/// fetches gave. It does no I/O, so the corio, thread and tokio crawlers share it.
#[derive(Debug)]
pub struct Frontier {
    seen: HashSet<Url>,
    max_pages: usize,
    report: Report,
}

impl Frontier {
    /// A crawl that starts at `start` and schedules at most `max_pages` URLs in all; returns
    /// it with the first URL to fetch.
    pub fn new(start: Url, max_pages: usize) -> (Frontier, Url) {
        let frontier = Frontier {
            seen: HashSet::from([start.clone()]),
            max_pages: max_pages.max(1),
            report: Report::default(),
        };
        (frontier, start)
    }

    /// Records what fetching `url` gave, and returns the links of that page that were never
    /// scheduled before: the next URLs to fetch. Only HTML pages (2xx) are searched for links.
    pub fn record(&mut self, url: Url, result: Result<Response, HttpError>) -> Vec<Url> {
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.report.errors.push((url, e));
                return Vec::new();
            }
        };
        let mut next = Vec::new();
        let html = response.content_type.is_empty() || response.content_type.contains("html");
        if (200..300).contains(&response.status) && html {
            for href in http::links(&response.body) {
                if self.seen.len() >= self.max_pages {
                    break;
                }
                if let Some(link) = url.join(&href)
                    && self.seen.insert(link.clone())
                {
                    next.push(link);
                }
            }
        }
        self.report.pages.push(Page {
            url,
            status: response.status,
            bytes: response.body.len(),
        });
        next
    }

    /// The report, once no fetch is left.
    pub fn finish(mut self, started: Instant) -> Report {
        self.report.elapsed = started.elapsed();
        self.report
    }
}

/// Fetches one URL over a corio stream: connect, send the GET, feed what arrives to the
/// parser until the response is complete. `timeout`: give up after this long.
pub fn fetch(url: &Url, timeout: Option<Duration>) -> Result<Response, HttpError> {
    corio::wait_for(timeout, || {
        let (mut reader, writer) = corio::open_connection((url.host.as_str(), url.port))?;
        writer.write(&http::request(url));
        writer.drain()?;
        let mut parser = ResponseParser::new();
        loop {
            let data = reader.read(64 * 1024)?;
            if let Some(response) = parser.feed(&data)? {
                return Ok(response);
            }
        }
    })
    .unwrap_or(Err(HttpError::Timeout))
}

/// A permit of the crawl's semaphore that a fetch task owns: released when the task ends,
/// however it ends (`Drop` is `finally`).
struct Permit(corio::Semaphore);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Crawls from `start` on the running loop: one task per URL found, at most `limit` of them
/// at once, never the same URL twice, at most `max_pages` URLs in all. Call it inside
/// `corio::run`.
///
/// The permit is taken before the fetch's task is spawned, not inside it: a parked task
/// keeps its stack, so taking it first keeps at most `limit` stacks alive rather than one
/// for every URL found and not yet fetched.
pub fn crawl(start: Url, limit: usize, max_pages: usize, timeout: Option<Duration>) -> Report {
    let started = Instant::now();
    let limit = corio::Semaphore::new(limit.max(1));
    let done: corio::Queue<(Url, Result<Response, HttpError>)> = corio::Queue::new(0);
    let fetch_later = |url: Url| {
        limit.acquire().forget(); // parks while `limit` fetches are running
        let (permit, done) = (Permit(limit.clone()), done.clone());
        corio::spawn(move || {
            let result = fetch(&url, timeout);
            drop(permit);
            // The queue is unbounded and never shut down: this cannot fail.
            let _ = done.put_nowait((url, result));
        });
    };
    let (mut frontier, first) = Frontier::new(start, max_pages);
    fetch_later(first);
    let mut in_flight = 1;
    while in_flight > 0 {
        let (url, result) = done.get().expect("the crawl's queue is never shut down");
        in_flight -= 1;
        for next in frontier.record(url, result) {
            fetch_later(next);
            in_flight += 1;
        }
    }
    frontier.finish(started)
}
