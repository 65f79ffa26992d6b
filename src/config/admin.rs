//! The `[admin]` section: listener address, allowed client networks, API token, console password hash,
//! optional TLS files, the directory for generated credentials, and the listener's resource bounds
//! (timeouts, connection caps, login locks, audit log size).

use std::path::{Path, PathBuf};

use super::build::{count, duration, path, size};
use super::limits::*;
use super::reader::{Collector, Field, Section, boolean, parsed};
use super::syntax::{parse_cidr, parse_socket_addr};
use super::{AdminConfig, AdminLimits};

const ADMIN_KEYS: &[&str] = &[
    "listen",
    "allow",
    "api_token",
    "password_hash",
    "tls_cert",
    "tls_key",
    "allow_plaintext",
    "state_dir",
    "header_read_timeout",
    "body_read_timeout",
    "idle_timeout",
    "max_connections",
    "max_connections_per_client",
    "login_max_failures",
    "login_lock",
    "login_lock_max",
    "audit_max_size",
    "audit_keep",
];

impl Default for AdminLimits {
    /// The defaults of docs/config.md.
    fn default() -> Self {
        AdminLimits {
            header_read_timeout: DEFAULT_ADMIN_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_ADMIN_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_ADMIN_IDLE_TIMEOUT,
            max_connections: DEFAULT_ADMIN_MAX_CONNECTIONS as usize,
            max_connections_per_client: DEFAULT_ADMIN_MAX_CONNECTIONS_PER_CLIENT as usize,
            login_max_failures: DEFAULT_LOGIN_MAX_FAILURES as u32,
            login_lock: DEFAULT_LOGIN_LOCK,
            login_lock_max: DEFAULT_LOGIN_LOCK_MAX,
            audit_max_size: DEFAULT_AUDIT_MAX_SIZE,
            audit_keep: DEFAULT_AUDIT_KEEP as usize,
        }
    }
}

pub(super) fn build_admin(section: &Section, c: &mut Collector) -> AdminConfig {
    section.check_keys(c, ADMIN_KEYS);
    let listen = section.get(c, "listen", parsed(parse_socket_addr));
    let allow = section.list(c, "allow", parsed(parse_cidr));
    let api_token = section.get(c, "api_token", parsed(api_token));
    let password_hash = section.get(c, "password_hash", parsed(password_hash));
    let (tls_cert, tls_key) = tls_files(section, c);
    let allow_plaintext = section
        .get(c, "allow_plaintext", boolean)
        .is_some_and(|f| f.value);
    if let Some(listen) = &listen {
        plaintext_only_on_loopback(c, listen, tls_cert.is_some(), allow_plaintext);
    }
    let state_dir = section.get(c, "state_dir", parsed(path));
    let limits = build_limits(section, c);
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
        allow_plaintext,
        state_dir: state_dir.map(|f| f.value),
        limits,
    }
}

