//! One mail transaction: pre-checks against the server's extensions, MAIL/RCPT/DATA (pipelined when
//! offered), the body, and the per-recipient outcomes.
//!
//! Decisions: a message flagged SMTPUTF8 (or with non-ASCII addresses) to a server without SMTPUTF8
//! fails permanently with 5.6.7 (RFC 6531 §3.7.5, no downgrade). An 8-bit body (BODY=8BITMIME) to a
//! server without 8BITMIME is sent anyway without the BODY parameter, as Postfix does: converting it
//! to 7 bit would change the stored bytes, which we promise to pass on unchanged.

use backupmx_smtp::{EnhancedCode, Reply};
use tokio::io::AsyncRead;

use super::{
    ClientError, Connection, Extensions, Message, RecipientOutcome, Response, SendReport, body,
};
use crate::envelope::{BodyType, Envelope, Recipient, Ret};

/// A local permanent failure for every recipient, decided before talking to the server.
pub fn precheck(message: &Message<'_>, ext: &Extensions) -> Option<Reply> {
    let env = message.envelope;
    if needs_smtputf8(env) && !ext.smtputf8 {
        return Some(Reply::new(
            554,
            EnhancedCode(5, 6, 7),
            "message needs SMTPUTF8 but the receiving server does not support it",
        ));
    }
    if let Some(limit) = ext.size.filter(|limit| *limit > 0)
        && message.size > limit
    {
        return Some(Reply::new(
            552,
            EnhancedCode(5, 3, 4),
            format!(
                "message size {} exceeds the receiving server's limit of {limit}",
                message.size
            ),
        ));
    }
    None
}

fn needs_smtputf8(env: &Envelope) -> bool {
    env.smtputf8 || !env.sender.is_ascii() || env.recipients.iter().any(|r| !r.address.is_ascii())
}

/// `MAIL FROM:<sender>` with the parameters the server supports.
pub fn mail_command(env: &Envelope, size: u64, ext: &Extensions) -> String {
    let mut line = format!("MAIL FROM:<{}>", env.sender);
    if !ext.esmtp {
        return line;
    }
    if ext.size.is_some() {
        line.push_str(&format!(" SIZE={size}"));
    }
    if env.body_type != BodyType::SevenBit && ext.eight_bit_mime {
        line.push_str(" BODY=8BITMIME");
    }
    if needs_smtputf8(env) && ext.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if ext.dsn {
        match env.ret {
            Some(Ret::Full) => line.push_str(" RET=FULL"),
            Some(Ret::Headers) => line.push_str(" RET=HDRS"),
            None => {}
        }
        if let Some(envid) = &env.envid {
            line.push_str(&format!(" ENVID={}", xtext(envid)));
        }
    }
    line
}

/// `RCPT TO:<address>` with NOTIFY/ORCPT when the server supports DSN.
pub fn rcpt_command(rcpt: &Recipient, ext: &Extensions) -> String {
    let mut line = format!("RCPT TO:<{}>", rcpt.address);
    if !(ext.esmtp && ext.dsn) {
        return line;
    }
    if let Some(notify) = rcpt.notify {
        let mut kinds = Vec::new();
        if notify.success {
            kinds.push("SUCCESS");
        }
        if notify.failure {
            kinds.push("FAILURE");
        }
        if notify.delay {
            kinds.push("DELAY");
        }
        let value = if kinds.is_empty() {
            "NEVER".to_owned()
        } else {
            kinds.join(",")
        };
        line.push_str(&format!(" NOTIFY={value}"));
    }
    if let Some((kind, address)) = rcpt.orcpt.as_deref().and_then(|o| o.split_once(';')) {
        line.push_str(&format!(" ORCPT={kind};{}", xtext(address)));
    }
    line
}

/// RFC 3461 xtext: printable ASCII except `+` and `=` as is, every other byte as `+HH`.
pub fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if (b'!'..=b'~').contains(&byte) && byte != b'+' && byte != b'=' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("+{byte:02X}"));
        }
    }
    out
}

/// Outcomes of the recipients still undecided, and of the ones already decided.
struct Progress {
    decided: Vec<Option<RecipientOutcome>>,
    accepted: Vec<usize>,
}

