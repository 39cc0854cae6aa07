//! Echo benchmark: the corio streams echo server against a tokio current-thread echo server
//! and a hand-written `polling` readiness loop (the ceiling for this design), one after
//! another in the same run, under the same closed-loop load generator on loopback.
//!
//! The generator is one thread of its own with many connections; each connection sends a
//! message, waits for its full echo, and sends the next. It drives its own level-triggered
//! epoll set directly and costs one write, usually one read and a share of one `epoll_wait`
//! per message, so that the rows measure the servers rather than the generator; the `gen
//! busy` column says how much of the run it was on a CPU (near 100%: the row is bounded by
//! the generator as much as by the server). Each server runs in one thread of its own and
//! reports the CPU time it used. Rows: 1, 100 and 1,000 connections with 64-byte messages,
//! and 100 connections with 4 KiB messages.
//!
//! A fourth server, `corio-bp`, is corio with busy polling on
//! (`EventLoopBuilder::busy_poll`, 50 µs): it shows what spinning before sleeping buys, at the
//! price of CPU the other servers do not spend, and is compared on lines of its own.
//!
//! `cargo bench --bench echo` measures each row in three rounds, each round running the
//! servers one after another for 1 s each, and keeps each server's best round: alternating
//! spreads a shared machine's busy spells over all servers instead of letting one of them take
//! a whole spell. Without `--bench` (as under `cargo test --all-targets`) a short smoke pass
//! runs, whose result lines read `smoke ...` instead of `ratio ...`: they are not a
//! measurement. After the table, one line per row and peer: `ratio echo_<C>x<M>_tokio <x>` and
//! `ratio echo_<C>x<M>_polling <x>`, with x = corio's time per message / the peer's (below 1:
//! corio is faster), and the same for `corio-bp` as `ratio busy_poll_echo_<C>x<M>_<peer>`.
//! Where the generator is busy nearly all the time, the rate is its own and time per message
//! cannot tell the servers apart; `ratio echo_cpu_<C>x<M>_<peer>` then compares what each
//! server spent: its thread's CPU time over every message of the run, warm-up included.
//! Then the idle-connection figure: `rss_per_idle_connection_kib <x>` for corio holding
//! 10,000 idle connections. Plain arguments pick rows and servers:
//! `cargo bench --bench echo -- 100x64 corio tokio`.

#[path = "common/mod.rs"]
mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{measuring, result_line, thread_cpu};
use polling::{Event, Events, PollMode, Poller};

/// A running server: its address, how to stop it, and (after stopping) its CPU time.
struct Running {
    addr: SocketAddr,
    stop: Box<dyn FnOnce() + Send>,
    cpu: mpsc::Receiver<Duration>,
    thread: thread::JoinHandle<()>,
}

impl Running {
    fn finish(self) -> Duration {
        (self.stop)();
        let cpu = self.cpu.recv().expect("the server reports its CPU time");
        self.thread.join().expect("server thread");
        cpu
    }
}

/// Starts one of the servers under test.
type StartServer = fn() -> Running;

// ----- corio -----

/// The corio echo handler (the README's streams echo): read, write, drain.
fn corio_echo(
    mut r: corio::streams::StreamReader,
    w: corio::streams::StreamWriter,
) -> io::Result<()> {
    loop {
        let data = r.read(64 * 1024)?;
        if data.is_empty() {
            return w.close();
        }
        w.write(&data);
        w.drain()?;
    }
}

/// The busy-poll window of the `corio-bp` server.
const BUSY_POLL: Duration = Duration::from_micros(50);

fn corio_server() -> Running {
    corio_server_with(Duration::ZERO)
}

/// corio with busy polling on (`EventLoopBuilder::busy_poll`): informational, it spends CPU
/// that the other servers do not, so the `ratio echo_*` lines compare the default `corio`.
fn corio_busy_poll_server() -> Running {
    corio_server_with(BUSY_POLL)
}

