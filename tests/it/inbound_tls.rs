//! STARTTLS end to end: an rcgen certificate loaded with `load_tls`, a rustls client, the session reset
//! after the handshake, plaintext injection after STARTTLS ignored, and ESMTPS in the Received header.

use crate::support;

use std::sync::Arc;

use backupmx::inbound::{ServeOptions, load_tls};
use rustls::pki_types::ServerName;
use support::inbound::*;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
    connector: TlsConnector,
    _dir: tempfile::TempDir,
}

fn tls() -> Tls {
    let certified =
        rcgen::generate_simple_self_signed(vec!["mx2.example.net".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, certified.cert.pem()).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let acceptor = load_tls(&cert_path, &key_path).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Tls {
        acceptor,
        connector: TlsConnector::from(Arc::new(config)),
        _dir: dir,
    }
}

async fn upgrade(
    connector: &TlsConnector,
    plain: Client<TcpStream>,
) -> Client<TlsStream<TcpStream>> {
    assert!(plain.io.buffer().is_empty(), "no plaintext left unread");
    let name = ServerName::try_from("mx2.example.net").unwrap();
    let stream = tokio::time::timeout(WAIT, connector.connect(name, plain.io.into_inner()))
        .await
        .unwrap()
        .unwrap();
    Client::new(stream)
}

#[tokio::test]
async fn starttls_then_a_message() {
    let tls = tls();
    let mut server = start_with(|_| {}, Some(tls.acceptor.clone()), ServeOptions::default()).await;
    let mut c = server.connect().await;
    let ehlo = c.greeting_and_ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    let mut c = upgrade(&tls.connector, c).await;
    // The session was reset: EHLO is required again, and STARTTLS is no longer offered.
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "503 5.5.1");
    c.send(b"EHLO client.example\r\n").await;
    let ehlo = c.reply().await.unwrap();
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    assert_eq!(c.cmd("STARTTLS").await, "503 5.5.1");
    let reply = c
        .send_message("a@example.test", b"Subject: tls\r\n\r\nsecret\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    let stored = server.body(queued_id(&reply)).await;
    let text = String::from_utf8_lossy(&stored);
    assert!(text.contains(" with ESMTPS (TLSv1_3 "), "{text}");
    assert_eq!(strip_received(&stored), b"Subject: tls\r\n\r\nsecret\r\n");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    assert_eq!(server.queued().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn plaintext_pipelined_after_starttls_is_ignored() {
    let tls = tls();
    let mut server = start_with(|_| {}, Some(tls.acceptor.clone()), ServeOptions::default()).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    // Injection: commands sent in the clear behind STARTTLS must not be obeyed inside TLS.
    c.send(b"STARTTLS\r\nEHLO injected.example\r\nMAIL FROM:<evil@sender.test>\r\n")
        .await;
    assert_eq!(c.reply().await.unwrap().head(), "220 2.0.0");
    let mut c = upgrade(&tls.connector, c).await;
    assert_eq!(c.cmd("RCPT TO:<a@example.test>").await, "503 5.5.1");
    assert_eq!(c.cmd("MAIL FROM:<s@sender.test>").await, "503 5.5.1");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    assert!(server.queued().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn failed_handshake_only_ends_that_session() {
    let tls = tls();
    let server = start_with(|_| {}, Some(tls.acceptor.clone()), ServeOptions::default()).await;
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    c.send(b"this is not a TLS client hello\r\n").await;
    assert!(c.closes_eventually().await);
    let mut c = server.connect().await;
    assert_eq!(c.greeting_and_ehlo().await.code, 250);
    server.stop().await;
}

#[test]
fn load_tls_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.pem");
    assert!(load_tls(&missing, &missing).is_err());
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let empty = dir.path().join("empty.pem");
    assert!(load_tls(&empty, &empty).is_err());
}
