//! Per-domain outbound TLS policy (`[[domain]] tls`, `tls_name`, `[delivery] tls_ca_file`) at the
//! deliverer: `require` verifies the primary's certificate against the MX name (or a static
//! primary's `tls_name` / IP address) and never falls back to clear text; `opportunistic` takes any
//! certificate; `none` never says STARTTLS. The primary is an [`SmtpSink`] behind a [`TlsFront`]
//! with certificates from a test CA.

use crate::support;

use std::net::SocketAddr;

use backupmx::config::Config;
use backupmx::delivery::client::{ClientError, Connection, Message, RecipientOutcome};
use backupmx::delivery::{ConnectError, Deliverer, Host};
use support::tls_front::{FrontTls, TestCa, TlsFront, self_signed_acceptor};
use support::{SmtpSink, WAIT, envelope};

const BODY: &[u8] = b"From: <alice@sender.test>\r\nSubject: policy\r\n\r\n.dot\r\nbody\r\n";
const MX_NAME: &str = "primary.example.test";

/// A configuration whose only domain has the `[[domain]]` lines `domain_lines`, trusting `ca`.
fn config(ca: Option<&std::path::Path>, domain_lines: &str) -> Config {
    let ca_line = ca.map_or(String::new(), |p| {
        format!("tls_ca_file = {:?}\n", p.display())
    });
    let text = format!(
        "hostname = \"backup.example.test\"\n[dns]\nnameservers = [\"127.0.0.1:9\"]\n\
         [delivery]\nconnect_timeout = \"2s\"\ncommand_timeout = \"5s\"\n{ca_line}\
         [[domain]]\nname = \"example.test\"\n{domain_lines}"
    );
    Config::from_toml_str(&text, "test.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn mx_host(name: &str, addr: SocketAddr) -> Vec<Host> {
    vec![Host {
        name: name.into(),
        preference: Some(10),
        port: addr.port(),
        addresses: vec![addr.ip()],
    }]
}

/// Connects under the domain's policy, to `hosts` or (when `None`) to the domain's static route.
async fn connect(config: &Config, hosts: Option<Vec<Host>>) -> Result<Connection, ConnectError> {
    let deliverer = Deliverer::new(config).unwrap();
    let domain = &config.domains[0];
    let hosts = match hosts {
        Some(hosts) => hosts,
        None => deliverer.resolve(domain).await.unwrap(),
    };
    deliverer.connect_for(domain, &hosts).await
}

async fn deliver(mut conn: Connection, sink: &SmtpSink) {
    let env = envelope("alice@sender.test", &["bob@example.test"]);
    let message = Message {
        envelope: &env,
        recipients: &[0],
        size: BODY.len() as u64,
    };
    let report = conn.send(&message, BODY).await;
    assert!(
        matches!(report.recipients[0].1, RecipientOutcome::Delivered(_)),
        "{report:?}"
    );
    conn.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].data, BODY);
}

/// The single try failed on TLS: a temporary 4.7.x, no message sent.
fn assert_tls_refusal(error: &ConnectError, sink: &SmtpSink) {
    assert_eq!(error.attempts.len(), 1, "{error}");
    let client_error = error.attempts[0].error.as_ref().expect("an error");
    assert!(
        matches!(
            client_error,
            ClientError::TlsHandshake(_) | ClientError::TlsUnavailable(_)
        ),
        "{error}"
    );
    assert!(client_error.is_temporary(), "{error}");
    assert!(!error.is_unreachable(), "TLS refusal is not a dead primary");
    let reply = error.to_reply();
    assert_eq!((reply.code, reply.enhanced.map(|e| e.0)), (451, Some(4)));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn require_delivers_over_tls_when_the_certificate_is_valid_for_the_mx_name() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(&[MX_NAME]))).await;
    let config = config(Some(&ca.write_pem(dir.path())), "tls = \"require\"\n");
    let conn = connect(&config, Some(mx_host(MX_NAME, front.addr())))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.is_tls());
    deliver(conn, &sink).await;
    assert_eq!(front.tls_sessions(), 1);
}

