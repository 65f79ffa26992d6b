//! The audit log shared by the nodes: every administrator's action, whichever node received it, with
//! that node's name. (Failed logins and refused CSRF tokens stay in each node's own log: their volume is
//! an attacker's choice, bounded per node.)

use tokio_postgres::GenericClient;

/// One action as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub at_ms: u64,
    pub node: String,
    pub who: String,
    pub from_ip: String,
    pub action: String,
    pub detail: String,
}

pub async fn append<C: GenericClient>(client: &C, a: &Action) -> Result<(), tokio_postgres::Error> {
    client
        .execute(
            "INSERT INTO audit (at, node, actor, from_ip, action, detail)
             VALUES (to_timestamp($1::float8 / 1000.0), $2, $3, $4, $5, $6)",
            &[
                &(a.at_ms as f64),
                &a.node,
                &a.who,
                &a.from_ip,
                &a.action,
                &a.detail,
            ],
        )
        .await
        .map(|_| ())
}

/// The `n` newest actions, newest first.
pub async fn recent<C: GenericClient>(
    client: &C,
    n: i64,
) -> Result<Vec<Action>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT (extract(epoch FROM at) * 1000)::bigint, node, actor, from_ip, action, detail
             FROM audit ORDER BY id DESC LIMIT $1",
            &[&n],
        )
        .await?
        .iter()
        .map(|r| Action {
            at_ms: r.get::<_, i64>(0) as u64,
            node: r.get(1),
            who: r.get(2),
            from_ip: r.get(3),
            action: r.get(4),
            detail: r.get(5),
        })
        .collect())
}
