//! The pure outbox: every alert with one delivery per webhook that wants its event, each pending
//! until the webhook answers 2xx, retried after `check_interval` doubling up to [`MAX_BACKOFF`],
//! given up after [`GIVE_UP_AFTER`]. Also the recent alerts the console and the API show. Saved
//! whole (with the monitor's state) by `store.rs` after every change; time is an argument.

use std::collections::VecDeque;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::event::{Alert, Raised};
use crate::config::Webhook;

/// The longest wait between two tries of one delivery.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);
/// A delivery still failing this long after its alert was raised is given up (and says so).
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(7 * 86_400);
/// Alerts kept; beyond, the oldest whose deliveries are all finished go first.
pub const KEEP: usize = 500;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Outbox {
    next_id: u64,
    /// Oldest first.
    entries: VecDeque<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub alert: Alert,
    pub deliveries: Vec<Delivery>,
}

/// One alert to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The webhook's URL as configured (its identity across reloads and restarts).
    pub webhook: String,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When to try next (pending only).
    pub next_at_ms: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeliveryState {
    Pending,
    Delivered {
        at_ms: u64,
    },
    /// Given up: too old, or the webhook left the config.
    Failed {
        reason: String,
    },
}

impl DeliveryState {
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered { .. } => "delivered",
            DeliveryState::Failed { .. } => "failed",
        }
    }
}

/// What a delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    /// Will be tried again.
    Retry,
    GaveUp,
}

impl Outbox {
    /// Files `raised` for every webhook that wants its event; due at once. Returns its id.
    pub fn add(&mut self, raised: Raised, now_ms: u64, webhooks: &[Webhook]) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let alert = Alert::from_raised(id, now_ms, raised);
        let deliveries = webhooks
            .iter()
            .filter(|w| w.wants(&alert.event))
            .map(|w| Delivery {
                webhook: w.url.text.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_at_ms: now_ms,
                last_error: None,
            })
            .collect();
        self.entries.push_back(Entry { alert, deliveries });
        self.trim();
        id
    }

    /// (alert id, webhook URL) of every pending delivery due at `now_ms`, oldest alert first.
    pub fn due(&self, now_ms: u64) -> Vec<(u64, String)> {
        self.entries
            .iter()
            .flat_map(|e| {
                e.deliveries
                    .iter()
                    .filter(move |d| d.state == DeliveryState::Pending && d.next_at_ms <= now_ms)
                    .map(move |d| (e.alert.id, d.webhook.clone()))
            })
            .collect()
    }

    pub fn alert(&self, id: u64) -> Option<&Alert> {
        self.entries
            .iter()
            .find(|e| e.alert.id == id)
            .map(|e| &e.alert)
    }

    /// Records an attempt's result; `interval` is the first wait (`check_interval`).
    pub fn record(
        &mut self,
        id: u64,
        webhook: &str,
        result: Result<(), String>,
        now_ms: u64,
        interval: Duration,
    ) -> Option<Settled> {
        let entry = self.entries.iter_mut().find(|e| e.alert.id == id)?;
        let raised_at = entry.alert.at_ms;
        let delivery = entry
            .deliveries
            .iter_mut()
            .find(|d| d.webhook == webhook && d.state == DeliveryState::Pending)?;
        delivery.attempts = delivery.attempts.saturating_add(1);
        match result {
            Ok(()) => {
                delivery.state = DeliveryState::Delivered { at_ms: now_ms };
                Some(Settled::Delivered)
            }
            Err(error) => {
                delivery.last_error = Some(error.clone());
                if now_ms.saturating_sub(raised_at) >= millis(GIVE_UP_AFTER) {
                    delivery.state = DeliveryState::Failed {
                        reason: format!("gave up after {} attempts: {error}", delivery.attempts),
                    };
                    return Some(Settled::GaveUp);
                }
                delivery.next_at_ms =
                    now_ms.saturating_add(millis(backoff(interval, delivery.attempts)));
                Some(Settled::Retry)
            }
        }
    }

    /// After a reload: pending deliveries to a webhook no longer configured are given up.
    pub fn reconcile(&mut self, webhooks: &[Webhook]) {
        for delivery in self
            .entries
            .iter_mut()
            .flat_map(|e| e.deliveries.iter_mut())
        {
            if delivery.state == DeliveryState::Pending
                && !webhooks.iter().any(|w| w.url.text == delivery.webhook)
            {
                delivery.state = DeliveryState::Failed {
                    reason: "webhook removed from the config".into(),
                };
            }
        }
    }

    /// After a restart: every pending delivery is due at once (the receiver may be back).
    pub fn all_due_at(&mut self, now_ms: u64) {
        for delivery in self
            .entries
            .iter_mut()
            .flat_map(|e| e.deliveries.iter_mut())
        {
            if delivery.state == DeliveryState::Pending {
                delivery.next_at_ms = delivery.next_at_ms.min(now_ms);
            }
        }
    }

    /// The most recent alerts first, at most `limit`.
    pub fn recent(&self, limit: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().rev().take(limit)
    }

    pub fn pending(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|e| &e.deliveries)
            .filter(|d| d.state == DeliveryState::Pending)
            .count()
    }

    fn trim(&mut self) {
        while self.entries.len() > KEEP {
            let finished = self.entries.iter().position(|e| {
                e.deliveries
                    .iter()
                    .all(|d| d.state != DeliveryState::Pending)
            });
            // All pending: the oldest goes anyway (a receiver gone for good must not grow the file).
            self.entries.remove(finished.unwrap_or(0));
        }
    }
}