#[tokio::test]
async fn a_certificate_for_another_name_defers_under_require_and_delivers_when_opportunistic() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let sink = SmtpSink::start().await;
    let acceptor = ca.acceptor(&["other.example.test"]);
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(acceptor)).await;

    let required = config(Some(&ca_file), "tls = \"require\"\n");
    let error = connect(&required, Some(mx_host(MX_NAME, front.addr())))
        .await
        .err()
        .expect("wrong name must fail under require");
    assert!(error.to_string().contains("certificate"), "{error}");
    assert_tls_refusal(&error, &sink);
    assert_eq!(front.connections(), 1, "no clear-text retry under require");

    let opportunistic = config(Some(&ca_file), "");
    let conn = connect(&opportunistic, Some(mx_host(MX_NAME, front.addr())))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        conn.is_tls(),
        "opportunistic encrypts without checking the name"
    );
    deliver(conn, &sink).await;
}

#[tokio::test]
async fn an_untrusted_certificate_fails_under_require() {
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(
        sink.addr(),
        FrontTls::Terminate(self_signed_acceptor(&[MX_NAME])),
    )
    .await;
    let error = connect(
        &config(None, "tls = \"require\"\n"),
        Some(mx_host(MX_NAME, front.addr())),
    )
    .await
    .err()
    .expect("self-signed must fail under require");
    assert_tls_refusal(&error, &sink);
}

#[tokio::test]
async fn require_without_starttls_defers_and_none_never_starts_tls() {
    let ca = TestCa::new();
    let sink = SmtpSink::start().await;
    let error = connect(
        &config(None, "tls = \"require\"\n"),
        Some(mx_host(MX_NAME, sink.addr())),
    )
    .await
    .err()
    .expect("no STARTTLS offered");
    assert_tls_refusal(&error, &sink);

    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(&[MX_NAME]))).await;
    let conn = connect(
        &config(None, "tls = \"none\"\n"),
        Some(mx_host(MX_NAME, front.addr())),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!conn.is_tls());
    deliver(conn, &sink).await;
    assert_eq!(front.starttls(), 0, "tls = none never says STARTTLS");
}

#[tokio::test]
async fn a_broken_handshake_is_retried_in_clear_only_when_opportunistic() {
    for mode in [FrontTls::Garbage, FrontTls::Close] {
        let sink = SmtpSink::start().await;
        let front = TlsFront::start(sink.addr(), mode).await;
        let error = connect(
            &config(None, "tls = \"require\"\n"),
            Some(mx_host(MX_NAME, front.addr())),
        )
        .await
        .err()
        .expect("broken TLS under require");
        assert_tls_refusal(&error, &sink);
        assert_eq!(front.connections(), 1);

        let conn = connect(&config(None, ""), Some(mx_host(MX_NAME, front.addr())))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!conn.is_tls());
        deliver(conn, &sink).await;
        assert_eq!(front.connections(), 3, "TLS try, then the clear-text retry");
    }
}

#[tokio::test]
async fn a_static_ip_primary_is_verified_against_tls_name_or_its_address() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let sink = SmtpSink::start().await;

    // Certificate for the name only: passes with tls_name, fails against the bare IP.
    let named = TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(&[MX_NAME]))).await;
    let primary = format!("primary = \"{}\"\ntls = \"require\"\n", named.addr());
    let with_name = config(
        Some(&ca_file),
        &format!("{primary}tls_name = \"{MX_NAME}\"\n"),
    );
    let conn = connect(&with_name, None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.is_tls());
    conn.quit().await;
    let error = connect(&config(Some(&ca_file), &primary), None)
        .await
        .err()
        .expect("certificate has no IP address");
    assert_tls_refusal(&error, &sink);

    // Certificate with the IP address: passes without tls_name.
    let by_ip = TlsFront::start(
        sink.addr(),
        FrontTls::Terminate(ca.acceptor(&["127.0.0.1"])),
    )
    .await;
    let primary = format!("primary = \"{}\"\ntls = \"require\"\n", by_ip.addr());
    let conn = connect(&config(Some(&ca_file), &primary), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(conn.is_tls());
    deliver(conn, &sink).await;
}
