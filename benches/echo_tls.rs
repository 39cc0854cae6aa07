//! TLS echo benchmark: the corio streams echo server over TLS (`start_tls_server`) against a
//! tokio current-thread echo server with `tokio-rustls`, one after another in the same run,
//! under the same closed-loop TLS load generator on loopback. rustls with the ring provider on
//! every side, TLS 1.3 only.
//!
//! Row: 100 connections with 4 KiB messages. The generator is one thread of its own (a tokio
//! current-thread runtime with `tokio-rustls` clients, the same for both servers): each
//! connection sends a message, waits for its full echo, and sends the next. It decrypts and
//! encrypts as much as the server does, so the `gen busy` column matters here: near 100%, the
//! row is bounded by the generator as much as by the server, and the server's own CPU time
//! per message (`server ns/msg`) is the better comparison.
//!
//! `cargo bench --bench echo_tls` measures in three rounds, each running the servers one after
//! another for 1 s (after a 200 ms warm-up), and keeps each server's best round. Without
//! `--bench` (as under `cargo test --all-targets --all-features`) a short smoke pass runs,
//! whose result lines read `smoke ...`. After the table: `ratio echo_tls_100x4096_tokio <x>`,
//! x = corio's time per message / tokio's (below 1: corio is faster), and
//! `ratio echo_tls_cpu_100x4096_tokio <x>`, the same for the servers' CPU time per message.
//! Needs the feature `tls`: `cargo bench --features tls --bench echo_tls`.

#[path = "common/mod.rs"]
mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{measuring, result_line, thread_cpu};
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

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

type StartServer = fn(Arc<ServerConfig>) -> Running;

/// A self-signed certificate for `localhost`; the server configuration presenting it and a
/// client configuration trusting it, both TLS 1.3 only.
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let server = ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let client = ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

// ----- corio -----

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

fn corio_server(config: Arc<ServerConfig>) -> Running {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (cpu_tx, cpu_rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        corio::run(move || {
            // A connection the generator drops at the end of a run is not a server failure.
            corio::set_exception_handler(Some(std::rc::Rc::new(|_: &corio::ExceptionContext| {})));
            let server = corio::streams::start_tls_server("127.0.0.1:0", config, corio_echo)
                .expect("corio server binds");
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

// ----- tokio + tokio-rustls -----

fn tokio_server(config: Arc<ServerConfig>) -> Running {
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
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).ok();
            let cpu0 = thread_cpu();
            let accept = async {
                loop {
                    let Ok((s, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = s.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let Ok(mut s) = acceptor.accept(s).await else {
                            return;
                        };
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                    if s.flush().await.is_err() {
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

// ----- the load generator -----

struct Load {
    /// Messages sent after the warm-up and echoed before the end.
    messages: u64,
    /// Every message of the run, warm-up included.
    total: u64,
    elapsed: Duration,
    latencies_ns: Vec<u32>,
    /// CPU time the generator's thread used.
    cpu: Duration,
}

/// `conns` TLS connections in one thread, each sending `size` bytes, reading the whole echo
/// back, and sending again, for `warmup + duration`.
fn generate(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Load {
    let cpu0 = thread_cpu();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (messages, total, latencies_ns, elapsed) = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let connector = tokio_rustls::TlsConnector::from(config);
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.set_nodelay(true).unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            streams.push(connector.connect(name, s).await.expect("TLS handshake"));
        }
        let start = Instant::now();
        let measure_from = start + warmup;
        let end = measure_from + duration;
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let msg = vec![0x5au8; size];
                    let mut back = vec![0u8; size];
                    let (mut messages, mut total, mut lat) = (0u64, 0u64, Vec::new());
                    loop {
                        let sent_at = Instant::now();
                        if sent_at >= end {
                            break;
                        }
                        s.write_all(&msg).await.expect("send");
                        s.flush().await.expect("send");
                        s.read_exact(&mut back).await.expect("echo");
                        total += 1;
                        let done = Instant::now();
                        if sent_at >= measure_from && done <= end {
                            messages += 1;
                            lat.push((done - sent_at).as_nanos().min(u32::MAX as u128) as u32);
                        }
                    }
                    (messages, total, lat)
                })
            })
            .collect();
        let (mut messages, mut total, mut lat) = (0, 0, Vec::new());
        for t in tasks {
            let (m, n, l) = t.await.expect("client task");
            messages += m;
            total += n;
            lat.extend(l);
        }
        (messages, total, lat, end - measure_from)
    });
    Load {
        messages,
        total,
        elapsed,
        latencies_ns,
        cpu: thread_cpu() - cpu0,
    }
}

// ----- table -----

struct Row {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_ns_per_msg: f64,
    gen_busy: f64,
}

fn run_row(
    server: StartServer,
    (server_cfg, client_cfg): (Arc<ServerConfig>, Arc<ClientConfig>),
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
) -> Row {
    let srv = server(server_cfg);
    let addr = srv.addr;
    let run_start = Instant::now();
    let mut load = thread::spawn(move || generate(addr, client_cfg, conns, size, warmup, duration))
        .join()
        .expect("load generator");
    let wall = run_start.elapsed();
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
    Row {
        rate: load.messages as f64 / load.elapsed.as_secs_f64(),
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        cpu_ns_per_msg: cpu.as_nanos() as f64 / load.total.max(1) as f64,
        gen_busy: load.cpu.as_secs_f64() / wall.as_secs_f64(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = measuring(&args);
    let (warmup, duration, rounds) = if full {
        (Duration::from_millis(200), Duration::from_secs(1), 3)
    } else {
        (Duration::from_millis(20), Duration::from_millis(100), 1)
    };
    let (conns, size) = (100, 4096);
    let servers: [(&str, StartServer); 2] = [("corio", corio_server), ("tokio", tokio_server)];
    let configs = configs();
    println!(
        "TLS echo benchmark ({}), closed loop on loopback, TLS 1.3, rustls (ring) everywhere",
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
    let name = format!("{conns}x{size}");
    let mut results: Vec<Option<Row>> = servers.iter().map(|_| None).collect();
    for _ in 0..rounds {
        for (best, (_, s)) in results.iter_mut().zip(&servers) {
            let r = run_row(*s, configs.clone(), conns, size, warmup, duration);
            if best.as_ref().is_none_or(|b| r.rate > b.rate) {
                *best = Some(r);
            }
        }
    }
    let results: Vec<Row> = results.into_iter().map(|r| r.expect("a round")).collect();
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
    println!();
    let (corio, tokio) = (&results[0], &results[1]);
    // Time per message is 1 / rate under the same closed-loop generator.
    println!(
        "{}",
        result_line(
            full,
            &format!("echo_tls_{name}_tokio"),
            tokio.rate / corio.rate
        )
    );
    println!(
        "{}",
        result_line(
            full,
            &format!("echo_tls_cpu_{name}_tokio"),
            corio.cpu_ns_per_msg / tokio.cpu_ns_per_msg
        )
    );
}