fn corio_server_with(busy_poll: Duration) -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let builder = corio::runtime::EventLoopBuilder::new().busy_poll(busy_poll);
        builder.run(move || {
            let server = corio::streams::start_server("127.0.0.1:0", corio_echo)
                .expect("corio server binds");
            // The benchmark's thread says stop through a queue with a coroutine side.
            let stop = corio::queue::ThreadQueue::<()>::new(1);
            let addr = server.local_addr().unwrap();
            let serving = corio::spawn(move || server.serve_forever());
            let cpu0 = thread_cpu();
            addr_tx.send((addr, stop.clone())).ok();
            let _ = stop.get();
            let cpu = thread_cpu() - cpu0;
            serving.cancel();
            cpu_tx.send(cpu).ok();
        })
    });
    let (addr, stop) = addr_rx.recv().expect("corio server starts");
    Running {
        addr,
        stop: Box::new(move || {
            let _ = stop.blocking_put(());
        }),
        cpu: cpu_rx,
        thread,
    }
}

// ----- tokio -----

fn tokio_server() -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).ok();
            let cpu0 = thread_cpu();
            let accept = async {
                loop {
                    let Ok((mut s, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = s.set_nodelay(true);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stop_rx => {}
            }
            cpu_tx.send(thread_cpu() - cpu0).ok();
        });
    });
    Running {
        addr: addr_rx.recv().unwrap(),
        stop: Box::new(move || {
            let _ = stop_tx.send(());
        }),
        cpu: cpu_rx,
        thread,
    }
}

// ----- a hand-written polling readiness loop -----

struct Conn {
    s: StdStream,
    /// Bytes read but not yet written back.
    pending: Vec<u8>,
}

fn polling_server() -> Running {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let poller = Arc::new(Poller::new().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let (p, st) = (poller.clone(), stop.clone());
    let thread = thread::spawn(move || {
        let cpu0 = thread_cpu();
        // SAFETY: the listener outlives its registration (deleted before it drops).
        unsafe {
            p.add_with_mode(&listener, Event::readable(0), PollMode::Level)
                .unwrap()
        };
        let mut conns: slab::Slab<Conn> = slab::Slab::new();
        let mut events = Events::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !st.load(Ordering::Relaxed) {
            events.clear();
            p.wait(&mut events, None).unwrap();
            for ev in events.iter() {
                if ev.key == 0 {
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nonblocking(true).unwrap();
                        s.set_nodelay(true).unwrap();
                        let key = conns.vacant_key() + 1;
                        // SAFETY: the stream is deleted from the poller before it is dropped.
                        unsafe {
                            p.add_with_mode(&s, Event::readable(key), PollMode::Level)
                                .unwrap()
                        };
                        conns.insert(Conn {
                            s,
                            pending: Vec::new(),
                        });
                    }
                    continue;
                }
                let key = ev.key - 1;
                let Some(c) = conns.get_mut(key) else {
                    continue;
                };
                let mut close = false;
                if ev.readable && c.pending.is_empty() {
                    loop {
                        match c.s.read(&mut buf) {
                            Ok(0) => {
                                close = true;
                                break;
                            }
                            Ok(n) => match c.s.write(&buf[..n]) {
                                // Level-triggered: after a short read the socket is empty
                                // for now, and later bytes are reported again.
                                Ok(w) if w == n && n < buf.len() => break,
                                Ok(w) if w == n => {}
                                Ok(w) => {
                                    c.pending.extend_from_slice(&buf[w..n]);
                                    break;
                                }
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    c.pending.extend_from_slice(&buf[..n]);
                                    break;
                                }
                                Err(_) => {
                                    close = true;
                                    break;
                                }
                            },
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => {
                                close = true;
                                break;
                            }
                        }
                    }
                }
                if ev.writable && !c.pending.is_empty() {
                    match c.s.write(&c.pending) {
                        Ok(w) => {
                            c.pending.drain(..w);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => close = true,
                    }
                }
                if close {
                    let c = conns.remove(key);
                    p.delete(&c.s).ok();
                } else {
                    let want = if c.pending.is_empty() {
                        Event::readable(ev.key)
                    } else {
                        Event::writable(ev.key)
                    };
                    if want.readable != ev.readable
                        || want.writable != ev.writable
                        || !c.pending.is_empty()
                    {
                        p.modify_with_mode(&c.s, want, PollMode::Level).ok();
                    }
                }
            }
        }
        for c in conns.drain() {
            p.delete(&c.s).ok();
        }
        p.delete(&listener).ok();
        cpu_tx.send(thread_cpu() - cpu0).ok();
    });
    Running {
        addr,
        stop: Box::new(move || {
            stop.store(true, Ordering::Relaxed);
            poller.notify().ok();
        }),
        cpu: cpu_rx,
        thread,
    }
}

