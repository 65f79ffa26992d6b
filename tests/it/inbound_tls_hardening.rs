//! TLS hardening with the in-process server: TLS 1.2+ only (raw TLS 1.0/1.1 ClientHellos are refused
//! with an alert), the Received header naming version and cipher, the certificate reloaded into a
//! running acceptor (new handshakes see the new pair, an open session stays), and the implicit-TLS
//! listener.

use crate::support;

use std::sync::Arc;

use backupmx::clock::SystemClock;
use backupmx::inbound::{
    InboundContext, Listener, ServeOptions, TLS_VERSIONS, TlsReloader, load_reloadable_tls,
    serve_listeners,
};
use backupmx::queue::QueueHandle;
use backupmx::recipients::RecipientService;
use backupmx::spool::Spool;
use rustls::pki_types::CertificateDer;
use support::inbound::certs::{Pair, connector, handshake, pair};
use support::inbound::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Certificate files (rewritable) and the acceptor built from them.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(pair: &Pair) -> Files {
        let files = Files {
            dir: tempfile::tempdir().unwrap(),
        };
        files.write(pair);
        files
    }
    fn write(&self, pair: &Pair) {
        std::fs::write(self.dir.path().join("cert.pem"), &pair.cert_pem).unwrap();
        std::fs::write(self.dir.path().join("key.pem"), &pair.key_pem).unwrap();
    }
    fn load(&self) -> (tokio_rustls::TlsAcceptor, TlsReloader) {
        let dir = self.dir.path();
        load_reloadable_tls(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap()
    }
}

/// Greeting, EHLO, STARTTLS, handshake.
async fn starttls(server: &TestServer, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    handshake(connector, c.io.into_inner()).await
}

fn peer_cert(c: &Client<TlsStream<TcpStream>>) -> CertificateDer<'static> {
    c.io.get_ref().get_ref().1.peer_certificates().unwrap()[0].clone()
}

