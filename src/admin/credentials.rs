//! Admin credentials: the API bearer token and the console password's argon2 hash (user `admin`).
//! From the config when set there; otherwise generated on first start and kept in
//! `<state dir>/admin-credentials.toml` (mode 0600: the plain token, and the password only as its hash),
//! so that the quick start (no config file) needs no set-up. The plain password is never logged: it is
//! shown once on the terminal, or (no terminal: a service) kept only in `<state dir>/admin-password`.

use std::path::{Path, PathBuf};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::config::AdminConfig;

/// The file name of generated credentials, in the state directory.
pub const CREDENTIALS_FILE: &str = "admin-credentials.toml";
/// Where a generated console password is kept when there is no terminal to show it on.
pub const FIRST_PASSWORD_FILE: &str = "admin-password";
/// The console's user name.
pub const ADMIN_USER: &str = "admin";
const TOKEN_BYTES: usize = 32;
const PASSWORD_CHARS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// What the admin listener checks requests against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub api_token: String,
    /// Argon2 PHC string of the console password.
    pub password_hash: String,
}

/// The on-disk form of generated credentials.
#[derive(Debug, Serialize, Deserialize)]
struct StoredCredentials {
    api_token: String,
    password_hash: String,
}

/// What [`Credentials::resolve`] found or made: `new_password` is set only when it was just generated
/// (to be shown once).
#[derive(Debug)]
pub struct Resolved {
    pub credentials: Credentials,
    pub file: Option<PathBuf>,
    pub new_password: Option<String>,
}

impl Credentials {
    /// The config's values; whatever is missing there comes from (or is generated into) the file in
    /// `state_dir`.
    pub fn resolve(admin: &AdminConfig, state_dir: &Path) -> Result<Resolved, CredentialsError> {
        if let (Some(token), Some(hash)) = (&admin.api_token, &admin.password_hash) {
            let credentials = Credentials {
                api_token: token.clone(),
                password_hash: hash.clone(),
            };
            return Ok(Resolved {
                credentials,
                file: None,
                new_password: None,
            });
        }
        let path = state_dir.join(CREDENTIALS_FILE);
        let (stored, new_password) = match read_file(&path)? {
            Some(stored) => (stored, None),
            None => {
                let password = random_password();
                let stored = StoredCredentials {
                    api_token: random_token(),
                    password_hash: hash_password(&password)?,
                };
                std::fs::create_dir_all(state_dir).map_err(|source| CredentialsError::Io {
                    path: state_dir.into(),
                    source,
                })?;
                write_file(&path, &stored)?;
                (stored, Some(password))
            }
        };
        // A password generated for a config that sets its own hash is never used: do not show it.
        let new_password = new_password.filter(|_| admin.password_hash.is_none());
        let credentials = Credentials {
            api_token: admin.api_token.clone().unwrap_or(stored.api_token),
            password_hash: admin.password_hash.clone().unwrap_or(stored.password_hash),
        };
        Ok(Resolved {
            credentials,
            file: Some(path),
            new_password,
        })
    }

    /// Whether `presented` is the API token, compared in constant time.
    pub fn token_matches(&self, presented: &str) -> bool {
        constant_time_eq(self.api_token.as_bytes(), presented.as_bytes())
    }

    /// Whether `password` is the console password.
    pub fn password_matches(&self, password: &str) -> bool {
        Argon2::default()
            .verify_password(password.as_bytes(), self.password_hash.as_str())
            .is_ok()
    }
}

/// Reads the stored token from a credentials file (for the CLI); `None` if there is no file.
pub fn stored_token(state_dir: &Path) -> Result<Option<String>, CredentialsError> {
    Ok(read_file(&state_dir.join(CREDENTIALS_FILE))?.map(|s| s.api_token))
}

/// The argon2id PHC string of `password` (random salt).
pub fn hash_password(password: &str) -> Result<String, CredentialsError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CredentialsError::Hash(e.to_string()))
}

/// Equal length and equal bytes, without an early exit on the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    let bytes: [u8; TOKEN_BYTES] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_password() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(PASSWORD_CHARS)
        .map(char::from)
        .collect()
}

