//! SIGHUP on the real binary: start with certificate A, replace the files with B, `kill -HUP` the
//! server; new STARTTLS and implicit-TLS handshakes see B, and a session opened before keeps working.

mod inbound_support;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use inbound_support::{Client, WAIT};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

struct Pair {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn pair() -> Pair {
    let certified =
        rcgen::generate_simple_self_signed(vec!["mx2.example.net".to_string()]).unwrap();
    Pair {
        cert_pem: certified.cert.pem(),
        key_pem: certified.signing_key.serialize_pem(),
        der: certified.cert.der().clone(),
    }
}

fn free_addr() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The server process, killed when dropped (also when the test fails).
struct Server {
    child: Child,
    smtp: SocketAddr,
    implicit_tls: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_pair(dir: &std::path::Path, pair: &Pair) {
    std::fs::write(dir.join("cert.pem"), &pair.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &pair.key_pem).unwrap();
}

impl Server {
    fn write_pair(&self, pair: &Pair) {
        write_pair(self.dir.path(), pair);
    }

    async fn start(pair: &Pair) -> Server {
        let (smtp, implicit_tls) = (free_addr(), free_addr());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        write_pair(path, pair);
        let config = format!(
            "hostname = \"mx2.example.net\"\n[smtp]\nlisten = [\"{smtp}\"]\ntls_cert = {cert:?}\n\
             tls_key = {key:?}\ntls_listen = [\"{implicit_tls}\"]\n[spool]\ndir = {spool:?}\n\
             [[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:9\"\n[admin]\nlisten = \"{admin}\"\n",
            cert = path.join("cert.pem"),
            key = path.join("key.pem"),
            spool = path.join("spool"),
            admin = free_addr(),
        );
        std::fs::write(path.join("backupmx.toml"), config).unwrap();
        let log = std::fs::File::create(path.join("stderr.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_backupmx"))
            .arg("serve")
            .arg("--config")
            .arg(path.join("backupmx.toml"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut server = Server {
            child,
            smtp,
            implicit_tls,
            dir,
        };
        for _ in 0..200 {
            if TcpStream::connect(server.implicit_tls).await.is_ok() {
                return server;
            }
            assert!(
                server.child.try_wait().unwrap().is_none(),
                "{}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("backupmx does not listen:\n{}", server.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn connector(trusted: &[&Pair]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for pair in trusted {
        roots.add(pair.der.clone()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    TlsConnector::from(Arc::new(config))
}

async fn tls_over(connector: &TlsConnector, stream: TcpStream) -> Client<TlsStream<TcpStream>> {
    let name = ServerName::try_from("mx2.example.net").unwrap();
    let tls = tokio::time::timeout(WAIT, connector.connect(name, stream))
        .await
        .unwrap()
        .unwrap();
    Client::new(tls)
}

async fn starttls(server: &Server, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
    let mut c = Client::new(TcpStream::connect(server.smtp).await.unwrap());
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    tls_over(connector, c.io.into_inner()).await
}

async fn implicit(server: &Server, connector: &TlsConnector) -> Client<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(server.implicit_tls).await.unwrap();
    tls_over(connector, stream).await
}

fn peer_cert(c: &Client<TlsStream<TcpStream>>) -> CertificateDer<'static> {
    c.io.get_ref().get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_sessions() {
    let (a, b) = (pair(), pair());
    let server = Server::start(&a).await;
    let trust_both = connector(&[&a, &b]);
    let mut before = starttls(&server, &trust_both).await;
    assert_eq!(peer_cert(&before), a.der);
    let mut before_implicit = implicit(&server, &trust_both).await;
    assert_eq!(peer_cert(&before_implicit), a.der);

    server.write_pair(&b);
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
