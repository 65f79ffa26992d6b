//! The ACME files in `<state_dir>/acme/`: the account credentials (`account.json`), the certificate
//! chain (`cert.pem`) and its key (`key.pem`), each written with mode 0600 through
//! `durable::replace`. Only this file touches them.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The files' mode: the key and the account key are secrets.
const MODE: u32 = 0o600;

/// Where the ACME files live.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// Why a file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] crate::durable::WriteError),
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            dir: state_dir.join("acme"),
        }
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    fn create_dir(&self) -> Result<(), StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| StoreError::Io {
            path: self.dir.clone(),
            source,
        })
    }

    /// The stored account credentials (JSON), if any.
    pub fn account(&self) -> Option<String> {
        std::fs::read_to_string(self.account_path()).ok()
    }

    pub fn save_account(&self, json: &str) -> Result<(), StoreError> {
        self.create_dir()?;
        crate::durable::replace(&self.account_path(), json.as_bytes(), MODE)?;
        Ok(())
    }

    /// Stores a new pair: the key first, so a crash in between leaves a key without its
    /// certificate (detected at load: the pair is refused and a new one ordered), never a
    /// certificate served with the wrong key unnoticed.
    pub fn save_pair(&self, cert_pem: &str, key_pem: &str) -> Result<(), StoreError> {
        self.create_dir()?;
        crate::durable::replace(&self.key_path(), key_pem.as_bytes(), MODE)?;
        crate::durable::replace(&self.cert_path(), cert_pem.as_bytes(), MODE)?;
        Ok(())
    }

    /// The stored certificate's validity (not before, not after), if there is a readable one.
    pub fn validity(&self) -> Option<(SystemTime, SystemTime)> {
        if !self.key_path().is_file() {
            return None;
        }
        let leaf = CertificateDer::pem_file_iter(self.cert_path())
            .ok()?
            .next()?
            .ok()?;
        validity(&leaf)
    }
}

/// A certificate's validity period.
pub fn validity(cert: &CertificateDer<'_>) -> Option<(SystemTime, SystemTime)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let time = |t: i64| Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(t).ok()?));
    let from = time(parsed.validity().not_before.timestamp())?;
    let until = time(parsed.validity().not_after.timestamp())?;
    Some((from, until))
}
