//! Domain provisioning (issue 16): `GET`, `PUT` and `DELETE /api/v1/domains/{name}`. A PUT's body is
//! a JSON object with the keys of a `[[domain]]` table; it is checked by the config's own code (400
//! `invalid_domain` naming each key), refused with 409 `defined_in_config` for a name the config file
//! has, and otherwise stored and put in force by the daemon's reload task (`provision`): this layer
//! never writes the store. Every change, and every refused change, is audited (who = `api`).

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::AdminState;
use super::error::ApiError;
use crate::config::{Config, Mode, format_duration};
use crate::provision::{ChangeError, ChangeResult, DomainChange};

pub fn routes() -> Router<AdminState> {
    Router::new().route("/domains/{name}", get(show).put(put).delete(remove))
}

/// Where a domain of the config in force comes from: `config` (the file) or `api` (provisioned).
pub fn origin(config: &Config, name: &str) -> Option<&'static str> {
    if config.provisioned.contains(name) {
        Some("api")
    } else if config.domains.iter().any(|d| d.name == name) {
        Some("config")
    } else {
        None
    }
}

fn normalised(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

async fn show(State(state): State<AdminState>, Path(name): Path<String>) -> Response {
    let name = normalised(&name);
    let config = state.live.get();
    match settings(&config, &name) {
        Some(view) => Json(view).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_domain",
            format!("{name} is neither configured nor provisioned"),
        )
        .into_response(),
    }
}

/// A domain's settings in force, with the `[[domain]]` keys, and its origin.
pub fn settings(config: &Config, name: &str) -> Option<Value> {
    let domain = config.domains.iter().find(|d| d.name == name)?;
    let policy = config.recipients.domains.get(name);
    let limits = &domain.limits;
    Some(json!({
        "name": domain.name,
        "origin": origin(config, name),
        "settings": {
            "name": domain.name,
            "subdomains": domain.subdomains,
            "primary": domain.primary.as_ref().map(|p| format!("{}:{}", p.host, p.port)),
            "tls": format!("{:?}", domain.tls.mode).to_lowercase(),
            "tls_name": domain.tls.name,
            "recipients": mode_name(policy.map(|p| p.policy.mode).unwrap_or_default()),
            "recipient_list": policy.and_then(|p| p.list.as_ref()).map(|p| p.display().to_string()),
            "unknown_when_down": format!("{:?}", policy.map(|p| p.policy.unknown_when_down).unwrap_or_default()).to_lowercase(),
            "accept_only_when_primary_down": policy.is_some_and(|p| p.policy.accept_only_when_primary_down),
            "sender_checks": config.checks.sender_checks_for(name).name(),
            "max_lifetime": limits.max_lifetime.map(format_duration),
            "max_messages": limits.max_messages,
            "max_bytes": limits.max_bytes,
        },
    }))
}

async fn put(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let settings: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "bad_json",
                format!("expected a JSON object with the keys of a [[domain]] table: {e}"),
            )
        })?
    };
    let change = DomainChange::Put {
        name: name.clone(),
        settings: settings.clone(),
    };
    let result = send(&state, change).await;
    let detail = format!("{} {}", normalised(&name), compact(&settings));
    let report = audited(&state, peer, "domain_put", &detail, result)?;
    let status = if report.action == "added" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let config = state.live.get();
    let mut answer = settings_or_name(&config, &report.name);
    answer["action"] = json!(report.action);
    Ok((status, Json(answer)).into_response())
}

async fn remove(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let change = DomainChange::Remove { name: name.clone() };
    let result = send(&state, change).await;
    let report = audited(&state, peer, "domain_remove", &normalised(&name), result)?;
    Ok(Json(json!({
        "name": report.name,
        "action": report.action,
        "note": "no new mail is accepted for it; what is queued is still delivered (removed, draining)",
    }))
    .into_response())
}

/// Sends a change to the daemon's reload task and waits for its result.
async fn send(state: &AdminState, change: DomainChange) -> ChangeResult {
    let requests = state
        .domain_changes
        .as_ref()
        .ok_or(ChangeError::Unavailable)?;
    let (reply, answer) = oneshot::channel();
    requests
        .send((change, reply))
        .await
        .map_err(|_| ChangeError::Unavailable)?;
    answer.await.map_err(|_| ChangeError::Unavailable)?
}

/// Writes the change (or its refusal) to the audit log and turns a refusal into the API's error.
fn audited(
    state: &AdminState,
    peer: SocketAddr,
    action: &str,
    detail: &str,
    result: ChangeResult,
) -> Result<crate::provision::ChangeReport, ApiError> {
    match result {
        Ok(report) => {
            let what = format!("{action} {}", report.action);
            state.audit.record("api", peer.ip(), &what, detail);
            Ok(report)
        }
        Err(error) => {
            let what = format!("{action} refused");
            let detail = format!("{detail}: {} {error}", error.code());
            state.audit.record("api", peer.ip(), &what, &detail);
            let status = match &error {
                ChangeError::Invalid(_) => StatusCode::BAD_REQUEST,
                ChangeError::DefinedInConfig(_) => StatusCode::CONFLICT,
                ChangeError::NotProvisioned(_) => StatusCode::NOT_FOUND,
                ChangeError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                ChangeError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            Err(ApiError::new(status, error.code(), error.to_string()))
        }
    }
}

/// `recipients = ...` as the config file spells it.
fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::AcceptAll => "accept_all",
        Mode::List => "list",
        Mode::Verify => "verify",
    }
}

fn settings_or_name(config: &Config, name: &str) -> Value {
    settings(config, name).unwrap_or_else(|| json!({ "name": name }))
}

/// The settings on one line for the audit log (capped there).
fn compact(settings: &Value) -> String {
    serde_json::to_string(settings).unwrap_or_default()
}
