//! Sender checks against the real binary (issue 15): DNSBL at connect from several loopback
//! addresses (listed, allow-listed, DNS gone), SPF pass/fail/softfail/temperror and DMARC p=reject
//! under `tag` and `enforce`, a forged Authentication-Results removed, and a DKIM-signed message
//! that reaches the primary with its signature intact and our ARC set valid, both checked by an
//! independent implementation (Python's dkimpy; its ARC code knows RSA only, so the Ed25519 seal is
//! checked with mail-auth's verifier).

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::config::{Domain, Settings};
use support::dns::{TestRecord, txt};
use support::e2e::client::Client;
use support::server::Server;
use support::{SmtpSink, TestDns, addr};

const WAIT: Duration = Duration::from_secs(20);
/// Settings::new's hostname: our authserv-id.
const HOST: &str = "mx2.example.test";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

/// SPF, DMARC and DNSBL records every test serves.
fn records() -> Vec<TestRecord> {
    vec![
        addr("2.0.0.127.bl.test", "127.0.0.2"),
        addr("3.0.0.127.bl.test", "127.0.0.2"),
        txt("pass.test", "v=spf1 ip4:127.0.0.0/8 -all"),
        txt("fail.test", "v=spf1 ip4:192.0.2.1 -all"),
        txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
        txt("temp.test", "v=spf1 ip4:127.0.0.0/8 -all"),
        txt("reject.test", "v=spf1 ?all"),
        txt("_dmarc.reject.test", "v=DMARC1; p=reject"),
    ]
}

/// `example.test` under `enforce`, `tagged.test` under `tag`, both relayed to `sink`; `dns` answers.
fn settings(sink: &SmtpSink, dns: SocketAddr, extra_toml: &str) -> Settings {
    let mut settings = Settings::new(Some(sink.addr()));
    settings.nameservers = vec![dns];
    settings.domains[0]
        .extra
        .push("sender_checks = \"enforce\"".into());
    settings.domains.push(Domain {
        name: "tagged.test".into(),
        primary: Some(sink.addr().to_string()),
        extra: vec!["sender_checks = \"tag\"".into()],
    });
    settings.extra_toml = extra_toml.into();
    settings
}

fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{subject}@test>\r\n\r\nHello {subject}.\r\n"
    )
    .into_bytes()
}

/// The Authentication-Results field we prepended (the first header field of the relayed message).
fn our_results(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let start = text
        .find("Authentication-Results: ")
        .expect("an Authentication-Results field");
    let field: String = text[start..]
        .split("\r\n")
        .enumerate()
        .take_while(|(i, line)| *i == 0 || line.starts_with('\t') || line.starts_with(' '))
        .map(|(_, line)| line)
        .collect::<Vec<_>>()
        .join("\r\n");
    assert!(field.contains(HOST), "{field}");
    field
}

