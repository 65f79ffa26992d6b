//! The JSON API's errors: an HTTP status plus `{"error":{"code":"...","message":"..."}}` with a stable
//! code, so that scripts can match on the code and people can read the message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::queue::api::QueueApiError;

/// One API error; `code` is stable, `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (syntax of an id, JSON, query).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token (Authorization: Bearer <api_token>)",
        )
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your address is not in [admin] allow",
        )
    }

    /// 413: a bulk request naming more ids than allowed.
    pub fn too_many_ids(count: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_ids",
            format!(
                "{count} ids; at most {} per request",
                crate::admin::actions::MAX_BULK_IDS
            ),
        )
    }

    /// 413: a request body over the API's limit.
    pub fn body_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The HTTP status a queue refusal maps to.
    pub fn status_of(e: &QueueApiError) -> StatusCode {
        match e {
            QueueApiError::UnknownId(_) => StatusCode::NOT_FOUND,
            QueueApiError::InFlight(_) => StatusCode::CONFLICT,
            QueueApiError::Spool(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<QueueApiError> for ApiError {
    fn from(e: QueueApiError) -> ApiError {
        ApiError::new(ApiError::status_of(&e), e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
