//! The SMTP session state machine, sans I/O: one command line in, one reply and an [`Action`] for the
//! driver out. It decides every reply; the driver (connection.rs) only moves bytes, runs timers and
//! talks to the spool and the queue.
//!
//! Phases: greeting sent ([`Phase::AwaitHelo`]) → after EHLO/HELO ([`Phase::Ready`]) → in a transaction
//! after MAIL ([`Phase::Mail`], "has recipients" once RCPT succeeded) → receiving DATA ([`Phase::Data`]).
//! One file per group of verbs: greeting.rs (EHLO/HELO/STARTTLS), mail.rs, rcpt.rs, data.rs, bdat.rs,
//! other.rs.

mod bdat;
mod data;
mod greeting;
mod mail;
mod other;
mod rcpt;
mod recipient_check;

use std::net::IpAddr;
use std::sync::Arc;

use backupmx_smtp::{Command, LineError, MailParams, ParseError, Reply, parse_command};

use crate::config::Config;
use crate::envelope::Recipient;
use crate::inbound::abuse;
use crate::inbound::limiter::LimitHit;
use crate::inbound::replies::{self, reply};
use crate::policy::RelayPolicy;

/// After this many error replies in one session the client is dropped with 421 4.7.0.
pub const DEFAULT_MAX_ERRORS: u32 = 20;
/// After this many unknown commands in one session the client is dropped with 421 4.7.0.
pub const DEFAULT_MAX_UNKNOWN_COMMANDS: u32 = 10;

/// What the session needs from the configuration; built once and shared by all sessions.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub hostname: String,
    pub max_message_size: u64,
    pub max_recipients: usize,
    pub policy: RelayPolicy,
    pub max_errors: u32,
    pub max_unknown_commands: u32,
    /// Transactions (accepted MAIL) per connection; 0: no limit. Not applied to exempt clients.
    pub max_messages: u32,
    /// Per-domain recipient validation (issue 7); plain `accept_all` domains need nothing more.
    pub recipients: crate::config::RecipientsConfig,
    /// Domains with a quota (`max_messages`, `max_bytes`): each RCPT is checked by the driver, like
    /// a recipient policy, and gets 452 4.2.2 once the quota is reached.
    pub quota_domains: std::collections::HashSet<String>,
}

impl SessionSettings {
    pub fn from_config(config: &Config) -> SessionSettings {
        SessionSettings {
            hostname: config.hostname.clone(),
            max_message_size: config.smtp.max_message_size,
            max_recipients: config.smtp.max_recipients,
            policy: RelayPolicy::new(&config.domains, &config.hostname),
            max_errors: config.limits.max_errors,
            max_unknown_commands: config.limits.max_unknown_commands,
            max_messages: config.limits.messages_per_connection,
            recipients: config.recipients.clone(),
            quota_domains: config
                .domains
                .iter()
                .filter(|d| d.limits.has_quota())
                .map(|d| d.name.clone())
                .collect(),
        }
    }
}

/// What the session knows about its client, decided by the driver at accept time.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: IpAddr,
    /// The client's address is in `smtp.etrn_allow`.
    pub etrn_allowed: bool,
    /// A TLS acceptor is configured, so STARTTLS may be offered.
    pub tls_available: bool,
    /// The client's address is in `limits.exempt`: no per-client limits.
    pub limits_exempt: bool,
}

/// What the driver must do after writing the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Write the reply, then close the connection.
    Close,
    /// The reply is 354: receive the message body next (see [`Session::received_header`] and
    /// [`Session::end_data`]).
    StartData,
    /// The reply is 220: discard buffered plaintext, run the TLS handshake, then call
    /// [`Session::tls_started`].
    StartTls,
    /// ETRN accepted: flush the queue for this (configured, normalised) domain.
    FlushDomain(String),
    /// BDAT accepted: read exactly `size` bytes into the message body, then send the reply; after the
    /// LAST chunk call [`Session::end_data`] instead and send its (or the commit's) reply.
    ReceiveChunk {
        size: u64,
        last: bool,
    },
    /// BDAT refused: read and drop exactly `size` bytes (RFC 3030 §2), then send the reply.
    DiscardChunk {
        size: u64,
    },
    /// RCPT for a domain with a recipient policy: ask `recipients::RecipientService::check` (it may
    /// run a callout), then send the reply of [`Session::recipient_checked`] instead of this one.
    CheckRecipient {
        address: String,
        domain: String,
    },
}

