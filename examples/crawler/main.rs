//! A web crawler on coroutines: start from one URL, fetch pages concurrently over plain
//! HTTP/1.1 on corio streams, follow their links, never fetch a page twice, and say how many
//! pages a second that made. Then C10k: 10,000 connections open at once.
//!
//! ```text
//! cargo run --release --example crawler                       # crawl a generated local site
//! cargo run --release --example crawler -- --pages 2000 --limit 500 --list
//! cargo run --release --example crawler -- --url http://127.0.0.1:8000/ --max 500
//! cargo run --release --example crawler -- --c10k              # 10,000 connections at once
//! cargo run --release --example crawler -- --serve-site 127.0.0.1:8000   # the site alone
//! ```
//!
//! Each fetch is a task that takes a permit of a `corio::Semaphore` (`--limit`, 100 by
//! default), connects, sends `GET`, and reads until the response is complete
//! (`Content-Length`, `chunked`, or the end of the stream). Its links are resolved against the
//! page and every URL not seen before becomes a new task; links to other sites and other
//! schemes are not followed. Without `--url` the crawler starts at a site of `--pages` pages
//! (300 by default) that corio serves in this process on a thread of its own, and checks from
//! the server's side that every page was served exactly once.
//!
//! A failed fetch (refused, reset, malformed or truncated response, timeout) is an `error:`
//! line on stderr, and the crawl goes on; the exit status is then 1. Bad arguments: status 2.
//! Redirects are not followed: a `3xx` page is listed with its status, like a `404`.
//!
//! `--serve-site ADDR` serves the generated site alone, until its standard input closes
//! (Ctrl+D); each line it reads is answered with its open connections and RSS in KiB. That is
//! how `--c10k` runs the site in a child process.

mod c10k;
mod crawl;
mod http;
mod site;

use std::process::ExitCode;
use std::time::Duration;

use http::Url;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Args {
    url: Option<String>,
    pages: usize,
    limit: usize,
    max: usize,
    list: bool,
    c10k: Option<usize>,
    serve_site: Option<String>,
    files: u64,
}

const USAGE: &str = "usage: crawler [--url http://HOST:PORT/] [--pages N] [--limit N] \
                     [--max N] [--list] | --c10k [--conns N] | --serve-site ADDR [--pages N]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        url: None,
        pages: 300,
        limit: 100,
        max: 10_000,
        list: false,
        c10k: None,
        serve_site: None,
        files: 1024,
    };
    let mut conns = 10_000;
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let mut number = |name: &str| -> Result<usize, String> {
            let v = value(name)?;
            v.parse()
                .map_err(|_| format!("{name}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--url" => a.url = Some(value("--url")?),
            "--pages" => a.pages = number("--pages")?.max(1),
            "--limit" => a.limit = number("--limit")?.max(1),
            "--max" => a.max = number("--max")?.max(1),
            "--conns" => conns = number("--conns")?.max(1),
            "--files" => a.files = number("--files")? as u64,
            "--list" => a.list = true,
            "--c10k" => a.c10k = Some(0),
            "--serve-site" => a.serve_site = Some(value("--serve-site")?),
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if a.c10k.is_some() {
        a.c10k = Some(conns);
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(addr) = &args.serve_site {
        if let Err(e) = c10k::serve_site_process(addr, args.pages, args.files) {
            eprintln!("error: serving the site on {addr}: {e}");
            return ExitCode::FAILURE;
        }
        return ExitCode::SUCCESS;
    }
    if let Some(conns) = args.c10k {
        return match c10k::run(conns, args.pages) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match &args.url {
        Some(url) => match Url::parse(url) {
            Ok(start) => crawl_and_report(start, &args, None),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        None => crawl_local_site(&args),
    }
}

/// Serves the generated site on a thread, crawls it, and checks the server's counts.
fn crawl_local_site(args: &Args) -> ExitCode {
    let site = match site::SiteThread::start(args.pages) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot serve the local site: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "site: {} pages at {} (served by a corio loop on a thread of its own)",
        args.pages,
        site.url()
    );
    let start = Url::parse(&site.url()).expect("the site's own URL parses");
    crawl_and_report(start, args, Some(&site))
}

/// Crawls from `start` and prints what it found; with `site`, also checks that every page
/// of the local site was served exactly once.
fn crawl_and_report(start: Url, args: &Args, site: Option<&site::SiteThread>) -> ExitCode {
    let (limit, max) = (args.limit, args.max);
    let report = corio::run(move || crawl::crawl(start, limit, max, Some(FETCH_TIMEOUT)));
    let mut ok = report.errors.is_empty();
    if args.list {
        for p in &report.pages {
            println!("{} {} {} bytes", p.status, p.url, p.bytes);
        }
    }
    for (url, e) in &report.errors {
        eprintln!("error: {url}: {e}");
    }
    println!(
        "crawled {} pages ({} errors) in {:.3} s with up to {limit} fetches at once: {:.0} pages/s",
        report.pages.len(),
        report.errors.len(),
        report.elapsed.as_secs_f64(),
        report.rate()
    );
    if let Some(site) = site {
        // Every page once; when `--max` is below the site's size, none twice.
        let whole = max >= args.pages;
        let hits = site.hits();
        let wrong: Vec<_> = (0..hits.len())
            .filter(|&i| hits[i] > 1 || (whole && hits[i] == 0))
            .collect();
        if wrong.is_empty() && whole {
            println!("site served each of its {} pages exactly once", hits.len());
        } else if wrong.is_empty() {
            println!("site served no page twice");
        }
        for i in &wrong {
            ok = false;
            eprintln!(
                "error: page {} was served {} times",
                site::page_path(*i),
                hits[*i]
            );
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
