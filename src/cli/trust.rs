//! Which certificates the CLI trusts for an HTTPS admin listener: the PEM file given with `--ca`, or
//! else the certificates of the server's own `[admin] tls_cert` (its chain file: a self-signed
//! certificate, or a leaf followed by the intermediate that issued it). Read here because the CLI
//! reads no other file of the server's behind its back (ARCHITECTURE.md).

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, parse_pem};

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("cannot read the CA file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not PEM: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("{0}: no certificate in it")]
    Empty(PathBuf),
}

/// The certificates (trust anchors) in a PEM file; private keys in it are skipped.
pub fn anchors(path: &Path) -> Result<Vec<Certificate<'static>>, TrustError> {
    let text = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut found = Vec::new();
    for item in parse_pem(&text) {
        match item {
            Ok(PemItem::Certificate(cert)) => found.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(TrustError::Pem {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        }
    }
    if found.is_empty() {
        return Err(TrustError::Empty(path.to_path_buf()));
    }
    Ok(found)
}
