//! The `[admin]` section: listener address, allowed client networks, API token, console password hash,
//! optional TLS files and the directory for generated credentials.

use std::path::{Path, PathBuf};

use super::AdminConfig;
use super::build::path;
use super::limits::{DEFAULT_ADMIN_ALLOW, DEFAULT_ADMIN_LISTEN};
use super::reader::{Collector, Section, parsed};
use super::syntax::{parse_cidr, parse_socket_addr};

const ADMIN_KEYS: &[&str] = &[
    "listen",
    "allow",
    "api_token",
    "password_hash",
    "tls_cert",
    "tls_key",
    "state_dir",
];

pub(super) fn build_admin(section: &Section, c: &mut Collector) -> AdminConfig {
    section.check_keys(c, ADMIN_KEYS);
    let listen = section.get(c, "listen", parsed(parse_socket_addr));
    let allow = section.list(c, "allow", parsed(parse_cidr));
    let api_token = section.get(c, "api_token", parsed(api_token));
    let password_hash = section.get(c, "password_hash", parsed(password_hash));
    let (tls_cert, tls_key) = tls_files(section, c);
    let state_dir = section.get(c, "state_dir", parsed(path));
    AdminConfig {
        listen: listen.map_or(DEFAULT_ADMIN_LISTEN, |f| f.value),
        allow: allow.map_or_else(
            || {
                DEFAULT_ADMIN_ALLOW
                    .iter()
                    .filter_map(|t| parse_cidr(t).ok())
                    .collect()
            },
            |f| f.value,
        ),
        api_token: api_token.map(|f| f.value),
        password_hash: password_hash.map(|f| f.value),
        tls_cert,
        tls_key,
        state_dir: state_dir.map(|f| f.value),
    }
}

/// `tls_cert` and `tls_key`: both or neither, and both existing files.
fn tls_files(section: &Section, c: &mut Collector) -> (Option<PathBuf>, Option<PathBuf>) {
    let cert = section.get(c, "tls_cert", parsed(path));
    let key = section.get(c, "tls_key", parsed(path));
    for (present, other) in [(&cert, "tls_key"), (&key, "tls_cert")] {
        let missing = if other == "tls_key" { &key } else { &cert };
        if let (Some(field), None) = (present, missing) {
            let message = format!("set together with {}", section.key_path(other));
            c.error(&field.span, &field.key, message);
        }
    }
    for field in [&cert, &key].into_iter().flatten() {
        if !Path::new(&field.value).is_file() {
            let message = format!("file not found: {}", field.value.display());
            c.error(&field.span, &field.key, message);
        }
    }
    (cert.map(|f| f.value), key.map(|f| f.value))
}

fn api_token(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("empty token; leave the key out for no token".into());
    }
    if text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err("the token cannot contain spaces or control characters".into());
    }
    Ok(text.to_string())
}

/// An argon2 PHC string, as `backupmx hash-password` prints it.
fn password_hash(text: &str) -> Result<String, String> {
    let hash = argon2::password_hash::phc::PasswordHash::new(text).map_err(|e| {
        format!("not a PHC password hash ({e}); `backupmx hash-password` prints one")
    })?;
    if !hash.algorithm.as_str().starts_with("argon2") {
        return Err(format!(
            "unsupported algorithm {:?}: use an argon2 hash from `backupmx hash-password`",
            hash.algorithm.as_str()
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::password_hash;
    use crate::config::Config;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3aVrmGj6mnJuMmkm1Ew7w0nJ0KpyuUk9qu1BaNbMD0U";
    const DOMAIN: &str = "[[domain]]\nname = \"example.test\"\n";

    fn keys_in_error(text: &str) -> Vec<(usize, String)> {
        let errors = Config::from_toml_str(&format!("{text}{DOMAIN}"), "t.toml").unwrap_err();
        errors
            .errors
            .into_iter()
            .map(|e| (e.line.unwrap_or(0), e.key))
            .collect()
    }

    #[test]
    fn admin_keys_are_read() {
        let cert = tempfile::NamedTempFile::new().unwrap();
        let path = cert.path().display();
        let text = format!(
            "[admin]\nlisten = \"127.0.0.2:9000\"\napi_token = \"t0k\"\npassword_hash = \"{HASH}\"\n\
             tls_cert = \"{path}\"\ntls_key = \"{path}\"\nstate_dir = \"/var/lib/backupmx\"\n{DOMAIN}"
        );
        let admin = Config::from_toml_str(&text, "t.toml").unwrap().admin;
        assert_eq!(admin.password_hash.as_deref(), Some(HASH));
        assert_eq!(admin.api_token.as_deref(), Some("t0k"));
        assert_eq!(admin.tls_cert.as_deref(), Some(cert.path()));
        assert_eq!(admin.state_dir, Some("/var/lib/backupmx".into()));
        let default = Config::embedded_default().admin;
        assert_eq!(
            (default.password_hash, default.tls_cert, default.state_dir),
            (None, None, None)
        );
    }

    #[test]
    fn bad_admin_keys_are_reported_with_their_lines() {
        let found = keys_in_error(
            "[admin]\npassword_hash = \"hunter2\"\ntls_cert = \"/nonexistent.pem\"\nstate_dir = \"\"\nsecret = 1\n",
        );
        let expected = [
            (2, "admin.password_hash"),
            (3, "admin.tls_cert"),
            (3, "admin.tls_cert"),
            (4, "admin.state_dir"),
            (5, "admin.secret"),
        ];
        let expected: Vec<(usize, String)> =
            expected.iter().map(|(l, k)| (*l, k.to_string())).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn password_hash_accepts_argon2_phc_strings_only() {
        let good = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3aVrmGj6mnJuMmkm1Ew7w0nJ0KpyuUk9qu1BaNbMD0U";
        assert!(password_hash(good).is_ok());
        assert!(password_hash("secret").is_err());
        assert!(password_hash("").is_err());
        assert!(password_hash("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }
}
