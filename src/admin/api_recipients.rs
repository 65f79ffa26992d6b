//! The JSON API's recipient-validation endpoints (issue 7), under `/api/v1/recipients`:
//! `GET /recipients` (per-domain policy and cache figures), `GET /recipients/lookup?address=`,
//! `POST /recipients/purge` `{"address":...}`, `POST /recipients/import` `{"text":...}`. Changes are
//! written to the audit log (who = `api`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AdminState;
use super::api::query_map;
use super::error::ApiError;
use crate::recipients::RecipientService;

type ApiResult = Result<Response, ApiError>;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/recipients", get(domains))
        .route("/recipients/lookup", get(lookup))
        .route("/recipients/purge", post(purge))
        .route("/recipients/import", post(import))
}

fn service(state: &AdminState) -> Result<&Arc<RecipientService>, ApiError> {
    state
        .recipients
        .as_ref()
        .ok_or_else(|| ApiError::not_found("recipient validation is not running"))
}

async fn domains(State(state): State<AdminState>) -> ApiResult {
    let views = service(&state)?.domain_views();
    Ok(Json(json!({ "domains": views })).into_response())
}

async fn lookup(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let map = query_map(query, &["address"])?;
    let address = map
        .get("address")
        .ok_or_else(|| ApiError::bad_request("bad_query", "address=... is required"))?;
    let view = service(&state)?
        .lookup(address)
        .ok_or_else(|| not_an_address(address))?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    address: String,
}

async fn purge(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<AddressBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(|e| ApiError::bad_request("bad_json", e.body_text()))?;
    let removed = service(&state)?
        .purge(&body.address)
        .ok_or_else(|| not_an_address(&body.address))?;
    let detail = format!("address={} removed={removed}", body.address);
    state
        .audit
        .record("api", peer.ip(), "recipients-purge", &detail);
    Ok(Json(json!({ "removed": removed })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportBody {
    text: String,
    /// Named in error messages (`origin:line: ...`).
    #[serde(default)]
    origin: Option<String>,
}

async fn import(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<ImportBody>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(|e| ApiError::bad_request("bad_json", e.body_text()))?;
    let origin = body.origin.as_deref().unwrap_or("import");
    let imported = service(&state)?
        .import(&body.text, origin)
        .map_err(|e| ApiError::bad_request("bad_import", e.to_string()))?;
    let detail = format!("origin={origin} imported={imported}");
    state
        .audit
        .record("api", peer.ip(), "recipients-import", &detail);
    Ok(Json(json!({ "imported": imported })).into_response())
}

fn not_an_address(text: &str) -> ApiError {
    ApiError::bad_request("bad_address", format!("{text:?} is not an address"))
}
