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
//! another for 1 s (after a 200 ms warm-up), and keeps each server's best round (the highest
//! rate; for the CPU column, the lowest CPU per message of any round). Without `--bench` (as
//! under `cargo test --all-targets --all-features`) a short smoke pass runs,
//! whose result lines read `smoke ...`. After the table: `ratio echo_tls_100x4096_tokio <x>`,
//! x = corio's time per message / tokio's (below 1: corio is faster), and
//! `ratio echo_tls_cpu_100x4096_tokio <x>`, the same for the servers' CPU time per message.
//! Needs the feature `tls`: `cargo bench --features tls --bench echo_tls`.

#[path = "common/mod.rs"]
mod common;
#[path = "common/echo_run.rs"]
mod echo_run;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{measuring, result_line, thread_cpu};
use echo_run::{
    Load, Row, Running, corio_echo, corio_server_thread, tokio_echo, tokio_server_thread,
};
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

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

/// corio's streams over TLS (`start_tls_server`) with the streams echo handler.
fn corio_server(config: Arc<ServerConfig>) -> Running {
    corio_server_thread(Duration::ZERO, move || {
        // A connection the generator drops at the end of a run is not a server failure.
        corio::set_exception_handler(Some(std::rc::Rc::new(|_: &corio::ExceptionContext| {})));
        corio::streams::start_tls_server("127.0.0.1:0", config, corio_echo)
            .expect("corio server binds")
    })
}

/// tokio with `tokio-rustls`: a TLS handshake, then the echo.
fn tokio_server(config: Arc<ServerConfig>) -> Running {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio_server_thread(move |s| {
        let acceptor = acceptor.clone();
        async move {
            if let Ok(s) = acceptor.accept(s).await {
                tokio_echo(s).await;
            }
        }
    })
}

// ----- the load generator -----

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
    let load = thread::spawn(move || generate(addr, client_cfg, conns, size, warmup, duration))
        .join()
        .expect("load generator");
    let wall = run_start.elapsed();
    Row::new(load, srv.finish(), wall)
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
    println!("{}", Row::header());
    let name = format!("{conns}x{size}");
    let mut results: Vec<Option<Row>> = servers.iter().map(|_| None).collect();
    for _ in 0..rounds {
        for (best, (_, s)) in results.iter_mut().zip(&servers) {
            let r = run_row(*s, configs.clone(), conns, size, warmup, duration);
            Row::keep_best(best, r);
        }
    }
    let results: Vec<Row> = results.into_iter().map(|r| r.expect("a round")).collect();
    for (r, (label, _)) in results.iter().zip(&servers) {
        println!("{}", r.line(&name, label));
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
