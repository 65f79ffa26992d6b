//! The commands of a transaction, pure: pre-checks against the server's extensions and the MAIL and
//! RCPT lines with their parameters.
//!
//! Decisions: a message flagged SMTPUTF8 (or with non-ASCII addresses) to a server without SMTPUTF8
//! fails permanently with 5.6.7 (RFC 6531 §3.7.5, no downgrade). An 8-bit body (BODY=8BITMIME) to a
//! server without 8BITMIME is sent anyway without the BODY parameter, as Postfix does: converting it
//! to 7 bit would change the stored bytes, which we promise to pass on unchanged.

use backupmx_smtp::{EnhancedCode, Reply};

use super::{Extensions, Message};
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

pub(super) fn needs_smtputf8(env: &Envelope) -> bool {
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

/// MAIL, one RCPT per recipient and DATA, as one pipelined write (RFC 2920).
pub(super) fn envelope_batch(mail: &str, rcpts: &[String]) -> Vec<u8> {
    let mut batch = String::with_capacity(mail.len() + 8 + rcpts.len() * 48);
    batch.push_str(mail);
    batch.push_str("\r\n");
    for rcpt in rcpts {
        batch.push_str(rcpt);
        batch.push_str("\r\n");
    }
    batch.push_str("DATA\r\n");
    batch.into_bytes()
}

#[cfg(test)]
mod tests;
