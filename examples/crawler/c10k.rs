//! C10k: 10,000 connections to the local site, all open at the same time, each then asking
//! for one page. The site runs in a child process (this same program, `--serve-site`), so
//! each side needs only its own 10,000 descriptors and each side's memory can be read apart.

use std::cell::Cell;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use crate::http::{self, HttpError, ResponseParser, Url};
use crate::site;

/// Connections being set up at once: more would only overflow the listen queue.
const CONNECTING_AT_ONCE: usize = 500;
/// How long the site may take to accept every connection.
const ACCEPT_LIMIT: Duration = Duration::from_secs(60);

/// Resident set size of a process in KiB (`VmRSS` in `/proc/<pid>/status`), `None` for this
/// process.
pub fn rss_kib(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".to_string(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Makes sure this process may open `need` descriptors, raising the soft limit up to the
/// hard one if it must.
///
/// # Errors
///
/// A message saying what the limit is and how to raise it, when the hard limit is too low.
pub fn allow_open_files(need: u64) -> Result<(), String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!(
            "cannot read the open-files limit: {}",
            io::Error::last_os_error()
        ));
    }
    if lim.rlim_cur >= need {
        return Ok(());
    }
    if lim.rlim_max < need {
        return Err(format!(
            "{need} open files are needed but the hard limit is {} (ulimit -Hn); raise it \
             (as root: ulimit -Hn {need}, or nofile in /etc/security/limits.conf) and run again",
            lim.rlim_max
        ));
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the rlimit we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!(
            "cannot raise the open-files limit to {}: {}",
            lim.rlim_max,
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// The site process (`--serve-site ADDR`): serves `pages` pages on `addr`, prints the
/// address, then answers each line read on stdin with `<open connections> <RSS KiB>`, and
/// stops when stdin closes.
pub fn serve_site_process(addr: &str, pages: usize, need_files: u64) -> io::Result<()> {
    allow_open_files(need_files).map_err(io::Error::other)?;
    let addr = addr.to_string();
    corio::run(move || {
        let hits: Arc<[AtomicU32]> = (0..pages.max(1)).map(|_| AtomicU32::new(0)).collect();
        let (server, serving, local) = site::serve_site(&addr, pages.max(1), hits)?;
        println!("{local}");
        while corio::to_thread(|| io::stdin().lock().read_line(&mut String::new()))
            .map_err(|e| io::Error::other(e.to_string()))??
            > 0
        {
            println!("{} {}", server.active_connections(), rss_kib(None));
        }
        serving.cancel();
        Ok(())
    })
}

/// The site child process and the pipes to ask it for its figures.
struct SiteProcess {
    child: Child,
    ask: ChildStdin,
    answers: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl SiteProcess {
    fn start(pages: usize, need_files: u64) -> io::Result<SiteProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["--serve-site", "127.0.0.1:0", "--pages", &pages.to_string()])
            .args(["--files", &need_files.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let ask = child.stdin.take().expect("piped");
        let mut answers = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        answers.read_line(&mut line)?;
        let addr = line.trim().parse().map_err(|_| {
            io::Error::other(format!("the site process did not start (it said {line:?})"))
        })?;
        Ok(SiteProcess {
            child,
            ask,
            answers,
            addr,
        })
    }

    /// The site's open connections and RSS in KiB (a blocking call: run it off the loop).
    fn figures(&mut self) -> io::Result<(usize, u64)> {
        self.ask.write_all(b"?\n")?;
        let mut line = String::new();
        self.answers.read_line(&mut line)?;
        let mut it = line.split_whitespace().map(str::parse::<u64>);
        match (it.next(), it.next()) {
            (Some(Ok(c)), Some(Ok(r))) => Ok((c as usize, r)),
            _ => Err(io::Error::other(format!("the site process said {line:?}"))),
        }
    }
}

impl Drop for SiteProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens `conns` connections to a site of `pages` pages, holds them all open at once, prints
/// the memory each costs on both sides, then asks one page on each and checks every answer.
///
/// # Errors
///
/// A message for the user: the open-files limit, the site process, or connections that failed.
pub fn run(conns: usize, pages: usize) -> Result<(), String> {
    let need = conns as u64 + 256;
    allow_open_files(need)?;
    let site = SiteProcess::start(pages, need).map_err(|e| format!("site process: {e}"))?;
    let addr = site.addr;
    println!(
        "c10k: site process {} serving {pages} pages at http://{addr}/",
        site.child.id()
    );
    corio::run(move || hold(site, conns, pages))
}

/// Asks the site process for its figures without blocking the loop.
fn ask(site: SiteProcess) -> Result<(SiteProcess, usize, u64), String> {
    let (site, figures) = corio::to_thread(move || {
        let mut site = site;
        let f = site.figures();
        (site, f)
    })
    .map_err(|e| e.to_string())?;
    let (conns, rss) = figures.map_err(|e| format!("site process: {e}"))?;
    Ok((site, conns, rss))
}

fn hold(site: SiteProcess, conns: usize, pages: usize) -> Result<(), String> {
    let addr = site.addr;
    let (mut site, _, site_before) = ask(site)?;
    let before = rss_kib(None);
    let started = Instant::now();
    let connecting = corio::Semaphore::new(CONNECTING_AT_ONCE);
    let (settled, opened) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
    let (all_settled, go) = (corio::Event::new(), corio::Event::new());
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            let (connecting, settled, opened) =
                (connecting.clone(), settled.clone(), opened.clone());
            let (all_settled, go) = (all_settled.clone(), go.clone());
            let url = Url::parse(&format!(
                "http://{addr}{}",
                site::page_path(i % pages.max(1))
            ));
            corio::spawn(move || -> Result<u16, HttpError> {
                let conn = {
                    let _permit = connecting.acquire();
                    corio::open_connection(addr)
                };
                settled.set(settled.get() + 1);
                opened.set(opened.get() + usize::from(conn.is_ok()));
                if settled.get() == conns {
                    all_settled.set();
                }
                let (url, (mut reader, writer)) = (url?, conn?);
                go.wait();
                writer.write(&http::request(&url));
                writer.drain()?;
                let mut parser = ResponseParser::new();
                loop {
                    if let Some(r) = parser.feed(&reader.read(64 * 1024)?)? {
                        return Ok(r.status);
                    }
                }
            })
        })
        .collect();
    all_settled.wait();
    let open_time = started.elapsed();
    let open = opened.get();
    let mine = rss_kib(None).saturating_sub(before);
    // Wait until the site has accepted every connection before reading its memory.
    let deadline = Instant::now() + ACCEPT_LIMIT;
    let (mut accepted, mut site_after);
    loop {
        (site, accepted, site_after) = ask(site)?;
        if accepted >= open || Instant::now() > deadline {
            break;
        }
        corio::sleep(Duration::from_millis(20));
    }
    println!(
        "c10k: {open} of {conns} connections open at once after {:.2} s ({accepted} accepted by \
         the site)",
        open_time.as_secs_f64()
    );
    let per = |kib: u64, n: usize| kib as f64 / n.max(1) as f64;
    println!(
        "c10k: RSS per connection: {:.1} KiB in the crawler, {:.1} KiB in the site (task, \
         stack, stream state; the kernel's socket buffers are not in RSS)",
        per(mine, open),
        per(site_after.saturating_sub(site_before), accepted)
    );
    go.set();
    let mut ok = 0;
    let mut failed = Vec::new();
    for t in tasks {
        match t.join() {
            Ok(Ok(200)) => ok += 1,
            Ok(Ok(status)) => failed.push(format!("status {status}")),
            Ok(Err(e)) => failed.push(e.to_string()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    println!(
        "c10k: {ok} of {conns} connections got their page, in {:.2} s in all",
        started.elapsed().as_secs_f64()
    );
    drop(site);
    if failed.is_empty() {
        return Ok(());
    }
    for f in failed.iter().take(5) {
        eprintln!("error: {f}");
    }
    Err(format!("{} of {conns} connections failed", failed.len()))
}
