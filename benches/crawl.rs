//! Crawl benchmark: the crawler example's corio crawler against the same crawl done with one
//! OS thread per fetch and with tokio, on the same local site.
//!
//! The site is the example's (`examples/crawler/site.rs`, 2,000 generated pages of about
//! 1.6 KiB, a quarter of them sent chunked), served by a corio loop on a thread of this
//! process, the same server for every crawler. Each crawler runs in a child process of its
//! own (this binary with `--child`), so its peak RSS (`VmHWM`) is its own and no crawler
//! inherits another's threads or heap; the time is measured inside the child from the first
//! fetch to the last. All three use the example's HTTP code (`examples/crawler/http.rs`: the
//! request bytes, the response parser, link resolution) and its bookkeeping
//! (`crawl::Frontier`), and differ only in how they wait:
//!
//! * `corio` — the example's `crawl::crawl`: one task per URL found, at most 500 fetching at
//!   once under a `corio::Semaphore`, over corio streams;
//! * `threads` — one OS thread per fetch (blocking `std::net`), at most 500 threads alive;
//!   the main thread starts a fetch's thread when one ends;
//! * `tokio` — a current-thread tokio runtime: one task per URL, at most 500 fetching at once
//!   under a `tokio::sync::Semaphore`, over `tokio::net::TcpStream`.
//!
//! Every fetch opens a connection, sends `GET` with `Connection: close` and reads until the
//! parser has the whole response. After each run the site's counts must show every page
//! served exactly once, or the benchmark fails.
//!
//! `cargo bench --bench crawl` runs each crawler seven times, alternating, keeps its best
//! time, its least CPU time and its highest peak RSS, prints a table, then
//! `ratio crawl_threads <x>` and `ratio crawl_tokio <x>` with x = corio's time / the peer's
//! (below 1: corio is faster), and `ratio crawl_cpu_threads <x>`, `ratio crawl_cpu_tokio <x>`
//! for the crawling process's CPU time (every thread). The site's server needs a core of its
//! own: on a machine busy with other work, every crawler waits for it and the time ratios
//! drift towards 1, while the CPU ratios still compare the crawlers.
//! Without `--bench` (as under `cargo test --all-targets`) it crawls a 50-page site once each
//! and prints `smoke ...` lines, which are not a measurement.

#[path = "common/mod.rs"]
mod common;
#[path = "../examples/crawler/crawl.rs"]
mod crawl;
#[path = "../examples/crawler/http.rs"]
mod http;
#[path = "../examples/crawler/site.rs"]
mod site;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use common::{measuring, process_cpu, result_line};
use crawl::{Frontier, Report};
use http::{HttpError, Response, ResponseParser, Url};

const CRAWLERS: [&str; 3] = ["corio", "threads", "tokio"];

// ----- threads: one OS thread per fetch -----

fn fetch_blocking(url: &Url) -> Result<Response, HttpError> {
    let mut s = std::net::TcpStream::connect((url.host.as_str(), url.port))?;
    s.set_nodelay(true)?;
    s.write_all(&http::request(url))?;
    let mut parser = ResponseParser::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if let Some(r) = parser.feed(&buf[..n])? {
            return Ok(r);
        }
    }
}

fn crawl_threads(start: Url, limit: usize) -> Report {
    let started = Instant::now();
    let (done_tx, done) = mpsc::channel();
    let (mut frontier, first) = Frontier::new(start, usize::MAX);
    let mut waiting = VecDeque::from([first]);
    let mut running = 0;
    loop {
        while running < limit {
            let Some(url) = waiting.pop_front() else {
                break;
            };
            let tx = done_tx.clone();
            thread::spawn(move || {
                let r = fetch_blocking(&url);
                let _ = tx.send((url, r));
            });
            running += 1;
        }
        if running == 0 {
            break;
        }
        let (url, r) = done.recv().expect("a fetch thread always reports");
        running -= 1;
        waiting.extend(frontier.record(url, r));
    }
    frontier.finish(started)
}

// ----- tokio: one task per URL on a current-thread runtime -----

async fn fetch_tokio(url: &Url) -> Result<Response, HttpError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await?;
    s.set_nodelay(true)?;
    s.write_all(&http::request(url)).await?;
    let mut parser = ResponseParser::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if let Some(r) = parser.feed(&buf[..n])? {
            return Ok(r);
        }
    }
}

