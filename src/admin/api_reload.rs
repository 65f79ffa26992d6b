//! `POST /api/v1/reload` (what `backupmx reload` calls): the same reload as SIGHUP, with its result
//! as the answer: 200 `{"status":"applied","summary":...,"restart_needed":[...]}`, or 422
//! `config_refused` with every `FILE:LINE: KEY: message` when the file fails validation (the running
//! config stays). Audited either way (who = `api`).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::oneshot;

use super::AdminState;
use super::error::ApiError;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/reload", post(reload))
}

async fn reload(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Result<Response, ApiError> {
    let unavailable = || {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "reload_unavailable",
            "this server does not take reload requests (shutting down?)",
        )
    };
    let requests = state.reload.as_ref().ok_or_else(unavailable)?;
    let (reply, answer) = oneshot::channel();
    requests.send(reply).await.map_err(|_| unavailable())?;
    let result = answer.await.map_err(|_| unavailable())?;
    match result {
        Ok(report) => {
            state
                .audit
                .record("api", peer.ip(), "reload", &report.summary);
            Ok(Json(json!({
                "status": "applied",
                "summary": report.summary,
                "restart_needed": report.restart_needed,
            }))
            .into_response())
        }
        Err(errors) => {
            let first = errors.lines().next().unwrap_or_default();
            state
                .audit
                .record("api", peer.ip(), "reload_refused", first);
            Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "config_refused",
                errors,
            ))
        }
    }
}
