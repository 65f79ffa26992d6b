//! Prometheus metrics (`GET /metrics`, names prefixed `backupmx_`). Counters and the latency histogram
//! are recorded where things happen (inbound, queue worker) through the `metrics` facade; the queue
//! gauges are refreshed from the queue API at each scrape. The recorder is installed once per process.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AdminState;
use crate::clock::to_unix_ms;

/// Buckets of `backupmx_delivery_attempt_duration_seconds`.
const LATENCY_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// How often histogram buffers are drained.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus recorder, installed on first call; `None` if another recorder was
/// installed first (then `/metrics` serves only the gauges' absence: an empty page).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Suffix("duration_seconds".into()),
                &LATENCY_BUCKETS,
            );
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the metrics recorder");
                    None
                }
            }
        })
        .clone()
}

/// Drains histogram buffers periodically (the exporter asks for it when nothing scrapes).
pub async fn upkeep(handle: PrometheusHandle, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(UPKEEP_EVERY) => handle.run_upkeep(),
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// Sets the queue gauges from the queue's current state.
pub async fn refresh_queue_gauges(state: &AdminState) {
    let now_ms = to_unix_ms(state.queue.now());
    // In a cluster the gauges are the whole cluster's; with the database unreachable they keep their
    // last values (and `backupmx_queue_view_errors_total` counts the miss).
    let (Ok((messages, bytes)), Ok(domains)) =
        (state.queue.totals().await, state.queue.domains().await)
    else {
        metrics::counter!("backupmx_queue_view_errors_total").increment(1);
        return;
    };
    metrics::gauge!("backupmx_queue_messages").set(messages as f64);
    metrics::gauge!("backupmx_queue_bytes").set(bytes as f64);
    for d in domains {
        let domain = d.domain.clone();
        metrics::gauge!("backupmx_queued_messages", "domain" => domain.clone())
            .set(d.messages as f64);
        metrics::gauge!("backupmx_queued_bytes", "domain" => domain.clone()).set(d.bytes as f64);
        let age = d
            .oldest_received_at_ms
            .map_or(0, |t| now_ms.saturating_sub(t));
        metrics::gauge!("backupmx_oldest_message_age_seconds", "domain" => domain.clone())
            .set(age as f64 / 1000.0);
        // -1: unknown (not tried since start, or forgotten once nothing waits for it).
        let up = match d.state {
            "up" => 1.0,
            "down" | "misconfigured" => 0.0,
            _ => -1.0,
        };
        metrics::gauge!("backupmx_primary_up", "domain" => domain).set(up);
    }
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AdminState>) -> Response {
    refresh_queue_gauges(&state).await;
    let text = state
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
