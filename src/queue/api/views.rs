//! What the queue API shows: the serializable views of messages, recipients, attempts and domains,
//! and the listing filter.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RecipientView {
    pub address: String,
    /// The backed-up domain, or `(postmaster)`.
    pub destination: String,
    /// `pending`, `delivered` or `failed`.
    pub status: &'static str,
    /// The primary's (or our) last word about this recipient.
    pub reply: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    pub id: String,
    pub sender: String,
    pub recipients: Vec<RecipientView>,
    pub size: u64,
    pub received_at_ms: u64,
    pub attempts: usize,
    pub next_attempt_at_ms: Option<u64>,
    pub last_error: Option<String>,
    pub held: bool,
    /// `held`, `sending`, `misconfigured` (destination's MX needs fixing), `deferred` (tried, waiting)
    /// or `queued` (not tried yet).
    pub status: &'static str,
    /// The node that accepted it (`[cluster] node`).
    pub accepted_by: String,
    /// The node that delivers its pending mail now; null when no node holds it (or nothing is pending).
    pub claimed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub at_ms: u64,
    pub host: String,
    pub result: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub client_ip: String,
    pub helo: String,
    pub body_type: &'static str,
    pub smtputf8: bool,
    pub envid: Option<String>,
    pub history: Vec<AttemptView>,
    /// The sender checks' results (issue 15), e.g. `{"spf": "pass", "dkim": "none", "dmarc":
    /// "none", "iprev": "pass", "dnsbl": "pass"}`; empty when the message was not checked.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// A destination's state as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DomainSummary {
    pub domain: String,
    pub messages: usize,
    pub bytes: u64,
    pub oldest_received_at_ms: Option<u64>,
    /// `up`, `down`, `misconfigured` or `unknown` (not tried since start).
    pub state: &'static str,
    /// Removed from the config by a reload; its queue still drains (no new mail is accepted).
    pub removed: bool,
    /// `[[domain]] max_messages` and `max_bytes`: the quota `messages` and `bytes` count against.
    pub max_messages: Option<u64>,
    pub max_bytes: Option<u64>,
    pub since_ms: Option<u64>,
    /// The last error or the misconfiguration's reason.
    pub detail: Option<String>,
    pub next_attempt_at_ms: Option<u64>,
    /// Message counts by age, as Postfix's qshape buckets them.
    pub age_histogram: Vec<AgeBucket>,
    /// The node delivering this destination (in a cluster; this node otherwise).
    pub claimed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AgeBucket {
    /// e.g. `5m`, `10m`, ... `1280m`, `older`.
    pub label: &'static str,
    pub count: usize,
}

/// Upper bounds in minutes of the age buckets (qshape's doubling scale).
pub(super) const AGE_BUCKETS: [(u64, &str); 10] = [
    (5, "5m"),
    (10, "10m"),
    (20, "20m"),
    (40, "40m"),
    (80, "80m"),
    (160, "160m"),
    (320, "320m"),
    (640, "640m"),
    (1280, "1280m"),
    (u64::MAX, "older"),
];

/// Which messages a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub domain: Option<String>,
    /// Substring of the sender (case-insensitive).
    pub sender: Option<String>,
    /// Substring of any recipient (case-insensitive).
    pub recipient: Option<String>,
    /// One of the [`MessageSummary::status`] values.
    pub status: Option<String>,
    pub newest_first: bool,
    pub offset: usize,
    pub limit: usize,
}
