//! The closed-loop load generator and one row's measurement.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::thread_cpu;
use crate::servers::Running;
use crate::usage::{Probe, Usage};

// ----- the load generator -----

pub(crate) struct Load {
    /// Messages completed after the warm-up.
    pub(crate) messages: u64,
    /// Messages completed while `server` was measured (from the end of the warm-up on).
    pub(crate) window: u64,
    /// What the server thread spent over the same window.
    pub(crate) server: Usage,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_ns: Vec<u32>,
    /// The generator thread's CPU time over the whole run, warm-up included.
    pub(crate) cpu: Duration,
    /// The connections, still open: closing them makes the servers handle resets, which is
    /// not part of the measurement, so they are closed only once the server has stopped.
    pub(crate) clients: Vec<Client>,
}

pub(crate) struct Client {
    s: StdStream,
    sent_at: Instant,
    written: usize,
    received: usize,
}

/// The generator's own level-triggered epoll set: one `epoll_wait` per wait, where
/// `polling::Poller::wait` with a timeout costs five syscalls (it arms a timerfd). The
/// generator must stay cheap, or the rows measure it instead of the servers.
pub(crate) struct Epoll(libc::c_int);

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

/// Connections opened between two checks that the server has accepted them (see
/// `generate`): below every server's listen backlog.
const CONNECT_BATCH: usize = 64;

/// Closed loop: each of `conns` connections sends `size` bytes, waits for all of them to come
/// back, and sends again, for `warmup + duration`; only messages completed after the warm-up
/// count. One thread, one epoll set. A message costs the generator one write, usually one
/// read, and its share of an `epoll_wait`: sockets stay registered for reading, and writing
/// is added only while a message is partly written.
pub(crate) fn generate(
    addr: SocketAddr,
    server: Probe,
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
            let mut s = StdStream::connect(addr).expect("connect to the echo server");
            s.set_nodelay(true).unwrap();
            if (i + 1) % CONNECT_BATCH == 0 {
                // A connection is queued for accept once its handshake is done, whether the
                // server has taken it or not. Connecting thousands at once overflows the
                // listen queue of a server that is off the CPU, and every SYN dropped then
                // costs the generator a one-second retransmission: so after each batch, one
                // echo (blocking, before the measurement) waits until the server has taken
                // the batch in.
                s.write_all(&[0]).expect("batch echo");
                s.read_exact(&mut [0]).expect("batch echo");
            }
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
    // The server's usage and the message count when the warm-up ended.
    let mut at_start: Option<(Usage, u64)> = None;
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
        if at_start.is_none() && now >= measure_from {
            at_start = Some((server.read(), total));
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
    let (u0, total0) = at_start.unwrap_or_else(|| (server.read(), total));
    Load {
        messages,
        window: total - total0,
        server: server.read() - u0,
        elapsed: end - measure_from,
        latencies_ns: latencies,
        cpu: thread_cpu() - cpu0,
        clients,
    }
}

// ----- table -----

pub(crate) struct Row {
    pub(crate) rate: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// The server thread's CPU time (user + kernel) per message, ns.
    pub(crate) cpu_ns_per_msg: f64,
    /// Its user-space share, ns per message.
    pub(crate) user_ns_per_msg: f64,
    /// Its kernel share, ns per message.
    pub(crate) sys_ns_per_msg: f64,
    /// Voluntary context switches of the server thread per message: how often it went to
    /// sleep in `epoll_wait` and was woken.
    pub(crate) vcsw_per_msg: f64,
    /// Share of the run the generator thread was on a CPU: near 100% means the row is
    /// bounded by the generator as much as by the server.
    pub(crate) gen_busy: f64,
}

impl Row {
    /// Keeps the CPU figures of `other` if it was the cheaper round (see `main`).
    pub(crate) fn take_cheaper_cpu(&mut self, other: &Row) {
        if other.cpu_ns_per_msg < self.cpu_ns_per_msg {
            self.cpu_ns_per_msg = other.cpu_ns_per_msg;
            self.user_ns_per_msg = other.user_ns_per_msg;
            self.sys_ns_per_msg = other.sys_ns_per_msg;
            self.vcsw_per_msg = other.vcsw_per_msg;
        }
    }
}

pub(crate) fn run_row(
    server: fn() -> Running,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Row {
    let srv = server();
    let (addr, probe) = (srv.addr, srv.probe);
    let mut load = thread::Builder::new()
        .name("echo-load".into())
        .spawn(move || generate(addr, probe, conns, size, warmup, duration))
        .expect("spawn the load generator")
        .join()
        .expect("load generator");
    srv.finish();
    drop(std::mem::take(&mut load.clients));
    let used = load.server;
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
    let n = load.window.max(1) as f64;
    let per_msg = |d: Duration| d.as_nanos() as f64 / n;
    Row {
        rate,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_ns_per_msg: per_msg(used.cpu),
        user_ns_per_msg: per_msg(used.user),
        sys_ns_per_msg: per_msg(used.sys()),
        vcsw_per_msg: used.vcsw as f64 / n,
        gen_busy: load.cpu.as_secs_f64() / (warmup + duration).as_secs_f64(),
    }
}
