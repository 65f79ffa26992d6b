//! `WebhookReceiver`: a small axum server on 127.0.0.1 playing an alert webhook. It records every
//! request (path, headers, body) and answers with a chosen status; it can be stopped (the port then
//! refuses connections) and started again on the same port. Plain HTTP, or HTTPS with a test CA's
//! certificate ([`WebhookReceiver::start_tls`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::relisten;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `X-Backupmx-Event` header.
    pub fn event(&self) -> &str {
        self.header("x-backupmx-event").unwrap_or_default()
    }
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    status: Arc<Mutex<StatusCode>>,
}

pub struct WebhookReceiver {
    addr: SocketAddr,
    shared: Shared,
    /// HTTPS with this certificate; `None`: plain HTTP.
    tls: Option<TlsAcceptor>,
    task: Option<JoinHandle<()>>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl WebhookReceiver {
    /// Listening on 127.0.0.1:<free port>, answering 200.
    pub async fn start() -> WebhookReceiver {
        WebhookReceiver::start_with(None).await
    }

    /// Like [`WebhookReceiver::start`], over TLS with `acceptor`'s certificate.
    pub async fn start_tls(acceptor: TlsAcceptor) -> WebhookReceiver {
        WebhookReceiver::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<TlsAcceptor>) -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let shared = Shared {
            received: Arc::new(Mutex::new(Vec::new())),
            status: Arc::new(Mutex::new(StatusCode::OK)),
        };
        let mut receiver = WebhookReceiver {
            addr,
            shared,
            tls,
            task: None,
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&mut self, listener: TcpListener) {
        if let Some(acceptor) = self.tls.clone() {
            self.task = Some(tokio::spawn(serve_tls(
                listener,
                acceptor,
                self.shared.clone(),
            )));
            return;
        }
        let app = Router::new()
            .fallback(record)
            .with_state(self.shared.clone());
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// The status later requests get.
    pub fn answer(&self, status: u16) {
        *self.shared.status.lock().unwrap() = StatusCode::from_u16(status).expect("a status");
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Requests whose `X-Backupmx-Event` is `event`.
    pub fn of(&self, event: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.event() == event)
            .collect()
    }

    /// Waits until `n` requests of `event` arrived (panics after `timeout` with what did arrive).
    pub async fn wait_for(&self, event: &str, n: usize, timeout: Duration) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let got = self.of(event);
            if got.len() >= n {
                return got;
            }
            if start.elapsed() > timeout {
                let all: Vec<String> = self
                    .received()
                    .iter()
                    .map(|r| format!("{} {}", r.event(), String::from_utf8_lossy(&r.body)))
                    .collect();
                panic!("{n} `{event}` request(s) not received within {timeout:?}; got: {all:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes the listener: connections are refused until [`WebhookReceiver::restart`].
    pub async fn stop(&mut self) {
        relisten::stop(&mut self.task).await;
    }

    /// Listens again on the same port.
    pub async fn restart(&mut self) {
        let listener = relisten::rebind(&mut self.task, self.addr, "the receiver's").await;
        self.serve(listener);
    }
}

async fn record(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    shared.received.lock().unwrap().push(Received {
        path: uri.to_string(),
        headers,
        body: body.to_vec(),
    });
    *shared.status.lock().unwrap()
}

/// HTTPS: hyper's HTTP/1 server on each TLS connection, recording like the plain one.
async fn serve_tls(listener: TcpListener, acceptor: TlsAcceptor, shared: Shared) {
    while let Ok((stream, _)) = listener.accept().await {
        let (acceptor, shared) = (acceptor.clone(), shared.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| {
                    let shared = shared.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = axum::body::to_bytes(axum::body::Body::new(body), 1 << 20)
                            .await
                            .unwrap_or_default();
                        let status = record(State(shared), parts.uri, parts.headers, body).await;
                        let mut response = hyper::Response::new(axum::body::Body::empty());
                        *response.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(response)
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}
