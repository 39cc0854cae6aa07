//! The echo example's `--tls` flag (feature `tls`): its 100 clients over TLS, and its TLS
//! server with the certificate it writes for clients.

#![cfg(feature = "tls")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{KillOnDrop, LIMIT, build_example_with_features, output_within};
use corio::streams;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

#[test]
fn echo_example_with_tls_gets_every_byte_back() {
    let exe = build_example_with_features("echo", &["tls"]);
    let out = output_within(Command::new(exe).arg("--tls"), LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(TLS)"), "{stdout}");
    assert!(
        stdout.contains("100 clients got every byte back") && stdout.contains(", 0 failed"),
        "{stdout}"
    );
}

#[test]
fn echo_example_serves_tls_with_the_certificate_it_writes() {
    let exe = build_example_with_features("echo", &["tls"]);
    let mut child = Command::new(exe)
        .args(["--serve", "127.0.0.1:0", "--tls"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the echo example starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let _guard = KillOnDrop(child);
    let (mut cert_line, mut serve_line) = (String::new(), String::new());
    stdout.read_line(&mut cert_line).unwrap();
    stdout.read_line(&mut serve_line).unwrap();
    let path = cert_line
        .trim()
        .rsplit_once(": ")
        .map(|(_, p)| p.to_string())
        .unwrap_or_else(|| panic!("unexpected first line: {cert_line:?}"));
    let addr = serve_line
        .trim()
        .strip_prefix("serving on ")
        .and_then(|s| s.strip_suffix(" until Ctrl+C"))
        .unwrap_or_else(|| panic!("unexpected second line: {serve_line:?}"))
        .to_string();
    let der = CertificateDer::from_pem_file(&path).expect("the certificate file is there");
    let _ = std::fs::remove_file(&path);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    corio::run(move || {
        let (mut r, w) =
            streams::open_tls_connection(addr.as_str(), "localhost", Arc::new(config)).unwrap();
        w.write(b"over TLS\n");
        assert_eq!(r.readline().unwrap(), b"over TLS\n");
    });
}