/// `interval` doubled per failed attempt, at most [`MAX_BACKOFF`].
pub fn backoff(interval: Duration, attempts: u32) -> Duration {
    let factor = 1_u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    interval.saturating_mul(factor).min(MAX_BACKOFF)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AlertFormat, parse_webhook_url};

    fn webhook(url: &str, events: Option<&[&str]>) -> Webhook {
        Webhook {
            url: parse_webhook_url(url).unwrap(),
            format: AlertFormat::Json,
            secret: None,
            headers: Vec::new(),
            events: events.map(|e| e.iter().map(|s| s.to_string()).collect()),
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn one_delivery_per_interested_webhook_retried_with_backoff_until_2xx() {
        let hooks = [
            webhook("http://127.0.0.1:1/a", None),
            webhook("http://127.0.0.1:1/b", Some(&["queue_size"])),
        ];
        let mut outbox = Outbox::default();
        let id = outbox.add(
            Raised::new("primary_down", Some("x.test"), "t".into()),
            1000,
            &hooks,
        );
        assert_eq!(outbox.due(1000), [(id, "http://127.0.0.1:1/a".to_string())]);
        let url = "http://127.0.0.1:1/a";
        let fail = || Err("refused".to_string());
        assert_eq!(
            outbox.record(id, url, fail(), 1000, SECOND),
            Some(Settled::Retry)
        );
        assert!(outbox.due(1999).is_empty());
        assert_eq!(outbox.due(2000).len(), 1);
        assert_eq!(
            outbox.record(id, url, fail(), 2000, SECOND),
            Some(Settled::Retry)
        );
        assert!(outbox.due(3999).is_empty(), "the second wait is doubled");
        assert_eq!(
            outbox.record(id, url, Ok(()), 4000, SECOND),
            Some(Settled::Delivered)
        );
        assert!(outbox.due(u64::MAX).is_empty());
        assert_eq!(outbox.pending(), 0);
        // A result for a finished delivery changes nothing.
        assert_eq!(outbox.record(id, url, Ok(()), 5000, SECOND), None);
        let entry = outbox.recent(1).next().unwrap();
        assert_eq!(entry.deliveries[0].attempts, 3);
        assert_eq!(
            entry.deliveries[0].state,
            DeliveryState::Delivered { at_ms: 4000 }
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(SECOND, 1), SECOND);
        assert_eq!(backoff(SECOND, 4), 8 * SECOND);
        assert_eq!(backoff(SECOND, 40), MAX_BACKOFF);
        assert_eq!(backoff(SECOND, 0), SECOND);
    }

    #[test]
    fn gives_up_after_a_week_and_when_the_webhook_leaves() {
        let hooks = [webhook("http://127.0.0.1:1/a", None)];
        let mut outbox = Outbox::default();
        let id = outbox.add(Raised::new("test", None, "t".into()), 0, &hooks);
        let week = millis(GIVE_UP_AFTER);
        let url = &hooks[0].url.text;
        assert_eq!(
            outbox.record(id, url, Err("x".into()), week, SECOND),
            Some(Settled::GaveUp)
        );
        let second = outbox.add(Raised::new("test", None, "t".into()), 0, &hooks);
        outbox.reconcile(&[]);
        assert!(outbox.due(u64::MAX).is_empty());
        assert_eq!(outbox.alert(second).map(|a| a.id), Some(2));
    }

    #[test]
    fn a_restart_makes_pending_deliveries_due() {
        let hooks = [webhook("http://127.0.0.1:1/a", None)];
        let mut outbox = Outbox::default();
        let id = outbox.add(Raised::new("test", None, "t".into()), 0, &hooks);
        outbox.record(id, &hooks[0].url.text, Err("x".into()), 0, MAX_BACKOFF);
        assert!(outbox.due(1).is_empty());
        outbox.all_due_at(1);
        assert_eq!(outbox.due(1).len(), 1);
    }

    #[test]
    fn the_outbox_is_bounded_and_drops_finished_alerts_first() {
        let hooks = [webhook("http://127.0.0.1:1/a", None)];
        let mut outbox = Outbox::default();
        let pending = outbox.add(Raised::new("test", None, "t".into()), 0, &hooks);
        for _ in 0..KEEP + 10 {
            let id = outbox.add(Raised::new("test", None, "t".into()), 0, &hooks);
            outbox.record(id, &hooks[0].url.text, Ok(()), 0, SECOND);
        }
        assert_eq!(outbox.recent(usize::MAX).count(), KEEP);
        assert!(outbox.alert(pending).is_some(), "the pending alert stays");
    }
}
