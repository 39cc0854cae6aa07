//! What an echo benchmark needs besides its load generator, whatever the transport: a server
//! in a thread of its own that reports its CPU time (`Running`), the corio and tokio server
//! threads, the echo handlers, and a row of the table (rate, latency percentiles, server CPU
//! per message, generator busy share) with its best-of-rounds rule and its printed line.
//!
//! `benches/echo_tls.rs` uses all of it. The plain echo benchmark (`benches/echo/`) shares
//! only the corio echo handler: it has its own `Running`, server threads and `Row`, since it
//! reads each server thread's CPU clock from the load generator over the steady-state window
//! (after the warm-up, before the teardown) and splits it into user and kernel time, where
//! this file's servers report their whole run themselves.

// Each benchmark that includes this file uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::common::thread_cpu;

/// A running server: its address, how to stop it, and (after stopping) its CPU time.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Box<dyn FnOnce() + Send>,
    pub(crate) cpu: mpsc::Receiver<Duration>,
    pub(crate) thread: thread::JoinHandle<()>,
}

impl Running {
    /// Stops the server and returns the CPU time its thread used while serving.
    pub(crate) fn finish(self) -> Duration {
        (self.stop)();
        let cpu = self.cpu.recv().expect("the server reports its CPU time");
        self.thread.join().expect("server thread");
        cpu
    }
}

// ----- corio -----

/// The corio echo handler (the README's streams echo): read, write, drain.
pub(crate) fn corio_echo(
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

/// A corio loop (busy polling for `busy_poll`; zero: off) in a thread of its own, serving
/// what `start` starts on it until the benchmark says stop.
pub(crate) fn corio_server_thread<S>(busy_poll: Duration, start: S) -> Running
where
    S: FnOnce() -> corio::streams::Server + Send + 'static,
{
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let builder = corio::runtime::EventLoopBuilder::new().busy_poll(busy_poll);
        builder.run(move || {
            let server = start();
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

/// Echoes `s` until EOF or an error: read, write all, flush (a no-op on a plain socket; on a
/// TLS stream it sends the records).
pub(crate) async fn tokio_echo<S>(mut s: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() || s.flush().await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A tokio current-thread runtime in a thread of its own: a listener on loopback, and one
/// task per accepted connection (`TCP_NODELAY` set) running `handle`, until the benchmark
/// says stop.
pub(crate) fn tokio_server_thread<H, F>(handle: H) -> Running
where
    H: Fn(tokio::net::TcpStream) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).ok();
            let cpu0 = thread_cpu();
            let accept = async {
                loop {
                    let Ok((s, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = s.set_nodelay(true);
                    tokio::spawn(handle(s));
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

// ----- a row of the table -----

/// What a load generator measured in one run.
pub(crate) struct Load {
    /// Messages completed after the warm-up.
    pub(crate) messages: u64,
    /// Messages completed over the whole run, warm-up included: the server's CPU time covers
    /// all of them.
    pub(crate) total: u64,
    /// The measured span (after the warm-up).
    pub(crate) elapsed: Duration,
    pub(crate) latencies_ns: Vec<u32>,
    /// The generator thread's CPU time over the whole run, warm-up included.
    pub(crate) cpu: Duration,
}

/// One server's figures on one row.
pub(crate) struct Row {
    pub(crate) rate: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) cpu_ns_per_msg: f64,
    /// Share of the run the generator thread was on a CPU: near 100% means the row is
    /// bounded by the generator as much as by the server.
    pub(crate) gen_busy: f64,
}

impl Row {
    /// The row from a generator's `load`, the server's CPU time `server_cpu`, and the span
    /// `run` the generator was busy over (for its busy share).
    pub(crate) fn new(mut load: Load, server_cpu: Duration, run: Duration) -> Row {
        load.latencies_ns.sort_unstable();
        let pct = |p: f64| {
            let v = &load.latencies_ns;
            if v.is_empty() {
                0.0
            } else {
                v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0
            }
        };
        Row {
            rate: load.messages as f64 / load.elapsed.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            cpu_ns_per_msg: server_cpu.as_nanos() as f64 / load.total.max(1) as f64,
            gen_busy: load.cpu.as_secs_f64() / run.as_secs_f64(),
        }
    }

    /// Keeps the best of the rounds in `best`: the round with the highest rate, but the CPU
    /// column from the cheapest round of any (a busy spell of the shared machine inflates a
    /// round's CPU per message as it lowers its rate, and need not fall on the same round).
    pub(crate) fn keep_best(best: &mut Option<Row>, r: Row) {
        let cpu = best
            .as_ref()
            .map_or(r.cpu_ns_per_msg, |b| b.cpu_ns_per_msg.min(r.cpu_ns_per_msg));
        if best.as_ref().is_none_or(|b| r.rate > b.rate) {
            *best = Some(r);
        }
        if let Some(b) = best.as_mut() {
            b.cpu_ns_per_msg = cpu;
        }
    }

    /// The table's header line.
    pub(crate) fn header() -> String {
        format!(
            "{:<12} {:<8} {:>12} {:>10} {:>10} {:>14} {:>8}",
            "row", "server", "msgs/s", "p50 us", "p99 us", "server ns/msg", "gen busy"
        )
    }

    /// The table's line for this server (`label`) on row `name`.
    pub(crate) fn line(&self, name: &str, label: &str) -> String {
        format!(
            "{name:<12} {label:<8} {:>12.0} {:>10.1} {:>10.1} {:>14.0} {:>7.0}%",
            self.rate,
            self.p50_us,
            self.p99_us,
            self.cpu_ns_per_msg,
            self.gen_busy * 100.0
        )
    }
}