async fn crawl_tokio(start: Url, limit: usize) -> Report {
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(limit));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let fetch_later = |url: Url| {
        let (limit, tx) = (limit.clone(), done_tx.clone());
        async move {
            let permit = limit.acquire_owned().await.expect("never closed");
            tokio::spawn(async move {
                let r = fetch_tokio(&url).await;
                drop(permit);
                let _ = tx.send((url, r));
            });
        }
    };
    let (mut frontier, first) = Frontier::new(start, usize::MAX);
    fetch_later(first).await;
    let mut in_flight = 1;
    while in_flight > 0 {
        let (url, r) = done.recv().await.expect("a fetch task always reports");
        in_flight -= 1;
        for next in frontier.record(url, r) {
            fetch_later(next).await;
            in_flight += 1;
        }
    }
    frontier.finish(started)
}

// ----- one crawl in a child process -----

/// Peak RSS of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// In the child: crawls with `which` and prints `<pages> <errors> <secs> <peak KiB> <cpu s>`.
fn child(which: &str, url: &str, limit: usize) {
    let start = Url::parse(url).expect("the parent passes the site's URL");
    let cpu0 = process_cpu();
    let report = match which {
        "corio" => corio::run(move || crawl::crawl(start, limit, usize::MAX, None)),
        "threads" => crawl_threads(start, limit),
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            common::tokio_task(&rt, crawl_tokio(start, limit))
        }
    };
    for (url, e) in report.errors.iter().take(3) {
        eprintln!("{which}: {url}: {e}");
    }
    println!(
        "{} {} {} {} {}",
        report.pages.len(),
        report.errors.len(),
        report.elapsed.as_secs_f64(),
        peak_rss_kib(),
        (process_cpu() - cpu0).as_secs_f64()
    );
}

/// What one child run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    secs: f64,
    peak_kib: u64,
    cpu: f64,
}

fn run_child(which: &str, site: &site::SiteThread, pages: usize, limit: usize) -> Run {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .args(["--child", which, &site.url(), &limit.to_string()])
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{which} crawl failed: {stdout}\n{stderr}"
    );
    let f: Vec<f64> = stdout
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    assert_eq!(
        (f[0] as usize, f[1] as usize),
        (pages, 0),
        "{which} crawl: pages and errors: {stderr}"
    );
    let hits = site.hits();
    assert!(
        hits.iter().all(|&h| h == 1),
        "{which} crawl: the site served some page other than once: {hits:?}"
    );
    site.reset_hits();
    Run {
        secs: f[2],
        peak_kib: f[3] as u64,
        cpu: f[4],
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let limit = args[i + 3].parse().expect("a limit");
        return child(&args[i + 1], &args[i + 2], limit);
    }
    let full = measuring(&args);
    let (pages, limit, rounds) = if full { (2000, 500, 7) } else { (50, 10, 1) };
    let site = site::SiteThread::start(pages).expect("the site starts");
    let mut best: Vec<Option<Run>> = vec![None; CRAWLERS.len()];
    for _ in 0..rounds {
        for (k, which) in CRAWLERS.iter().enumerate() {
            let r = run_child(which, &site, pages, limit);
            best[k] = Some(match best[k] {
                None => r,
                Some(b) => Run {
                    secs: b.secs.min(r.secs),
                    peak_kib: b.peak_kib.max(r.peak_kib),
                    cpu: b.cpu.min(r.cpu),
                },
            });
        }
    }
    let best: Vec<Run> = best.into_iter().map(|b| b.expect("ran")).collect();
    println!(
        "crawl of {pages} pages, at most {limit} fetches at once, best of {rounds}; site: a corio \
         loop on its own thread"
    );
    println!(
        "{:<8} {:>10} {:>10} {:>14} {:>12}",
        "crawler", "time", "pages/s", "peak RSS", "CPU"
    );
    for (which, r) in CRAWLERS.iter().zip(&best) {
        println!(
            "{which:<8} {:>8.1}ms {:>10.0} {:>10.1} MiB {:>10.1}ms",
            r.secs * 1e3,
            pages as f64 / r.secs,
            r.peak_kib as f64 / 1024.0,
            r.cpu * 1e3
        );
    }
    let corio = best[0].secs;
    println!(
        "{}",
        result_line(full, "crawl_threads", corio / best[1].secs)
    );
    println!("{}", result_line(full, "crawl_tokio", corio / best[2].secs));
    let corio_cpu = best[0].cpu;
    println!(
        "{}",
        result_line(full, "crawl_cpu_threads", corio_cpu / best[1].cpu)
    );
    println!(
        "{}",
        result_line(full, "crawl_cpu_tokio", corio_cpu / best[2].cpu)
    );
    site.stop().expect("the site stops");
}
