//! The alerts' runtime: every `[alerts] check_interval` it gathers the facts, lets the monitor
//! decide what changed, files the new alerts in the outbox (saved before anything is sent), and
//! posts what is due. Also what the admin layer calls: the recent alerts, and a test alert sent at
//! once through every webhook. The config is read live, so a reload changes webhooks and thresholds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::{Notify, watch};

use super::event::Raised;
use super::gather::Sources;
use super::outbox::{DeliveryState, Settled};
use super::render;
use super::store::{AlertStore, Saved, StoreError, encode};
use super::webhook::Poster;
use crate::clock::{Clock, to_unix_ms};
use crate::config::Config;
use crate::live::Live;

/// An alert as the console and `GET /api/v1/alerts` show it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub id: u64,
    pub event: String,
    /// `firing` or `resolved`.
    pub state: &'static str,
    pub subject: Option<String>,
    pub text: String,
    pub at_ms: u64,
    pub details: std::collections::BTreeMap<String, serde_json::Value>,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub webhook: String,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: &'static str,
    pub attempts: u32,
    pub delivered_at_ms: Option<u64>,
    /// Pending: when it is tried next.
    pub next_at_ms: Option<u64>,
    pub last_error: Option<String>,
}

/// One webhook's answer to a test alert.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    pub webhook: String,
    pub delivered: bool,
    pub error: Option<String>,
}

pub struct AlertService {
    config: Live<Config>,
    sources: Sources,
    store: AlertStore,
    /// The monitor and the outbox; held only between awaits.
    state: Mutex<Saved>,
    poster: Poster,
    clock: Arc<dyn Clock>,
    /// One delivery pass at a time (the loop's and a test's), so no delivery is sent twice.
    delivering: tokio::sync::Mutex<()>,
    /// One write of the file at a time, each of a snapshot taken under it: writes land in order.
    writing: tokio::sync::Mutex<()>,
    wake: Notify,
}

