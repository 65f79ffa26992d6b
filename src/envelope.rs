//! The message envelope shared by the session, the spool, the queue and delivery: who sent it, to whom,
//! with which ESMTP parameters, and each recipient's delivery state.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A queue id: 16 hex digits, increasing in arrival order (the spool allocates them), so sorting by id
/// is sorting by arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u64);

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016X}", self.0)
    }
}

impl FromStr for QueueId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(QueueId)
    }
}

/// The ESMTP parameters kept with a message are the protocol core's own types (BODY=, RET=, NOTIFY=).
pub use backupmx_smtp::{BodyType, Notify, Ret};

/// Lower case, without a trailing dot: the one form domains are compared in (routes, policy, look-ups).
pub fn normalise_domain(domain: &str) -> String {
    domain.strip_suffix('.').unwrap_or(domain).to_lowercase()
}

/// Where a recipient's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Relayed to the primary of this (normalised, lower-case) backed-up domain.
    Relay { domain: String },
    /// Kept in the local postmaster mailbox.
    Postmaster,
}

/// The destination key of recipients kept in the postmaster mailbox (not a domain name).
pub const POSTMASTER_DESTINATION: &str = "(postmaster)";

impl Route {
    /// The destination key: the queue's unit of delivery (and, in a cluster, of ownership).
    pub fn destination(&self) -> &str {
        match self {
            Route::Relay { domain } => domain,
            Route::Postmaster => POSTMASTER_DESTINATION,
        }
    }
}

/// A recipient's delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientStatus {
    Pending,
    /// The primary (or the postmaster mailbox) accepted it; `reply` is the primary's one-line reply.
    Delivered {
        at_ms: u64,
        reply: String,
    },
    /// Permanently failed and bounced (or dropped when the sender is `<>`).
    Failed {
        at_ms: u64,
        reply: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The address as received (`local@domain`, quotes preserved) or `postmaster`.
    pub address: String,
    pub route: Route,
    pub notify: Option<Notify>,
    /// ORCPT as `type;address`.
    pub orcpt: Option<String>,
    pub status: RecipientStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path without brackets; empty for `<>`.
    pub sender: String,
    pub recipients: Vec<Recipient>,
    pub body_type: BodyType,
    pub smtputf8: bool,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    pub client_ip: IpAddr,
    /// The EHLO/HELO name the client gave.
    pub helo: String,
    /// Arrival time, Unix milliseconds.
    pub received_at_ms: u64,
    /// What the sender checks found and added at the end of data (issue 15); `None` for messages
    /// that were not checked (our own DSNs, checks off, spools from before the checks).
    /// Boxed: most of the queue's envelopes carry it, and a box keeps `Envelope` small where it
    /// moves through the spool's channels.
    pub auth: Option<Box<AuthStamp>>,
}

/// The sender checks' outcome kept with a message: the header fields computed at the end of data,
/// which delivery prepends to the stored body, and each check's result for the admin views.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthStamp {
    /// Complete header fields, each ending in CRLF (ARC set, Authentication-Results), sent before
    /// the stored body; the body itself stays byte for byte as received.
    pub prepend: String,
    /// `(check, result)` pairs in a fixed order, e.g. `("spf", "pass")`, `("dkim", "fail")`.
    pub results: Vec<(String, String)>,
}

impl Envelope {
    pub fn is_null_sender(&self) -> bool {
        self.sender.is_empty()
    }
    /// The header fields delivery sends before the stored body (empty when none).
    pub fn prepended(&self) -> &[u8] {
        self.auth.as_ref().map_or(&[][..], |a| a.prepend.as_bytes())
    }
    /// The backed-up domains its recipients are relayed to, each once, comma-separated (for logs:
    /// the journal's `DOMAIN` field); "postmaster" for the local mailbox.
    pub fn domains_text(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for recipient in &self.recipients {
            let name = match &recipient.route {
                Route::Relay { domain } => domain.as_str(),
                Route::Postmaster => "postmaster",
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(",")
    }

    pub fn pending(&self) -> impl Iterator<Item = (usize, &Recipient)> {
        self.recipients
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == RecipientStatus::Pending)
    }
}

/// Result text of the attempt-history entry that records a delay warning sent to the sender (kept
/// there so a restart does not warn twice).
pub const DELAY_WARNING_SENT: &str = "delay warning sent to the sender";

/// One delivery attempt, kept with the message so admins can see why it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at_ms: u64,
    /// Host (and address) tried, or the routing step that failed.
    pub host: String,
    /// The primary's reply or the network/DNS error, one line.
    pub result: String,
}

/// Envelopes for the unit tests of the modules that store or send them.
#[cfg(test)]
pub(crate) mod samples {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    /// A pending recipient relayed to `example.test`.
    pub(crate) fn recipient(address: &str) -> Recipient {
        Recipient {
            address: address.to_owned(),
            route: Route::Relay {
                domain: "example.test".into(),
            },
            notify: None,
            orcpt: None,
            status: RecipientStatus::Pending,
        }
    }

    /// A 7-bit envelope from alice@sender.test to `to`, received at `received_at_ms`.
    pub(crate) fn envelope(to: &str, received_at_ms: u64) -> Envelope {
        Envelope {
            sender: "alice@sender.test".into(),
            recipients: vec![recipient(to)],
            body_type: BodyType::SevenBit,
            smtputf8: false,
            ret: None,
            envid: None,
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            helo: "client.test".into(),
            received_at_ms,
            auth: None,
        }
    }
}