fn read_file(path: &Path) -> Result<Option<StoredCredentials>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Io {
                path: path.into(),
                source,
            });
        }
    };
    let invalid = |message: String| CredentialsError::Invalid {
        path: path.into(),
        message,
    };
    let stored: StoredCredentials = toml::from_str(&text).map_err(|e| {
        invalid(format!(
            "{}; delete the file to generate new credentials",
            e.message()
        ))
    })?;
    if stored.api_token.is_empty() {
        return Err(invalid(
            "empty api_token; delete the file to generate new credentials".into(),
        ));
    }
    Ok(Some(stored))
}

/// Replaces the file durably (`crate::durable`: temporary file with mode 0600, fsync, rename, fsync
/// of the directory).
fn write_file(path: &Path, stored: &StoredCredentials) -> Result<(), CredentialsError> {
    let body = toml::to_string(stored).map_err(|e| CredentialsError::Hash(e.to_string()))?;
    let text = format!(
        "# Generated by backupmx on first start: the API bearer token, and the console password\n\
         # (user \"admin\") as its argon2 hash. Delete this file and restart for new credentials.\n{body}"
    );
    write_private(path, &text)
}

/// Keeps a just-generated console password in `<state_dir>/admin-password` (0600) for a server whose
/// stderr is not a terminal (a service: its stderr is the journal, which must not hold it). Returns the
/// file's path.
pub fn write_first_password(state_dir: &Path, password: &str) -> Result<PathBuf, CredentialsError> {
    let path = state_dir.join(FIRST_PASSWORD_FILE);
    write_private(&path, &format!("{password}\n"))?;
    Ok(path)
}

/// Replaces `path` durably with `text`, readable by the owner only.
fn write_private(path: &Path, text: &str) -> Result<(), CredentialsError> {
    crate::durable::replace(path, text.as_bytes(), 0o600).map_err(|e| CredentialsError::Io {
        path: path.into(),
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(token: Option<&str>, hash: Option<&str>) -> AdminConfig {
        AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            allow: Vec::new(),
            api_token: token.map(String::from),
            password_hash: hash.map(String::from),
            tls_cert: None,
            tls_key: None,
            allow_plaintext: false,
            state_dir: None,
            limits: Default::default(),
        }
    }

    #[test]
    fn generated_once_then_reused_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Credentials::resolve(&admin(None, None), dir.path()).unwrap();
        let password = first.new_password.clone().expect("a new password is shown");
        assert_eq!(password.len(), PASSWORD_CHARS);
        assert_eq!(first.credentials.api_token.len(), 2 * TOKEN_BYTES);
        assert!(first.credentials.password_matches(&password));
        assert!(!first.credentials.password_matches("wrong"));
        let path = first.file.clone().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&password),
            "the plain password is not stored"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = Credentials::resolve(&admin(None, None), dir.path()).unwrap();
        assert_eq!(second.credentials, first.credentials);
        assert!(second.new_password.is_none());
        assert_eq!(
            stored_token(dir.path()).unwrap(),
            Some(first.credentials.api_token)
        );
    }

    #[test]
    fn configured_values_win_and_need_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let hash = hash_password("pw").unwrap();
        let both = Credentials::resolve(&admin(Some("tok"), Some(&hash)), dir.path()).unwrap();
        assert_eq!(both.credentials.api_token, "tok");
        assert!(both.file.is_none() && both.new_password.is_none());
        assert!(!dir.path().join(CREDENTIALS_FILE).exists());
        let token_only = Credentials::resolve(&admin(Some("tok"), None), dir.path()).unwrap();
        assert_eq!(token_only.credentials.api_token, "tok");
        assert!(token_only.new_password.is_some());
        let hash_only = Credentials::resolve(&admin(None, Some(&hash)), dir.path()).unwrap();
        assert!(hash_only.credentials.password_matches("pw"));
        assert!(hash_only.new_password.is_none());
    }

    #[test]
    fn a_broken_file_is_an_error_not_a_silent_reset() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREDENTIALS_FILE), "api_token = 5\n").unwrap();
        let err = Credentials::resolve(&admin(None, None), dir.path()).unwrap_err();
        assert!(err.to_string().contains("delete the file"), "{err}");
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
