//! Opportunistic STARTTLS on the way out: the SMTP client against backupmx's own inbound server (an
//! rcgen certificate, in-process) as a TLS-capable peer, against a server whose STARTTLS handshake
//! breaks (the deliverer falls back to clear text), and against a server without STARTTLS.

use crate::support;
use support::client_config;

use std::net::SocketAddr;

use backupmx::config::DnsConfig;
use backupmx::delivery::client::{ClientError, Connection, Message, RecipientOutcome, TlsPolicy};
use backupmx::delivery::{Deliverer, DnsResolver, Host, SelfIdentity};
use backupmx::envelope::Envelope;
use backupmx::inbound::{ServeOptions, load_tls};
use support::inbound::{TestServer, start_with, strip_received};
use support::tls_front::{FrontTls, TlsFront};
use support::{SmtpSink, WAIT, envelope};

const BODY: &[u8] =
    b"From: <alice@sender.test>\r\nSubject: over TLS\r\n\r\n.leading dot\r\nsecret\r\n";

/// backupmx's inbound server with STARTTLS from a fresh self-signed certificate (files in a tempdir
/// that only needs to live until `load_tls` has read them).
async fn tls_server() -> TestServer {
    let certified =
        rcgen::generate_simple_self_signed(vec!["primary.example.test".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let acceptor = load_tls(&cert, &key).unwrap();
    start_with(|_| {}, Some(acceptor), ServeOptions::default()).await
}

async fn send(conn: &mut Connection, env: &Envelope, body: &[u8]) -> RecipientOutcome {
    let message = Message {
        envelope: env,
        recipients: &[0],
        size: body.len() as u64,
    };
    let mut report = conn.send(&message, body).await;
    assert_eq!(report.recipients.len(), 1, "{report:?}");
    report.recipients.remove(0).1
}

fn assert_delivered(outcome: &RecipientOutcome) {
    assert!(
        matches!(outcome, RecipientOutcome::Delivered(_)),
        "{outcome:?}"
    );
}

/// A deliverer whose resolver is never asked: the hosts are given with their addresses.
fn deliverer(tls: TlsPolicy) -> Deliverer {
    let unused_dns = DnsConfig {
        nameservers: vec![SocketAddr::from(([127, 0, 0, 1], 9))],
        ..DnsConfig::default()
    };
    let identity = SelfIdentity::new(&["backup.example.test".to_owned()], &[]);
    Deliverer::from_parts(
        DnsResolver::new(&unused_dns).unwrap(),
        identity,
        25,
        client_config(tls),
    )
}

fn primary_at(addr: SocketAddr) -> Vec<Host> {
    vec![Host {
        name: "primary.example.test".into(),
        preference: Some(10),
        port: addr.port(),
        addresses: vec![addr.ip()],
    }]
}

#[tokio::test]
async fn starttls_is_used_when_offered_and_the_bytes_arrive_identical() {
    let mut server = tls_server().await;
    // `Require` also verifies the certificate (self-signed here): see tests/delivery_tls_policy.rs.
    for policy in [TlsPolicy::Opportunistic] {
        let mut conn =
            Connection::open(server.addr, "primary.example.test", &client_config(policy))
                .await
                .expect("TLS session with the inbound server");
        assert!(conn.is_tls(), "{policy:?}");
        assert!(
            !conn.extensions().starttls,
            "the EHLO after the handshake no longer offers STARTTLS"
        );
        let env = envelope("alice@sender.test", &["bob@example.test"]);
        assert_delivered(&send(&mut conn, &env, BODY).await);
        conn.quit().await;

        let queued = server.queued();
        assert_eq!(queued.len(), 1, "{policy:?}");
        assert_eq!(queued[0].envelope.sender, "alice@sender.test");
        let stored = server.body(queued[0].id).await;
        assert_eq!(strip_received(&stored), BODY, "{policy:?}");
        let text = String::from_utf8_lossy(&stored);
        assert!(text.contains(" with ESMTPS ("), "received over TLS: {text}");
    }
}

#[tokio::test]
async fn require_without_starttls_is_refused_before_any_mail() {
    let sink = SmtpSink::start().await;
    let error = Connection::open(sink.addr(), "sink.test", &client_config(TlsPolicy::Require))
        .await
        .err()
        .expect("no STARTTLS offered");
    assert!(matches!(error, ClientError::TlsUnavailable(_)), "{error:?}");
    assert!(error.is_temporary(), "TLS missing is worth a retry later");
    let error = deliverer(TlsPolicy::Require)
        .connect_first(&primary_at(sink.addr()))
        .await
        .err()
        .expect("no STARTTLS offered");
    assert!(
        matches!(
            error.attempts[0].error,
            Some(ClientError::TlsUnavailable(_))
        ),
        "{error}"
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn opportunistic_without_starttls_delivers_in_clear() {
    let sink = SmtpSink::start().await;
    let mut conn = Connection::open(
        sink.addr(),
        "sink.test",
        &client_config(TlsPolicy::Opportunistic),
    )
    .await
    .unwrap();
    assert!(!conn.is_tls());
    // The sink's scripted replies can be taken back (another test suite relies on it).
    sink.reject("bob@example.test", "550 5.1.1 no such user");
    sink.unscript("Bob@Example.test");
    let env = envelope("alice@sender.test", &["bob@example.test"]);
    assert_delivered(&send(&mut conn, &env, BODY).await);
    assert_eq!(sink.wait_for(1, WAIT).await[0].data, BODY);
}

#[tokio::test]
async fn a_broken_handshake_falls_back_to_clear_text_when_opportunistic() {
    for (breakage, mode) in [("garbage", FrontTls::Garbage), ("close", FrontTls::Close)] {
        let sink = SmtpSink::start().await;
        let front = TlsFront::start(sink.addr(), mode).await;
        let error = Connection::open(
            front.addr(),
            "primary.example.test",
            &client_config(TlsPolicy::Opportunistic),
        )
        .await
        .err()
        .expect("the handshake breaks");
        assert!(
            matches!(error, ClientError::TlsHandshake(_)),
            "{breakage:?}: {error:?}"
        );

        let mut conn = deliverer(TlsPolicy::Opportunistic)
            .connect_first(&primary_at(front.addr()))
            .await
            .unwrap_or_else(|e| panic!("{breakage:?}: no fallback: {e}"));
        assert!(!conn.is_tls(), "{breakage:?}");
        assert_eq!(conn.peer(), front.addr());
        let env = envelope("alice@sender.test", &["bob@example.test"]);
        assert_delivered(&send(&mut conn, &env, BODY).await);
        conn.quit().await;
        let got = sink.wait_for(1, WAIT).await;
        assert_eq!(got[0].data, BODY, "{breakage:?}");
        assert_eq!(got[0].recipients, ["bob@example.test"]);
        // The direct open, the deliverer's TLS try, then its clear-text retry.
        assert_eq!(front.connections(), 3, "{breakage:?}");
        assert_eq!(front.starttls(), 2, "{breakage:?}");
    }
}

#[tokio::test]
async fn a_broken_handshake_is_not_retried_in_clear_when_tls_is_required() {
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(sink.addr(), FrontTls::Garbage).await;
    let error = deliverer(TlsPolicy::Require)
        .connect_first(&primary_at(front.addr()))
        .await
        .err()
        .expect("TLS required and broken");
    assert_eq!(error.attempts.len(), 1, "{error}");
    assert!(
        matches!(error.attempts[0].error, Some(ClientError::TlsHandshake(_))),
        "{error}"
    );
    assert_eq!(front.connections(), 1);
    assert!(sink.messages().is_empty());
}
