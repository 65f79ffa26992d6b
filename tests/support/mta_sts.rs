//! `PolicyServer`: an HTTPS server on 127.0.0.1 playing `mta-sts.<domain>`: it answers every request
//! with the policy text it holds (changeable), as `text/plain`, over TLS with a certificate the test
//! chooses (from a `TestCa` that backupmx is told to trust through `[delivery] tls_ca_file`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// An enforce policy listing `mx` names, valid for a day.
pub fn enforce(mx: &[&str]) -> String {
    policy("enforce", mx)
}

/// A policy in `mode` listing `mx` names, valid for a day.
pub fn policy(mode: &str, mx: &[&str]) -> String {
    let mut text = format!("version: STSv1\r\nmode: {mode}\r\n");
    for name in mx {
        text.push_str(&format!("mx: {name}\r\n"));
    }
    text.push_str("max_age: 86400\r\n");
    text
}

/// The running server; stops when dropped.
pub struct PolicyServer {
    addr: SocketAddr,
    policy: Arc<Mutex<String>>,
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyServer {
    /// Serves `policy` over TLS with `acceptor`'s certificate on 127.0.0.1:<free port>.
    pub async fn start(acceptor: TlsAcceptor, policy: &str) -> PolicyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let policy = Arc::new(Mutex::new(policy.to_owned()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (shared, counter) = (policy.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, policy, counter) =
                    (acceptor.clone(), shared.clone(), counter.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buffer))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buffer[..n]),
                            _ => return,
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = policy.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        PolicyServer {
            addr,
            policy,
            requests,
            task,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, serves `policy`.
    pub fn set(&self, policy: &str) {
        *self.policy.lock().unwrap() = policy.to_owned();
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
