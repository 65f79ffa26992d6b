//! The JSON API under `/api/v1` (reference: docs/api.md): the routes, queue listing and details,
//! per-domain figures, the postmaster mailbox and the audit log; the actions are in `actions.rs`. Every
//! state-changing request is a POST or DELETE and is written to the audit log (who = `api`).

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::AdminState;
use super::actions;
use super::audit::Kind;
use super::error::ApiError;
use crate::envelope::QueueId;
use crate::queue::api::{ListFilter, QueueApiError};

/// Default and maximum page size of `GET /queue`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;
const STATUSES: [&str; 5] = ["held", "sending", "misconfigured", "deferred", "queued"];

type ApiResult = Result<Response, ApiError>;

/// The `/api/v1` routes (access and token checks are layered on by the caller).
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/queue", get(list))
        .route("/queue/{id}", get(show).delete(actions::delete))
        .route("/queue/{id}/eml", get(eml))
        .route("/domains", get(domains))
        .route("/cluster", get(cluster))
        .route("/flush", post(actions::flush))
        .route("/hold", post(actions::hold))
        .route("/release", post(actions::release))
        .route("/bounce", post(actions::bounce))
        .route("/postmaster", get(postmaster_list))
        .route("/postmaster/{id}", get(postmaster_read))
        .route("/audit", get(audit))
        .route("/quarantine", get(quarantine))
        .merge(super::api_recipients::routes())
        .merge(super::api_readiness::routes())
        .merge(super::api_reload::routes())
        .merge(super::api_domains::routes())
        .merge(super::api_alerts::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
}

/// A queue id: 1 to 16 hexadecimal digits, nothing else (no sign, no space, no longer run of leading
/// zeros). The one id parser of the console and the API.
pub fn queue_id(text: &str) -> Option<QueueId> {
    let valid = !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return None;
    }
    text.parse().ok()
}

/// [`queue_id`] with the API's error (400 `bad_id`).
pub fn parse_id(text: &str) -> Result<QueueId, ApiError> {
    queue_id(text).ok_or_else(|| {
        let shown = super::audit::cap(text, 40);
        ApiError::bad_request(
            "bad_id",
            format!("{shown:?} is not a queue id (1 to 16 hexadecimal digits)"),
        )
    })
}

/// The query string as a map, refusing keys the endpoint does not know.
pub(super) fn query_map(
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    known: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    let Query(map) = query.map_err(|e| ApiError::bad_request("bad_query", e.body_text()))?;
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        let message = format!(
            "unknown query parameter {key:?} (known: {})",
            known.join(", ")
        );
        return Err(ApiError::bad_request("bad_query", message));
    }
    Ok(map)
}

fn number(map: &HashMap<String, String>, key: &str, default: usize) -> Result<usize, ApiError> {
    map.get(key).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| ApiError::bad_request("bad_query", format!("{key} must be a number")))
    })
}

/// `GET /queue` query → the queue's filter.
pub fn list_filter(map: &HashMap<String, String>) -> Result<ListFilter, ApiError> {
    let limit = number(map, "limit", DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let status = map.get("status").cloned();
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        let message = format!("status must be one of {}", STATUSES.join(", "));
        return Err(ApiError::bad_request("bad_query", message));
    }
    let newest_first = match map.get("sort").map(String::as_str) {
        None | Some("oldest") => false,
        Some("newest") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_query",
                "sort must be oldest or newest",
            ));
        }
    };
    let non_empty = |key: &str| map.get(key).filter(|v| !v.is_empty()).cloned();
    Ok(ListFilter {
        domain: non_empty("domain").map(|d| d.trim_end_matches('.').to_lowercase()),
        sender: non_empty("sender"),
        recipient: non_empty("recipient"),
        status,
        newest_first,
        offset: number(map, "offset", 0)?,
        limit,
    })
}

async fn list(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let known = [
        "domain",
        "sender",
        "recipient",
        "status",
        "sort",
        "offset",
        "limit",
    ];
    let filter = list_filter(&query_map(query, &known)?)?;
    let (total, messages) = state.queue.list(&filter).await?;
    Ok(Json(json!({ "total": total, "messages": messages })).into_response())
}

async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let detail = state
        .queue
        .get(id)
        .await?
        .ok_or(QueueApiError::UnknownId(id))?;
    Ok(Json(detail).into_response())
}

async fn eml(State(state): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let mut reader = state.queue.body(id).await?;
    // Bounded by [smtp] max_message_size.
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "spool_error",
            format!("cannot read message {id}: {e}"),
        )
    })?;
    Ok(rfc822(&id, bytes))
}

