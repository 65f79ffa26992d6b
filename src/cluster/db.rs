//! Connecting to the shared queue's PostgreSQL: a URL (`postgres://user@host:port/db`) plus a password
//! kept out of it (a file or the environment), so the URL can be logged and the password never is.

use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Connection, GenericClient, NoTls, Row, Socket};
use tracing::warn;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid PostgreSQL URL: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
}

/// The password to use: a password file's contents (its trailing newline dropped) win over the
/// environment variable; an empty one counts as none. The caller reads the file (the edge that was
/// given its name: the CLI today, the config loader once `[spool] postgres_password_file` exists).
pub fn password(file_contents: Option<&str>, env: Option<String>) -> Option<String> {
    match file_contents {
        Some(text) => Some(text.trim_end_matches(['\r', '\n']).to_string()),
        None => env,
    }
    .filter(|p| !p.is_empty())
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

/// A client and its connection, not yet driven: `connect` spawns the driver as is, the arrivals
/// listener polls it itself for notifications.
pub async fn open(
    url: &str,
    password: Option<&str>,
) -> Result<(Client, Connection<Socket, NoTlsStream>), DbError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e: tokio_postgres::Error| DbError::Url(e.to_string()))?;
    if let Some(password) = password {
        config.password(password);
    }
    config
        .connect(NoTls)
        .await
        .map_err(|source| DbError::Connect {
            target: redacted(url),
            source,
        })
}

/// One connection (its driver runs on its own task until the client is dropped).
pub async fn connect(url: &str, password: Option<&str>) -> Result<Client, DbError> {
    let (client, connection) = open(url, password).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            warn!(error = %e, "PostgreSQL connection ended");
        }
    });
    Ok(client)
}

/// Runs `sql` with `params` and maps every row it returns: the shape of the listing queries.
pub async fn query_map<C: GenericClient, T>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&Row) -> T,
) -> Result<Vec<T>, tokio_postgres::Error> {
    Ok(client.query(sql, params).await?.iter().map(map).collect())
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
        assert_eq!(
            password(Some("from-file\n"), Some("from-env".into())).as_deref(),
            Some("from-file")
        );
        assert_eq!(
            password(None, Some("from-env".into())).as_deref(),
            Some("from-env")
        );
        assert_eq!(password(None, Some(String::new())), None);
        assert_eq!(password(Some("\n"), Some("from-env".into())), None);
    }
}
