//! SIGHUP on the real binary: start with certificate A, replace the files with B, `kill -HUP` the
//! server; new STARTTLS and implicit-TLS handshakes see B, and a session opened before keeps working.

use crate::support;

use std::time::Duration;

use rustls::pki_types::CertificateDer;
use support::config::Settings;
use support::inbound::Client;
use support::inbound::certs::{self, handshake};
use support::inbound::certs::{Pair, pair};
use support::server::Server;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

fn connector(trusted: &[&Pair]) -> TlsConnector {
    certs::connector(trusted, rustls::DEFAULT_VERSIONS)
}

async fn starttls(server: &Server, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
    let mut c = Client::new(TcpStream::connect(server.smtp_addr()).await.unwrap());
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    handshake(connector, c.io.into_inner()).await
}

async fn implicit(server: &Server, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(server.implicit_tls_addr())
        .await
        .unwrap();
    handshake(connector, stream).await
}

fn peer_cert(c: &Client<TlsStream<TcpStream>>) -> CertificateDer<'static> {
    c.io.get_ref().get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_sessions() {
    let (a, b) = (pair(), pair());
    let server = Server::start(Settings::inbound_process(Some(a.certificate()), "")).await;
    let trust_both = connector(&[&a, &b]);
    let mut before = starttls(&server, &trust_both).await;
    assert_eq!(peer_cert(&before), a.der);
    let mut before_implicit = implicit(&server, &trust_both).await;
    assert_eq!(peer_cert(&before_implicit), a.der);

    server.write_certificate(&b.certificate());
    server.hangup();
    let mut reloaded = false;
    for _ in 0..100 {
        if peer_cert(&starttls(&server, &trust_both).await) == b.der {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        reloaded,
        "STARTTLS never showed the new certificate:\n{}",
        server.log()
    );
    assert_eq!(peer_cert(&implicit(&server, &trust_both).await), b.der);
    assert!(server.log().contains("TLS certificate and key reloaded"));

    // Both sessions opened with certificate A go on and can deliver a message.
    before.send(b"EHLO client.example\r\n").await;
    assert_eq!(before.reply().await.unwrap().code, 250);
    let reply = before
        .send_message(
            "a@example.test",
            b"Subject: across a reload\r\n\r\nx\r\n.\r\n",
        )
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(before_implicit.reply().await.unwrap().code, 220);
    assert_eq!(before_implicit.cmd("NOOP").await, "250 2.0.0");
    assert_eq!(before.cmd("QUIT").await, "221 2.0.0");
}
