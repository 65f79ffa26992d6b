//! ACME against a real ACME test server: Debian's `pebble` (installed by ./test.sh), run as a
//! throwaway process on loopback (its own config and HTTPS certificate from a test CA, stopped by
//! PID). Pebble's validation authority resolves the certificate's name through our in-process DNS
//! server and fetches the HTTP-01 answer from backupmx's `[acme] http_listen`. Checked: the first
//! issuance before the server starts (files 0600 in the state directory, served on STARTTLS), then
//! a renewal forced by a short validity (pebble's `certificateValidityPeriod`), served on
//! STARTTLS by the same process, without a restart.

use crate::support;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use support::config::{Settings, free_port};
use support::inbound::Client;
use support::server::Server;
use support::tls_front::TestCa;
use support::{TestDns, addr};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const PEBBLE: &str = "/usr/bin/pebble";
const NAME: &str = "mx2.example.net";
/// Seconds a pebble certificate is valid: backupmx renews when a third is left (after ~14 s).
const VALIDITY: u64 = 21;

/// Pebble, killed by PID when dropped.
struct Pebble {
    child: Child,
    directory: String,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pebble {
    /// Starts pebble with a certificate from `ca`, resolving names through `dns`, validating
    /// HTTP-01 on `http_port`.
    fn start(dir: &Path, ca: &TestCa, dns: SocketAddr, http_port: u16) -> Pebble {
        assert!(
            Path::new(PEBBLE).is_file(),
            "{PEBBLE} is missing: install Debian's pebble package (./test.sh does)"
        );
        let tls = ca.issue(&["127.0.0.1", "localhost"]);
        std::fs::write(dir.join("pebble-cert.pem"), &tls.cert_pem).unwrap();
        std::fs::write(dir.join("pebble-key.pem"), &tls.key_pem).unwrap();
        let port = free_port();
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{}", free_port()),
                "certificate": dir.join("pebble-cert.pem"),
                "privateKey": dir.join("pebble-key.pem"),
                "httpPort": http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
                "certificateValidityPeriod": VALIDITY,
            }
        });
        let file = dir.join("pebble.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.join("pebble.log")).unwrap();
        let child = Command::new(PEBBLE)
            .arg("-config")
            .arg(&file)
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pebble");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "pebble does not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Pebble {
            child,
            directory: format!("https://127.0.0.1:{port}/dir"),
        }
    }
}

/// Takes any certificate: the test only looks at what the server shows.
#[derive(Debug)]
struct ShowMe(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for ShowMe {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The leaf certificate the server shows on STARTTLS now.
async fn starttls_certificate(server: &Server) -> CertificateDer<'static> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = ShowMe(provider.signature_verification_algorithms);
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let mut c = Client::new(TcpStream::connect(server.smtp_addr()).await.unwrap());
    c.greeting_and_ehlo().await;
    assert_eq!(c.cmd("STARTTLS").await, "220 2.0.0");
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(NAME).unwrap(), c.io.into_inner())
        .await
        .expect("TLS handshake");
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

fn describe(cert: &CertificateDer<'_>) -> (String, Vec<String>, String) {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).unwrap();
    let names = parsed
        .subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| n.to_string())
                .collect()
        })
        .unwrap_or_default();
    (
        parsed.issuer().to_string(),
        names,
        parsed.raw_serial_as_string(),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pebble_issues_and_a_short_validity_forces_a_renewal_served_without_restart() {
    let _machine = support::exclusive::shared().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write_pem(dir.path());
    let dns = TestDns::start(&[addr(NAME, "127.0.0.1")]).await;
    let http_port = free_port();
    let pebble = Pebble::start(dir.path(), &ca, dns.addr(), http_port);

    let mut settings = Settings::new(Some(SocketAddr::from(([127, 0, 0, 1], 9))));
    settings.hostname = NAME.into();
    settings.extra_toml = format!(
        "\n[acme]\ndirectory = {:?}\ncontact = [\"postmaster@example.net\"]\n\
         names = [\"{NAME}\"]\nhttp_listen = \"127.0.0.1:{http_port}\"\nca_file = {:?}\n",
        pebble.directory,
        ca_file.display().to_string()
    );
    let server = Server::start(settings).await;
    let pid = server.pid();

    // First issuance, before the server started.
    let first = starttls_certificate(&server).await;
    let (issuer, names, first_serial) = describe(&first);
    println!("first: issuer {issuer}, names {names:?}, serial {first_serial}");
    assert!(issuer.contains("Pebble"), "{issuer}");
    assert_eq!(names, [format!("DNSName({NAME})")]);
    let acme_dir = server.spool_dir().join("acme");
    for file in ["cert.pem", "key.pem", "account.json"] {
        assert_eq!(mode(&acme_dir.join(file)), 0o600, "{file}");
    }
    let log = server.log();
    for step in [
        "ACME: account created",
        "ACME: order placed",
        "answering the http-01 challenge",
        "ACME: certificate stored",
    ] {
        assert!(log.contains(step), "no {step:?} in the log:\n{log}");
    }

    // The short validity forces a renewal; the same process serves the new certificate.
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let current = starttls_certificate(&server).await;
        if describe(&current).2 != first_serial {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal within 60 s:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (issuer, names, serial) = describe(&renewed);
    println!("renewed: issuer {issuer}, names {names:?}, serial {serial}");
    assert!(issuer.contains("Pebble"), "{issuer}");
    assert_eq!(server.pid(), pid, "the server was restarted");
    let log = server.log();
    assert!(log.contains("ACME: renewing the certificate"), "{log}");
    assert!(
        log.contains("ACME: the new certificate is served (no restart)"),
        "{log}"
    );
    assert!(log.contains("ACME: using the stored account"), "{log}");
    drop(server);
    drop(pebble);
}