/// One reply plus what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub reply: Reply,
    pub action: Action,
}

impl Step {
    pub fn reply(reply: Reply) -> Step {
        Step {
            reply,
            action: Action::Continue,
        }
    }
    pub fn then(reply: Reply, action: Action) -> Step {
        Step { reply, action }
    }
}

/// The name the client gave in EHLO/HELO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Greeting {
    pub name: String,
    /// EHLO (true) or HELO (false).
    pub extended: bool,
}

/// An open mail transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transaction {
    /// Reverse path without brackets; empty for `<>`.
    pub sender: String,
    pub params: MailParams,
    pub recipients: Vec<Recipient>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    AwaitHelo,
    Ready,
    Mail(Transaction),
    Data(Transaction),
    /// BDAT chunks are arriving; `received` counts the octets announced so far.
    Bdat {
        transaction: Transaction,
        received: u64,
    },
}

/// Negotiated TLS parameters, recorded in the Received header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// e.g. `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
    pub description: String,
}

/// One client's SMTP session.
#[derive(Debug)]
pub struct Session {
    settings: Arc<SessionSettings>,
    client: ClientInfo,
    greeting: Option<Greeting>,
    phase: Phase,
    tls: Option<TlsInfo>,
    errors: u32,
    unknown_commands: u32,
    /// Transactions opened so far (MAIL accepted).
    messages: u32,
    /// The recipient waiting for [`Action::CheckRecipient`]'s answer.
    pending_recipient: Option<Recipient>,
}

impl Session {
    /// The largest message this session takes (its settings', kept across a config reload).
    pub fn max_message_size(&self) -> u64 {
        self.settings.max_message_size
    }

    pub fn new(settings: Arc<SessionSettings>, client: ClientInfo) -> Session {
        Session {
            settings,
            client,
            greeting: None,
            phase: Phase::AwaitHelo,
            tls: None,
            errors: 0,
            unknown_commands: 0,
            messages: 0,
            pending_recipient: None,
        }
    }

    /// The 220 banner sent on connect.
    pub fn greeting(&self) -> Reply {
        replies::greeting(&self.settings.hostname)
    }

    /// True while a transaction is open (after MAIL, during DATA): shutdown lets it finish.
    pub fn in_transaction(&self) -> bool {
        matches!(
            self.phase,
            Phase::Mail(_) | Phase::Data(_) | Phase::Bdat { .. }
        )
    }

    pub fn tls_active(&self) -> bool {
        self.tls.is_some()
    }

    /// True when a RCPT command would be considered (a transaction is open, before DATA).
    pub fn expects_recipients(&self) -> bool {
        matches!(self.phase, Phase::Mail(_))
    }

    pub fn client(&self) -> &ClientInfo {
        &self.client
    }

    /// The driver refuses a command itself (a shared per-client limit): the refusal counts as an error
    /// like any other.
    pub fn refuse(&mut self, reply: Reply) -> Step {
        self.count_errors(Step::reply(reply))
    }

    /// The TLS handshake after STARTTLS succeeded: everything learnt before is forgotten (RFC 3207 §4.2)
    /// and the client must EHLO again.
    pub fn tls_started(&mut self, info: TlsInfo) {
        self.tls = Some(info);
        self.greeting = None;
        self.phase = Phase::AwaitHelo;
    }

    /// Handles one command line (or the framer's verdict on a bad one).
    pub fn on_line(&mut self, line: Result<Vec<u8>, LineError>) -> Step {
        let step = match line {
            Err(error) => Step::reply(replies::line_error(&error)),
            Ok(bytes) => self.on_command_line(&bytes),
        };
        self.count_errors(step)
    }

