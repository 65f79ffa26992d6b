//! The console over HTTPS (`[admin] tls_cert` / `tls_key`), against the real binary with a test CA:
//! headless Chromium trusting that CA logs in and sees the dashboard, the session cookie is Secure,
//! every answer carries HSTS, a SIGHUP swaps the certificate without a restart (the next handshake
//! gets the new one; `backupmx reload` too), and the CLI talks to the HTTPS listener (trusting
//! `[admin] tls_cert` itself, or `--ca`). Chromium is told to trust the test CA by its key
//! (`--ignore-certificate-errors-spki-list` with the CA's SPKI hash; the served chain ends with the
//! CA): a wrong pin leaves it on the certificate error page. Fails, never skips, when chromedriver is
//! missing.

use crate::support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use support::config::{Settings, free_port};
use support::server::Server;
use support::tls_front::{Issued, TestCa};
use support::ui::console::Console;
use support::ui::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(20);

/// Writes the leaf followed by the CA (the chain a server sends) and the key, as an operator would.
fn write_pair(dir: &Path, issued: &Issued, ca: &TestCa) {
    let chain = format!("{}{}", issued.cert_pem, ca.pem());
    std::fs::write(dir.join("admin-cert.pem"), chain).unwrap();
    std::fs::write(dir.join("admin-key.pem"), &issued.key_pem).unwrap();
}

/// The leaf certificate the admin listener presents to a new handshake (no session resumption).
async fn served_leaf(addr: SocketAddr, ca: &TestCa) -> CertificateDer<'static> {
    let mut roots = rustls::RootCertStore::empty();
    let ca_der = CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap();
    roots.add(ca_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio::time::timeout(WAIT, connector.connect(name, stream))
        .await
        .expect("handshake in time")
        .expect("a handshake the test CA vouches for");
    let (_, session) = tls.get_ref();
    session.peer_certificates().expect("a certificate")[0].clone()
}

use rustls::pki_types::pem::PemObject;

/// What the listener sends back to a clear-text HTTP request (a TLS alert or nothing, never HTTP).
fn plain_http_answer(addr: SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_over_https_with_a_test_ca() {
    let _machine = support::exclusive::shared().await;
    let ca = TestCa::new();
    let files = tempfile::tempdir().unwrap();
    let first = ca.issue(&["127.0.0.1"]);
    write_pair(files.path(), &first, &ca);
    let ca_file = ca.write_pem(files.path());
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin_toml = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        files.path().join("admin-cert.pem"),
        files.path().join("admin-key.pem")
    );
    let mut server = Server::with_admin(
        Settings::new(Some(SocketAddr::from(([127, 0, 0, 1], free_port())))),
        admin,
        &admin_toml,
    )
    .await;
    let password = support::ui::admin_password(&mut server).await;
    let base = format!("https://{admin}");

    // Clear text on the HTTPS port gets no page.
    assert!(
        !plain_http_answer(admin).starts_with("HTTP/"),
        "the console answered in clear text"
    );

    // HSTS on every answer, the cookie Secure (the HTTP view of what the browser gets).
    let mut console = Console::trusting(&base, &[ca.pem()]);
    let health = console.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let login = console.login(&password);
    assert_eq!(login.status, 303, "{login:?}");
    let cookie = login.header("set-cookie").expect("a session cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let dashboard = console.get("/");
    assert_eq!(dashboard.status, 200);
    assert!(dashboard.header("strict-transport-security").is_some());

    // The browser trusts the test CA (Chromium accepts a chain holding the CA's key) and nothing else.
    let pin = format!(
        "--ignore-certificate-errors-spki-list={}",
        ca.spki_sha256_base64()
    );
    let browser = Browser::start_with(&[pin]);
    let (browser, password) = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            browser.goto(&format!("{base}/"));
            assert!(
                browser.current_url().ends_with("/login"),
                "{}",
                browser.current_url()
            );
            browser.send_keys(&browser.find("#password"), &password);
            browser.click(&browser.find("#login"));
            browser.find("#domains");
            let session = browser
                .cookies()
                .into_iter()
                .find(|c| c["name"] == "backupmx_session")
                .expect("the session cookie in the browser");
            assert_eq!(session["secure"], true, "{session}");
            assert_eq!(session["httpOnly"], true, "{session}");
            (browser, password)
        }
    })
    .await
    .expect("browser steps");

    // A reload swaps the certificate: the next handshake gets the new one, without a restart.
    assert_eq!(served_leaf(admin, &ca).await, first.der);
    let pid = server.pid();
    let second = ca.issue(&["127.0.0.1"]);
    assert_ne!(first.der, second.der);
    write_pair(files.path(), &second, &ca);
    server.hangup();
    server
        .wait_log("admin console TLS certificate and key reloaded", WAIT)
        .await;
    assert_eq!(served_leaf(admin, &ca).await, second.der);
    assert_eq!(server.pid(), pid, "no restart");
    let browser = tokio::task::spawn_blocking({
        let base = base.clone();
        move || {
            browser.goto(&format!("{base}/"));
            browser.find("#domains");
            browser
        }
    })
    .await
    .expect("browser steps after the reload");
    drop(browser);
    drop(password);

    // The CLI finds the HTTPS listener in the config and trusts its certificate file (leaf + CA).
    let config = server.config_path();
    let config = config.to_str().unwrap();
    let status = server.cli(&["status", "--config", config, "--json"]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    // Or the CA given with --ca.
    let ca_arg = ca_file.to_str().unwrap();
    let listed = server.cli(&["queue", "list", "--config", config, "--ca", ca_arg]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    // A CA that did not issue the certificate is refused (exit 3: no connection).
    let other = TestCa::new();
    let other_dir = tempfile::tempdir().unwrap();
    let other_file = other.write_pem(other_dir.path());
    let refused = server.cli(&[
        "queue",
        "list",
        "--config",
        config,
        "--ca",
        other_file.to_str().unwrap(),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // `backupmx reload` over HTTPS swaps the certificate too.
    let third = ca.issue(&["127.0.0.1"]);
    write_pair(files.path(), &third, &ca);
    let reloaded = server.cli(&["reload", "--config", config]);
    assert!(
        reloaded.status.success(),
        "{}",
        String::from_utf8_lossy(&reloaded.stderr)
    );
    assert_eq!(served_leaf(admin, &ca).await, third.der);
    assert_eq!(server.pid(), pid, "no restart");
}