async fn received_header_of_a_message(
    server: &TestServer,
    c: &mut Client<TlsStream<TcpStream>>,
) -> String {
    c.send(b"EHLO client.example\r\n").await;
    assert_eq!(c.reply().await.unwrap().code, 250);
    let reply = c
        .send_message("a@example.test", b"Subject: t\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    let body = server.body(queued_id(&reply)).await;
    let text = String::from_utf8_lossy(&body).to_string();
    text.split("\r\n\r\n").next().unwrap().to_string()
}

#[test]
fn only_tls_1_2_and_1_3_are_offered() {
    let versions: Vec<_> = TLS_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(
        versions,
        vec![
            rustls::ProtocolVersion::TLSv1_3,
            rustls::ProtocolVersion::TLSv1_2
        ]
    );
}

#[tokio::test]
async fn received_header_names_tls_version_and_cipher() {
    let a = pair();
    let files = Files::new(&a);
    let (acceptor, _) = files.load();
    let server = start_with(|_| {}, Some(acceptor), ServeOptions::default()).await;
    let tls12 = connector(&[&a], &[&rustls::version::TLS12]);
    let mut c = starttls(&server, &tls12).await;
    let header = received_header_of_a_message(&server, &mut c).await;
    assert!(
        header.contains("with ESMTPS (TLSv1_2 TLS_ECDHE_"),
        "{header}"
    );
    let tls13 = connector(&[&a], &[&rustls::version::TLS13]);
    let mut c = starttls(&server, &tls13).await;
    let header = received_header_of_a_message(&server, &mut c).await;
    assert!(header.contains("with ESMTPS (TLSv1_3 TLS13_"), "{header}");
    server.stop().await;
}

/// A ClientHello without the supported_versions extension, as TLS 1.0/1.1 clients send it, offering
/// `3.minor`, suites usable with our (ECDSA) test certificate, and the extensions TLS 1.2 needs.
fn legacy_client_hello(minor: u8) -> Vec<u8> {
    let mut body = vec![3, minor];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // no session id
    // ECDHE_ECDSA with AES-GCM (TLS 1.2) and AES-CBC-SHA (TLS 1.0+).
    let suites: [u8; 8] = [0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x09, 0xc0, 0x0a];
    body.extend_from_slice(&(suites.len() as u16).to_be_bytes());
    body.extend_from_slice(&suites);
    body.extend_from_slice(&[1, 0]); // null compression
    // supported_groups (x25519, secp256r1), ec_point_formats (uncompressed), signature_algorithms
    // (ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256).
    let extensions: [u8; 28] = [
        0, 10, 0, 6, 0, 4, 0, 0x1d, 0, 0x17, 0, 11, 0, 2, 1, 0, 0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1,
    ];
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1, 0];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// STARTTLS, then the raw hello; the first TLS record the server sends back.
async fn first_record_after_hello(server: &TestServer, hello: &[u8]) -> Vec<u8> {
    let mut c = server.connect().await;
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    c.send(hello).await;
    let mut header = [0u8; 5];
    tokio::time::timeout(WAIT, c.io.read_exact(&mut header))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    let mut record = header.to_vec();
    record.resize(5 + len, 0);
    tokio::time::timeout(WAIT, c.io.read_exact(&mut record[5..]))
        .await
        .expect("the record in time")
        .expect("the record");
    record
}

#[tokio::test]
async fn tls_1_0_and_1_1_clients_are_refused() {
    let a = pair();
    let files = Files::new(&a);
    let (acceptor, _) = files.load();
    let server = start_with(|_| {}, Some(acceptor), ServeOptions::default()).await;
    // Control: the same hello offering TLS 1.2 gets a ServerHello (handshake record, type 2).
    let answer = first_record_after_hello(&server, &legacy_client_hello(3)).await;
    assert_eq!((answer[0], answer[5]), (22, 2), "{answer:?}");
    for minor in [1u8, 2] {
        let answer = first_record_after_hello(&server, &legacy_client_hello(minor)).await;
        // An alert record (21): fatal (2) protocol_version (70).
        assert_eq!(answer, vec![21, 3, 3, 0, 2, 2, 70], "TLS 1.{}", minor - 1);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_handshakes_and_open_sessions_stay() {
    let (a, b) = (pair(), pair());
    let files = Files::new(&a);
    let (acceptor, reloader) = files.load();
    let mut server = start_with(|_| {}, Some(acceptor), ServeOptions::default()).await;
    let trust_both = connector(&[&a, &b], TLS_VERSIONS);
    let mut before = starttls(&server, &trust_both).await;
    assert_eq!(peer_cert(&before), a.der);

    files.write(&b);
    reloader.reload().unwrap();
    let after = starttls(&server, &trust_both).await;
    assert_eq!(peer_cert(&after), b.der);
    // The session opened before the reload goes on.
    let header = received_header_of_a_message(&server, &mut before).await;
    assert!(header.contains("ESMTPS"), "{header}");

    // A broken pair is refused and the current one kept.
    std::fs::write(files.dir.path().join("key.pem"), a.key_pem.as_bytes()).unwrap();
    assert!(
        reloader.reload().is_err(),
        "a key that does not match is refused"
    );
    std::fs::write(files.dir.path().join("cert.pem"), "garbage").unwrap();
    assert!(reloader.reload().is_err());
    let still = starttls(&server, &trust_both).await;
    assert_eq!(peer_cert(&still), b.der);
    assert_eq!(server.queued().len(), 1);
    drop((before, after, still));
    server.stop().await;
}

#[tokio::test]
async fn the_implicit_tls_listener_speaks_tls_first() {
    let a = pair();
    let files = Files::new(&a);
    let (acceptor, _) = files.load();
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path()).unwrap();
    let (queue, mut submitted) = QueueHandle::recording();
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let implicit = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (plain_addr, tls_addr) = (plain.local_addr().unwrap(), implicit.local_addr().unwrap());
    let config = config(dir.path());
    let recipients = RecipientService::in_memory(&config, Arc::new(SystemClock), None);
    let checks = backupmx::checks::SenderChecker::new(&config).expect("sender checks");
    let ctx = Arc::new(InboundContext {
        checks: Arc::new(checks),
        recipients: Arc::new(recipients),
        config: backupmx::live::Live::new(config),
        spool: spool.clone(),
        queue,
        tls: Some(acceptor),
    });
    let (stop, stopped) = watch::channel(false);
    let listeners = vec![
        Listener {
            socket: plain,
            implicit_tls: false,
        },
        Listener {
            socket: implicit,
            implicit_tls: true,
        },
    ];
    let task = tokio::spawn(serve_listeners(
        listeners,
        ctx,
        stopped,
        ServeOptions::default(),
    ));

    let stream = TcpStream::connect(tls_addr).await.unwrap();
    let mut c = handshake(&connector(&[&a], TLS_VERSIONS), stream).await;
    let ehlo = c.greeting_and_ehlo().await;
    assert!(!ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    let reply = c
        .send_message("a@example.test", b"Subject: 465\r\n\r\nx\r\n.\r\n")
        .await;
    assert_eq!(reply.head(), "250 2.0.0");
    assert_eq!(c.cmd("QUIT").await, "221 2.0.0");
    assert!(matches!(
        submitted.try_recv(),
        Ok(backupmx::queue::QueueCommand::Submit(_))
    ));
    // The plain listener still offers STARTTLS.
    let mut p = Client::new(TcpStream::connect(plain_addr).await.unwrap());
    let ehlo = p.greeting_and_ehlo().await;
    assert!(ehlo.lines.iter().any(|l| l == "STARTTLS"), "{ehlo:?}");
    drop(p);
    stop.send(true).unwrap();
    tokio::time::timeout(WAIT * 3, task).await.unwrap().unwrap();
}
