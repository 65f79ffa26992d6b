//! Fetching an MTA-STS policy: `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3),
//! the certificate verified for `mta-sts.<domain>` (built-in roots plus `[delivery] tls_ca_file`), no
//! redirect followed, a bounded body and time. HTTP/1.0, so the answer is never chunked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::policy::{Policy, PolicyError, parse_policy};
use crate::delivery::DnsResolver;

/// The whole fetch (connect, handshake, request, body) must end within this (§3.3 suggests a
/// minute at most; a backup MX has no reason to wait that long).
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest policy body read (§3.3: at least 64 KiB must be accepted).
const MAX_RESPONSE: usize = 64 * 1024 + 4096;

/// Why no policy could be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{host}: no address: {reason}")]
    Resolve { host: String, reason: String },
    #[error("{url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: TLS: {reason}")]
    Tls { url: String, reason: String },
    #[error("{url}: HTTP status {status} (redirects are not followed)")]
    Status { url: String, status: String },
    #[error("{url}: not a valid HTTP answer: {reason}")]
    Http { url: String, reason: String },
    #[error("{url}: {source}")]
    Policy { url: String, source: PolicyError },
    #[error("{url}: no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout { url: String },
}

/// Where policies are fetched from and which certificates are trusted.
#[derive(Clone)]
pub struct PolicyFetcher {
    resolver: DnsResolver,
    tls: Arc<rustls::ClientConfig>,
    /// 443, except in tests (`[delivery] mta_sts_port`).
    port: u16,
}

impl PolicyFetcher {
    pub fn new(resolver: DnsResolver, tls: Arc<rustls::ClientConfig>, port: u16) -> PolicyFetcher {
        PolicyFetcher {
            resolver,
            tls,
            port,
        }
    }

    /// The policy URL of `domain`.
    pub fn url(&self, domain: &str) -> String {
        match self.port {
            443 => format!("https://mta-sts.{domain}/.well-known/mta-sts.txt"),
            port => format!("https://mta-sts.{domain}:{port}/.well-known/mta-sts.txt"),
        }
    }

    /// Fetches and parses `domain`'s policy.
    pub async fn fetch(&self, domain: &str) -> Result<Policy, FetchError> {
        let url = self.url(domain);
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch_within(domain, &url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout { url }),
        }
    }

    async fn fetch_within(&self, domain: &str, url: &str) -> Result<Policy, FetchError> {
        let host = format!("mta-sts.{domain}");
        let addresses = self
            .resolver
            .lookup_ips(&host)
            .await
            .map_err(|e| FetchError::Resolve {
                host: host.clone(),
                reason: e.to_string(),
            })?;
        let mut last = None;
        for ip in addresses {
            match self
                .fetch_from(SocketAddr::new(ip, self.port), &host, url)
                .await
            {
                Ok(body) => {
                    return parse_policy(&body).map_err(|source| FetchError::Policy {
                        url: url.to_owned(),
                        source,
                    });
                }
                Err(e @ FetchError::Connect { .. }) => last = Some(e),
                Err(other) => return Err(other),
            }
        }
        Err(last.unwrap_or(FetchError::Resolve {
            host,
            reason: "no address".into(),
        }))
    }

    async fn fetch_from(
        &self,
        addr: SocketAddr,
        host: &str,
        url: &str,
    ) -> Result<String, FetchError> {
        let connect = |reason: String| FetchError::Connect {
            url: url.to_owned(),
            reason,
        };
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| connect(format!("{addr}: {e}")))?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| connect(e.to_string()))?;
        let mut tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, stream)
            .await
            .map_err(|e| FetchError::Tls {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\nUser-Agent: backupmx\r\n\
             Connection: close\r\n\r\n"
        );
        let io = |e: std::io::Error| FetchError::Http {
            url: url.to_owned(),
            reason: e.to_string(),
        };
        tls.write_all(request.as_bytes()).await.map_err(io)?;
        let mut response = Vec::new();
        let mut limited = (&mut tls).take(MAX_RESPONSE as u64 + 1);
        // A server that closes without close_notify still sent its whole HTTP/1.0 body.
        if let Err(e) = limited.read_to_end(&mut response).await
            && e.kind() != std::io::ErrorKind::UnexpectedEof
        {
            return Err(io(e));
        }
        if response.len() > MAX_RESPONSE {
            return Err(FetchError::Http {
                url: url.to_owned(),
                reason: "the answer is larger than 64 KiB".into(),
            });
        }
        body_of(&response).map_err(|e| match e {
            BodyError::Status(status) => FetchError::Status {
                url: url.to_owned(),
                status,
            },
            BodyError::Malformed(reason) => FetchError::Http {
                url: url.to_owned(),
                reason,
            },
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    Status(String),
    Malformed(String),
}

/// The body of a `200` answer whose media type, if given, is `text/plain` (§3.2).
fn body_of(response: &[u8]) -> Result<String, BodyError> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .ok_or_else(|| BodyError::Malformed("no end of the header".into()))?;
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).unwrap_or_default();
    if status != "200" {
        return Err(BodyError::Status(status_line.trim().to_owned()));
    }
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-type")
        {
            let media = value.split(';').next().unwrap_or_default().trim();
            if !media.eq_ignore_ascii_case("text/plain") {
                return Err(BodyError::Malformed(format!(
                    "media type {media}, expected text/plain"
                )));
            }
        }
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_text_plain_answer_gives_a_body() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nversion: STSv1\r\n";
        assert_eq!(body_of(ok).unwrap(), "version: STSv1\r\n");
        let moved = b"HTTP/1.1 301 Moved\r\nLocation: https://x/\r\n\r\n";
        assert_eq!(
            body_of(moved),
            Err(BodyError::Status("HTTP/1.1 301 Moved".into()))
        );
        let html = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>";
        assert!(matches!(body_of(html), Err(BodyError::Malformed(_))));
        assert!(matches!(body_of(b"garbage"), Err(BodyError::Malformed(_))));
    }
}
