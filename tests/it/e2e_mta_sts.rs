//! Delivery under `tls = "auto"` (the default) honours the primary's published policy, through the
//! real binary: with an MTA-STS policy in `enforce` mode (served over HTTPS with a test CA that
//! backupmx trusts through `[delivery] tls_ca_file`), a primary with an invalid certificate gets no
//! mail, not even in clear text: the message is deferred with the reason; once the primary shows a
//! valid certificate the message goes out over TLS. With DNSSEC-validated TLSA records (the AD bit
//! of `support::dns` standing in for DNSSEC) a matching self-signed certificate is accepted and a
//! wrong record defers the mail.

use crate::support;

use std::time::Duration;

use backupmx::delivery::dane::ee_record;
use support::SmtpSink;
use support::dns::{tlsa, txt};
use support::e2e::by_mx::{self, PRIMARY, first_result, send, zone};
use support::e2e::mail::strip_first_received;
use support::mta_sts::{PolicyServer, enforce};
use support::server::Server;
use support::tls_front::{FrontTls, TestCa, TlsFront, self_signed};
use support::{TestDns, addr};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "mta-sts-test-token";

/// The binary backing up example.test by MX, delivering to `front`, asking `dns`.
async fn start(dns: &TestDns, front: &TlsFront, extra_delivery: Vec<String>) -> Server {
    let mut settings = by_mx::settings(dns, front);
    settings.delivery_extra = extra_delivery;
    Server::with_api_token(settings, TOKEN).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforce_policy_defers_on_an_invalid_certificate_and_delivers_on_a_valid_one() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let policy =
        PolicyServer::start(ca.acceptor(&["mta-sts.example.test"]), &enforce(&[PRIMARY])).await;
    let dns = TestDns::start(&zone(&[
        addr("mta-sts.example.test", "127.0.0.1"),
        txt("_mta-sts.example.test", "v=STSv1; id=1;"),
    ]))
    .await;
    let sink = SmtpSink::start().await;
    let invalid = TlsFront::start(
        sink.addr(),
        FrontTls::Terminate(self_signed(&[PRIMARY]).acceptor()),
    )
    .await;
    let delivery = vec![
        format!("tls_ca_file = {:?}", ca_file.display().to_string()),
        format!("mta_sts_port = {}", policy.addr().port()),
    ];
    let mut server = start(&dns, &invalid, delivery).await;
    let body = send(&server, "auto-policy").await;

    let result = first_result(&server, TOKEN).await;
    assert!(
        result.contains("4.7.5") && result.contains("TLS"),
        "{result}"
    );
    assert!(invalid.starttls() >= 1, "STARTTLS was tried");
    assert!(policy.requests() >= 1, "the policy was fetched");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        sink.messages().is_empty(),
        "sent despite the policy: {:?}",
        sink.messages()
    );
    assert!(
        !server.log().contains("retrying without TLS"),
        "{}",
        server.log()
    );

    // The primary now shows a certificate valid for its name: delivered over TLS.
    let valid = TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(&[PRIMARY]))).await;
    server.settings.delivery_port = valid.addr().port();
    server.restart().await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert!(valid.tls_sessions() >= 1, "delivered over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enforce_policy_not_listing_the_primary_defers_without_connecting() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(dir.path());
    let policy = PolicyServer::start(
        ca.acceptor(&["mta-sts.example.test"]),
        &enforce(&["other.example.test"]),
    )
    .await;
    let dns = TestDns::start(&zone(&[
        addr("mta-sts.example.test", "127.0.0.1"),
        txt("_mta-sts.example.test", "v=STSv1; id=1;"),
    ]))
    .await;
    let sink = SmtpSink::start().await;
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(ca.acceptor(&[PRIMARY]))).await;
    let delivery = vec![
        format!("tls_ca_file = {:?}", ca_file.display().to_string()),
        format!("mta_sts_port = {}", policy.addr().port()),
    ];
    let server = start(&dns, &front, delivery).await;
    send(&server, "auto-policy").await;
    let result = first_result(&server, TOKEN).await;
    assert!(
        result.contains("4.7.5") && result.contains("MTA-STS"),
        "{result}"
    );
    assert!(result.contains("not an mx"), "{result}");
    assert_eq!(
        front.connections(),
        0,
        "connected to a host the policy forbids"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validated_tlsa_records_decide_the_certificate() {
    let sink = SmtpSink::start().await;
    let certificate = self_signed(&["whatever.invalid"]);
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(certificate.acceptor())).await;
    let tlsa_name = format!("_25._tcp.{PRIMARY}");

    // A record that matches nothing: deferred, never in clear.
    let dns = TestDns::start(&zone(&[tlsa(&tlsa_name, 3, 1, 1, &[9; 32])])).await;
    dns.authenticate(&tlsa_name);
    let server = start(&dns, &front, Vec::new()).await;
    send(&server, "auto-policy").await;
    let result = first_result(&server, TOKEN).await;
    assert!(
        result.contains("4.7.5") && result.contains("DANE"),
        "{result}"
    );
    assert!(sink.messages().is_empty());
    drop(server);

    // The record of the certificate (3 1 1): a self-signed certificate for another name is fine.
    let record = ee_record(&certificate.der).unwrap();
    let dns = TestDns::start(&zone(&[tlsa(&tlsa_name, 3, 1, 1, &record.data)])).await;
    dns.authenticate(&tlsa_name);
    let server = start(&dns, &front, Vec::new()).await;
    let body = send(&server, "auto-policy").await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert!(front.tls_sessions() >= 1);
    drop(server);
}
