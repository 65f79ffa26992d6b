//! Moving a local spool's queued mail into the cluster's shared queue (issue 13): `export` writes every
//! queued message of a stopped server's spool as a stream (a header line, then per message its
//! journal record and its body), `import` commits such a stream into PostgreSQL, 1,000 messages per
//! transaction. Importing is idempotent: a message already there (same id, same envelope) is skipped,
//! so an interrupted import is simply run again; the same id with another envelope stops the import
//! with an error naming it (never a silent loss).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;

use tokio::io::AsyncReadExt;
use tokio_postgres::Client;

use super::handle::LocalSpool;
use super::record::{self, BodyLocation, Record};
use super::{SpoolError, StoredMessage};
use crate::cluster::bodies::{CHUNK, ChunkWriter};
use crate::cluster::commit::insert_in;
use crate::envelope::RecipientStatus;

const HEADER: &[u8] = b"backupmx-export 1\n";
/// Messages per import transaction.
const BATCH: usize = 1000;
/// The name imported messages carry as the node that accepted them.
pub const IMPORTED_BY: &str = "(imported)";

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    #[error("not a backupmx export (bad header)")]
    NotAnExport,
    #[error("the export is damaged after {0} messages: {1}")]
    Damaged(usize, String),
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error(
        "message {0} is already in the shared queue with another envelope: not imported (nothing was overwritten)"
    )]
    Conflict(String),
}

/// Writes every queued message of the local spool in `dir` to `out`; returns how many. The spool is
/// locked while this runs: a running server must be stopped first (its lock says so).
pub async fn export(dir: &Path, out: &mut impl Write) -> Result<usize, TransferError> {
    let (spool, messages) = LocalSpool::open(dir)?;
    out.write_all(HEADER)?;
    let mut n = 0;
    for message in messages {
        if message.envelope.pending().next().is_none() {
            continue;
        }
        let mut body = Vec::new();
        spool
            .open_body(message.id)
            .await?
            .read_to_end(&mut body)
            .await?;
        let rec = record::encode_message(
            &message,
            &BodyLocation::File {
                len: body.len() as u64,
            },
        );
        out.write_all(&(rec.len() as u32).to_be_bytes())?;
        out.write_all(&rec)?;
        out.write_all(&body)?;
        n += 1;
    }
    out.flush()?;
    spool.close();
    Ok(n)
}

/// Reads an export: one message and its body at a time.
pub struct ExportReader<R: Read> {
    input: R,
    read: usize,
}

impl<R: Read> ExportReader<R> {
    pub fn new(mut input: R) -> Result<ExportReader<R>, TransferError> {
        let mut header = vec![0u8; HEADER.len()];
        input
            .read_exact(&mut header)
            .map_err(|_| TransferError::NotAnExport)?;
        if header != HEADER {
            return Err(TransferError::NotAnExport);
        }
        Ok(ExportReader { input, read: 0 })
    }

    /// The next message, `None` at the clean end of the stream.
    pub fn next_message(&mut self) -> Result<Option<(StoredMessage, Vec<u8>)>, TransferError> {
        let mut len = [0u8; 4];
        match self.input.read(&mut len[..1])? {
            0 => return Ok(None),
            _ => self.exact(&mut len[1..])?,
        }
        let mut rec = vec![0u8; u32::from_be_bytes(len) as usize];
        self.exact(&mut rec)?;
        let Ok(Record::Message { message, body }) = record::decode(&rec) else {
            return Err(TransferError::Damaged(
                self.read,
                "undecodable record".into(),
            ));
        };
        let mut bytes = vec![0u8; body.len() as usize];
        self.exact(&mut bytes)?;
        self.read += 1;
        Ok(Some((message, bytes)))
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), TransferError> {
        self.input
            .read_exact(buf)
            .map_err(|e| TransferError::Damaged(self.read, e.to_string()))
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub imported: usize,
    pub already_there: usize,
}

/// Commits every message of `reader` into the shared queue behind `client`.
pub async fn import<R: Read>(
    client: &mut Client,
    reader: &mut ExportReader<R>,
) -> Result<Imported, TransferError> {
    let mut total = Imported::default();
    loop {
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            match reader.next_message()? {
                Some(item) => batch.push(item),
                None => break,
            }
        }
        if batch.is_empty() {
            return Ok(total);
        }
        let done = import_batch(client, batch).await?;
        total.imported += done.imported;
        total.already_there += done.already_there;
    }
}

