//! Stopping a test server's accept task and listening again on the same port, for the servers that
//! play a peer going away and coming back ([`super::sink::SmtpSink`],
//! [`super::webhook::WebhookReceiver`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Aborts the task serving the listener and waits until it is gone: the listener is dropped only
/// when the aborted task is, so once this returns the port refuses connections (a test that stops
/// its peer and at once expects it down does not race the runtime).
pub async fn stop(task: &mut Option<JoinHandle<()>>) {
    if let Some(task) = task.take() {
        task.abort();
        let _ = task.await;
    }
}

/// Stops `task` as [`stop`] does and binds `addr` again, retrying briefly (the port may take a
/// moment to be free); panics naming `whose` port could not be bound.
pub async fn rebind(
    task: &mut Option<JoinHandle<()>>,
    addr: SocketAddr,
    whose: &str,
) -> TcpListener {
    stop(task).await;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    panic!("rebind {whose} port {addr}");
}