fn build_limits(section: &Section, c: &mut Collector) -> AdminLimits {
    let header_read_timeout = duration(
        section,
        c,
        "header_read_timeout",
        DEFAULT_ADMIN_HEADER_READ_TIMEOUT,
        ADMIN_HEADER_READ_TIMEOUT_BOUNDS,
    );
    let body_read_timeout = duration(
        section,
        c,
        "body_read_timeout",
        DEFAULT_ADMIN_BODY_READ_TIMEOUT,
        ADMIN_BODY_READ_TIMEOUT_BOUNDS,
    );
    let idle_timeout = duration(
        section,
        c,
        "idle_timeout",
        DEFAULT_ADMIN_IDLE_TIMEOUT,
        ADMIN_IDLE_TIMEOUT_BOUNDS,
    );
    let mut connections =
        |key: &str, default: u64| size(section, c, key, default, ADMIN_CONNECTIONS_BOUNDS);
    let max_connections = connections("max_connections", DEFAULT_ADMIN_MAX_CONNECTIONS);
    let max_connections_per_client = connections(
        "max_connections_per_client",
        DEFAULT_ADMIN_MAX_CONNECTIONS_PER_CLIENT,
    );
    let login_max_failures = count(
        section,
        c,
        "login_max_failures",
        DEFAULT_LOGIN_MAX_FAILURES,
        LOGIN_MAX_FAILURES_BOUNDS,
    );
    let login_lock = duration(
        section,
        c,
        "login_lock",
        DEFAULT_LOGIN_LOCK,
        LOGIN_LOCK_BOUNDS,
    );
    // A maximum below the first lock would make the locks shrink: take the larger.
    let login_lock_max = duration(
        section,
        c,
        "login_lock_max",
        DEFAULT_LOGIN_LOCK_MAX,
        LOGIN_LOCK_BOUNDS,
    )
    .max(login_lock);
    AdminLimits {
        header_read_timeout,
        body_read_timeout,
        idle_timeout,
        max_connections,
        max_connections_per_client,
        login_max_failures: u32::try_from(login_max_failures).unwrap_or(u32::MAX),
        login_lock,
        login_lock_max,
        audit_max_size: count(
            section,
            c,
            "audit_max_size",
            DEFAULT_AUDIT_MAX_SIZE,
            AUDIT_MAX_SIZE_BOUNDS,
        ),
        audit_keep: size(
            section,
            c,
            "audit_keep",
            DEFAULT_AUDIT_KEEP,
            AUDIT_KEEP_BOUNDS,
        ),
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

/// The console's password and session cookie must not cross a network in clear text: an admin
/// listener on a non-loopback address needs TLS, unless `allow_plaintext = true` says the network
/// is trusted (or a TLS proxy sits in front).
fn plaintext_only_on_loopback(
    c: &mut Collector,
    listen: &Field<std::net::SocketAddr>,
    tls: bool,
    allowed: bool,
) {
    if !listen.value.ip().is_loopback() && !tls && !allowed {
        let message = format!(
            "{} is not a loopback address: the console would send its password in clear text; \
             set tls_cert and tls_key, or allow_plaintext = true for a trusted network or a TLS proxy",
            listen.value
        );
        c.error(&listen.span, &listen.key, message);
    }
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
    fn admin_limits_are_read_with_defaults_and_bounds() {
        let text = format!(
            "[admin]\nheader_read_timeout = \"3s\"\nidle_timeout = \"2s\"\nmax_connections = 100\n\
             max_connections_per_client = 60\nlogin_max_failures = 3\nlogin_lock = \"2s\"\n\
             login_lock_max = \"1s\"\naudit_max_size = 8192\naudit_keep = 2\n{DOMAIN}"
        );
        let limits = Config::from_toml_str(&text, "t.toml").unwrap().admin.limits;
        assert_eq!(
            limits.header_read_timeout,
            std::time::Duration::from_secs(3)
        );
        assert_eq!(limits.idle_timeout, std::time::Duration::from_secs(2));
        assert_eq!(
            (limits.max_connections, limits.max_connections_per_client),
            (100, 60)
        );
        assert_eq!(limits.login_max_failures, 3);
        assert_eq!(limits.login_lock, std::time::Duration::from_secs(2));
        assert_eq!(
            limits.login_lock_max,
            std::time::Duration::from_secs(2),
            "never below the first lock"
        );
        assert_eq!((limits.audit_max_size, limits.audit_keep), (8192, 2));
        assert_eq!(
            Config::embedded_default().admin.limits,
            crate::config::AdminLimits::default()
        );
        let found = keys_in_error(
            "[admin]\nidle_timeout = \"0s\"\nmax_connections = 0\nlogin_max_failures = 0\naudit_max_size = 10\n",
        );
        let keys: Vec<&str> = found.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "admin.idle_timeout",
                "admin.max_connections",
                "admin.login_max_failures",
                "admin.audit_max_size"
            ]
        );
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

#[cfg(test)]
mod plaintext_tests {
    use crate::config::Config;

    fn load(admin: &str) -> Result<Config, String> {
        let text = format!("[[domain]]\nname = \"a.test\"\n[admin]\n{admin}\n");
        Config::from_toml_str(&text, "t.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_plaintext_console_off_loopback_is_refused_unless_allowed() {
        let error = load("listen = \"192.0.2.1:8025\"").unwrap_err();
        assert!(
            error.starts_with("t.toml:4: admin.listen: 192.0.2.1:8025 is not a loopback address"),
            "{error}"
        );
        assert!(error.contains("allow_plaintext = true"), "{error}");
        let config = load("listen = \"192.0.2.1:8025\"\nallow_plaintext = true").unwrap();
        assert!(config.admin.allow_plaintext);
        assert!(load("listen = \"[::1]:8025\"").is_ok());
        assert!(load("listen = \"127.0.0.2:8025\"").is_ok());
    }
}