const DNSBL: &str = "[[dnsbl]]\nzone = \"bl.test\"\nweight = 2\n\n[checks]\ndnsbl_threshold = 2\nallow = [\"127.0.0.3/32\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_client_is_refused_at_connect_and_others_are_served() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let server = Server::start(settings(&sink, dns.addr(), DNSBL)).await;

    let (mut listed, first) = Client::open_from(server.smtp_addr(), ip("127.0.0.2")).await;
    assert_eq!(first.code, 554, "{first:?}");
    assert!(first.text.contains("5.7.1"), "{first:?}");
    assert!(
        first.text.contains("bl.test"),
        "the list is named: {first:?}"
    );
    assert!(
        listed.is_closed().await,
        "the connection ends after the 554"
    );

    // Listed too, but in [checks] allow: never checked.
    let mut allowed =
        Client::connect_from(server.smtp_addr(), ip("127.0.0.3"), "client.test").await;
    let body = message("a@pass.test", "user@tagged.test", "allowed");
    allowed
        .send_ok("a@pass.test", &["user@tagged.test"], &body)
        .await;
    allowed.quit().await;

    // Not listed.
    let clean = Client::connect_from(server.smtp_addr(), ip("127.0.0.4"), "client.test").await;
    clean.quit().await;

    // A second connection is answered from the cache, with the same verdict.
    let (_, again) = Client::open_from(server.smtp_addr(), ip("127.0.0.2")).await;
    assert_eq!(again.code, 554, "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dnsbl_that_cannot_be_asked_fails_open() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let gone = dns.addr();
    drop(dns);
    let server = Server::start(settings(&sink, gone, DNSBL)).await;
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.2"), "client.test").await;
    let body = message("a@soft.test", "user@tagged.test", "fail-open");
    client
        .send_ok("a@soft.test", &["user@tagged.test"], &body)
        .await;
    client.quit().await;
    server
        .wait_log("DNSBL look-up failed; not counted", WAIT)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spf_is_enforced_before_the_250_and_tagged_otherwise() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    dns.servfail("temp.test");
    let server = Server::start(settings(&sink, dns.addr(), "")).await;
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.1"), "client.test").await;
    // (sender, reply under enforce, result tagged under tag)
    let cases = [
        ("a@pass.test", "250", "spf=pass"),
        ("a@fail.test", "550 5.7.23", "spf=fail"),
        ("a@soft.test", "250", "spf=softfail"),
        ("a@temp.test", "451 4.7.24", "spf=temperror"),
    ];
    let mut expected = 0;
    for (sender, enforced, tagged) in cases {
        let body = message(sender, "user@example.test", sender);
        let sent = client.send(sender, &["user@example.test"], &body).await;
        let reply = sent.data.expect("DATA sent");
        assert!(reply.text.starts_with(enforced), "{sender}: {reply:?}");
        if enforced == "250" {
            expected += 1;
        }
        let body = message(sender, "user@tagged.test", sender);
        client.send_ok(sender, &["user@tagged.test"], &body).await;
        expected += 1;
        let got = sink.wait_for(expected, WAIT).await;
        let relayed = got
            .iter()
            .find(|m| m.recipients == ["user@tagged.test"] && m.sender == sender)
            .expect("the tagged copy arrived");
        let results = our_results(&relayed.data);
        assert!(results.contains(tagged), "{sender}: {results}");
    }
    // A message for an enforce domain and a tag domain follows the strictest: refused.
    let body = message("a@fail.test", "user@example.test", "both");
    let sent = client
        .send(
            "a@fail.test",
            &["user@tagged.test", "user@example.test"],
            &body,
        )
        .await;
    let reply = sent.data.expect("DATA sent");
    assert!(reply.text.starts_with("550 5.7.23"), "{reply:?}");
    client.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reject_is_refused_under_enforce_and_tagged_under_tag() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let server = Server::start(settings(&sink, dns.addr(), "")).await;
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.1"), "client.test").await;
    let body = message("boss@reject.test", "user@example.test", "dmarc-enforce");
    let sent = client
        .send("boss@reject.test", &["user@example.test"], &body)
        .await;
    let reply = sent.data.expect("DATA sent");
    assert!(reply.text.starts_with("550 5.7.1"), "{reply:?}");
    assert!(reply.text.contains("DMARC"), "{reply:?}");
    let body = message("boss@reject.test", "user@tagged.test", "dmarc-tag");
    client
        .send_ok("boss@reject.test", &["user@tagged.test"], &body)
        .await;
    client.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    let results = our_results(&got[0].data);
    assert!(results.contains("dmarc=fail"), "{results}");
    assert!(results.contains("policy.dmarc=reject"), "{results}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_authentication_results_with_our_id_is_removed() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let server = Server::start(settings(&sink, dns.addr(), "")).await;
    let forged = format!(
        "Authentication-Results: {HOST};\r\n\tspf=pass smtp.mailfrom=bank.test\r\n\
         Authentication-Results: other.test; dkim=pass header.d=bank.test\r\n"
    );
    let original = message("a@soft.test", "user@tagged.test", "forged");
    let mut sent = forged.into_bytes();
    sent.extend_from_slice(&original);
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.1"), "client.test").await;
    client
        .send_ok("a@soft.test", &["user@tagged.test"], &sent)
        .await;
    client.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    let data = String::from_utf8_lossy(&got[0].data).into_owned();
    assert_eq!(
        data.matches(&format!("Authentication-Results: {HOST}"))
            .count(),
        1,
        "only ours is left:\n{data}"
    );
    assert!(
        data.starts_with(&format!("Authentication-Results: {HOST}")),
        "{data}"
    );
    assert!(our_results(got[0].data.as_slice()).contains("spf=softfail"));
    let mut kept = b"Authentication-Results: other.test; dkim=pass header.d=bank.test\r\n".to_vec();
    kept.extend_from_slice(&original);
    assert!(
        got[0].data.ends_with(&kept),
        "the other fields and the body are unchanged:\n{data}"
    );
}

/// A private key made by `openssl` and its DKIM `p=` value (base64 of the SubjectPublicKeyInfo for
/// RSA, of the raw 32-byte key for Ed25519, RFC 8463).
struct TestKey {
    pem: String,
    public: String,
}

fn openssl_key(dir: &Path, kind: &str) -> TestKey {
    let key = dir.join(format!("{kind}.pem"));
    let generate = match kind {
        "rsa" => format!(
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out {key:?} 2>/dev/null"
        ),
        _ => format!("openssl genpkey -algorithm ed25519 -out {key:?}"),
    };
    let public = match kind {
        "rsa" => format!("openssl pkey -in {key:?} -pubout -outform DER | openssl base64 -A"),
        // The DER SubjectPublicKeyInfo of an Ed25519 key ends with the 32 raw bytes.
        _ => format!(
            "openssl pkey -in {key:?} -pubout -outform DER | tail -c 32 | openssl base64 -A"
        ),
    };
    let run = |script: &str| {
        let out = Command::new("sh")
            .args(["-c", script])
            .output()
            .expect("run openssl (Debian package openssl)");
        assert!(out.status.success(), "{script}: {out:?}");
        String::from_utf8(out.stdout).expect("openssl output")
    };
    run(&generate);
    TestKey {
        pem: std::fs::read_to_string(&key).expect("key file"),
        public: run(&public).trim().to_owned(),
    }
}

/// A Python 3 that has dkimpy, PyNaCl and dnspython (test.sh installs them).
fn python_with_dkimpy() -> String {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args(["-c", "import dkim, nacl, dns.resolver"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python.into();
        }
    }
    panic!("no python3 with dkimpy, PyNaCl and dnspython: run ./test.sh, which installs them");
}

const DKIMPY_CHECK: &str = r#"
import json, sys
import dkim, dns.resolver
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = int(sys.argv[1])
def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        answer = resolver.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return None
    for record in answer:
        return b"".join(record.strings)
    return None
message = sys.stdin.buffer.read()
dkim_ok = dkim.verify(message, dnsfunc=dnsfunc)
cv, results, comment = dkim.arc_verify(message, dnsfunc=dnsfunc)
print(json.dumps({"dkim": bool(dkim_ok), "arc": cv.decode(), "comment": comment}))
"#;

/// dkimpy's verdicts on `message`: (DKIM verifies, ARC chain validation, comment).
fn dkimpy(message: &[u8], dns_port: u16) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(python_with_dkimpy())
        .args(["-c", DKIMPY_CHECK, &dns_port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(message)
        .expect("write the message");
    let out = child.wait_with_output().expect("dkimpy");
    assert!(out.status.success(), "dkimpy: {out:?}");
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("dkimpy JSON");
    (
        verdict["dkim"].as_bool().unwrap_or(false),
        verdict["arc"].as_str().unwrap_or_default().to_owned(),
        verdict["comment"].to_string(),
    )
}

/// Signs `message` as `signed.test` (selector `sel`) with mail-auth's DKIM signer.
fn dkim_sign(key: &TestKey, message: &[u8]) -> Vec<u8> {
    use mail_auth::common::crypto::{RsaKey, Sha256};
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dkim::DkimSigner;
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let der = PrivateKeyDer::from_pem_slice(key.pem.as_bytes()).expect("PEM key");
    let signer = DkimSigner::from_key(RsaKey::<Sha256>::from_key_der(der).expect("RSA key"))
        .domain("signed.test")
        .selector("sel")
        .headers(["From", "To", "Subject", "Date", "Message-ID"]);
    let signature = signer.sign(message).expect("DKIM signature");
    let mut signed = signature.to_header().into_bytes();
    signed.extend_from_slice(message);
    signed
}

async fn relay_signed_message(arc_kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let sender_key = openssl_key(dir.path(), "rsa");
    let arc_key = openssl_key(dir.path(), arc_kind);
    let arc_file = dir.path().join("arc.pem");
    std::fs::write(&arc_file, &arc_key.pem).unwrap();
    let key_type = if arc_kind == "rsa" { "rsa" } else { "ed25519" };
    let mut records = records();
    records.extend([
        txt("signed.test", "v=spf1 ip4:127.0.0.0/8 -all"),
        txt("_dmarc.signed.test", "v=DMARC1; p=reject"),
        txt(
            "sel._domainkey.signed.test",
            &format!("v=DKIM1; k=rsa; p={}", sender_key.public),
        ),
        txt(
            "arc._domainkey.seal.test",
            &format!("v=DKIM1; k={key_type}; p={}", arc_key.public),
        ),
    ]);
    let dns = TestDns::start(&records).await;
    let sink = SmtpSink::start().await;
    let arc = format!(
        "[arc]\ndomain = \"seal.test\"\nselector = \"arc\"\nkey_file = {:?}\n",
        arc_file.display().to_string()
    );
    let server = Server::start(settings(&sink, dns.addr(), &arc)).await;
    let original = dkim_sign(
        &sender_key,
        &message("news@signed.test", "user@example.test", "signed"),
    );
    let (ok, _, comment) = dkimpy(&original, dns.addr().port());
    assert!(
        ok,
        "the test's own signature verifies before relaying: {comment}"
    );
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.1"), "client.test").await;
    client
        .send_ok("news@signed.test", &["user@example.test"], &original)
        .await;
    client.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    let relayed = &got[0].data;
    let text = String::from_utf8_lossy(relayed);
    assert!(text.starts_with("ARC-Seal: i=1;"), "{text}");
    assert!(
        relayed.ends_with(&original),
        "the original reaches the primary byte for byte"
    );
    let results = our_results(relayed);
    for expected in ["spf=pass", "dkim=pass", "dmarc=pass"] {
        assert!(results.contains(expected), "{expected}: {results}");
    }
    let (dkim_ok, arc, comment) = dkimpy(relayed, dns.addr().port());
    assert!(
        dkim_ok,
        "the sender's DKIM signature still verifies at the primary: {comment}"
    );
    if arc_kind == "rsa" {
        assert_eq!(
            arc, "pass",
            "dkimpy validates our ARC set: {comment}\n{text}"
        );
    } else {
        // dkimpy's ARC knows rsa-sha256 only ("unknown signature algorithm"): the Ed25519 seal
        // is checked with mail-auth's verifier instead (docs/config.md says which key to choose).
        assert!(comment.contains("ed25519"), "{comment}");
        assert_eq!(mail_auth_arc(relayed, dns.addr()).await, "pass", "{text}");
    }
}

/// mail-auth's ARC validation of `message`, asking the test DNS server.
async fn mail_auth_arc(message: &[u8], dns: SocketAddr) -> String {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
    let mut server = NameServerConfig::udp_and_tcp(dns.ip());
    for connection in &mut server.connections {
        connection.port = dns.port();
    }
    let config = ResolverConfig::from_name_servers(vec![server]);
    let authenticator =
        MessageAuthenticator::new(config, ResolverOpts::default()).expect("authenticator");
    let parsed = AuthenticatedMessage::parse(message).expect("a message");
    let output = authenticator.verify_arc(Parameters::new(&parsed)).await;
    match output.result() {
        DkimResult::Pass => "pass".into(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_message_keeps_its_dkim_and_gets_an_rsa_arc_seal_dkimpy_validates() {
    relay_signed_message("rsa").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_arc_seal_validates() {
    relay_signed_message("ed25519").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_results_show_in_the_api_and_the_metrics() {
    const TOKEN: &str = "sender-checks-token";
    let dns = TestDns::start(&records()).await;
    // The primary never answers: the message stays queued for the API to show.
    let mut settings = Settings::new(Some(SocketAddr::from(([127, 0, 0, 1], 9))));
    settings.nameservers = vec![dns.addr()];
    settings.extra_toml = DNSBL.into();
    let server = Server::with_api_token(settings, TOKEN).await;
    let (_, refused) = Client::open_from(server.smtp_addr(), ip("127.0.0.2")).await;
    assert_eq!(refused.code, 554, "{refused:?}");
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.4"), "client.test").await;
    let body = message("a@soft.test", "user@example.test", "api");
    let sent = client
        .send("a@soft.test", &["user@example.test"], &body)
        .await;
    client.quit().await;
    let reply = sent.data.expect("DATA sent");
    assert_eq!(reply.code, 250, "{reply:?}");
    let id = reply
        .text
        .split_whitespace()
        .find(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("a queue id in the 250")
        .to_owned();
    let detail =
        support::admin::api_get(server.admin_addr(), TOKEN, &format!("/api/v1/queue/{id}")).await;
    let checks = &detail["checks"];
    assert_eq!(checks["spf"], "softfail", "{detail}");
    assert_eq!(checks["dkim"], "none", "{detail}");
    assert_eq!(checks["dmarc"], "none", "{detail}");
    assert_eq!(checks["dnsbl"], "pass", "{detail}");
    let metrics = server.metrics(TOKEN);
    for line in [
        "backupmx_sender_checks_total{check=\"spf\",result=\"softfail\"} 1",
        "backupmx_sender_checks_total{check=\"dnsbl\",result=\"listed\"} 1",
        "backupmx_sender_checks_total{check=\"dnsbl\",result=\"pass\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_verify_bound_is_relayed_with_dkim_neutral() {
    let sink = SmtpSink::start().await;
    let dns = TestDns::start(&records()).await;
    let server = Server::start(settings(
        &sink,
        dns.addr(),
        "[checks]\nmax_verify_size = 200\n",
    ))
    .await;
    let mut body = message("a@pass.test", "user@tagged.test", "big");
    body.extend(std::iter::repeat_n(b"0123456789abcdef\r\n".as_slice(), 100).flatten());
    let mut client = Client::connect_from(server.smtp_addr(), ip("127.0.0.1"), "client.test").await;
    client
        .send_ok("a@pass.test", &["user@tagged.test"], &body)
        .await;
    client.quit().await;
    let got = sink.wait_for(1, WAIT).await;
    let results = our_results(&got[0].data);
    assert!(results.contains("spf=pass"), "{results}");
    assert!(
        results.contains("dkim=neutral reason=\"message too large to verify\""),
        "{results}"
    );
    assert!(got[0].data.ends_with(&body), "relayed unchanged");
}
