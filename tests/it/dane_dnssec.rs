//! DANE with DNSSEC validated by backupmx itself (`[dns] dnssec = "validate"`, issue 17): the
//! test DNS server serves a zone signed with a key made for the test (DNSKEY, RRSIG, NSEC; see
//! `support::dnssec`) and backupmx is given that key as its trust anchor (`[dns] trust_anchor`).
//! A correct TLSA record validates: the readiness `dane` check says so (in-process and through
//! `check-dns --json`) and delivery uses DANE (a wrong certificate defers, a right one delivers).
//! A record whose signature does not verify (forged after signing), or a zone signed with another
//! key, is bogus: the check fails and the mail is deferred without connecting, never sent in clear.
//! A signed child zone validates through its DS record in the root (and a DS for another key is
//! bogus); an unsigned domain delegated from the signed root is insecure, not bogus: its mail flows.
//! The `"resolver"` mode (the AD bit) keeps its own tests in `readiness.rs` and `e2e_mta_sts.rs`.

use crate::readiness::{PRIMARY, US, World, assert_check, run_check_dns, write_config};
use crate::support;

use std::path::Path;
use std::time::Duration;

use backupmx::delivery::dane::ee_record;
use backupmx::readiness::{Status, Verdict};
use support::SmtpSink;
use support::admin::api_get;
use support::config::{Domain, Settings};
use support::dns::{TestRecord, tlsa};
use support::dnssec::ZoneKey;
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received};
use support::server::Server;
use support::tls_front::{FrontTls, TlsFront, self_signed};
use support::{TestDns, addr, mx};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "dnssec-test-token";

/// The `[dns]` lines that make backupmx validate from `anchor`.
fn validate_lines(anchor: &Path) -> Vec<String> {
    vec![
        "dnssec = \"validate\"".to_owned(),
        format!("trust_anchor = {:?}", anchor.display().to_string()),
    ]
}

/// `toml` (whose `[dns]` table is followed by `[delivery]`) with backupmx validating from `anchor`.
fn validating(toml: &str, anchor: &Path) -> String {
    toml.replacen(
        "[delivery]",
        &format!("{}\n[delivery]", validate_lines(anchor).join("\n")),
        1,
    )
}

fn our_tlsa_name() -> String {
    format!("_25._tcp.{US}")
}

/// The world's records without TLSA records, plus `tlsa`.
fn with_tlsa(world: &World, tlsa_records: &[TestRecord]) -> Vec<TestRecord> {
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    records.extend_from_slice(tlsa_records);
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_tlsa_records_validated_by_backupmx() {
    let world = World::new().await;
    let key = ZoneKey::generate();
    let anchor = key.write_trust_anchor(world.dir.path());
    let dns = TestDns::start_signed(&world.records(), &key).await;
    let toml = validating(&world.toml(&dns), &anchor);

    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Ok,
        &[
            "matches the TLSA records of _25._tcp.mx2.example.net",
            "validated by backupmx",
        ],
    );
    assert_eq!(readiness.verdict, Verdict::Ready, "{readiness}");

    // The same signed zone in the default mode: the test server is authoritative, not a
    // validating resolver, so no AD bit: the records are not taken as validated.
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Warn, &["no AD bit"]);

    // A validated record our certificate does not match.
    let wrong = [tlsa(&our_tlsa_name(), 3, 1, 1, &[7; 32])];
    let dns = TestDns::start_signed(&with_tlsa(&world, &wrong), &key).await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Fail,
        &["matches none", "3 1 1 0707"],
    );

    // Only the primary publishes (validated) records; ours are proven absent (NSEC).
    let primary = [tlsa(&format!("_25._tcp.{PRIMARY}"), 3, 1, 1, &[7; 32])];
    let dns = TestDns::start_signed(&with_tlsa(&world, &primary), &key).await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Warn, &[PRIMARY, "has none"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_or_a_zone_signed_with_another_key_is_bogus() {
    let world = World::new().await;
    let key = ZoneKey::generate();
    let anchor = key.write_trust_anchor(world.dir.path());

    // Signed with [7; 32], then the data replaced by our certificate's record (which would
    // match): the signature no longer verifies.
    let ours = ee_record(&world.ours.der).unwrap();
    let signed = [tlsa(&our_tlsa_name(), 3, 1, 1, &[7; 32])];
    let forged = [tlsa(&our_tlsa_name(), 3, 1, 1, &ours.data)];
    let dns = TestDns::start_forged(&with_tlsa(&world, &signed), &key, &forged).await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Fail,
        &["DNSSEC validation failed", "bogus", "will not deliver"],
    );
    assert_eq!(readiness.verdict, Verdict::Broken);

    // The whole zone signed with a key the anchor does not name.
    let other = ZoneKey::generate();
    let dns = TestDns::start_signed(&world.records(), &other).await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Fail,
        &["DNSSEC validation failed"],
    );

    // No signatures at all (a zone that should be signed, or nameservers that strip DNSSEC
    // records): not secure, and nothing proves the zone unsigned either.
    let mut unsigned_records = world.records();
    unsigned_records.retain(|r| !r.name.starts_with("_25._tcp"));
    for records in [world.records(), unsigned_records] {
        let dns = TestDns::start(&records).await;
        let toml = validating(&world.toml(&dns), &anchor);
        let readiness = world.assess_config(&toml, Some(&world.ours)).await;
        assert_check(
            &readiness,
            "dane",
            Status::Fail,
            &["DNSSEC validation failed"],
        );
    }
}

