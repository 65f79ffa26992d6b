//! Posting one request to one webhook: hyper's HTTP/1 client over a TCP connection (TLS by rustls
//! with ring, the built-in roots plus `[delivery] tls_ca_file`, for `https://`), bounded in time,
//! redirects not followed. Success is a 2xx status; anything else is an error to retry.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::render::Request;
use crate::config::WebhookUrl;

/// Connect, handshake, request and status line, all together.
const POST_TIMEOUT: Duration = Duration::from_secs(15);

/// The HTTP client the alerts use: the TLS trust for `https://` webhooks.
#[derive(Clone)]
pub struct Poster {
    tls: Arc<rustls::ClientConfig>,
}

impl Poster {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Poster {
        Poster { tls }
    }

    /// Posts `request` to `url`; `Err` says why it did not get a 2xx.
    pub async fn post(&self, url: &WebhookUrl, request: &Request) -> Result<(), String> {
        match tokio::time::timeout(POST_TIMEOUT, self.post_within(url, request)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", POST_TIMEOUT.as_secs())),
        }
    }

    async fn post_within(&self, url: &WebhookUrl, request: &Request) -> Result<(), String> {
        let host = url.host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((host, url.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        if !url.tls {
            return send(tcp, url, request).await;
        }
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("TLS: bad server name {host:?}: {e}"))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        send(tls, url, request).await
    }
}

async fn send<S>(stream: S, url: &WebhookUrl, request: &Request) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let host = match url.host.contains(':') {
        true => format!("[{}]", url.host),
        false => url.host.clone(),
    };
    let authority = match (url.tls, url.port) {
        (true, 443) | (false, 80) => host,
        (_, port) => format!("{host}:{port}"),
    };
    let mut builder = hyper::Request::post(url.path.as_str())
        .header("Host", authority)
        .header(
            "User-Agent",
            concat!("backupmx/", env!("CARGO_PKG_VERSION")),
        )
        .header("Content-Length", request.body.len());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let http_request = builder
        .body(Body::from(request.body.clone()))
        .map_err(|e| format!("request: {e}"))?;
    let response = sender.send_request(http_request).await;
    driver.abort();
    let status = response.map_err(|e| format!("HTTP: {e}"))?.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP status {status}"))
    }
}
