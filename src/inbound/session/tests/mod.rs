//! Dialogue tests of the session state machine: scripted command lines in, replies (code + enhanced
//! code) and actions out, no sockets. Helpers here; dialogues in commands.rs and transaction.rs.

mod chunking;
mod commands;
mod limits;
mod recipients;
mod transaction;

pub(super) use std::net::{IpAddr, Ipv4Addr};
pub(super) use std::sync::Arc;
pub(super) use std::time::{Duration, UNIX_EPOCH};

pub(super) use backupmx_smtp::{DataError, LineError, Reply};

pub(super) use super::*;

pub(super) use crate::config::DomainConfig;
pub(super) use crate::envelope::{BodyType, QueueId, Ret, Route};

pub(super) fn settings(max_recipients: usize) -> Arc<SessionSettings> {
    let domains = [
        DomainConfig {
            name: "example.test".into(),
            subdomains: false,
            primary: None,
            tls: Default::default(),
            limits: Default::default(),
        },
        DomainConfig {
            name: "corp.test".into(),
            subdomains: true,
            primary: None,
            tls: Default::default(),
            limits: Default::default(),
        },
    ];
    Arc::new(SessionSettings {
        hostname: "mx2.example.net".into(),
        max_message_size: 10_000,
        max_recipients,
        policy: RelayPolicy::new(&domains, "mx2.example.net"),
        max_errors: DEFAULT_MAX_ERRORS,
        max_unknown_commands: DEFAULT_MAX_UNKNOWN_COMMANDS,
        max_messages: 0,
        recipients: Default::default(),
        quota_domains: Default::default(),
    })
}

pub(super) fn client(etrn_allowed: bool, tls_available: bool) -> ClientInfo {
    ClientInfo {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
        etrn_allowed,
        tls_available,
        limits_exempt: false,
    }
}

pub(super) fn session() -> Session {
    Session::new(settings(3), client(false, true))
}

/// A session that already said EHLO.
pub(super) fn greeted() -> Session {
    let mut s = session();
    expect(&mut s, "EHLO client.example", "250");
    s
}

/// A session with an open transaction and one recipient.
pub(super) fn with_recipient() -> Session {
    let mut s = greeted();
    dialogue(
        &mut s,
        &[
            ("MAIL FROM:<a@sender.test>", "250 2.1.0"),
            ("RCPT TO:<b@example.test>", "250 2.1.5"),
        ],
    );
    s
}

/// `250 2.1.0` / `220` (no enhanced code): the code part of a reply, for comparisons.
pub(super) fn head(reply: &Reply) -> String {
    match reply.enhanced {
        Some(e) => format!("{} {e}", reply.code),
        None => reply.code.to_string(),
    }
}

pub(super) fn send(s: &mut Session, line: &str) -> Step {
    s.on_line(Ok(line.as_bytes().to_vec()))
}

pub(super) fn expect(s: &mut Session, line: &str, want: &str) -> Step {
    let step = send(s, line);
    assert_eq!(
        head(&step.reply),
        want,
        "reply to {line:?}: {:?}",
        step.reply
    );
    step
}

pub(super) fn dialogue(s: &mut Session, script: &[(&str, &str)]) {
    for (line, want) in script {
        expect(s, line, want);
    }
}