impl AlertService {
    /// Loads the saved state (a damaged file is set aside and reported; the alerts start empty);
    /// every pending delivery is due at once.
    pub fn new(
        config: Live<Config>,
        sources: Sources,
        state_dir: &std::path::Path,
        poster: Poster,
        clock: Arc<dyn Clock>,
    ) -> AlertService {
        let store = AlertStore::new(state_dir);
        let mut saved = match store.load() {
            Ok(saved) => saved,
            Err(error) => {
                tracing::error!(%error, "alerts: starting with an empty outbox");
                Saved::default()
            }
        };
        saved.outbox.all_due_at(to_unix_ms(clock.now()));
        AlertService {
            config,
            sources,
            store,
            state: Mutex::new(saved),
            poster,
            clock,
            delivering: tokio::sync::Mutex::new(()),
            writing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Saved> {
        // The state is replaced whole by each step: a panic cannot leave half a change.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> u64 {
        to_unix_ms(self.clock.now())
    }

    /// Checks every `check_interval` until shutdown; deliveries run in a loop of their own, so a
    /// slow webhook never delays the next check.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let sender = tokio::spawn(Arc::clone(&self).deliver_loop(shutdown.clone()));
        loop {
            if self.check().await {
                self.wake.notify_one();
            }
            let interval = self.config.get().alerts.check_interval;
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
        let _ = sender.await;
    }

    /// Posts what is due every `check_interval`, and at once when a check filed a new alert.
    async fn deliver_loop(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.deliver_due().await;
            let interval = self.config.get().alerts.check_interval;
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tokio::time::sleep(interval) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// One sample: the alerts for what changed, filed and saved; true when one was filed.
    pub async fn check(&self) -> bool {
        let now_ms = self.now_ms();
        let Some(facts) = self.sources.gather(now_ms).await else {
            return false;
        };
        let config = self.config.get();
        let (filed, changed) = {
            let mut state = self.lock();
            let raised = state.monitor.observe(&facts, &config.alerts);
            let pending_before = state.outbox.pending();
            state.outbox.reconcile(&config.alerts.webhooks);
            let filed = !raised.is_empty();
            let changed = filed || state.outbox.pending() != pending_before;
            for alert in raised {
                log_raised(&alert);
                metrics::counter!("backupmx_alerts_raised_total", "event" => alert.event)
                    .increment(1);
                state.outbox.add(alert, now_ms, &config.alerts.webhooks);
            }
            metrics::gauge!("backupmx_alerts_pending").set(state.outbox.pending() as f64);
            (filed, changed)
        };
        // The monitor's memory also changes on quiet samples (a node first seen, a domain gone):
        // saving only with a new alert is enough, as losing such a change repeats no alert.
        if changed {
            self.save().await;
        }
        filed
    }

    /// Writes the current state to the file (off the async threads: it fsyncs).
    async fn save(&self) {
        let _writing = self.writing.lock().await;
        let bytes = match encode(&self.lock()) {
            Ok(bytes) => bytes,
            Err(error) => return log_store_error(&error),
        };
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.write(&bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => log_store_error(&error),
            Err(error) => tracing::error!(%error, "alerts: the outbox writer failed"),
        }
    }

    /// Posts every due delivery, oldest alert first.
    /// Posts every due delivery: the webhooks in parallel, each one's alerts oldest first. A
    /// webhook that fails is left until the next pass (one attempt a pass while it is down).
    pub async fn deliver_due(self: &Arc<Self>) {
        let _pass = self.delivering.lock().await;
        let due = self.lock().outbox.due(self.now_ms());
        let mut by_webhook: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (id, webhook) in due {
            by_webhook.entry(webhook).or_default().push(id);
        }
        let mut posts = tokio::task::JoinSet::new();
        for (url, ids) in by_webhook {
            let service = Arc::clone(self);
            posts.spawn(async move {
                for id in ids {
                    if !matches!(service.deliver(id, &url).await, Some(Ok(()))) {
                        break;
                    }
                }
            });
        }
        posts.join_all().await;
    }

    /// Posts alert `id` to `url` and records the answer; the answer (if it was tried).
    async fn deliver(&self, id: u64, url: &str) -> Option<Result<(), String>> {
        let config = self.config.get();
        let webhook = config.alerts.webhooks.iter().find(|w| w.url.text == url)?;
        let alert = self.lock().outbox.alert(id).cloned()?;
        let request = render::request(&alert, webhook, &config.hostname);
        let result = self.poster.post(&webhook.url, &request).await;
        let event = alert.event.clone();
        match &result {
            Ok(()) => {
                metrics::counter!("backupmx_alerts_sent_total", "event" => event.clone())
                    .increment(1);
                tracing::info!(id, event = %event, webhook = %url, "alert delivered");
            }
            Err(error) => {
                metrics::counter!("backupmx_alerts_failed_total", "event" => event.clone())
                    .increment(1);
                tracing::warn!(id, event = %event, webhook = %url, %error, "alert delivery failed; will retry");
            }
        }
        let interval = config.alerts.check_interval;
        let settled = self
            .lock()
            .outbox
            .record(id, url, result.clone(), self.now_ms(), interval);
        if settled == Some(Settled::GaveUp) {
            tracing::error!(id, event = %event, webhook = %url, "alert delivery given up");
        }
        self.save().await;
        Some(result)
    }

    /// Files a `test` alert for every webhook (whatever its `events`) and posts it at once; each
    /// webhook's answer. A failed test delivery is retried like any alert.
    pub async fn send_test(self: &Arc<Self>, who: &str) -> Vec<TestResult> {
        let _pass = self.delivering.lock().await;
        let config = self.config.get();
        let every: Vec<_> = config
            .alerts
            .webhooks
            .iter()
            .cloned()
            .map(|mut w| {
                w.events = None;
                w
            })
            .collect();
        let text = format!("test alert from {} (requested by {who})", config.hostname);
        let id = self
            .lock()
            .outbox
            .add(Raised::new("test", None, text), self.now_ms(), &every);
        self.save().await;
        // All at once: a dead webhook's 15 s must not hold up the others' answers.
        let mut posts = tokio::task::JoinSet::new();
        for (index, webhook) in every.iter().enumerate() {
            let (service, url) = (Arc::clone(self), webhook.url.text.clone());
            posts.spawn(async move {
                let answer = service.deliver(id, &url).await;
                (index, url, answer)
            });
        }
        let mut answers = posts.join_all().await;
        answers.sort_by_key(|(index, _, _)| *index);
        answers
            .into_iter()
            .map(|(_, url, answer)| TestResult {
                webhook: url,
                delivered: matches!(answer, Some(Ok(()))),
                error: answer.and_then(Result::err),
            })
            .collect()
    }

    /// The `limit` most recent alerts, newest first, with their deliveries.
    pub fn recent(&self, limit: usize) -> Vec<AlertView> {
        let state = self.lock();
        state
            .outbox
            .recent(limit)
            .map(|entry| AlertView {
                id: entry.alert.id,
                event: entry.alert.event.clone(),
                state: entry.alert.state(),
                subject: entry.alert.subject.clone(),
                text: entry.alert.text.clone(),
                at_ms: entry.alert.at_ms,
                details: entry.alert.details.clone(),
                deliveries: entry
                    .deliveries
                    .iter()
                    .map(|d| DeliveryView {
                        webhook: d.webhook.clone(),
                        state: d.state.name(),
                        attempts: d.attempts,
                        delivered_at_ms: match d.state {
                            DeliveryState::Delivered { at_ms } => Some(at_ms),
                            _ => None,
                        },
                        next_at_ms: (d.state == DeliveryState::Pending).then_some(d.next_at_ms),
                        last_error: match &d.state {
                            DeliveryState::Failed { reason } => Some(reason.clone()),
                            _ => d.last_error.clone(),
                        },
                    })
                    .collect(),
            })
            .collect()
    }

    /// Deliveries waiting for a 2xx.
    pub fn pending(&self) -> usize {
        self.lock().outbox.pending()
    }

    /// Webhooks configured now.
    pub fn webhooks(&self) -> usize {
        self.config.get().alerts.webhooks.len()
    }

    /// Runs the next delivery pass now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

fn log_raised(alert: &Raised) {
    let subject = alert.subject.as_deref().unwrap_or("");
    let state = if alert.resolved { "resolved" } else { "firing" };
    tracing::warn!(event = alert.event, state, subject, text = %alert.text, "alert raised");
}

fn log_store_error(error: &StoreError) {
    tracing::error!(%error, "alerts: cannot save the outbox; an alert may be lost or repeated after a restart");
}