    fn on_command_line(&mut self, line: &[u8]) -> Step {
        if matches!(self.phase, Phase::Data(_)) {
            // The driver feeds DATA to the scanner, never here; refuse rather than trust a bug.
            return Step::reply(replies::bad_sequence("Bad sequence of commands"));
        }
        match parse_command(line) {
            Ok(command) => self.on_command(command),
            Err(ParseError::UnknownCommand) => self.unknown_command(),
            Err(error) => Step::reply(parse_error_reply(&error, line)),
        }
    }

    fn on_command(&mut self, command: Command) -> Step {
        match command {
            Command::Ehlo { domain } => self.ehlo(domain),
            Command::Helo { domain } => self.helo(domain),
            Command::StartTls => self.starttls(),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => self.rset(),
            Command::Noop => Step::reply(replies::ok()),
            Command::Quit => self.quit(),
            Command::Vrfy => Step::reply(other::vrfy_reply()),
            Command::Expn => Step::reply(reply(502, 5, 5, 1, "EXPN not available")),
            Command::Help => Step::reply(other::help_reply()),
            Command::Etrn { domain } => self.etrn(&domain),
            Command::Auth => Step::reply(reply(502, 5, 5, 1, "AUTH not available")),
        }
    }

    /// Counts error replies; past the limit the client is dropped (a probe or a broken client).
    fn count_errors(&mut self, step: Step) -> Step {
        let pending = matches!(step.action, Action::CheckRecipient { .. });
        if step.reply.code < 400 || step.action == Action::Close || pending {
            return step;
        }
        self.errors += 1;
        if self.errors >= self.settings.max_errors {
            abuse::record_hit(LimitHit::Errors, self.client.ip);
            return Step::then(replies::too_many_errors(), Action::Close);
        }
        step
    }

    /// Unknown commands have their own, smaller limit: HTTP requests and other protocols sent to the
    /// SMTP port are cut short.
    fn unknown_command(&mut self) -> Step {
        self.unknown_commands += 1;
        if self.unknown_commands >= self.settings.max_unknown_commands {
            abuse::record_hit(LimitHit::UnknownCommands, self.client.ip);
            return Step::then(replies::too_many_unknown_commands(), Action::Close);
        }
        Step::reply(replies::unknown_command())
    }

    /// Counts a transaction against `limits.messages_per_connection`; the refusal when it is used up.
    fn count_message(&mut self) -> Result<(), Step> {
        let max = self.settings.max_messages;
        if max > 0 && !self.client.limits_exempt && self.messages >= max {
            abuse::record_hit(LimitHit::Messages, self.client.ip);
            return Err(Step::reply(replies::too_many_messages()));
        }
        self.messages += 1;
        Ok(())
    }
}

/// The reply for a line the parser refused. Address errors depend on the verb: a relay trick in RCPT is
/// a relay attempt (550 5.7.1); other bad addresses are syntax errors (501 5.1.7 sender, 5.1.3 recipient).
fn parse_error_reply(error: &ParseError, line: &[u8]) -> Reply {
    match error {
        ParseError::UnknownCommand => replies::unknown_command(),
        ParseError::Syntax(what) => reply(501, 5, 5, 2, format!("Syntax error: {what}")),
        ParseError::UnknownParameter(_) => reply(555, 5, 5, 4, "Unsupported parameter"),
        ParseError::Address(address_error) => match verb(line).as_deref() {
            Some("RCPT") if address_error.is_relay_trick() => {
                reply(550, 5, 7, 1, "Relay access denied")
            }
            Some("RCPT") => reply(501, 5, 1, 3, "Bad recipient address syntax"),
            Some("MAIL") => reply(501, 5, 1, 7, "Bad sender address syntax"),
            _ => reply(501, 5, 5, 2, "Syntax error in address"),
        },
    }
}

/// The upper-cased first word of a line, if it is ASCII letters.
fn verb(line: &[u8]) -> Option<String> {
    let word: Vec<u8> = line
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphabetic())
        .collect();
    (!word.is_empty() && word.len() <= 8)
        .then(|| String::from_utf8_lossy(&word).to_ascii_uppercase())
}

#[cfg(test)]
mod tests;
