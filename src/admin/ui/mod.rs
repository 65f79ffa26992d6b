//! The web console (server-rendered HTML): dashboard, queue, message pages, postmaster mailbox, audit
//! log, login.

use axum::Router;

use super::AdminState;

/// The console's routes (stub until the web UI lands).
pub fn routes(state: AdminState) -> Router {
    let _ = state;
    Router::new()
}