async fn import_batch(
    client: &mut Client,
    batch: Vec<(StoredMessage, Vec<u8>)>,
) -> Result<Imported, TransferError> {
    let ids: Vec<i64> = batch.iter().map(|(m, _)| m.id.0 as i64).collect();
    let existing: HashMap<i64, Vec<u8>> = client
        .query(
            "SELECT id, envelope FROM messages WHERE id = ANY($1)",
            &[&ids],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut fresh = Vec::new();
    let mut done = Imported::default();
    for (message, body) in batch {
        let envelope = record::encode_message(&message, &BodyLocation::File { len: message.size });
        match existing.get(&(message.id.0 as i64)) {
            Some(stored) if decode_same(stored, &message) => done.already_there += 1,
            Some(_) => return Err(TransferError::Conflict(message.id.to_string())),
            None => fresh.push((message, body, envelope)),
        }
    }
    // Large bodies first, as chunks (not live until their message row commits).
    for (message, body, _) in &fresh {
        if body.len() > CHUNK {
            client
                .execute(
                    "DELETE FROM body_chunks WHERE message_id = $1",
                    &[&(message.id.0 as i64)],
                )
                .await?;
            let mut writer = ChunkWriter::new(message.id.0);
            writer.write(&*client, body).await?;
            writer.finish(&*client).await?;
        }
    }
    let rows: Vec<_> = fresh
        .iter()
        .map(|(message, body, _)| {
            let inline = (body.len() <= CHUNK).then(|| body.clone());
            let mut row = super::postgres::new_message_row(message, inline);
            row.size = body.len() as u64;
            row
        })
        .collect();
    let tx = client.transaction().await?;
    insert_in(&tx, IMPORTED_BY, &rows).await?;
    for (message, _, _) in &fresh {
        let id = message.id.0 as i64;
        for (index, r) in message.envelope.recipients.iter().enumerate() {
            let (status, at_ms, reply) = match &r.status {
                RecipientStatus::Pending => continue,
                RecipientStatus::Delivered { at_ms, reply } => (1i16, at_ms, reply),
                RecipientStatus::Failed { at_ms, reply } => (2i16, at_ms, reply),
            };
            tx.execute(
                "UPDATE recipients SET status = $3, at_ms = $4, reply = $5
                 WHERE message_id = $1 AND idx = $2",
                &[&id, &(index as i16), &status, &(*at_ms as i64), reply],
            )
            .await?;
        }
        for attempt in &message.attempts {
            tx.execute(
                "INSERT INTO attempts (message_id, at_ms, host, result) VALUES ($1, $2, $3, $4)",
                &[&id, &(attempt.at_ms as i64), &attempt.host, &attempt.result],
            )
            .await?;
        }
        if message.held {
            tx.execute("UPDATE messages SET held = true WHERE id = $1", &[&id])
                .await?;
        }
    }
    tx.commit().await?;
    done.imported = fresh.len();
    Ok(done)
}

/// True when `stored` (a row's envelope) is this very message (a repeated import).
fn decode_same(stored: &[u8], message: &StoredMessage) -> bool {
    matches!(
        record::decode(stored),
        Ok(Record::Message { message: m, .. })
            if m.id == message.id && m.envelope.sender == message.envelope.sender
                && m.envelope.received_at_ms == message.envelope.received_at_ms
    )
}
