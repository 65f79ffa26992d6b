//! Connecting to the shared queue's PostgreSQL: a URL (`postgres://user@host:port/db`) plus a password
//! kept out of it (a file or the environment), so the URL can be logged and the password never is.

use std::path::Path;

use tokio_postgres::{Client, NoTls};
use tracing::warn;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    #[error("cannot read the password file {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
}

/// Where the password comes from: the file wins over the environment variable.
pub fn password(file: Option<&Path>, env: Option<String>) -> Result<Option<String>, DbError> {
    match file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|source| DbError::PasswordFile {
                path: path.display().to_string(),
                source,
            }),
        None => Ok(env.filter(|p| !p.is_empty())),
    }
}

/// The URL as it may be logged: any password written into it is masked.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// One connection (its driver runs on its own task until the client is dropped).
pub async fn connect(url: &str, password: Option<&str>) -> Result<Client, DbError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| DbError::Url(e.to_string()))?;
    if let Some(password) = password {
        config.password(password);
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|source| DbError::Connect {
            target: redacted(url),
            source,
        })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_the_url_is_masked() {
        assert_eq!(
            redacted("postgres://bmx:s3cret@db.example:5432/mail"),
            "postgres://bmx:***@db.example:5432/mail"
        );
        assert_eq!(
            redacted("postgres://bmx@db.example/mail"),
            "postgres://bmx@db.example/mail"
        );
        assert_eq!(redacted("host=db user=bmx"), "host=db user=bmx");
    }

    #[test]
    fn the_password_file_wins_and_loses_its_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").expect("write");
        assert_eq!(
            password(Some(&file), Some("from-env".into()))
                .expect("read")
                .as_deref(),
            Some("from-file")
        );
        assert_eq!(
            password(None, Some("from-env".into()))
                .expect("env")
                .as_deref(),
            Some("from-env")
        );
        assert_eq!(password(None, Some(String::new())).expect("empty"), None);
        assert!(matches!(
            password(Some(&dir.path().join("missing")), None),
            Err(DbError::PasswordFile { .. })
        ));
    }
}
