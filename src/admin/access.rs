//! Who may talk to the admin listener: the client's address must be inside `[admin] allow` (else 403
//! and a warning in the log), and the JSON API and metrics need `Authorization: Bearer <api_token>`
//! (else 401). The checks are pure functions; the middlewares only apply them.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use super::AdminState;
use super::error::ApiError;

/// Whether `ip` lies in one of `allow` (an IPv4-mapped IPv6 address counts as IPv4).
pub fn is_allowed(allow: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    allow.iter().any(|net| net.contains(&ip))
}

/// The token of an `Authorization: Bearer <token>` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware for every route: refuses clients outside `[admin] allow`.
pub async fn allow_list(
    State(state): State<AdminState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if is_allowed(&state.live.get().admin.allow, peer.ip()) {
        return next.run(request).await;
    }
    tracing::warn!(client = %peer.ip(), path = %request.uri().path(), "admin access refused: not in [admin] allow");
    ApiError::forbidden().into_response()
}

/// Middleware for the API and metrics: requires the bearer token.
pub async fn require_token(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    match bearer_token(request.headers()) {
        Some(token) if state.credentials.token_matches(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_networks_and_mapped_addresses() {
        let allow: Vec<IpNet> = vec![
            "127.0.0.3/32".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ];
        assert!(is_allowed(&allow, "127.0.0.3".parse().unwrap()));
        assert!(is_allowed(&allow, "::ffff:127.0.0.3".parse().unwrap()));
        assert!(is_allowed(&allow, "2001:db8::1".parse().unwrap()));
        assert!(!is_allowed(&allow, "127.0.0.1".parse().unwrap()));
        assert!(!is_allowed(&[], "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }
}
