//! One mail transaction, in three phases so that a connection can pipeline the next message's
//! MAIL/RCPT/DATA behind the previous message's end of data (RFC 2920 §3.1 allows message content as
//! the first "command" of a group): [`stage`] (pre-checks; the commands are queued, not written),
//! [`envelope`] (the replies to MAIL, RCPT and DATA) and [`send_body`] (content, end of data, final
//! reply). Anything queued by `stage` leaves with the next write: the previous message's end of data,
//! or `envelope`'s own write.

use backupmx_smtp::{EnhancedCode, Reply};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::commands::{envelope_batch, mail_command, precheck, rcpt_command};
use super::{ClientError, Connection, Message, RecipientOutcome, Response, SendReport, body};

/// Outcomes of the recipients still undecided, and of the ones already decided.
#[derive(Debug)]
struct Progress {
    decided: Vec<Option<RecipientOutcome>>,
    accepted: Vec<usize>,
}

impl Progress {
    fn new(recipients: usize) -> Progress {
        Progress {
            decided: vec![None; recipients],
            accepted: Vec::new(),
        }
    }

    fn decide_rest(&mut self, outcome: impl Fn() -> RecipientOutcome) {
        for slot in self.decided.iter_mut().filter(|slot| slot.is_none()) {
            *slot = Some(outcome());
        }
    }
}

/// A message whose commands are queued (pipelining) or about to be sent one by one.
#[derive(Debug)]
pub struct Staged {
    progress: Progress,
}

/// A message whose envelope the server accepted (354 to DATA): its content comes next.
#[derive(Debug)]
pub struct Opened {
    progress: Progress,
}

/// Where the envelope phase left a message.
#[derive(Debug)]
pub enum EnvelopeStep {
    Opened(Opened),
    /// Decided without sending content (MAIL or every RCPT refused, DATA refused, connection lost).
    Finished(SendReport),
}

/// The whole transaction for one message.
pub(crate) async fn send<R: AsyncRead + Unpin>(
    conn: &mut Connection,
    message: &Message<'_>,
    body: R,
) -> SendReport {
    let staged = match stage(conn, message).await {
        Ok(staged) => staged,
        Err(report) => return report,
    };
    match envelope(conn, message, staged).await {
        EnvelopeStep::Opened(opened) => send_body(conn, message, opened, body).await,
        EnvelopeStep::Finished(report) => report,
    }
}

/// Pre-checks `message` and, with PIPELINING, queues its MAIL/RCPT/DATA. `Err` carries the outcome
/// when the message cannot be sent on this connection (broken, or refused by a local check).
pub(crate) async fn stage(
    conn: &mut Connection,
    message: &Message<'_>,
) -> Result<Staged, SendReport> {
    let mut progress = Progress::new(message.recipients.len());
    if conn.broken {
        let error = ClientError::ConnectionClosed { stage: "reuse" };
        progress.decide_rest(|| RecipientOutcome::Deferred(Response::local(error.to_reply())));
        return Err(report(conn, message, progress));
    }
    if let Some(reply) = precheck(message, &conn.extensions) {
        progress.decide_rest(|| RecipientOutcome::Failed(Response::local(reply.clone())));
        return Err(report(conn, message, progress));
    }
    if conn.used {
        if let Err(error) = rset(conn).await {
            fail(conn, &mut progress, &error);
            return Err(report(conn, message, progress));
        }
        conn.used = false;
    }
    if conn.extensions.pipelining {
        let (mail, rcpts) = commands(conn, message);
        conn.outbox
            .extend_from_slice(&envelope_batch(&mail, &rcpts));
    }
    Ok(Staged { progress })
}

/// The envelope phase: sends whatever is still queued, reads the replies to MAIL, RCPT and DATA.
pub(crate) async fn envelope(
    conn: &mut Connection,
    message: &Message<'_>,
    staged: Staged,
) -> EnvelopeStep {
    let mut progress = staged.progress;
    match envelope_replies(conn, message, &mut progress).await {
        Ok(true) => EnvelopeStep::Opened(Opened { progress }),
        Ok(false) => EnvelopeStep::Finished(report(conn, message, progress)),
        Err(error) => {
            fail(conn, &mut progress, &error);
            EnvelopeStep::Finished(report(conn, message, progress))
        }
    }
}

