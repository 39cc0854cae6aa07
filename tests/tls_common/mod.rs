//! Certificates made at test time (rcgen) and the rustls configurations over them.

#![allow(dead_code)]

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A self-signed certificate for `localhost` and `127.0.0.1`, a server configuration that
/// presents it, and a client configuration that trusts it (TLS 1.2 and 1.3).
pub struct Certs {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn certs() -> Certs {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("rcgen makes a certificate");
    let der: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .expect("a valid server configuration");
    let mut roots = RootCertStore::empty();
    roots.add(der).expect("the certificate is a valid root");
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Certs {
        server: Arc::new(server),
        client: Arc::new(client),
        cert_pem: ck.cert.pem(),
        key_pem: ck.key_pair.serialize_pem(),
    }
}
