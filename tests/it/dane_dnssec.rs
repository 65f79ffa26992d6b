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

use crate::readiness::{PRIMARY, US, World, assert_check, write_config};
use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use backupmx::delivery::dane::ee_record;
use backupmx::readiness::{Readiness, Status, Verdict};
use support::SmtpSink;
use support::TestDns;
use support::dns::{TestRecord, tlsa};
use support::dnssec::ZoneKey;
use support::e2e::by_mx::{self, first_result, send, zone};
use support::e2e::mail::strip_first_received;
use support::server::{Server, check_dns};
use support::tls_front::{FrontTls, Issued, TlsFront, self_signed};

const WAIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "dnssec-test-token";
/// The id of the message the delivery tests send.
const MESSAGE: &str = "dnssec-dane";

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

/// A readiness world whose (root) zone key is backupmx's trust anchor.
struct Anchored {
    world: World,
    key: ZoneKey,
    anchor: PathBuf,
}

impl Anchored {
    async fn new() -> Anchored {
        let world = World::new().await;
        let key = ZoneKey::generate();
        let anchor = key.write_trust_anchor(world.dir.path());
        Anchored { world, key, anchor }
    }

    /// The readiness of the world asking `dns`, with backupmx validating from the anchor; asserts
    /// the `dane` check's `status` and the `words` of its detail.
    async fn assert_dane(&self, dns: &TestDns, status: Status, words: &[&str]) -> Readiness {
        let world = &self.world;
        let toml = validating(&world.toml(dns), &self.anchor);
        let readiness = world.assess_config(&toml, Some(&world.ours)).await;
        assert_check(&readiness, "dane", status, words);
        readiness
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_tlsa_records_validated_by_backupmx() {
    let anchored = Anchored::new().await;
    let (world, key) = (&anchored.world, &anchored.key);
    let dns = TestDns::start_signed(&world.records(), key).await;
    let readiness = anchored
        .assert_dane(
            &dns,
            Status::Ok,
            &[
                "matches the TLSA records of _25._tcp.mx2.example.net",
                "validated by backupmx",
            ],
        )
        .await;
    assert_eq!(readiness.verdict, Verdict::Ready, "{readiness}");

    // The same signed zone in the default mode: the test server is authoritative, not a
    // validating resolver, so no AD bit: the records are not taken as validated.
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Warn, &["no AD bit"]);

    // A validated record our certificate does not match.
    let wrong = [tlsa(&our_tlsa_name(), 3, 1, 1, &[7; 32])];
    let dns = TestDns::start_signed(&with_tlsa(world, &wrong), key).await;
    anchored
        .assert_dane(&dns, Status::Fail, &["matches none", "3 1 1 0707"])
        .await;

    // Only the primary publishes (validated) records; ours are proven absent (NSEC).
    let primary = [tlsa(&format!("_25._tcp.{PRIMARY}"), 3, 1, 1, &[7; 32])];
    let dns = TestDns::start_signed(&with_tlsa(world, &primary), key).await;
    anchored
        .assert_dane(&dns, Status::Warn, &[PRIMARY, "has none"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_record_or_a_zone_signed_with_another_key_is_bogus() {
    let anchored = Anchored::new().await;
    let (world, key) = (&anchored.world, &anchored.key);

    // Signed with [7; 32], then the data replaced by our certificate's record (which would
    // match): the signature no longer verifies.
    let ours = ee_record(&world.ours.der).unwrap();
    let signed = [tlsa(&our_tlsa_name(), 3, 1, 1, &[7; 32])];
    let forged = [tlsa(&our_tlsa_name(), 3, 1, 1, &ours.data)];
    let dns = TestDns::start_forged(&with_tlsa(world, &signed), key, &forged).await;
    let readiness = anchored
        .assert_dane(
            &dns,
            Status::Fail,
            &["DNSSEC validation failed", "bogus", "will not deliver"],
        )
        .await;
    assert_eq!(readiness.verdict, Verdict::Broken);

    // The whole zone signed with a key the anchor does not name.
    let other = ZoneKey::generate();
    let dns = TestDns::start_signed(&world.records(), &other).await;
    anchored
        .assert_dane(&dns, Status::Fail, &["DNSSEC validation failed"])
        .await;

    // No signatures at all (a zone that should be signed, or nameservers that strip DNSSEC
    // records): not secure, and nothing proves the zone unsigned either.
    for records in [world.records(), with_tlsa(world, &[])] {
        let dns = TestDns::start(&records).await;
        anchored
            .assert_dane(&dns, Status::Fail, &["DNSSEC validation failed"])
            .await;
    }
}

/// Our name in a signed zone of its own (`example.net`), delegated from the signed root with a
/// DS record: the chain of trust runs root key (the anchor) -> DS -> the zone's key -> TLSA. With
/// a DS record for another key the chain breaks: bogus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_trust_through_a_ds_record_validates_and_a_wrong_ds_is_bogus() {
    let anchored = Anchored::new().await;
    let root_key = &anchored.key;
    let child_key = ZoneKey::generate();
    let (child, root): (Vec<TestRecord>, Vec<TestRecord>) = anchored
        .world
        .records()
        .into_iter()
        .partition(|r| r.name.ends_with("example.net"));
    assert_eq!(child.len(), 2, "mx2.example.net A and its TLSA record");
    // The root publishes the DS record of `ds_key` for the child zone signed with `child_key`.
    let delegated_with_ds = async |ds_key: &ZoneKey| {
        TestDns::start_delegated_signed(&root, root_key, "example.net", &child, &child_key, ds_key)
            .await
    };

    let dns = delegated_with_ds(&child_key).await;
    let readiness = anchored
        .assert_dane(&dns, Status::Ok, &["validated by backupmx"])
        .await;
    assert_eq!(readiness.verdict, Verdict::Ready, "{readiness}");

    let dns = delegated_with_ds(&ZoneKey::generate()).await;
    anchored
        .assert_dane(&dns, Status::Fail, &["DNSSEC validation failed"])
        .await;
}

/// `check-dns --json` through the real binary with `dnssec = "validate"`: the validated record is
/// reported, and a bogus one breaks the verdict (exit 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_dns_validates_with_the_configured_trust_anchor() {
    let Anchored { world, key, anchor } = Anchored::new().await;
    let dns = TestDns::start_signed(&world.records(), &key).await;
    let file = write_config(&world, &dns, &world.ours);
    let toml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, validating(&toml, &anchor)).unwrap();
    let (code, out) = check_dns("example.com", &file, true).await;
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
    let (code, out) = check_dns("example.com", &file, false).await;
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("FAIL dane"), "{out}");
    assert!(out.contains("DNSSEC validation failed"), "{out}");
}