/// Our name in a signed zone of its own (`example.net`), delegated from the signed root with a
/// DS record: the chain of trust runs root key (the anchor) -> DS -> the zone's key -> TLSA. With
/// a DS record for another key the chain breaks: bogus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_trust_through_a_ds_record_validates_and_a_wrong_ds_is_bogus() {
    let world = World::new().await;
    let root_key = ZoneKey::generate();
    let anchor = root_key.write_trust_anchor(world.dir.path());
    let child_key = ZoneKey::generate();
    let (child, root): (Vec<TestRecord>, Vec<TestRecord>) = world
        .records()
        .into_iter()
        .partition(|r| r.name.ends_with("example.net"));
    assert_eq!(child.len(), 2, "mx2.example.net A and its TLSA record");

    let dns = TestDns::start_delegated_signed(
        &root,
        &root_key,
        "example.net",
        &child,
        &child_key,
        &child_key,
    )
    .await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Ok, &["validated by backupmx"]);
    assert_eq!(readiness.verdict, Verdict::Ready, "{readiness}");

    let stranger = ZoneKey::generate();
    let dns = TestDns::start_delegated_signed(
        &root,
        &root_key,
        "example.net",
        &child,
        &child_key,
        &stranger,
    )
    .await;
    let toml = validating(&world.toml(&dns), &anchor);
    let readiness = world.assess_config(&toml, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Fail,
        &["DNSSEC validation failed"],
    );
}

/// `check-dns --json` through the real binary with `dnssec = "validate"`: the validated record is
/// reported, and a bogus one breaks the verdict (exit 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_dns_validates_with_the_configured_trust_anchor() {
    let world = World::new().await;
    let key = ZoneKey::generate();
    let anchor = key.write_trust_anchor(world.dir.path());
    let dns = TestDns::start_signed(&world.records(), &key).await;
    let file = write_config(&world, &dns, &world.ours);
    let toml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, validating(&toml, &anchor)).unwrap();
    let (code, out) = run_check_dns(&file, true).await;
    let json: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(code, 0, "{json:#}");
    let dane = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dane")
        .cloned()
        .unwrap();
    assert_eq!(dane["status"], "ok", "{dane}");
    assert!(
        dane["detail"]
            .as_str()
            .unwrap()
            .contains("validated by backupmx"),
        "{dane}"
    );

    // The anchor of another key: everything signed is bogus.
    let other = ZoneKey::generate();
    let other_dir = tempfile::tempdir().unwrap();
    let other_anchor = other.write_trust_anchor(other_dir.path());
    std::fs::write(&file, validating(&toml, &other_anchor)).unwrap();
    let (code, out) = run_check_dns(&file, false).await;
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("FAIL dane"), "{out}");
    assert!(out.contains("DNSSEC validation failed"), "{out}");
}

fn zone(extra: &[TestRecord]) -> Vec<TestRecord> {
    let mut records = vec![
        mx("example.test", 10, "mail.example.test"),
        mx("example.test", 20, "mx2.example.test"),
        addr("mail.example.test", "127.0.0.1"),
        addr("mx2.example.test", "127.0.0.1"),
    ];
    records.extend_from_slice(extra);
    records
}

/// The binary backing up example.test by MX, delivering to `front`, validating DNSSEC from
/// `anchor` with `dns`.
async fn start(dns: &TestDns, front: &TlsFront, anchor: &Path) -> Server {
    let mut settings = Settings::new(None);
    settings.domains = vec![Domain::by_mx("example.test")];
    settings.nameservers = vec![dns.addr()];
    settings.dns_extra = validate_lines(anchor);
    settings.delivery_port = front.addr().port();
    Server::with_api_token(settings, TOKEN).await
}

