//! SMTP commands (RFC 5321 §4.1, with the ESMTP parameters of SIZE, 8BITMIME, SMTPUTF8, DSN, CHUNKING).

use crate::address::{AddressError, Mailbox};

/// A parsed command line. Addresses are already checked by [`Mailbox::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo {
        domain: String,
    },
    Helo {
        domain: String,
    },
    Mail {
        from: ReversePath,
        params: MailParams,
    },
    Rcpt {
        to: ForwardPath,
        params: RcptParams,
    },
    Data,
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Etrn {
        domain: String,
    },
    Auth,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications.
    Null,
    Mailbox(Mailbox),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardPath {
    /// `<postmaster>` without a domain (RFC 5321 §4.5.1), any case.
    Postmaster,
    Mailbox(Mailbox),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Headers,
}

/// DSN NOTIFY (RFC 3461 §4.1): `never` is all false.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<BodyType>,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    /// ENVID, xtext-decoded.
    pub envid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcptParams {
    pub notify: Option<Notify>,
    /// ORCPT as `addr-type;address`, xtext-decoded (e.g. `rfc822;user@example.test`).
    pub orcpt: Option<String>,
}

/// Why a command line was not understood. The daemon maps each to its reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// 500 5.5.1
    #[error("command unrecognized")]
    UnknownCommand,
    /// 501 5.5.4 (arguments) / 501 5.5.2 (syntax)
    #[error("syntax error: {0}")]
    Syntax(&'static str),
    /// 555 5.5.4: a MAIL/RCPT parameter we do not know or did not advertise.
    #[error("unsupported parameter: {0}")]
    UnknownParameter(String),
    /// 501 5.1.3 / 553 5.1.3 / 550 5.7.1 (relay tricks), see [`AddressError::is_relay_trick`].
    #[error("bad address: {0}")]
    Address(#[from] AddressError),
}

/// Parses one command line, given without its CRLF. Verbs are case-insensitive.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let _ = line;
    todo!()
}
