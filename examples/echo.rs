//! An echo server and a crowd of clients in one program: the streams echo of the asyncio
//! talk (read, write, drain), exercised by many concurrent coroutines.
//!
//! * `cargo run --example echo` starts the server on 127.0.0.1 (a free port), runs 100
//!   clients at once, each sending several messages of random sizes and checking that every
//!   byte comes back, prints a summary and exits (status 1 if any echo differed).
//! * `cargo run --example echo -- --serve ADDR` only serves, until Ctrl+C or `SIGTERM`, then
//!   shuts down gracefully (open connections get 5 s) and prints a summary.
//! * `--tls` (with the feature `tls`: `cargo run --features tls --example echo -- --tls`)
//!   does either over TLS: a self-signed certificate for `localhost` and `127.0.0.1` is made at
//!   start with rcgen, the server presents it and the demo's clients trust it. With `--serve`
//!   it is written to a file whose path is printed, for a client's trust store
//!   (`openssl s_client -CAfile PATH`, Python's `ssl.create_default_context(cafile=PATH)`).
//!   Built without the feature, `--tls` says how to build it and exits with status 2.

use std::io;
use std::time::Instant;

use corio::streams::{self, Server, StreamReader, StreamWriter};

const CLIENTS: u64 = 100;
const MESSAGES: usize = 5;
const MAX_MESSAGE: usize = 256 * 1024;

fn handle(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let data = reader.read(64 * 1024)?;
        if data.is_empty() {
            return writer.close();
        }
        writer.write(&data);
        writer.drain()?;
    }
}

/// xorshift64*: reproducible message sizes and bytes without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The configurations of `--tls`: the server's certificate and the clients' trust in it.
#[cfg(feature = "tls")]
#[derive(Clone)]
struct Tls {
    server: std::sync::Arc<rustls::ServerConfig>,
    client: std::sync::Arc<rustls::ClientConfig>,
    cert_pem: String,
}

/// Without the feature `tls` there is no TLS configuration to have.
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
enum Tls {}

/// Makes a self-signed certificate for `localhost` and `127.0.0.1` (rcgen) and the
/// configurations over it.
#[cfg(feature = "tls")]
fn tls_setup() -> io::Result<Tls> {
    use std::sync::Arc;
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let ck = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let der = ck.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .map_err(io::Error::other)?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).map_err(io::Error::other)?;
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Tls {
        server: Arc::new(server),
        client: Arc::new(client),
        cert_pem: ck.cert.pem(),
    })
}

#[cfg(not(feature = "tls"))]
fn tls_setup() -> io::Result<Tls> {
    eprintln!(
        "echo was built without the feature `tls`: cargo run --features tls --example echo -- --tls"
    );
    std::process::exit(2);
}

/// Starts the echo server, over TLS with `tls`.
fn start(addr: &str, tls: Option<&Tls>) -> io::Result<Server> {
    match tls {
        None => streams::start_server(addr, handle),
        #[cfg(feature = "tls")]
        Some(t) => streams::start_tls_server(addr, t.server.clone(), handle),
        #[cfg(not(feature = "tls"))]
        Some(t) => match *t {},
    }
}

/// Connects to the echo server, over TLS with `tls`.
fn connect(
    addr: std::net::SocketAddr,
    tls: Option<&Tls>,
) -> io::Result<(StreamReader, StreamWriter)> {
    match tls {
        None => streams::open_connection(addr),
        #[cfg(feature = "tls")]
        Some(t) => streams::open_tls_connection(addr, "localhost", t.client.clone()),
        #[cfg(not(feature = "tls"))]
        Some(t) => match *t {},
    }
}

/// One client: sends its messages, reads each echo back, and says whether all matched.
fn client(addr: std::net::SocketAddr, id: u64, tls: Option<&Tls>) -> io::Result<(usize, bool)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1));
    let (mut reader, writer) = connect(addr, tls)?;
    let (mut bytes, mut same) = (0, true);
    for _ in 0..MESSAGES {
        let size = 1 + (rng.next() as usize) % MAX_MESSAGE;
        let message = rng.bytes(size);
        writer.write(&message);
        let echo = reader.readexactly(size)?;
        writer.drain()?;
        same &= echo == message;
        bytes += size;
    }
    writer.close()?;
    Ok((bytes, same))
}

fn demo(tls: Option<Tls>) -> io::Result<bool> {
    corio::run(move || {
        let server = start("127.0.0.1:0", tls.as_ref())?;
        let addr = server.local_addr()?;
        println!(
            "echo server on {addr}{}; {CLIENTS} clients x {MESSAGES} messages of up to {MAX_MESSAGE} bytes",
            if tls.is_some() { " (TLS)" } else { "" }
        );
        let start = Instant::now();
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let tls = tls.clone();
                corio::spawn(move || client(addr, id, tls.as_ref()))
            })
            .collect();
        let (mut bytes, mut good, mut failed) = (0, 0, 0);
        for t in tasks {
            match t.join() {
                Ok(Ok((n, true))) => {
                    bytes += n;
                    good += 1;
                }
                Ok(Ok((_, false))) => failed += 1,
                Ok(Err(e)) => {
                    eprintln!("a client failed: {e}");
                    failed += 1;
                }
                Err(e) => {
                    eprintln!("a client task failed: {e}");
                    failed += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{good} clients got every byte back ({:.1} MiB each way in {secs:.2} s), {failed} failed",
            bytes as f64 / (1024.0 * 1024.0)
        );
        server.close();
        server.wait_closed();
        Ok(failed == 0)
    })
}

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = if args.iter().any(|a| a == "--tls") {
        args.retain(|a| a != "--tls");
        Some(tls_setup()?)
    } else {
        None
    };
    match args.as_slice() {
        [] => {
            if !demo(tls)? {
                std::process::exit(1);
            }
            Ok(())
        }
        [flag, addr] if flag == "--serve" => {
            let addr = addr.clone();
            #[cfg(feature = "tls")]
            if let Some(t) = &tls {
                let path =
                    std::env::temp_dir().join(format!("corio-echo-{}.pem", std::process::id()));
                std::fs::write(&path, &t.cert_pem)?;
                println!(
                    "TLS certificate (self-signed, for localhost and 127.0.0.1): {}",
                    path.display()
                );
            }
            corio::run(move || {
                let server = start(addr.as_str(), tls.as_ref())?;
                println!("serving on {} until Ctrl+C", server.local_addr()?);
                // SIGINT/SIGTERM: stop accepting, give open connections 5 s, summarise.
                let summary = server.serve_until_signal(std::time::Duration::from_secs(5))?;
                println!("{summary}");
                Ok(())
            })
        }
        _ => {
            eprintln!("usage: echo [--serve ADDR] [--tls]");
            std::process::exit(2);
        }
    }
}