// ----- the load generator -----

struct Load {
    /// Messages completed after the warm-up.
    messages: u64,
    /// Messages completed over the whole run, warm-up included: the server's CPU time covers
    /// all of them.
    total: u64,
    elapsed: Duration,
    latencies_ns: Vec<u32>,
    /// The generator thread's CPU time over the whole run, warm-up included.
    cpu: Duration,
}

struct Client {
    s: StdStream,
    sent_at: Instant,
    written: usize,
    received: usize,
}

/// The generator's own level-triggered epoll set: one `epoll_wait` per wait, where
/// `polling::Poller::wait` with a timeout costs five syscalls (it arms a timerfd). The
/// generator must stay cheap, or the rows measure it instead of the servers.
struct Epoll(libc::c_int);

impl Epoll {
    fn new() -> Epoll {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0, "epoll_create1: {}", io::Error::last_os_error());
        Epoll(fd)
    }

    fn ctl(&self, op: libc::c_int, s: &StdStream, key: usize, write: bool) {
        use std::os::fd::AsRawFd;
        let events = libc::EPOLLIN | if write { libc::EPOLLOUT } else { 0 };
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: key as u64,
        };
        // SAFETY: `self.0` is our epoll fd and `s` an open socket; `ev` lives across the call.
        let rc = unsafe { libc::epoll_ctl(self.0, op, s.as_raw_fd(), &mut ev) };
        assert_eq!(rc, 0, "epoll_ctl: {}", io::Error::last_os_error());
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> usize {
        let ms = timeout.as_millis().clamp(1, 1000) as libc::c_int;
        // SAFETY: `events` is a valid, writable buffer of `events.len()` entries.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as _, ms) };
        n.max(0) as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own the fd and close it once.
        unsafe { libc::close(self.0) };
    }
}

/// Closed loop: each of `conns` connections sends `size` bytes, waits for all of them to come
/// back, and sends again, for `warmup + duration`; only messages completed after the warm-up
/// count. One thread, one epoll set. A message costs the generator one write, usually one
/// read, and its share of an `epoll_wait`: sockets stay registered for reading, and writing
/// is added only while a message is partly written.
fn generate(
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Load {
    let cpu0 = thread_cpu();
    let epoll = Epoll::new();
    let msg = vec![0x5au8; size];
    let mut rbuf = vec![0u8; size.max(64 * 1024)];
    let mut clients: Vec<Client> = (0..conns)
        .map(|i| {
            let s = StdStream::connect(addr).expect("connect to the echo server");
            s.set_nodelay(true).unwrap();
            s.set_nonblocking(true).unwrap();
            epoll.ctl(libc::EPOLL_CTL_ADD, &s, i, false);
            Client {
                s,
                sent_at: Instant::now(),
                written: 0,
                received: 0,
            }
        })
        .collect();
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut messages = 0u64;
    let mut total = 0u64;
    let send = |c: &mut Client, key: usize| {
        c.sent_at = Instant::now();
        c.received = 0;
        c.written = match c.s.write(&msg) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => panic!("send failed: {e}"),
        };
        if c.written < size {
            epoll.ctl(libc::EPOLL_CTL_MOD, &c.s, key, true);
        }
    };
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, i);
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.max(1)];
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let n = epoll.wait(&mut events, end - now);
        for ev in &events[..n] {
            let (flags, i) = (ev.events as libc::c_int, ev.u64 as usize);
            let c = &mut clients[i];
            if flags & libc::EPOLLOUT != 0 && c.written < size {
                if let Ok(n) = c.s.write(&msg[c.written..]) {
                    c.written += n;
                }
                if c.written == size {
                    epoll.ctl(libc::EPOLL_CTL_MOD, &c.s, i, false);
                }
            }
            if flags & (libc::EPOLLIN | libc::EPOLLHUP | libc::EPOLLERR) != 0 {
                // Level-triggered: a short read has emptied the socket, and bytes that
                // arrive later are reported again.
                loop {
                    match c.s.read(&mut rbuf) {
                        Ok(0) => panic!("the echo server closed a connection"),
                        Ok(n) => {
                            c.received += n;
                            if n < rbuf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read failed: {e}"),
                    }
                }
                if c.received >= size {
                    total += 1;
                    let done = Instant::now();
                    if c.sent_at >= measure_from {
                        messages += 1;
                        latencies.push((done - c.sent_at).as_nanos().min(u32::MAX as u128) as u32);
                    }
                    send(c, i);
                }
            }
        }
    }
    Load {
        messages,
        total,
        elapsed: end - measure_from,
        latencies_ns: latencies,
        cpu: thread_cpu() - cpu0,
    }
}

