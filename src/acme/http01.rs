//! The HTTP-01 responder (RFC 8555 §8.3) on `[acme] http_listen`: `GET
//! /.well-known/acme-challenge/<token>` answers the key authorization of a pending challenge,
//! everything else 404. A stranger can reach this port, so it is bounded: one request per
//! connection, an 8 KiB head read within 10 seconds, at most 64 connections at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

const PREFIX: &str = "/.well-known/acme-challenge/";
const MAX_HEAD: usize = 8192;
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 64;

/// The pending challenges: token → key authorization.
#[derive(Debug, Clone, Default)]
pub struct Challenges(Arc<Mutex<HashMap<String, String>>>);

impl Challenges {
    pub fn insert(&self, token: &str, key_authorization: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.insert(token.to_owned(), key_authorization.to_owned());
    }

    pub fn remove(&self, token: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(token);
    }

    fn get(&self, token: &str) -> Option<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(token).cloned()
    }
}

/// The answer to one request head: status line and body.
pub fn respond(head: &str, challenges: &Challenges) -> (&'static str, String) {
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method != "GET" {
        return ("405 Method Not Allowed", String::new());
    }
    match target
        .strip_prefix(PREFIX)
        .and_then(|token| challenges.get(token))
    {
        Some(key_authorization) => ("200 OK", key_authorization),
        None => ("404 Not Found", String::new()),
    }
}

/// Serves `listener` until shutdown.
pub async fn serve(
    listener: TcpListener,
    challenges: Challenges,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.wait_for(|stop| *stop) => return,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            continue; // dropped: over the cap
        };
        let challenges = challenges.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = tokio::time::timeout(READ_TIMEOUT, answer(stream, &challenges)).await;
        });
    }
}

async fn answer(mut stream: TcpStream, challenges: &Challenges) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..n]);
    }
    let (status, body) = respond(&String::from_utf8_lossy(&head), challenges);
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_token_gets_its_key_authorization() {
        let challenges = Challenges::default();
        challenges.insert("tok", "tok.thumb");
        let get = |target: &str| {
            respond(
                &format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n"),
                &challenges,
            )
        };
        assert_eq!(
            get("/.well-known/acme-challenge/tok"),
            ("200 OK", "tok.thumb".into())
        );
        assert_eq!(get("/.well-known/acme-challenge/other").0, "404 Not Found");
        assert_eq!(get("/").0, "404 Not Found");
        assert_eq!(
            respond("POST /.well-known/acme-challenge/tok HTTP/1.1", &challenges).0,
            "405 Method Not Allowed"
        );
        challenges.remove("tok");
        assert_eq!(get("/.well-known/acme-challenge/tok").0, "404 Not Found");
    }
}
