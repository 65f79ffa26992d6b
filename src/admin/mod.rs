//! The admin listener: the web console, the JSON API, Prometheus metrics and health, reachable only
//! from `[admin] allow`. It acts on the queue only through [`QueueApi`], never on files.

pub mod ui;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::queue::api::QueueApi;

/// What every admin handler can reach.
#[derive(Clone)]
pub struct AdminState {
    pub config: Arc<Config>,
    pub queue: QueueApi,
}

/// Serves the admin listener until `shutdown` turns true.
pub async fn serve(listener: TcpListener, state: AdminState, mut shutdown: watch::Receiver<bool>) {
    let _ = (listener, state);
    let _ = shutdown.wait_for(|stop| *stop).await;
}
