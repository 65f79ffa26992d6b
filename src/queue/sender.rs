//! One delivery connection's send loop: claims messages for a destination and sends them one after
//! the other, pipelining each message's MAIL/RCPT/DATA behind the previous message's end of data.
//!
//! Pipelining across messages halves the round trips of a drain (one per message instead of two) but
//! starts the next message before the previous one's outcome is known. Order is kept by the order
//! book: the next message is claimed *chained* to the one in flight, and once that one's outcome is
//! recorded the chained message is sent only if its elders have left its mailboxes. Otherwise (its
//! elder was deferred) the connection is dropped in the middle of the chained DATA, which the server
//! discards, and the message goes back to the queue untried.

use std::io::Cursor;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, Chain};

use super::context::QueueContext;
use super::order::Claim;
use super::outcome::{Recorder, decide};
use super::scheduler::RecipientResult;
use crate::delivery::{Connection, EnvelopeStep, Message, RecipientOutcome, SendReport, Staged};
use crate::spool::{BodyReader, StoredMessage};

/// More `Received:` headers than this means the message is looping (RFC 5321 §6.3).
pub const MAX_HOPS: usize = 50;
/// How much of a body is read to count its `Received:` headers.
const HEADER_PEEK: usize = 64 * 1024;

/// A stored body, its first part already read (for the hop count).
type Body = Chain<Cursor<Vec<u8>>, BodyReader>;

/// A message claimed by this connection, its commands staged and its body open. A message pipelined
/// behind another has its body opened while the elder's body is being sent (`None` until then, and
/// when it could not be opened).
struct Sending {
    claim: Claim,
    message: StoredMessage,
    body: Option<Body>,
    staged: Staged,
}

