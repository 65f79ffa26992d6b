//! The group commit into the shared queue: many sessions' messages in one transaction, sent pipelined
//! (the statements leave together, so a batch costs about two round trips and one WAL flush whatever
//! its size). Arrival numbers are taken inside the transaction from the single `arrival` row, whose lock
//! is held until COMMIT, so arrival order is commit order across every node.

use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

/// Where the commit announces new mail; owners then load what is newer than what they have.
pub const ARRIVALS_CHANNEL: &str = "backupmx_arrivals";

/// One recipient row of a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipient {
    /// The address as received (quotes preserved), or `postmaster`.
    pub address: String,
    /// The destination key (backed-up domain, lower case; or the postmaster mailbox's key).
    pub destination: String,
    /// The order book's mailbox key.
    pub mailbox: String,
}

/// A message to make durable: its identity, envelope (encoded by the caller), and its body when small
/// enough to ride in the transaction (larger bodies were streamed into `body_chunks` beforehand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: u64,
    pub sender: String,
    pub envelope: Vec<u8>,
    pub recipients: Vec<NewRecipient>,
    pub size: u64,
    pub received_at_ms: u64,
    pub inline_body: Option<Vec<u8>>,
}

/// Commits `batch` as one transaction on behalf of `node`; returns each message's arrival number, in
/// the batch's order (consecutive). Nothing is committed when it fails.
pub async fn commit_batch(
    client: &mut Client,
    node: &str,
    batch: &[NewMessage],
) -> Result<Vec<u64>, tokio_postgres::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let tx = client.transaction().await?;
    let arrivals = insert_in(&tx, node, batch).await?;
    tx.commit().await?;
    Ok(arrivals)
}

/// Inserts `batch` inside the caller's transaction (the commit's own, or an import's); returns the
/// arrival numbers in the batch's order.
pub async fn insert_in(
    tx: &tokio_postgres::Transaction<'_>,
    node: &str,
    batch: &[NewMessage],
) -> Result<Vec<u64>, tokio_postgres::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let n = batch.len() as i64;
    let ids: Vec<i64> = batch.iter().map(|m| m.id as i64).collect();
    let senders: Vec<&str> = batch.iter().map(|m| m.sender.as_str()).collect();
    let envelopes: Vec<&[u8]> = batch.iter().map(|m| m.envelope.as_slice()).collect();
    let sizes: Vec<i64> = batch.iter().map(|m| m.size as i64).collect();
    let received: Vec<i64> = batch.iter().map(|m| m.received_at_ms as i64).collect();
    let (r_ids, r_idx, r_address, r_dest, r_mailbox) = recipient_columns(batch);
    let (b_ids, b_data): (Vec<i64>, Vec<&[u8]>) = batch
        .iter()
        .filter_map(|m| m.inline_body.as_deref().map(|b| (m.id as i64, b)))
        .unzip();

    let payload = String::new();
    let message_params: [&(dyn ToSql + Sync); 7] =
        [&ids, &n, &node, &senders, &envelopes, &sizes, &received];
    let recipient_params: [&(dyn ToSql + Sync); 5] =
        [&r_ids, &r_idx, &r_address, &r_dest, &r_mailbox];
    let body_params: [&(dyn ToSql + Sync); 2] = [&b_ids, &b_data];
    let notify_params: [&(dyn ToSql + Sync); 2] = [&ARRIVALS_CHANNEL, &payload];

    let (messages, recipients, bodies, notify) = tokio::try_join!(
        tx.prepare(INSERT_MESSAGES),
        tx.prepare(INSERT_RECIPIENTS),
        tx.prepare(INSERT_BODIES),
        tx.prepare("SELECT pg_notify($1, $2)"),
    )?;
    // Pipelined: with the statements prepared, each request leaves when its future is first polled,
    // in this order, and the server runs them in order (the recipients' foreign key needs the messages
    // first).
    let (arrivals, ..) = tokio::try_join!(
        tx.query(&messages, &message_params),
        tx.execute(&recipients, &recipient_params),
        tx.execute(&bodies, &body_params),
        tx.execute(&notify, &notify_params),
    )?;
    let mut arrivals: Vec<(i64, i64)> = arrivals.iter().map(|r| (r.get(0), r.get(1))).collect();
    arrivals.sort_unstable_by_key(|&(_, ord)| ord);
    Ok(arrivals.into_iter().map(|(a, _)| a as u64).collect())
}

/// Takes the batch's arrival numbers (the counter's row lock is held until COMMIT) and inserts the
/// messages in the batch's order.
const INSERT_MESSAGES: &str = "
    WITH counter AS (UPDATE arrival SET last = last + $2 RETURNING last)
    INSERT INTO messages (id, arrival, accepted_by, sender, envelope, size, received_at)
    SELECT id, (SELECT last FROM counter) - $2 + ord, $3, sender, envelope, size,
           to_timestamp(received / 1000.0)
    FROM unnest($1::bigint[], $4::text[], $5::bytea[], $6::bigint[], $7::bigint[])
         WITH ORDINALITY AS t(id, sender, envelope, size, received, ord)
    RETURNING arrival, arrival - ((SELECT last FROM counter) - $2)";

const INSERT_RECIPIENTS: &str = "
    INSERT INTO recipients (message_id, idx, address, destination, mailbox, status)
    SELECT m, i, a, d, b, 0
    FROM unnest($1::bigint[], $2::smallint[], $3::text[], $4::text[], $5::text[]) AS t(m, i, a, d, b)";

const INSERT_BODIES: &str = "
    INSERT INTO body_chunks (message_id, seq, data)
    SELECT m, 0, d FROM unnest($1::bigint[], $2::bytea[]) AS t(m, d)";

type RecipientColumns<'a> = (Vec<i64>, Vec<i16>, Vec<&'a str>, Vec<&'a str>, Vec<&'a str>);

fn recipient_columns(batch: &[NewMessage]) -> RecipientColumns<'_> {
    let mut columns: RecipientColumns<'_> = Default::default();
    for m in batch {
        for (idx, r) in m.recipients.iter().enumerate() {
            columns.0.push(m.id as i64);
            columns.1.push(i16::try_from(idx).unwrap_or(i16::MAX));
            columns.2.push(&r.address);
            columns.3.push(&r.destination);
            columns.4.push(&r.mailbox);
        }
    }
    columns
}
