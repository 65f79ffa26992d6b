//! `GET /api/v1/alerts` (the recent alerts and each webhook's delivery state, newest first;
//! `?limit=N`, 1 to 500, default 100) and `POST /api/v1/alerts/test` (what `backupmx alerts test`
//! calls: a test alert posted at once through every webhook, each one's answer; audited).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::AdminState;
use super::api::query_map;
use super::error::ApiError;
use crate::alerts::AlertService;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/alerts", get(list))
        .route("/alerts/test", post(test))
}

fn service(state: &AdminState) -> Result<Arc<AlertService>, ApiError> {
    state.alerts.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "alerts_unavailable",
            "alerts are not running in this server",
        )
    })
}

async fn list(
    State(state): State<AdminState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let map = query_map(query, &["limit"])?;
    let limit = match map.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("bad_query", format!("limit must be 1 to {MAX_LIMIT}"))
            })?,
    };
    let alerts = service(&state)?;
    Ok(Json(json!({
        "webhooks": alerts.webhooks(),
        "pending": alerts.pending(),
        "alerts": alerts.recent(limit),
    }))
    .into_response())
}

async fn test(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let alerts = service(&state)?;
    if alerts.webhooks() == 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_webhooks",
            "no [[alert]] webhook is configured",
        ));
    }
    let results = alerts.send_test("api").await;
    let delivered = results.iter().filter(|r| r.delivered).count();
    let detail = format!("{delivered} of {} webhooks answered 2xx", results.len());
    state.audit.record("api", peer.ip(), "alerts_test", &detail);
    Ok(Json(json!({ "delivered": delivered, "results": results })).into_response())
}
