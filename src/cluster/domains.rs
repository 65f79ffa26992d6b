//! The domains provisioned through the admin API, shared by the nodes of a cluster (issue 16 with
//! issue 13): one row per domain in `provisioned_domains`, its settings as the `[[domain]]` table the
//! store file holds. A node writes a change there before it puts it in force, and every node follows
//! the table (the daemon's reload task reads it every second), so a domain provisioned through any
//! node takes mail on all of them. Each node's store file stays as its local copy.

use deadpool_postgres::Pool;
use tokio_postgres::GenericClient;

/// This node's access to the shared table.
#[derive(Clone)]
pub struct SharedDomains {
    pool: Pool,
    node: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the shared queue's database: {0}")]
pub struct SharedDomainsError(String);

fn failed(e: impl std::fmt::Display) -> SharedDomainsError {
    SharedDomainsError(e.to_string())
}

impl SharedDomains {
    pub fn new(pool: Pool, node: &str) -> SharedDomains {
        SharedDomains {
            pool,
            node: node.to_string(),
        }
    }

    /// Stores `name`'s settings (`Some`: its `[[domain]]` table) or removes it (`None`).
    pub async fn write(
        &self,
        name: &str,
        settings: Option<&str>,
    ) -> Result<(), SharedDomainsError> {
        let client = self.pool.get().await.map_err(failed)?;
        match settings {
            Some(settings) => client
                .execute(
                    "INSERT INTO provisioned_domains (name, settings, changed_by) VALUES ($1, $2, $3)
                     ON CONFLICT (name) DO UPDATE
                         SET settings = $2, changed_by = $3, changed_at = now()",
                    &[&name, &settings, &self.node],
                )
                .await
                .map_err(failed)?,
            None => client
                .execute("DELETE FROM provisioned_domains WHERE name = $1", &[&name])
                .await
                .map_err(failed)?,
        };
        Ok(())
    }

    /// Every domain's `[[domain]]` table, by name.
    pub async fn read_all(&self) -> Result<Vec<String>, SharedDomainsError> {
        let client = self.pool.get().await.map_err(failed)?;
        read_all(&**client).await.map_err(failed)
    }

    /// Fills an empty table with this node's store (a node moving into a cluster brings its
    /// provisioned domains); once the table has any row, it is the authority and this does nothing.
    pub async fn seed(&self, tables: &[(String, String)]) -> Result<u64, SharedDomainsError> {
        if tables.is_empty() {
            return Ok(0);
        }
        let mut client = self.pool.get().await.map_err(failed)?;
        let tx = client.transaction().await.map_err(failed)?;
        tx.execute("LOCK TABLE provisioned_domains IN EXCLUSIVE MODE", &[])
            .await
            .map_err(failed)?;
        let present: i64 = tx
            .query_one("SELECT count(*) FROM provisioned_domains", &[])
            .await
            .map_err(failed)?
            .get(0);
        let mut added = 0;
        if present == 0 {
            for (name, settings) in tables {
                added += tx
                    .execute(
                        "INSERT INTO provisioned_domains (name, settings, changed_by) VALUES ($1, $2, $3)",
                        &[name, settings, &self.node],
                    )
                    .await
                    .map_err(failed)?;
            }
        }
        tx.commit().await.map_err(failed)?;
        Ok(added)
    }
}

async fn read_all<C: GenericClient>(client: &C) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT settings FROM provisioned_domains ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
