//! `GET /api/v1/domains/{name}/readiness`: the latest readiness of a configured domain (computed at
//! start and hourly); `?refresh=true` checks it again now. 404 for a domain we do not back up.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AdminState;
use super::error::ApiError;

pub fn routes() -> Router<AdminState> {
    Router::new().route("/domains/{name}/readiness", get(readiness))
}

async fn readiness(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(service) = state.readiness.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "readiness_unavailable",
            "the readiness check is not running",
        ));
    };
    let domain = crate::delivery::dns::normalise_name(&name);
    if !service.is_configured(&domain) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_domain",
            format!("{domain} is not one of the configured domains"),
        ));
    }
    let refresh = match query.get("refresh").map(String::as_str) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_refresh",
                format!("refresh={other}: expected true or false"),
            ));
        }
    };
    let readiness = match service.latest(&domain) {
        Some(latest) if !refresh => latest,
        _ => service.refresh(&domain).await,
    };
    Ok(Json(readiness).into_response())
}
