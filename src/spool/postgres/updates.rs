//! State changes into the shared queue, in one pipelined transaction per batch. A recipient's result
//! is written only while this node holds an unexpired lease on the recipient's destination (the
//! fence: a node that lost its claim changes nothing; the new owner delivers again, the in-flight
//! duplicate docs/cluster.md counts). A message leaves the queue, with its body, once no recipient is
//! pending any more, whichever node settled the last one.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use crate::envelope::RecipientStatus;
use crate::spool::Update;

#[derive(Default)]
struct Columns {
    r_ids: Vec<i64>,
    r_idx: Vec<i16>,
    r_status: Vec<i16>,
    r_reply: Vec<String>,
    r_at: Vec<i64>,
    a_ids: Vec<i64>,
    a_at: Vec<i64>,
    a_host: Vec<String>,
    a_result: Vec<String>,
    h_ids: Vec<i64>,
    h_held: Vec<bool>,
    touched: Vec<i64>,
}

fn columns(updates: &[Update]) -> Columns {
    let mut c = Columns::default();
    for update in updates {
        match update {
            Update::Recipient { id, index, status } => {
                let (code, at_ms, reply) = match status {
                    RecipientStatus::Pending => continue,
                    RecipientStatus::Delivered { at_ms, reply } => (1, at_ms, reply),
                    RecipientStatus::Failed { at_ms, reply } => (2, at_ms, reply),
                };
                c.r_ids.push(id.0 as i64);
                c.r_idx.push(i16::try_from(*index).unwrap_or(i16::MAX));
                c.r_status.push(code);
                c.r_reply.push(reply.clone());
                c.r_at.push(*at_ms as i64);
                c.touched.push(id.0 as i64);
            }
            Update::Attempt { id, attempt } => {
                c.a_ids.push(id.0 as i64);
                c.a_at.push(attempt.at_ms as i64);
                c.a_host.push(attempt.host.clone());
                c.a_result.push(attempt.result.clone());
            }
            Update::Hold { id, held } => {
                c.h_ids.push(id.0 as i64);
                c.h_held.push(*held);
            }
            Update::Remove { id } => c.touched.push(id.0 as i64),
        }
    }
    c.touched.sort_unstable();
    c.touched.dedup();
    c
}

pub(super) async fn apply(
    client: &mut Client,
    node: &str,
    updates: &[Update],
) -> Result<(), tokio_postgres::Error> {
    let c = columns(updates);
    let tx = client.transaction().await?;
    let (recipients, attempts, holds, finished, chunks) = tokio::try_join!(
        tx.prepare(SETTLE_RECIPIENTS),
        tx.prepare(ADD_ATTEMPTS),
        tx.prepare(SET_HELD),
        tx.prepare(REMOVE_FINISHED),
        tx.prepare(REMOVE_CHUNKS),
    )?;
    let r: [&(dyn ToSql + Sync); 6] = [&c.r_ids, &c.r_idx, &c.r_status, &c.r_reply, &c.r_at, &node];
    let a: [&(dyn ToSql + Sync); 4] = [&c.a_ids, &c.a_at, &c.a_host, &c.a_result];
    let h: [&(dyn ToSql + Sync); 2] = [&c.h_ids, &c.h_held];
    let t: [&(dyn ToSql + Sync); 1] = [&c.touched];
    // Pipelined in this order; the removal sees the settled recipients (same transaction).
    tokio::try_join!(
        tx.execute(&recipients, &r),
        tx.execute(&attempts, &a),
        tx.execute(&holds, &h),
        tx.execute(&finished, &t),
        tx.execute(&chunks, &t),
    )?;
    tx.commit().await
}

const SETTLE_RECIPIENTS: &str = "
    UPDATE recipients r SET status = u.status, reply = u.reply, at_ms = u.at_ms
    FROM unnest($1::bigint[], $2::smallint[], $3::smallint[], $4::text[], $5::bigint[])
             AS u(id, idx, status, reply, at_ms),
         leases l
    WHERE r.message_id = u.id AND r.idx = u.idx AND r.status = 0
      AND l.destination = r.destination AND l.shard = 0 AND l.node = $6 AND l.expires_at >= now()";

const ADD_ATTEMPTS: &str = "
    INSERT INTO attempts (message_id, at_ms, host, result)
    SELECT u.id, u.at_ms, u.host, u.result
    FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(id, at_ms, host, result)
    WHERE EXISTS (SELECT 1 FROM messages m WHERE m.id = u.id)";

const SET_HELD: &str = "
    UPDATE messages m SET held = u.held
    FROM unnest($1::bigint[], $2::bool[]) AS u(id, held) WHERE m.id = u.id";

const REMOVE_FINISHED: &str = "
    DELETE FROM messages m WHERE m.id = ANY($1)
      AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.status = 0)";

const REMOVE_CHUNKS: &str = "
    DELETE FROM body_chunks c WHERE c.message_id = ANY($1)
      AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.message_id)";
