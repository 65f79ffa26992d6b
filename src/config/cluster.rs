//! `[spool] backend` and its PostgreSQL keys, and the `[cluster]` section: which store holds the queue
//! (the local journal, or one PostgreSQL database shared by several nodes), the node's name and how
//! long its claims survive without a heartbeat. The password is read here (file or `PGPASSWORD`) and
//! kept in a [`Secret`] that never prints.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::build::{duration, path, size};
use super::reader::{Collector, Section, parsed, string};

/// Where the queue is stored.
#[derive(Debug, Clone, PartialEq)]
pub enum SpoolBackend {
    /// The local journal in `[spool] dir` (the default).
    Local,
    /// A PostgreSQL database shared by the nodes of a cluster.
    Postgres(PostgresConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/db`, without a password (it may be logged).
    pub url: String,
    pub password: Option<Secret>,
    /// Connections for bodies, loading and views; the group commit and the listener have their own.
    pub pool_size: usize,
}

/// A password: compared and used, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[cluster]`: this node's identity among the nodes sharing the database.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Unique per node; default: the machine's host name.
    pub node: String,
    /// How long a node's claims survive without its heartbeat.
    pub lease: Duration,
}

const CLUSTER_KEYS: &[&str] = &["node", "lease"];
const DEFAULT_LEASE: Duration = Duration::from_secs(15);
const LEASE_BOUNDS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(2)..=Duration::from_secs(600);
const DEFAULT_POOL_SIZE: u64 = 8;

/// The backend keys of `[spool]` (the caller checks the section's key list).
pub(super) fn build_backend(section: &Section, c: &mut Collector) -> SpoolBackend {
    let backend = section.get(c, "backend", string);
    let url = section.get(c, "postgres_url", parsed(postgres_url));
    let password_file = section.get(c, "postgres_password_file", parsed(path));
    let pool_size = size(section, c, "postgres_pool_size", DEFAULT_POOL_SIZE, 1..=256);
    let Some(backend) = backend else {
        return SpoolBackend::Local;
    };
    match backend.value.as_str() {
        "local" => SpoolBackend::Local,
        "postgres" => {
            let Some(url) = url else {
                c.error(
                    &backend.span,
                    &backend.key,
                    "backend \"postgres\" needs [spool] postgres_url = \"postgres://user@host:port/db\"",
                );
                return SpoolBackend::Local;
            };
            let password = match password_file {
                Some(file) => match read_password(&file.value) {
                    Ok(p) => p,
                    Err(message) => {
                        c.error(&file.span, &file.key, message);
                        None
                    }
                },
                None => std::env::var("PGPASSWORD")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(Secret),
            };
            SpoolBackend::Postgres(PostgresConfig {
                url: url.value,
                password,
                pool_size,
            })
        }
        other => {
            c.error(
                &backend.span,
                &backend.key,
                format!("{other:?} is not a spool backend: use \"local\" or \"postgres\""),
            );
            SpoolBackend::Local
        }
    }
}

/// A PostgreSQL URL without a password (that goes in `postgres_password_file` or `PGPASSWORD`, so
/// the URL can be logged).
fn postgres_url(text: &str) -> Result<String, String> {
    if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        return Err(format!(
            "{text:?} is not a PostgreSQL URL: write \"postgres://user@host:port/database\""
        ));
    }
    let parsed: tokio_postgres::Config = text
        .parse()
        .map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
    if parsed.get_password().is_some() {
        return Err(
            "holds a password: put it in postgres_password_file (or PGPASSWORD) instead, so the URL can be logged"
                .into(),
        );
    }
    if parsed.get_dbname().is_none() {
        return Err("names no database: write \"postgres://user@host:port/database\"".into());
    }
    Ok(text.to_string())
}

fn read_password(file: &PathBuf) -> Result<Option<Secret>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let password = text.trim_end_matches(['\r', '\n']);
    Ok((!password.is_empty()).then(|| Secret(password.to_string())))
}

pub(super) fn build_cluster(section: &Section, c: &mut Collector) -> ClusterConfig {
    section.check_keys(c, CLUSTER_KEYS);
    let node = section.get(c, "node", parsed(node_name));
    let lease = duration(section, c, "lease", DEFAULT_LEASE, LEASE_BOUNDS);
    ClusterConfig {
        node: node.map_or_else(default_node_name, |f| f.value),
        lease,
    }
}

/// Node names appear in the API, the logs and the database: printable, short, no spaces.
fn node_name(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a node name: 1 to 64 of a-z, A-Z, 0-9, '-', '_', '.'"
        ))
    }
}

/// The machine's host name (the kernel's), or "backupmx" where it cannot be read.
fn default_node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|name| node_name(name.trim()).ok())
        .unwrap_or_else(|| "backupmx".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_without_password_and_with_a_database_only() {
        assert!(postgres_url("postgres://mx@127.0.0.1:5432/backupmx").is_ok());
        assert!(postgres_url("postgresql://mx@db.example/backupmx").is_ok());
        assert!(postgres_url("postgres://mx:secret@db/backupmx").is_err());
        assert!(postgres_url("postgres://mx@db").is_err());
        assert!(postgres_url("mysql://mx@db/backupmx").is_err());
    }

    #[test]
    fn node_names_are_printable_tokens() {
        assert!(node_name("mx2.example-1").is_ok());
        assert!(node_name("").is_err());
        assert!(node_name("a b").is_err());
        assert!(node_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "Secret(***)");
    }
}