async fn send(server: &Server) -> Vec<u8> {
    let body = message("dnssec-dane", "user@example.test");
    let smtp = server.settings.smtp_addr();
    let sent = send_one(smtp, "sender@sender.test", &["user@example.test"], &body).await;
    assert_eq!(sent.data.map(|d| d.code), Some(250), "not accepted");
    body
}

/// The first attempt's result of the first queued message, once there is one.
async fn first_result(server: &Server) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let queue = api_get(server.admin_addr(), TOKEN, "/api/v1/queue").await;
        if let Some(id) = queue["messages"][0]["id"].as_str() {
            let detail = api_get(server.admin_addr(), TOKEN, &format!("/api/v1/queue/{id}")).await;
            if let Some(text) = detail["history"][0]["result"].as_str() {
                return text.to_owned();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failed attempt in the history\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_uses_dane_only_on_records_backupmx_validated() {
    let key = ZoneKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let anchor = key.write_trust_anchor(dir.path());
    let sink = SmtpSink::start().await;
    // Self-signed for another name: only DANE (3 1 1) can vouch for it.
    let certificate = self_signed(&["whatever.invalid"]);
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(certificate.acceptor())).await;
    let tlsa_name = "_25._tcp.mail.example.test";
    let right = ee_record(&certificate.der).unwrap();

    // A validated record that matches nothing: deferred, never in clear.
    let dns = TestDns::start_signed(&zone(&[tlsa(tlsa_name, 3, 1, 1, &[9; 32])]), &key).await;
    let server = start(&dns, &front, &anchor).await;
    send(&server).await;
    let result = first_result(&server).await;
    assert!(
        result.contains("4.7.5") && result.contains("DANE"),
        "{result}"
    );
    assert!(sink.messages().is_empty());
    drop(server);

    // The right record, but forged over a signature made for another: bogus, so the host is
    // not even connected to (neither DANE nor a fallback to opportunistic TLS or clear text).
    let connections = front.connections();
    let dns = TestDns::start_forged(
        &zone(&[tlsa(tlsa_name, 3, 1, 1, &[9; 32])]),
        &key,
        &[tlsa(tlsa_name, 3, 1, 1, &right.data)],
    )
    .await;
    let server = start(&dns, &front, &anchor).await;
    send(&server).await;
    let result = first_result(&server).await;
    assert!(
        result.contains("4.7.5") && result.contains("DNSSEC validation failed"),
        "{result}"
    );
    assert_eq!(
        front.connections(),
        connections,
        "connected despite a bogus TLSA answer"
    );
    assert!(sink.messages().is_empty());
    drop(server);

    // The right record, validated: delivered over TLS to a certificate no CA vouches for.
    let dns = TestDns::start_signed(&zone(&[tlsa(tlsa_name, 3, 1, 1, &right.data)]), &key).await;
    let server = start(&dns, &front, &anchor).await;
    let body = send(&server).await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert!(front.tls_sessions() >= 1);
    drop(server);
}

/// An unsigned domain under the signed root (NS without DS, the absence proven by the root's
/// NSEC records): its TLSA records are insecure, not bogus. DANE does not apply (a record that
/// matches nothing is ignored, as DANE senders ignore it) and the mail goes out with
/// opportunistic TLS: validating does not stop mail to the many unsigned domains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_domain_under_the_signed_root_is_insecure_and_gets_its_mail() {
    let key = ZoneKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let anchor = key.write_trust_anchor(dir.path());
    let sink = SmtpSink::start().await;
    let certificate = self_signed(&["whatever.invalid"]);
    let front = TlsFront::start(sink.addr(), FrontTls::Terminate(certificate.acceptor())).await;
    let unsigned = zone(&[tlsa("_25._tcp.mail.example.test", 3, 1, 1, &[9; 32])]);
    let dns = TestDns::start_delegated(&[], &key, "example.test", &unsigned).await;
    let server = start(&dns, &front, &anchor).await;
    let body = send(&server).await;
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(strip_first_received(&got[0].data), &body[..]);
    assert!(front.tls_sessions() >= 1, "opportunistic TLS was not used");
    // Insecure, not a failed look-up (which would also fall back to opportunistic TLS).
    let log = server.log();
    assert!(!log.contains("DNSSEC validation failed"), "{log}");
    assert!(!log.contains("TLSA look-up failed"), "{log}");
}