/// Streams the content dot-stuffed, then anything queued meanwhile (the next message's commands) in
/// the same final write, and reads the reply to the end of data.
pub(crate) async fn send_body<R: AsyncRead + Unpin>(
    conn: &mut Connection,
    message: &Message<'_>,
    opened: Opened,
    body: R,
) -> SendReport {
    let mut progress = opened.progress;
    let trailer = std::mem::take(&mut conn.outbox);
    // The header fields computed at the end of data (Authentication-Results, ARC set) go first;
    // the stored body follows unchanged.
    let body = message.envelope.prepended().chain(body);
    let sent = body::send_body(&mut conn.wire, body, &trailer).await;
    let result = match sent {
        Ok(()) => {
            conn.wire
                .read_reply_within("end of data", conn.data_timeout)
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(final_reply) => {
            note_421(conn, &final_reply);
            progress.decide_rest(|| RecipientOutcome::from_reply(final_reply.clone()));
        }
        Err(error) => fail(conn, &mut progress, &error),
    }
    report(conn, message, progress)
}

fn commands(conn: &Connection, message: &Message<'_>) -> (String, Vec<String>) {
    let env = message.envelope;
    let mail = mail_command(env, message.size, &conn.extensions);
    let rcpts = message
        .recipients
        .iter()
        .map(|&i| {
            env.recipients
                .get(i)
                .map(|r| rcpt_command(r, &conn.extensions))
                .unwrap_or_default()
        })
        .collect();
    (mail, rcpts)
}

async fn rset(conn: &mut Connection) -> Result<(), ClientError> {
    let reply = conn.wire.command("RSET", "RSET").await?;
    if reply.code != 250 {
        return Err(ClientError::Rejected {
            stage: "RSET",
            reply,
        });
    }
    Ok(())
}

/// A network error, timeout or protocol error: the connection is done, the undecided recipients are
/// deferred with the error.
fn fail(conn: &mut Connection, progress: &mut Progress, error: &ClientError) {
    conn.broken = true;
    conn.outbox.clear();
    let reply = error.to_reply();
    progress.decide_rest(|| RecipientOutcome::Deferred(Response::local(reply.clone())));
}

fn report(conn: &Connection, message: &Message<'_>, progress: Progress) -> SendReport {
    let recipients = message
        .recipients
        .iter()
        .zip(progress.decided)
        .map(|(index, outcome)| {
            let outcome = outcome.unwrap_or_else(|| {
                RecipientOutcome::Deferred(Response::local(Reply::new(
                    451,
                    EnhancedCode(4, 3, 0),
                    "no outcome",
                )))
            });
            (*index, outcome)
        })
        .collect();
    SendReport {
        recipients,
        reusable: !conn.broken,
    }
}

/// `Ok(true)` when DATA got its 354 and the content is due. `Ok(false)` when the transaction ended
/// without content; `conn.used` then says whether the server may still hold a transaction (MAIL
/// accepted), so the next message starts with RSET only then (RFC 5321 §4.1.1.4): a queue drained
/// over one connection costs one round trip per message with pipelining, not three.
async fn envelope_replies(
    conn: &mut Connection,
    message: &Message<'_>,
    progress: &mut Progress,
) -> Result<bool, ClientError> {
    let step = if conn.extensions.pipelining {
        if !conn.outbox.is_empty() {
            let batch = std::mem::take(&mut conn.outbox);
            conn.wire.write("MAIL FROM", &batch).await?;
        }
        pipelined(conn, message.recipients.len(), progress).await?
    } else {
        let (mail, rcpts) = commands(conn, message);
        lockstep(conn, &mail, &rcpts, progress).await?
    };
    let data_reply = match step {
        Step::Data(reply) => reply,
        Step::Closed => return Ok(false),
        Step::Open => {
            conn.used = true;
            return Ok(false);
        }
    };
    if data_reply.code != 354 {
        note_421(conn, &data_reply);
        let outcome = RecipientOutcome::from_reply(data_reply);
        let outcome = if matches!(outcome, RecipientOutcome::Delivered(_)) {
            protocol_deferral(&outcome)
        } else {
            outcome
        };
        progress.decide_rest(|| outcome.clone());
        conn.used = true;
        return Ok(false);
    }
    if progress.accepted.is_empty() {
        // A pipelined DATA the server accepted although no RCPT was: send an empty message and
        // ignore its reply (RFC 2920 §3.1).
        conn.wire.write("end of data", b".\r\n").await?;
        conn.wire.read_reply("end of data").await?;
        return Ok(false);
    }
    Ok(true)
}

/// Where MAIL/RCPT/DATA left the transaction.
enum Step {
    /// DATA was sent; its reply.
    Data(Reply),
    /// DATA was not sent (or its 354 was answered with an empty message) and no transaction is open:
    /// MAIL was refused.
    Closed,
    /// DATA was not sent and MAIL was accepted: the server holds a transaction.
    Open,
}

fn protocol_deferral(outcome: &RecipientOutcome) -> RecipientOutcome {
    let text = format!(
        "unexpected reply to DATA: {}",
        outcome.response().reply.to_one_line()
    );
    RecipientOutcome::Deferred(Response::local(Reply::new(
        451,
        EnhancedCode(4, 5, 0),
        text,
    )))
}

fn note_421(conn: &mut Connection, reply: &Reply) {
    if reply.code == 421 {
        conn.broken = true;
    }
}

/// Records a RCPT reply: 2xx joins the accepted list, anything else decides the recipient now.
fn record_rcpt(conn: &mut Connection, progress: &mut Progress, slot: usize, reply: Reply) {
    note_421(conn, &reply);
    if reply.is_positive() {
        progress.accepted.push(slot);
    } else {
        progress.decided[slot] = Some(RecipientOutcome::from_reply(reply));
    }
}

/// MAIL, then each RCPT, then DATA, each waiting for its reply.
async fn lockstep(
    conn: &mut Connection,
    mail: &str,
    rcpts: &[String],
    progress: &mut Progress,
) -> Result<Step, ClientError> {
    let reply = conn.wire.command("MAIL FROM", mail).await?;
    if !reply.is_positive() {
        note_421(conn, &reply);
        progress.decide_rest(|| RecipientOutcome::from_reply(reply.clone()));
        return Ok(Step::Closed);
    }
    for (slot, rcpt) in rcpts.iter().enumerate() {
        let reply = conn.wire.command("RCPT TO", rcpt).await?;
        record_rcpt(conn, progress, slot, reply);
        if conn.broken {
            return Err(ClientError::ConnectionClosed { stage: "RCPT TO" });
        }
    }
    if progress.accepted.is_empty() {
        return Ok(Step::Open);
    }
    Ok(Step::Data(conn.wire.command("DATA", "DATA").await?))
}

/// The replies to a pipelined MAIL, `rcpts` RCPTs and DATA, in order.
async fn pipelined(
    conn: &mut Connection,
    rcpts: usize,
    progress: &mut Progress,
) -> Result<Step, ClientError> {
    let mail_reply = conn.wire.read_reply("MAIL FROM").await?;
    for slot in 0..rcpts {
        let reply = conn.wire.read_reply("RCPT TO").await?;
        if mail_reply.is_positive() {
            record_rcpt(conn, progress, slot, reply);
        }
    }
    let data_reply = conn.wire.read_reply("DATA").await?;
    if !mail_reply.is_positive() {
        note_421(conn, &mail_reply);
        progress.decide_rest(|| RecipientOutcome::from_reply(mail_reply.clone()));
        if data_reply.code == 354 {
            conn.wire.write("end of data", b".\r\n").await?;
            conn.wire.read_reply("end of data").await?;
        }
        return Ok(Step::Closed);
    }
    Ok(Step::Data(data_reply))
}