/// Sends claimable messages for `dest` until none is left or the connection breaks. Results are
/// made durable in the background while the next message is already being sent: the connection does
/// not wait for an fsync per message. A crash in between can only repeat a delivery, never lose one.
pub(super) async fn send_all(ctx: &Arc<QueueContext>, dest: &str, mut conn: Connection) {
    let host = format!("{} [{}]", conn.host(), conn.peer());
    let recorder = Recorder::start(ctx.clone());
    let mut chained: Option<Sending> = None;
    loop {
        let sending = match chained.take() {
            Some(sending) => sending,
            None if ctx.shutting_down() => break,
            None => match claim_and_stage(ctx, dest, &mut conn, &recorder, &host).await {
                Some(sending) => sending,
                None => break,
            },
        };
        let Sending {
            claim,
            message,
            body,
            staged,
        } = sending;
        let Some(body) = body else {
            // Not confirmed without a body (see below); should it happen, its envelope is out and
            // only dropping the connection takes it back.
            ctx.unclaim(dest, claim.id);
            conn.abandon();
            recorder.finish().await;
            return;
        };
        let msg = outgoing(&message, &claim);
        let started = std::time::Instant::now();
        let report = match conn.envelope(&msg, staged).await {
            EnvelopeStep::Finished(report) => report,
            EnvelopeStep::Opened(_) if !ctx.may_deliver(dest) => {
                // The lease ended while the envelope was out: another node may be sending this very
                // message. Dropping the connection before the body takes the transaction back.
                ctx.unclaim(dest, claim.id);
                if let Some(next) = chained.take() {
                    ctx.unclaim(dest, next.claim.id);
                }
                conn.abandon();
                recorder.finish().await;
                return;
            }
            EnvelopeStep::Opened(opened) => {
                if conn.can_pipeline() && !ctx.shutting_down() {
                    chained = stage_chained(ctx, dest, &mut conn, claim.id).await;
                }
                match chained.as_mut() {
                    // The next body (a database round trip with the shared queue) is fetched while
                    // this one goes out: it is off the drain's critical path.
                    Some(next) => {
                        let (report, next_body) = tokio::join!(
                            conn.send_body(&msg, opened, body),
                            open_checked(ctx, &next.message)
                        );
                        next.body = next_body.ok();
                        report
                    }
                    None => conn.send_body(&msg, opened, body).await,
                }
            }
        };
        metrics::histogram!("backupmx_delivery_attempt_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        let reusable = report.reusable;
        let results = results_of(report);
        let consequences = decide(ctx, dest, &claim, &message, &results, &host);
        recorder.record(message, consequences).await;
        let next_may_go = match &chained {
            // A chained message whose body cannot be read (or that loops) goes back untried; the
            // ordinary path meets it again and records why it cannot go.
            Some(next) if reusable && next.body.is_some() => {
                ctx.confirm_chained(dest, next.claim.id)
            }
            Some(next) => {
                ctx.unclaim(dest, next.claim.id);
                false
            }
            None => reusable,
        };
        if !next_may_go {
            // Broken, or the chained message must wait for its deferred elder: its DATA is open at
            // the server and only dropping the connection takes it back.
            conn.abandon();
            recorder.finish().await;
            return;
        }
    }
    conn.quit().await;
    recorder.finish().await;
}

/// Claims the next message for a transaction of its own. A message that cannot be sent (unreadable
/// body, mail loop, refused by a local check) gets its outcome recorded on the way.
async fn claim_and_stage(
    ctx: &Arc<QueueContext>,
    dest: &str,
    conn: &mut Connection,
    recorder: &Recorder,
    host: &str,
) -> Option<Sending> {
    loop {
        let (claim, message) = ctx.claim(dest, None)?;
        match prepare(ctx, conn, claim, message).await {
            Ok(sending) => return Some(sending),
            Err((claim, message, results)) => {
                let consequences = decide(ctx, dest, &claim, &message, &results, host);
                recorder.record(message, consequences).await;
                if !conn.is_reusable() {
                    return None;
                }
            }
        }
    }
}

/// Claims a message to pipeline behind `prev` and stages its commands (its body is opened by the
/// caller). A local refusal gives it back untried: the ordinary path meets it again after `prev`.
async fn stage_chained(
    ctx: &Arc<QueueContext>,
    dest: &str,
    conn: &mut Connection,
    prev: crate::envelope::QueueId,
) -> Option<Sending> {
    let (claim, message) = ctx.claim(dest, Some(prev))?;
    let staged = conn.stage(&outgoing(&message, &claim)).await;
    match staged {
        Ok(staged) => Some(Sending {
            claim,
            message,
            body: None,
            staged,
        }),
        Err(_) => {
            ctx.unclaim(dest, claim.id);
            None
        }
    }
}

/// What the client sends of `message` for `claim`.
fn outgoing<'a>(message: &'a StoredMessage, claim: &'a Claim) -> Message<'a> {
    Message {
        envelope: &message.envelope,
        recipients: &claim.recipients,
        size: message.size + message.envelope.prepended().len() as u64,
    }
}

type Unsendable = (Claim, StoredMessage, Vec<(usize, RecipientResult)>);

/// Opens the body and stages the commands; `Err` carries the outcome when the message cannot go.
async fn prepare(
    ctx: &QueueContext,
    conn: &mut Connection,
    claim: Claim,
    message: StoredMessage,
) -> Result<Sending, Unsendable> {
    let body = match open_checked(ctx, &message).await {
        Ok(body) => body,
        Err(result) => {
            let results = claim
                .recipients
                .iter()
                .map(|i| (*i, result.clone()))
                .collect();
            return Err((claim, message, results));
        }
    };
    match conn.stage(&outgoing(&message, &claim)).await {
        Ok(staged) => Ok(Sending {
            claim,
            message,
            body: Some(body),
            staged,
        }),
        Err(report) => Err((claim, message, results_of(report))),
    }
}

/// Opens the body, refusing a looping message (too many Received headers) with 5.4.6.
async fn open_checked(
    ctx: &QueueContext,
    message: &StoredMessage,
) -> Result<Body, RecipientResult> {
    let mut body = ctx.store().open_body(message.id).await.map_err(|e| {
        RecipientResult::Deferred(format!(
            "451 4.3.0 local error reading the queued message: {e}"
        ))
    })?;
    let mut head = Vec::with_capacity(HEADER_PEEK.min(message.size as usize));
    (&mut body)
        .take(HEADER_PEEK as u64)
        .read_to_end(&mut head)
        .await
        .map_err(|e| RecipientResult::Deferred(format!("451 4.3.0 local read error: {e}")))?;
    if count_received(&head) > MAX_HOPS {
        return Err(RecipientResult::Failed {
            reply: format!(
                "554 5.4.6 too many hops (more than {MAX_HOPS} Received headers): mail loop"
            ),
            status: "5.4.6".into(),
        });
    }
    Ok(Cursor::new(head).chain(body))
}

/// Counts `Received:` header fields in the header block at the start of `message`.
pub fn count_received(message: &[u8]) -> usize {
    let mut count = 0;
    for line in message.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"received:") {
            count += 1;
        }
    }
    count
}

fn results_of(report: SendReport) -> Vec<(usize, RecipientResult)> {
    report
        .recipients
        .into_iter()
        .map(|(i, o)| (i, result_of(o)))
        .collect()
}

fn result_of(outcome: RecipientOutcome) -> RecipientResult {
    match outcome {
        RecipientOutcome::Delivered(r) => RecipientResult::Delivered(r.reply.to_one_line()),
        RecipientOutcome::Deferred(r) => RecipientResult::Deferred(r.reply.to_one_line()),
        RecipientOutcome::Failed(r) => RecipientResult::Failed {
            status: r
                .reply
                .enhanced
                .map_or_else(|| "5.0.0".to_string(), |e| e.to_string()),
            reply: r.reply.to_one_line(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::count_received;

    #[test]
    fn counts_received_headers_in_the_header_block_only() {
        let msg =
            b"Received: a\r\nreceived: b\r\nSubject: x\r\nRECEIVED:c\r\n\r\nReceived: body\r\n";
        assert_eq!(count_received(msg), 3);
        assert_eq!(count_received(b""), 0);
    }
}