fn rfc822(id: &QueueId, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{id}.eml\"");
    (
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

/// Unix milliseconds as RFC 3339 (`2026-12-02T11:30:05.120Z`, UTC).
fn rfc3339(ms: u64) -> String {
    // `2026-12-02 11:30:05Z` from the console's formatter, made RFC 3339 with the milliseconds.
    let seconds = super::ui::timestamp(ms);
    let date_time = seconds.trim_end_matches('Z').replacen(' ', "T", 1);
    format!("{date_time}.{:03}Z", ms % 1000)
}

/// `GET /api/v1/cluster`: the nodes sharing the queue. A single node with its local spool lists
/// itself, alive, delivering everything.
async fn cluster(State(state): State<AdminState>) -> ApiResult {
    let now_ms = crate::clock::to_unix_ms(state.queue.now());
    let nodes: Vec<Value> = match state.queue.cluster_nodes().await? {
        Some(nodes) => nodes
            .into_iter()
            .map(|n| {
                let age_ms = (n.heartbeat_age_s.max(0.0) * 1000.0) as u64;
                json!({
                    "name": n.name,
                    "last_heartbeat": rfc3339(now_ms.saturating_sub(age_ms)),
                    "last_heartbeat_ms": now_ms.saturating_sub(age_ms),
                    "alive": n.alive,
                    "claims": n.claims,
                })
            })
            .collect(),
        None => vec![json!({
            "name": state.config.cluster.node,
            "last_heartbeat": rfc3339(now_ms),
            "last_heartbeat_ms": now_ms,
            "alive": true,
            "claims": state.queue.domains().await?.len(),
        })],
    };
    Ok(Json(json!({ "nodes": nodes })).into_response())
}

async fn domains(State(state): State<AdminState>) -> ApiResult {
    let (messages, bytes) = state.queue.totals().await?;
    let domains = state.queue.domains().await?;
    // Each configured domain says where it comes from: the config file or the provisioning API.
    let config = state.live.get();
    let mut domains = serde_json::to_value(domains).unwrap_or_default();
    for domain in domains.as_array_mut().into_iter().flatten() {
        let name = domain
            .get("domain")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let origin = super::api_domains::origin(&config, name);
        domain["origin"] = json!(origin);
    }
    Ok(
        Json(json!({ "domains": domains, "totals": { "messages": messages, "bytes": bytes } }))
            .into_response(),
    )
}

async fn postmaster_list(State(state): State<AdminState>) -> ApiResult {
    let messages: Vec<Value> = state
        .queue
        .postmaster_list()
        .await?
        .into_iter()
        .map(|(id, size)| json!({ "id": id.to_string(), "size": size }))
        .collect();
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn postmaster_read(State(state): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let bytes = state.queue.postmaster_read(id).await?;
    Ok(rfc822(&id, bytes))
}

/// `?kind=actions|failures|all` (default all) and `?limit=`.
async fn audit(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let map = query_map(query, &["limit", "kind"])?;
    let limit = number(&map, "limit", DEFAULT_LIMIT)?;
    let kind = match map.get("kind").map(String::as_str) {
        None | Some("all") => Kind::All,
        Some("actions") => Kind::Actions,
        Some("failures") => Kind::Failures,
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_query",
                "kind must be actions, failures or all",
            ));
        }
    };
    Ok(
        Json(json!({ "entries": state.audit.recent_everywhere(kind, limit).await }))
            .into_response(),
    )
}

/// What recovery set aside at start (damaged journals, messages whose body is missing or short).
async fn quarantine(State(state): State<AdminState>) -> ApiResult {
    Ok(Json(json!({ "items": state.queue.quarantined() })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ids_are_hexadecimal_up_to_16_digits() {
        assert_eq!(parse_id("00000000000000FF").unwrap(), QueueId(255));
        assert_eq!(parse_id("ff").unwrap(), QueueId(255));
        for bad in [
            "",
            "+1",
            "+1A23",
            "xyz",
            "00000000000000000",
            "1 ",
            "../etc",
        ] {
            assert_eq!(parse_id(bad).unwrap_err().code, "bad_id", "{bad:?}");
            assert_eq!(queue_id(bad), None, "{bad:?}");
        }
        let zeros = format!("{}1", "0".repeat(5000));
        assert!(parse_id(&zeros).unwrap_err().message.len() < 200);
    }

    #[test]
    fn list_filter_defaults_and_bounds() {
        let f = list_filter(&map(&[])).unwrap();
        assert_eq!(
            (f.limit, f.offset, f.newest_first),
            (DEFAULT_LIMIT, 0, false)
        );
        let f = list_filter(&map(&[
            ("sort", "newest"),
            ("domain", "A.Test."),
            ("status", "held"),
        ]))
        .unwrap();
        assert!(f.newest_first);
        assert_eq!(f.domain.as_deref(), Some("a.test"));
        for bad in [
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "x"),
            ("sort", "size"),
            ("status", "gone"),
            ("offset", "-1"),
        ] {
            assert_eq!(
                list_filter(&map(&[bad])).unwrap_err().code,
                "bad_query",
                "{bad:?}"
            );
        }
    }
}
