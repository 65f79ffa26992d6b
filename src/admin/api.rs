//! The JSON API under `/api/v1` (reference: docs/api.md): queue listing and details, per-domain figures,
//! flush / hold / release / bounce / delete, the postmaster mailbox and the audit log. Every
//! state-changing request is a POST or DELETE and is written to the audit log (who = `api`).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::AdminState;
use super::error::ApiError;
use crate::envelope::QueueId;
use crate::queue::FlushScope;
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
        .route("/queue/{id}", get(show).delete(delete))
        .route("/queue/{id}/eml", get(eml))
        .route("/domains", get(domains))
        .route("/flush", post(flush))
        .route("/hold", post(hold))
        .route("/release", post(release))
        .route("/bounce", post(bounce))
        .route("/postmaster", get(postmaster_list))
        .route("/postmaster/{id}", get(postmaster_read))
        .route("/audit", get(audit))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
}

/// A queue id: 1 to 16 hexadecimal digits.
pub fn parse_id(text: &str) -> Result<QueueId, ApiError> {
    let valid = !text.is_empty() && text.len() <= 16 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let bad = || {
        ApiError::bad_request(
            "bad_id",
            format!("{text:?} is not a queue id (hexadecimal)"),
        )
    };
    if !valid {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// The query string as a map, refusing keys the endpoint does not know.
fn query_map(
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
    let (total, messages) = state.queue.list(&filter);
    Ok(Json(json!({ "total": total, "messages": messages })).into_response())
}

async fn show(State(state): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    let detail = state.queue.get(id).ok_or(QueueApiError::UnknownId(id))?;
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

async fn domains(State(state): State<AdminState>) -> ApiResult {
    let (messages, bytes) = state.queue.totals();
    let domains = state.queue.domains();
    Ok(
        Json(json!({ "domains": domains, "totals": { "messages": messages, "bytes": bytes } }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdsBody {
    ids: Vec<String>,
}

/// Ids from a JSON body `{"ids":[...]}` and/or `?id=`; an empty body is no ids.
fn ids_from(body: &Bytes, query_id: Option<&String>) -> Result<Vec<QueueId>, ApiError> {
    let mut texts = Vec::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: IdsBody = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("bad_json", format!("expected {{\"ids\":[...]}}: {e}"))
        })?;
        texts = parsed.ids;
    }
    texts.extend(query_id.cloned());
    texts.iter().map(|t| parse_id(t)).collect()
}

async fn flush(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    let map = query_map(query, &["domain", "id"])?;
    let ids = ids_from(&body, map.get("id"))?;
    let (scope, what) = match (map.get("domain"), ids.is_empty()) {
        (Some(_), false) => {
            return Err(ApiError::bad_request(
                "bad_query",
                "give a domain or ids, not both",
            ));
        }
        (Some(d), true) => {
            let domain = d.trim_end_matches('.').to_lowercase();
            (
                FlushScope::Domain(domain.clone()),
                format!("domain={domain}"),
            )
        }
        (None, true) => (FlushScope::All, "all".to_string()),
        (None, false) => (FlushScope::Ids(ids.clone()), format!("ids={}", join(&ids))),
    };
    let flushed = state.queue.flush(&scope);
    state.audit.record(
        "api",
        peer.ip(),
        "flush",
        &format!("{what} flushed={flushed}"),
    );
    Ok(Json(json!({ "flushed": flushed })).into_response())
}

#[derive(Serialize)]
struct Failure {
    id: String,
    code: &'static str,
    message: String,
}

#[derive(Clone, Copy)]
enum Action {
    Hold,
    Release,
    Bounce,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Hold => "hold",
            Action::Release => "release",
            Action::Bounce => "bounce",
            Action::Delete => "delete",
        }
    }

    async fn apply(self, state: &AdminState, id: QueueId) -> Result<(), QueueApiError> {
        match self {
            Action::Hold => state.queue.hold(id).await,
            Action::Release => state.queue.release(id).await,
            Action::Bounce => state.queue.bounce(id).await,
            Action::Delete => state.queue.delete(id).await,
        }
    }
}

/// Applies `action` to each id; returns (done, failed) and records the whole in the audit log.
async fn apply_each(
    state: &AdminState,
    peer: SocketAddr,
    action: Action,
    ids: &[QueueId],
) -> (Vec<String>, Vec<(QueueId, QueueApiError)>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match action.apply(state, *id).await {
            Ok(()) => done.push(id.to_string()),
            Err(e) => failed.push((*id, e)),
        }
    }
    let mut detail = format!("ids={}", join(ids));
    if !failed.is_empty() {
        let failures: Vec<String> = failed
            .iter()
            .map(|(id, e)| format!("{id}:{}", e.code()))
            .collect();
        detail.push_str(&format!(" failed={}", failures.join(",")));
    }
    state.audit.record("api", peer.ip(), action.name(), &detail);
    (done, failed)
}

async fn bulk(
    state: AdminState,
    peer: SocketAddr,
    action: Action,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    let map = query_map(query, &["id"])?;
    let ids = ids_from(&body, map.get("id"))?;
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "no_ids",
            "give ids as {\"ids\":[...]} or ?id=",
        ));
    }
    let (done, failed) = apply_each(&state, peer, action, &ids).await;
    let failed: Vec<Failure> = failed
        .into_iter()
        .map(|(id, e)| Failure {
            id: id.to_string(),
            code: e.code(),
            message: e.to_string(),
        })
        .collect();
    Ok(Json(json!({ "done": done, "failed": failed })).into_response())
}

async fn hold(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Hold, query, body).await
}

async fn release(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Release, query, body).await
}

async fn bounce(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Bounce, query, body).await
}

/// `DELETE /queue/{id}`: 200 `{"deleted": id}`, or the error of that one id (404, 409).
async fn delete(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult {
    let id = parse_id(&id)?;
    let (_, failed) = apply_each(&state, peer, Action::Delete, &[id]).await;
    if let Some((_, e)) = failed.into_iter().next() {
        return Err(e.into());
    }
    Ok(Json(json!({ "deleted": id.to_string() })).into_response())
}

async fn postmaster_list(State(state): State<AdminState>) -> ApiResult {
    let messages: Vec<Value> = state
        .queue
        .postmaster_list()?
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

async fn audit(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let limit = number(&query_map(query, &["limit"])?, "limit", DEFAULT_LIMIT)?;
    Ok(Json(json!({ "entries": state.audit.recent(limit) })).into_response())
}

fn join(ids: &[QueueId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
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
        for bad in ["", "+1", "xyz", "00000000000000000", "1 ", "../etc"] {
            assert_eq!(parse_id(bad).unwrap_err().code, "bad_id", "{bad:?}");
        }
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

    #[test]
    fn ids_come_from_the_body_and_the_query() {
        let body = Bytes::from_static(br#"{"ids":["1","A"]}"#);
        let id = "2".to_string();
        assert_eq!(
            ids_from(&body, Some(&id)).unwrap(),
            vec![QueueId(1), QueueId(10), QueueId(2)]
        );
        assert!(
            ids_from(&Bytes::from_static(b"  \n"), None)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ids_from(&Bytes::from_static(b"{"), None).unwrap_err().code,
            "bad_json"
        );
        assert_eq!(
            ids_from(&Bytes::from_static(br#"{"id":[]}"#), None)
                .unwrap_err()
                .code,
            "bad_json"
        );
        assert_eq!(
            ids_from(&Bytes::from_static(br#"{"ids":["zz"]}"#), None)
                .unwrap_err()
                .code,
            "bad_id"
        );
    }
}