impl Progress {
    fn decide_rest(&mut self, outcome: impl Fn() -> RecipientOutcome) {
        for slot in self.decided.iter_mut().filter(|slot| slot.is_none()) {
            *slot = Some(outcome());
        }
    }
}

pub(crate) async fn send<R: AsyncRead + Unpin>(
    conn: &mut Connection,
    message: &Message<'_>,
    body: R,
) -> SendReport {
    let mut progress = Progress {
        decided: vec![None; message.recipients.len()],
        accepted: Vec::new(),
    };
    if conn.broken {
        let error = ClientError::ConnectionClosed { stage: "reuse" };
        progress.decide_rest(|| RecipientOutcome::Deferred(Response::local(error.to_reply())));
    } else if let Some(reply) = precheck(message, &conn.extensions) {
        progress.decide_rest(|| RecipientOutcome::Failed(Response::local(reply.clone())));
    } else {
        match exchange(conn, message, body, &mut progress).await {
            // `used` means "the server may still hold a transaction": RSET only then, so a queue
            // drained over one connection costs two round trips per message, not three.
            Ok(closed) => conn.used = !closed,
            Err(error) => {
                conn.broken = true;
                let reply = error.to_reply();
                progress.decide_rest(|| RecipientOutcome::Deferred(Response::local(reply.clone())));
            }
        }
    }
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

/// The conversation; an `Err` leaves the undecided recipients to be deferred by the caller. `Ok(true)`
/// when the server is known to be outside a transaction afterwards (the reply to the end of data was
/// read, or MAIL was refused), so the next message needs no RSET (RFC 5321 §4.1.1.4).
async fn exchange<R: AsyncRead + Unpin>(
    conn: &mut Connection,
    message: &Message<'_>,
    body: R,
    progress: &mut Progress,
) -> Result<bool, ClientError> {
    let env = message.envelope;
    if conn.used {
        let reply = conn.wire.command("RSET", "RSET").await?;
        if reply.code != 250 {
            return Err(ClientError::Rejected {
                stage: "RSET",
                reply,
            });
        }
    }
    let mail = mail_command(env, message.size, &conn.extensions);
    let rcpts: Vec<String> = message
        .recipients
        .iter()
        .map(|&i| {
            env.recipients
                .get(i)
                .map(|r| rcpt_command(r, &conn.extensions))
                .unwrap_or_default()
        })
        .collect();
    let data_reply = if conn.extensions.pipelining {
        pipelined(conn, &mail, &rcpts, progress).await?
    } else {
        lockstep(conn, &mail, &rcpts, progress).await?
    };
    let data_reply = match data_reply {
        Step::Data(reply) => reply,
        Step::Closed => return Ok(true),
        Step::Open => return Ok(false),
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
        return Ok(false);
    }
    if progress.accepted.is_empty() {
        // A pipelined DATA the server accepted although no RCPT was: send an empty message and
        // ignore its reply (RFC 2920 §3.1).
        conn.wire.write("end of data", b".\r\n").await?;
        conn.wire.read_reply("end of data").await?;
        return Ok(true);
    }
    body::send_body(&mut conn.wire, body).await?;
    let final_reply = conn
        .wire
        .read_reply_within("end of data", conn.data_timeout)
        .await?;
    note_421(conn, &final_reply);
    progress.decide_rest(|| RecipientOutcome::from_reply(final_reply.clone()));
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

/// MAIL, all RCPTs and DATA in one write (RFC 2920), then the replies in order.
async fn pipelined(
    conn: &mut Connection,
    mail: &str,
    rcpts: &[String],
    progress: &mut Progress,
) -> Result<Step, ClientError> {
    let mut batch = format!("{mail}\r\n");
    for rcpt in rcpts {
        batch.push_str(rcpt);
        batch.push_str("\r\n");
    }
    batch.push_str("DATA\r\n");
    conn.wire.write("MAIL FROM", batch.as_bytes()).await?;
    let mail_reply = conn.wire.read_reply("MAIL FROM").await?;
    for slot in 0..rcpts.len() {
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

#[cfg(test)]
#[path = "transaction_tests.rs"]
mod tests;
