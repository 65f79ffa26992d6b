//! Certificates and a TLS client for the inbound TLS tests: a self-signed pair for `mx2.example.net`,
//! a connector that trusts chosen pairs (no session resumption, so every handshake shows the server's
//! current certificate), and the handshake over an open stream.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{Client, WAIT};
use crate::support::config::Certificate;

/// One self-signed certificate for `mx2.example.net` and its key.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Pair {
    /// The pair as the files the real binary reads.
    pub fn certificate(&self) -> Certificate {
        Certificate {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }
}

pub fn pair() -> Pair {
    let certified =
        rcgen::generate_simple_self_signed(vec!["mx2.example.net".to_string()]).unwrap();
    Pair {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
    }
}

/// A client trusting `trusted` only, offering `versions`.
pub fn connector(
    trusted: &[&Pair],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for pair in trusted {
        roots.add(pair.der.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every connection does a full handshake: a resumed session would not show a new certificate.
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

/// The TLS handshake for `mx2.example.net` over `stream`.
pub async fn handshake(
    connector: &TlsConnector,
    stream: TcpStream,
) -> Client<TlsStream<TcpStream>> {
    let name = ServerName::try_from("mx2.example.net").unwrap();
    let tls = tokio::time::timeout(WAIT, connector.connect(name, stream))
        .await
        .unwrap()
        .unwrap();
    Client::new(tls)
}
