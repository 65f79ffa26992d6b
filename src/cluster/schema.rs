//! The shared queue's database schema: versioned migrations, applied by `backupmx db migrate`, and the
//! check a node makes before it serves (it refuses a schema it does not know).

use tokio_postgres::Client;

/// One step of the schema, applied in one transaction.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this binary knows, oldest first; versions are consecutive from 1.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("schema/001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "audit source",
        sql: include_str!("schema/002_audit_source.sql"),
    },
    Migration {
        version: 3,
        name: "shared recipient cache",
        sql: include_str!("schema/003_shared_recipient_cache.sql"),
    },
    Migration {
        version: 4,
        name: "shared provisioned domains",
        sql: include_str!("schema/004_provisioned_domains.sql"),
    },
    Migration {
        version: 5,
        name: "shared destination health",
        sql: include_str!("schema/005_destination_health.sql"),
    },
];

/// The newest schema this binary knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Serialises concurrent `db migrate` runs (two nodes started at once): a transaction-scoped
/// advisory lock with a fixed key ("bmx1").
const MIGRATE_LOCK: i64 = 0x626d_7831;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the database has no backupmx schema: run `backupmx db migrate` first")]
    Missing,
    #[error(
        "the database schema is version {found}, this binary needs {needed}: run `backupmx db migrate`"
    )]
    Older { found: i32, needed: i32 },
    #[error(
        "the database schema is version {found}, newer than this binary knows ({known}): upgrade backupmx on this node"
    )]
    Newer { found: i32, known: i32 },
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// Applies every migration the database lacks; returns the versions applied (empty when up to date).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, SchemaError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let found = current(&tx).await?.unwrap_or(0);
    if found > latest() {
        return Err(SchemaError::Newer {
            found,
            known: latest(),
        });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        applied.push(migration.version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Succeeds only when the database holds exactly the schema this binary was built for.
pub async fn check(client: &Client) -> Result<i32, SchemaError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Err(SchemaError::Missing);
    }
    match current(client).await? {
        None => Err(SchemaError::Missing),
        Some(found) if found < latest() => Err(SchemaError::Older {
            found,
            needed: latest(),
        }),
        Some(found) if found > latest() => Err(SchemaError::Newer {
            found,
            known: latest(),
        }),
        Some(found) => Ok(found),
    }
}

async fn current<C: tokio_postgres::GenericClient>(client: &C) -> Result<Option<i32>, SchemaError> {
    let row = client
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
        assert_eq!(latest(), MIGRATIONS.len() as i32);
    }
}
