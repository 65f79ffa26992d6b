//! What an alert is: an event (`primary_down`, `queue_size`, ...), raised or resolved, about a subject
//! (a domain, a node), with a one-line text for people and details for programs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An alert the monitor raised, before the outbox numbers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Raised {
    pub event: &'static str,
    /// False: the condition began; true: it ended (`primary_up` is its own event).
    pub resolved: bool,
    /// The domain or node it is about; `None` for the whole server.
    pub subject: Option<String>,
    pub text: String,
    pub details: BTreeMap<String, serde_json::Value>,
}

impl Raised {
    pub fn new(event: &'static str, subject: Option<&str>, text: String) -> Raised {
        Raised {
            event,
            resolved: false,
            subject: subject.map(str::to_string),
            text,
            details: BTreeMap::new(),
        }
    }

    pub fn resolved(mut self) -> Raised {
        self.resolved = true;
        self
    }

    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Raised {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

/// An alert in the outbox: numbered, stamped, and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Increasing; survives restarts (receivers may use it to drop a repeated delivery).
    pub id: u64,
    pub event: String,
    pub resolved: bool,
    pub subject: Option<String>,
    pub text: String,
    /// When it was raised (Unix milliseconds).
    pub at_ms: u64,
    pub details: BTreeMap<String, serde_json::Value>,
}

impl Alert {
    pub fn from_raised(id: u64, at_ms: u64, raised: Raised) -> Alert {
        Alert {
            id,
            event: raised.event.to_string(),
            resolved: raised.resolved,
            subject: raised.subject,
            text: raised.text,
            at_ms,
            details: raised.details,
        }
    }

    /// `firing` or `resolved`.
    pub fn state(&self) -> &'static str {
        if self.resolved { "resolved" } else { "firing" }
    }
}