/// The delivery tests' world: a zone key that is backupmx's trust anchor, and the primary of
/// example.test (a sink behind a TLS front) with a self-signed certificate for another name, so
/// only DANE (3 1 1) can vouch for it.
struct Delivery {
    key: ZoneKey,
    anchor: PathBuf,
    sink: SmtpSink,
    certificate: Issued,
    front: TlsFront,
    _dir: tempfile::TempDir,
}

impl Delivery {
    async fn new() -> Delivery {
        let key = ZoneKey::generate();
        let dir = tempfile::tempdir().unwrap();
        let anchor = key.write_trust_anchor(dir.path());
        let sink = SmtpSink::start().await;
        let certificate = self_signed(&["whatever.invalid"]);
        let front = TlsFront::start(sink.addr(), FrontTls::Terminate(certificate.acceptor())).await;
        Delivery {
            key,
            anchor,
            sink,
            certificate,
            front,
            _dir: dir,
        }
    }

    /// The binary backing up example.test by MX, delivering to the front, validating DNSSEC from
    /// the anchor with `dns`.
    async fn start(&self, dns: &TestDns) -> Server {
        let mut settings = by_mx::settings(dns, &self.front);
        settings.dns_extra = validate_lines(&self.anchor);
        Server::with_api_token(settings, TOKEN).await
    }

    /// Sends a message through a server asking `dns`, and returns its first attempt's result.
    async fn first_result(&self, dns: &TestDns) -> String {
        let server = self.start(dns).await;
        send(&server, MESSAGE).await;
        first_result(&server, TOKEN).await
    }

    /// Sends a message through a server asking `dns`, and asserts that it reached the primary
    /// unchanged over TLS; returns the server.
    async fn delivers(&self, dns: &TestDns) -> Server {
        let server = self.start(dns).await;
        let body = send(&server, MESSAGE).await;
        let got = self.sink.wait_for(1, WAIT).await;
        assert_eq!(strip_first_received(&got[0].data), &body[..]);
        assert!(self.front.tls_sessions() >= 1, "TLS was not used");
        server
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_uses_dane_only_on_records_backupmx_validated() {
    let delivery = Delivery::new().await;
    let (key, front, sink) = (&delivery.key, &delivery.front, &delivery.sink);
    let tlsa_name = "_25._tcp.mail.example.test";
    let right = ee_record(&delivery.certificate.der).unwrap();

    // A validated record that matches nothing: deferred, never in clear.
    let dns = TestDns::start_signed(&zone(&[tlsa(tlsa_name, 3, 1, 1, &[9; 32])]), key).await;
    let result = delivery.first_result(&dns).await;
    assert!(
        result.contains("4.7.5") && result.contains("DANE"),
        "{result}"
    );
    assert!(sink.messages().is_empty());

    // The right record, but forged over a signature made for another: bogus, so the host is
    // not even connected to (neither DANE nor a fallback to opportunistic TLS or clear text).
    let connections = front.connections();
    let dns = TestDns::start_forged(
        &zone(&[tlsa(tlsa_name, 3, 1, 1, &[9; 32])]),
        key,
        &[tlsa(tlsa_name, 3, 1, 1, &right.data)],
    )
    .await;
    let result = delivery.first_result(&dns).await;
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

    // The right record, validated: delivered over TLS to a certificate no CA vouches for.
    let dns = TestDns::start_signed(&zone(&[tlsa(tlsa_name, 3, 1, 1, &right.data)]), key).await;
    delivery.delivers(&dns).await;
}

/// An unsigned domain under the signed root (NS without DS, the absence proven by the root's
/// NSEC records): its TLSA records are insecure, not bogus. DANE does not apply (a record that
/// matches nothing is ignored, as DANE senders ignore it) and the mail goes out with
/// opportunistic TLS: validating does not stop mail to the many unsigned domains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_domain_under_the_signed_root_is_insecure_and_gets_its_mail() {
    let delivery = Delivery::new().await;
    let unsigned = zone(&[tlsa("_25._tcp.mail.example.test", 3, 1, 1, &[9; 32])]);
    let dns = TestDns::start_delegated(&[], &delivery.key, "example.test", &unsigned).await;
    let server = delivery.delivers(&dns).await;
    // Insecure, not a failed look-up (which would also fall back to opportunistic TLS).
    let log = server.log();
    assert!(!log.contains("DNSSEC validation failed"), "{log}");
    assert!(!log.contains("TLSA look-up failed"), "{log}");
}
