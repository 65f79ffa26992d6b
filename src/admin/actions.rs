//! The JSON API's state-changing endpoints: flush, hold, release, bounce (ids from `{"ids":[...]}` or
//! `?id=`) and delete. Each is a POST or DELETE, acts on each id in turn, reports what worked and what
//! failed, and is written to the audit log (who = `api`, from the client's address).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AdminState;
use super::api::{parse_id, query_map};
use super::audit::summarize_ids;
use super::error::ApiError;
use crate::envelope::QueueId;
use crate::queue::api::{FlushScope, QueueApiError};

type ApiResult = Result<Response, ApiError>;

/// Most ids one request may name (console and API alike).
pub const MAX_BULK_IDS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdsBody {
    ids: Vec<String>,
}

/// Ids from a JSON body `{"ids":[...]}` and/or `?id=`; an empty body is no ids. More than
/// [`MAX_BULK_IDS`] is refused (413 `too_many_ids`) before anything is done.
fn ids_from(body: &Bytes, query_id: Option<&String>) -> Result<Vec<QueueId>, ApiError> {
    let mut texts = Vec::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let parsed: IdsBody = serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request("bad_json", format!("expected {{\"ids\":[...]}}: {e}"))
        })?;
        texts = parsed.ids;
    }
    texts.extend(query_id.cloned());
    if texts.len() > MAX_BULK_IDS {
        return Err(ApiError::too_many_ids(texts.len()));
    }
    texts.iter().map(|t| parse_id(t)).collect()
}

pub(super) async fn flush(
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
        (None, false) => (FlushScope::Ids(ids.clone()), summarize_ids(&ids)),
    };
    let flushed = state.queue.flush(&scope).await?;
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
    let mut detail = summarize_ids(ids);
    if !failed.is_empty() {
        let failures: Vec<String> = failed
            .iter()
            .map(|(id, e)| format!("{id}:{}", e.code()))
            .collect();
        detail.push_str(&format!(" failed: {}", summarize_ids(&failures)));
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

pub(super) async fn hold(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Hold, query, body).await
}

pub(super) async fn release(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Release, query, body).await
}

pub(super) async fn bounce(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Bytes,
) -> ApiResult {
    bulk(state, peer, Action::Bounce, query, body).await
}

/// `DELETE /queue/{id}`: 200 `{"deleted": id}`, or the error of that one id (404, 409).
pub(super) async fn delete(
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn more_than_the_bulk_cap_is_413_before_parsing() {
        let ids: Vec<String> = (0..=MAX_BULK_IDS).map(|_| "zz".to_string()).collect();
        let body = Bytes::from(serde_json::to_vec(&json!({ "ids": ids })).unwrap());
        let err = ids_from(&body, None).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (413, "too_many_ids"));
        let ids: Vec<String> = (0..MAX_BULK_IDS).map(|i| format!("{i:x}")).collect();
        let body = Bytes::from(serde_json::to_vec(&json!({ "ids": ids })).unwrap());
        assert_eq!(ids_from(&body, None).unwrap().len(), MAX_BULK_IDS);
    }
}
