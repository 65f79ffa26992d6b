//! The TLS acceptor (STARTTLS and implicit TLS): rustls 0.23 with the ring provider (never the process
//! default, so a second provider pulled in elsewhere cannot make rustls panic), TLS 1.2 and 1.3 only,
//! certificate chain and key from PEM files. The pair sits behind a resolver that [`TlsReloader`] can
//! swap (on SIGHUP): new handshakes take the new pair, established sessions keep theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The protocol versions offered: TLS 1.0 and 1.1 are refused at the handshake.
pub const TLS_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS certificate {path}: {source}")]
    Certificate {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("cannot read TLS private key {path}: {source}")]
    Key {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the acceptor from a PEM certificate chain (leaf first) and a PEM private key.
pub fn load_tls(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    load_reloadable_tls(cert, key).map(|(acceptor, _)| acceptor)
}

/// Like [`load_tls`], plus the handle that reloads the same files into the same acceptor.
pub fn load_reloadable_tls(
    cert: &Path,
    key: &Path,
) -> Result<(TlsAcceptor, TlsReloader), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pair = read_pair(cert, key, &provider)?;
    let resolver = Arc::new(CurrentCert(RwLock::new(Arc::new(pair))));
    let config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(TLS_VERSIONS)?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    let reloader = TlsReloader {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        provider,
        resolver,
    };
    Ok((TlsAcceptor::from(Arc::new(config)), reloader))
}

/// Reads the certificate and key files again into a running acceptor.
#[derive(Debug, Clone)]
pub struct TlsReloader {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    resolver: Arc<CurrentCert>,
}

impl TlsReloader {
    /// Loads the files; on success new handshakes use them. On error the current pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.reload_from(&self.cert, &self.key)
    }

    /// Like [`TlsReloader::reload`], from the files a reloaded config names (they may have moved).
    pub fn reload_from(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let pair = read_pair(cert, key, &self.provider)?;
        let mut current = self
            .resolver
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *current = Arc::new(pair);
        Ok(())
    }
}

impl TlsReloader {
    /// The certificate chain new handshakes get now (leaf first).
    pub fn current_chain(&self) -> Vec<CertificateDer<'static>> {
        let current = self
            .resolver
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        current.cert.clone()
    }
}

/// The certificate and key every new handshake gets.
#[derive(Debug)]
struct CurrentCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let current = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Some(Arc::clone(&current))
    }
}

/// Reads and checks a pair: a chain, a key the provider can use, and the key matching the leaf.
fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_error = |source| TlsError::Certificate {
        path: cert.to_path_buf(),
        source,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(cert_error)?
        .collect::<Result<_, _>>()
        .map_err(cert_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}