// ----- table -----

struct Row {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_ns_per_msg: f64,
    /// Share of the run the generator thread was on a CPU: near 100% means the row is
    /// bounded by the generator as much as by the server.
    gen_busy: f64,
}

fn run_row(
    server: fn() -> Running,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Row {
    let srv = server();
    let addr = srv.addr;
    let mut load = thread::spawn(move || generate(addr, conns, size, warmup, duration))
        .join()
        .expect("load generator");
    let cpu = srv.finish();
    load.latencies_ns.sort_unstable();
    let pct = |p: f64| {
        let v = &load.latencies_ns;
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    let rate = load.messages as f64 / load.elapsed.as_secs_f64();
    Row {
        rate,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_ns_per_msg: cpu.as_nanos() as f64 / load.total.max(1) as f64,
        gen_busy: load.cpu.as_secs_f64() / (warmup + duration).as_secs_f64(),
    }
}

fn rss_kib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4.0
}

/// corio holds `n` idle connections; returns KiB of RSS per connection on the server side
/// (socket, task, coroutine stack). The server runs in a child process of its own (so the
/// figure is not muddled by the other servers, and each side has its own fd table); this
/// process opens the connections.
fn idle_connections(n: usize) -> Option<f64> {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().ok()?)
        .args(["--child-idle", &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut out = io::BufReader::new(child.stdout.take()?);
    let mut line = String::new();
    out.read_line(&mut line).ok()?;
    let addr: SocketAddr = line.trim().parse().ok()?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        match StdStream::connect(addr) {
            Ok(s) => clients.push(s),
            Err(e) => {
                eprintln!(
                    "idle connections: connect failed after {}: {e}",
                    clients.len()
                );
                let _ = child.kill();
                return None;
            }
        }
    }
    // One echo on the last connection: the server has accepted them all by then.
    let mut last = clients.last()?;
    last.write_all(b"x").ok()?;
    let mut b = [0u8; 1];
    last.read_exact(&mut b).ok()?;
    child.stdin.take()?.write_all(b"go\n").ok()?;
    line.clear();
    out.read_line(&mut line).ok()?;
    drop(clients);
    let _ = child.wait();
    line.trim().parse().ok()
}

fn child_idle(n: usize) {
    corio::run(move || {
        let server = corio::streams::start_server("127.0.0.1:0", corio_echo).unwrap();
        println!("{}", server.local_addr().unwrap());
        let before = rss_kib();
        let server = std::rc::Rc::new(server);
        let s = server.clone();
        let _serving = corio::spawn(move || s.serve_forever());
        // Wait, off the loop, for the parent to say every connection is open.
        let go = corio::to_thread(|| {
            let mut l = String::new();
            let _ = io::stdin().read_line(&mut l);
        });
        go.expect("stdin reader");
        for _ in 0..3 {
            corio::yield_now(); // every connection task has run and parked on its read
        }
        let conns = server.active_connections().max(1);
        println!("{}", (rss_kib() - before) / conns as f64);
        let _ = n;
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child-idle") {
        let n = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000);
        return child_idle(n);
    }
    let full = measuring(&args);
    let (warmup, duration, rounds) = if full {
        (Duration::from_millis(200), Duration::from_secs(1), 3)
    } else {
        (Duration::from_millis(20), Duration::from_millis(100), 1)
    };
    // Plain arguments pick rows and servers by name: `cargo bench --bench echo -- 100x64 corio`.
    let picks: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let picked = |name: &str, all: &[&str]| {
        let named: Vec<&&String> = picks.iter().filter(|p| all.contains(&p.as_str())).collect();
        named.is_empty() || named.iter().any(|p| p.as_str() == name)
    };
    let rows: &[(usize, usize)] = if full {
        &[(1, 64), (100, 64), (1000, 64), (100, 4096)]
    } else {
        &[(1, 64), (100, 64), (100, 4096)]
    };
    let servers: [(&str, StartServer); 4] = [
        ("corio", corio_server),
        ("tokio", tokio_server),
        ("polling", polling_server),
        ("corio-bp", corio_busy_poll_server),
    ];

    println!(
        "echo benchmark ({}), closed loop on loopback",
        if full {
            "full"
        } else {
            "smoke pass: not a measurement"
        }
    );
    println!(
        "{:<12} {:<8} {:>12} {:>10} {:>10} {:>14} {:>8}",
        "row", "server", "msgs/s", "p50 us", "p99 us", "server ns/msg", "gen busy"
    );
    let row_names: Vec<String> = rows.iter().map(|(c, m)| format!("{c}x{m}")).collect();
    let row_names: Vec<&str> = row_names.iter().map(String::as_str).collect();
    let server_names: Vec<&str> = servers.iter().map(|(n, _)| *n).collect();
    let servers: Vec<(&str, StartServer)> = servers
        .into_iter()
        .filter(|(n, _)| picked(n, &server_names))
        .collect();
    let mut ratios = Vec::new();
    for &(conns, size) in rows {
        let name = format!("{conns}x{size}");
        if !picked(&name, &row_names) {
            continue;
        }
        // Rounds alternate the servers; each keeps its best round.
        let mut results: Vec<Option<Row>> = servers.iter().map(|_| None).collect();
        for _ in 0..rounds {
            for (best, (_, s)) in results.iter_mut().zip(&servers) {
                let r = run_row(*s, conns, size, warmup, duration);
                if best.as_ref().is_none_or(|b| r.rate > b.rate) {
                    *best = Some(r);
                }
            }
        }
        let results: Vec<Row> = results
            .into_iter()
            .map(|r| r.expect("at least one round"))
            .collect();
        for (r, (label, _)) in results.iter().zip(&servers) {
            println!(
                "{name:<12} {label:<8} {:>12.0} {:>10.1} {:>10.1} {:>14.0} {:>7.0}%",
                r.rate,
                r.p50_us,
                r.p99_us,
                r.cpu_ns_per_msg,
                r.gen_busy * 100.0
            );
        }
        let of = |server: &str, field: fn(&Row) -> f64| {
            servers
                .iter()
                .position(|(n, _)| *n == server)
                .map(|i| field(&results[i]))
        };
        // Time per message is 1 / rate under the same closed-loop generator.
        let rate = |server: &str| of(server, |r| r.rate);
        for (case, mine, peer) in [
            ("echo", "corio", "tokio"),
            ("echo", "corio", "polling"),
            ("busy_poll_echo", "corio-bp", "tokio"),
            ("busy_poll_echo", "corio-bp", "polling"),
        ] {
            if let (Some(m), Some(p)) = (rate(mine), rate(peer)) {
                ratios.push((format!("{case}_{name}_{peer}"), p / m));
            }
        }
        // The server's own CPU time per message: what a server costs when the row is bounded
        // by the generator (gen busy near 100%), where time per message cannot tell servers
        // apart.
        let cpu = |server: &str| of(server, |r| r.cpu_ns_per_msg);
        for peer in ["tokio", "polling"] {
            if let (Some(m), Some(p)) = (cpu("corio"), cpu(peer)) {
                ratios.push((format!("echo_cpu_{name}_{peer}"), m / p));
            }
        }
    }
    let idle_n = if full { 10_000 } else { 200 };
    let idle = if picks.is_empty() {
        idle_connections(idle_n)
    } else {
        None
    };
    if let Some(kib) = idle {
        println!("corio holding {idle_n} idle connections: {kib:.2} KiB RSS per connection");
    }
    println!();
    for (case, x) in ratios {
        println!("{}", result_line(full, &case, x));
    }
    if let Some(kib) = idle {
        println!("rss_per_idle_connection_kib {kib:.2}");
    }
}
