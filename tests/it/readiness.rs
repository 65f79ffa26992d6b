//! The readiness checks (issue 17) against a real DNS server (MX, A, PTR, TXT, TLSA records; the AD
//! bit standing in for DNSSEC, see `support::dns`), a real HTTPS MTA-STS policy server whose
//! certificate comes from a test CA that backupmx trusts through `[delivery] tls_ca_file`, and real
//! certificates: each check passing, then failing the way the issue names (a policy without our
//! name, an expired certificate, a wrong TLSA record...). Then the same result through the real
//! binary: `check-dns --json`, `GET /api/v1/domains/{name}/readiness` and the metrics.

use crate::support;

use std::net::SocketAddr;
use std::path::PathBuf;

use backupmx::config::Config;
use backupmx::delivery::Deliverer;
use backupmx::delivery::dane::ee_record;
use backupmx::readiness::{Gatherer, Readiness, Status, Verdict};
use support::dns::{TestRecord, ptr, tlsa, txt};
use support::mta_sts::{PolicyServer, enforce, policy};
use support::server::check_dns;
use support::tls_front::{Issued, TestCa};
use support::{TestDns, addr, mx};
use tempfile::TempDir;

pub(crate) const US: &str = "mx2.example.net";
pub(crate) const PRIMARY: &str = "mail.example.com";

/// The world of one test: DNS, the policy server, the CA and our certificate.
pub(crate) struct World {
    pub(crate) ca: TestCa,
    pub(crate) dir: TempDir,
    pub(crate) ca_file: PathBuf,
    pub(crate) policy: PolicyServer,
    pub(crate) ours: Issued,
    pub(crate) listen: SocketAddr,
}

impl World {
    pub(crate) async fn new() -> World {
        let ca = TestCa::new();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = ca.write_pem(dir.path());
        let policy = PolicyServer::start(
            ca.acceptor(&["mta-sts.example.com"]),
            &enforce(&[PRIMARY, US]),
        )
        .await;
        let ours = ca.issue(&[US]);
        let listen = SocketAddr::from(([127, 0, 0, 1], support::config::free_port()));
        World {
            ca,
            dir,
            ca_file,
            policy,
            ours,
            listen,
        }
    }

    /// Everything right: MX 10 primary / 20 us, both 127.0.0.1, PTR back to us, an MTA-STS record,
    /// TLSA records for us matching our certificate.
    pub(crate) fn records(&self) -> Vec<TestRecord> {
        let ours = ee_record(&self.ours.der).unwrap();
        vec![
            mx("example.com", 10, PRIMARY),
            mx("example.com", 20, US),
            addr(PRIMARY, "127.0.0.1"),
            addr(US, "127.0.0.1"),
            addr("mta-sts.example.com", "127.0.0.1"),
            ptr("127.0.0.1", US),
            txt("_mta-sts.example.com", "v=STSv1; id=20261202;"),
            tlsa(&format!("_25._tcp.{US}"), 3, 1, 1, &ours.data),
        ]
    }

    /// The config text of `mx2.example.net` backing up example.com.
    pub(crate) fn toml(&self, dns: &TestDns) -> String {
        format!(
            "hostname = \"{US}\"\n\
             [smtp]\nlisten = [\"{listen}\"]\n\
             [spool]\ndir = \"{spool}\"\n\
             [dns]\nnameservers = [\"{dns}\"]\n\
             [delivery]\ntls_ca_file = \"{ca}\"\nmta_sts_port = {port}\n\
             [[domain]]\nname = \"example.com\"\n",
            listen = self.listen,
            spool = self.dir.path().join("spool").display(),
            dns = dns.addr(),
            ca = self.ca_file.display(),
            port = self.policy.addr().port(),
        )
    }

    pub(crate) async fn assess(&self, dns: &TestDns, certificate: Option<&Issued>) -> Readiness {
        self.assess_config(&self.toml(dns), certificate).await
    }

    /// The readiness of example.com under the config `toml`.
    pub(crate) async fn assess_config(
        &self,
        toml: &str,
        certificate: Option<&Issued>,
    ) -> Readiness {
        let config = Config::from_toml_str(toml, "test.toml").unwrap();
        let deliverer = Deliverer::new(&config).unwrap();
        let gatherer = Gatherer::new(&config, deliverer).unwrap();
        let chain = certificate.map(|c| vec![c.der.clone()]);
        let readiness = gatherer.assess("example.com", chain).await;
        println!("{readiness}");
        readiness
    }
}

/// A signed zone: the TLSA names are answered with the AD bit.
async fn signed(records: &[TestRecord]) -> TestDns {
    let dns = TestDns::start(records).await;
    dns.authenticate(&format!("_25._tcp.{US}"));
    dns.authenticate(&format!("_25._tcp.{PRIMARY}"));
    dns
}

pub(crate) fn check<'r>(readiness: &'r Readiness, name: &str) -> &'r backupmx::readiness::Check {
    readiness
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check in {readiness:?}"))
}

pub(crate) fn assert_check(readiness: &Readiness, name: &str, status: Status, words: &[&str]) {
    let found = check(readiness, name);
    assert_eq!(found.status, status, "{name}: {found:?}");
    for word in words {
        assert!(
            found.detail.contains(word),
            "{name}: {:?} lacks {word:?}",
            found.detail
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_passes_when_everything_is_right() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    let names: Vec<&str> = readiness.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        ["mx", "address", "fcrdns", "certificate", "mta_sts", "dane"]
    );
    assert_check(&readiness, "mx", Status::Ok, &[US, "20", PRIMARY]);
    assert_check(&readiness, "address", Status::Ok, &["127.0.0.1"]);
    assert_check(
        &readiness,
        "fcrdns",
        Status::Ok,
        &["127.0.0.1 -> mx2.example.net -> 127.0.0.1"],
    );
    assert_check(
        &readiness,
        "certificate",
        Status::Ok,
        &["valid for mx2.example.net", "backupmx test CA"],
    );
    assert_check(&readiness, "mta_sts", Status::Ok, &["mode enforce", US]);
    assert_check(&readiness, "dane", Status::Ok, &["matches"]);
    assert_eq!(readiness.verdict, Verdict::Ready);
    assert!(world.policy.requests() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_our_name_fails_and_says_its_mode() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    world.policy.set(&enforce(&[PRIMARY]));
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mta_sts",
        Status::Fail,
        &["mode enforce", "matches no mx line", "will not deliver"],
    );
    assert_eq!(readiness.verdict, Verdict::Broken);
    assert_eq!(readiness.worst_checks(), ["mta_sts"]);

    world.policy.set(&policy("testing", &["*.example.com"]));
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mta_sts",
        Status::Fail,
        &["mode testing", "report failures"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mta_sts_record_skips_and_an_unfetchable_policy_fails() {
    let world = World::new().await;
    let mut records = world.records();
    records.retain(|r| r.name != "_mta-sts.example.com");
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mta_sts",
        Status::Skip,
        &["no _mta-sts.example.com TXT record"],
    );

    // The record exists but mta-sts.example.com has no address.
    let mut records = world.records();
    records.retain(|r| r.name != "mta-sts.example.com");
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mta_sts",
        Status::Fail,
        &["cannot be fetched", "mta-sts.example.com"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_fails_and_so_does_the_enforce_policy() {
    let world = World::new().await;
    let expired = world.ca.issue_valid(&[US], -90 * 86_400, -86_400);
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&expired)).await;
    assert_check(&readiness, "certificate", Status::Fail, &["expired on"]);
    assert_check(
        &readiness,
        "mta_sts",
        Status::Fail,
        &["would not pass", "expired"],
    );
    assert_eq!(readiness.worst_checks(), ["certificate", "mta_sts"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_near_expiry_for_another_name_or_missing() {
    let world = World::new().await;
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    let dns = signed(&records).await;

    let expiring = world.ca.issue_valid(&[US], -86_400, 10 * 86_400);
    let readiness = world.assess(&dns, Some(&expiring)).await;
    assert_check(
        &readiness,
        "certificate",
        Status::Warn,
        &["expires on", " days"],
    );
    assert_check(&readiness, "mta_sts", Status::Ok, &[]);
    assert_eq!(readiness.verdict, Verdict::Warning);

    let other = world.ca.issue(&["other.example.net"]);
    let readiness = world.assess(&dns, Some(&other)).await;
    assert_check(
        &readiness,
        "certificate",
        Status::Fail,
        &["not valid for mx2.example.net"],
    );

    let self_signed = support::tls_front::self_signed(&[US]);
    let readiness = world.assess(&dns, Some(&self_signed)).await;
    assert_check(
        &readiness,
        "certificate",
        Status::Fail,
        &["not a trusted CA"],
    );

    let readiness = world.assess(&dns, None).await;
    assert_check(&readiness, "certificate", Status::Fail, &["no certificate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dane_fails_on_a_wrong_record_and_warns_when_unsigned_or_only_the_primary_has_one() {
    let world = World::new().await;
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    records.push(tlsa(&format!("_25._tcp.{US}"), 3, 1, 1, &[7; 32]));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "dane",
        Status::Fail,
        &[
            "matches none",
            "3 1 1 0707",
            "publish _25._tcp.mx2.example.net IN TLSA 3 1 1",
        ],
    );

    // The same record without the AD bit: senders ignore it.
    let unsigned = TestDns::start(&records).await;
    let readiness = world.assess(&unsigned, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Warn, &["not DNSSEC-validated"]);

    // Only the primary publishes TLSA records.
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    records.push(tlsa(&format!("_25._tcp.{PRIMARY}"), 3, 1, 1, &[7; 32]));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Warn, &[PRIMARY, "has none"]);

    // Nobody does.
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(&readiness, "dane", Status::Skip, &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_dns_must_lead_back_to_the_address() {
    let world = World::new().await;
    let mut records = world.records();
    records.retain(|r| !r.name.contains("in-addr.arpa"));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(&readiness, "fcrdns", Status::Fail, &["127.0.0.1: no PTR"]);

    records.push(ptr("127.0.0.1", "elsewhere.example.org"));
    let dns = signed(&records).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "fcrdns",
        Status::Fail,
        &["elsewhere.example.org, which does not resolve back"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_preferences_and_our_address_are_checked() {
    let world = World::new().await;
    let swapped: Vec<TestRecord> = world
        .records()
        .into_iter()
        .filter(|r| r.name != "example.com")
        .chain([mx("example.com", 10, US), mx("example.com", 20, PRIMARY)])
        .collect();
    let dns = signed(&swapped).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mx",
        Status::Fail,
        &["no host is more preferred"],
    );

    let unlisted: Vec<TestRecord> = world
        .records()
        .into_iter()
        .filter(|r| !(r.name == "example.com" && format!("{:?}", r.data).contains(US)))
        .collect();
    let dns = signed(&unlisted).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "mx",
        Status::Fail,
        &["no MX record names this host"],
    );
    assert_check(&readiness, "address", Status::Skip, &[]);

    // Our MX name points at an address we do not listen on.
    let elsewhere: Vec<TestRecord> = world
        .records()
        .into_iter()
        .filter(|r| r.name != US)
        .chain([addr(US, "127.0.0.2")])
        .collect();
    let dns = signed(&elsewhere).await;
    let readiness = world.assess(&dns, Some(&world.ours)).await;
    assert_check(
        &readiness,
        "address",
        Status::Fail,
        &["127.0.0.2", "listens only on 127.0.0.1"],
    );
}

/// `check-dns --json` through the real binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_dns_json_prints_the_readiness() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    let file = write_config(&world, &dns, &world.ours);
    let (code, stdout) = check_dns("example.com", &file, true).await;
    assert_eq!(code, 0, "ready: exit 0");
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json["domain"], "example.com");
    assert_eq!(json["verdict"], "ready", "{json:#}");
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    for check in checks {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "name", "status"]);
        assert_eq!(check["status"], "ok", "{check}");
    }
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "domain", "verdict"]);

    // The human form: the routing report, then one line per check and the verdict.
    world.policy.set(&enforce(&[PRIMARY]));
    let (code, stdout) = check_dns("example.com", &file, false).await;
    assert!(
        stdout.contains("OK: mx2.example.net is a backup for mail.example.com"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  OK   mx          mx2.example.net at preference 20"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  FAIL mta_sts     mode enforce: mx2.example.net matches no mx line"),
        "{stdout}"
    );
    assert!(stdout.contains("BROKEN: example.com (mta_sts)"), "{stdout}");
    assert_eq!(code, 4, "broken: exit 4");
}

/// Writes the config of `world` with our certificate files, asking `dns`, and returns its path.
pub(crate) fn write_config(world: &World, dns: &TestDns, certificate: &Issued) -> PathBuf {
    let file = world.dir.path().join("backupmx.toml");
    let cert = world.dir.path().join("cert.pem");
    let key = world.dir.path().join("key.pem");
    std::fs::write(&cert, &certificate.cert_pem).unwrap();
    std::fs::write(&key, &certificate.key_pem).unwrap();
    let toml = world.toml(dns).replace(
        "[spool]",
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n[spool]",
            cert.display().to_string(),
            key.display().to_string()
        ),
    );
    std::fs::write(&file, toml).unwrap();
    file
}

/// The exit status of `check-dns` is the readiness verdict, with and without `--json`: 0 ready,
/// 3 warning, 4 broken (and 2 for a bad config).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_dns_exit_status_follows_the_verdict() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    let file = write_config(&world, &dns, &world.ours);
    for json in [false, true] {
        let (code, out) = check_dns("example.com", &file, json).await;
        assert_eq!(code, 0, "ready, json {json}: {out}");
    }

    // Warning: our certificate expires within 14 days (a new key: no TLSA record, DANE is skipped).
    let mut records = world.records();
    records.retain(|r| !r.name.starts_with("_25._tcp"));
    let dns = signed(&records).await;
    let expiring = world.ca.issue_valid(&[US], -86_400, 10 * 86_400);
    let file = write_config(&world, &dns, &expiring);
    for json in [false, true] {
        let (code, out) = check_dns("example.com", &file, json).await;
        assert_eq!(code, 3, "warning, json {json}: {out}");
        if json {
            let parsed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            assert_eq!(parsed["verdict"], "warning", "{parsed:#}");
        } else {
            assert!(out.contains("WARNING: example.com (certificate)"), "{out}");
        }
    }

    // Broken: the policy lists only the primary.
    world.policy.set(&enforce(&[PRIMARY]));
    let file = write_config(&world, &dns, &world.ours);
    for json in [false, true] {
        let (code, out) = check_dns("example.com", &file, json).await;
        assert_eq!(code, 4, "broken, json {json}: {out}");
    }

    // A config that does not load: 2, as before.
    std::fs::write(&file, "hostname = 7\n").unwrap();
    let (code, _) = check_dns("example.com", &file, true).await;
    assert_eq!(code, 2);
}

/// The running server: `GET /api/v1/domains/{name}/readiness` (computed at start, again with
/// `?refresh=true`), 404 for a domain it does not back up, and the metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_readiness_in_the_api_and_the_metrics() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    world.policy.set(&enforce(&[PRIMARY]));
    let mut settings = support::config::Settings::new(None);
    settings.hostname = US.into();
    settings.smtp_port = world.listen.port();
    settings.certificate = Some(world.ours.certificate());
    settings.nameservers = vec![dns.addr()];
    settings.domains = vec![support::config::Domain::by_mx("example.com")];
    settings.delivery_extra = vec![
        format!("tls_ca_file = {:?}", world.ca_file.display().to_string()),
        format!("mta_sts_port = {}", world.policy.addr().port()),
    ];
    let token = "readiness-token";
    let server = support::server::Server::with_api_token(settings, token).await;
    let path = "/api/v1/domains/example.com/readiness";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let json = loop {
        let json = support::admin::api_get(server.admin_addr(), token, path).await;
        if json["verdict"].is_string() || std::time::Instant::now() > deadline {
            break json;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(json["domain"], "example.com");
    assert_eq!(json["verdict"], "broken", "{json:#}");
    let failing: Vec<&str> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(failing, ["mta_sts"], "{json:#}");
    let metrics = server.metrics(token);
    assert!(
        metrics.contains("backupmx_domain_readiness{domain=\"example.com\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "backupmx_readiness_check_failing{domain=\"example.com\",check=\"mta_sts\"} 1"
        ),
        "{metrics}"
    );

    // Fixed policy, checked on demand.
    world.policy.set(&enforce(&[PRIMARY, "*.example.net"]));
    let json =
        support::admin::api_get(server.admin_addr(), token, &format!("{path}?refresh=true")).await;
    assert_eq!(json["verdict"], "ready", "{json:#}");
    let metrics = server.metrics(token);
    assert!(
        metrics.contains("backupmx_domain_readiness{domain=\"example.com\"} 1"),
        "{metrics}"
    );

    let unknown = support::admin::api_get(
        server.admin_addr(),
        token,
        "/api/v1/domains/other.org/readiness",
    )
    .await;
    assert_eq!(unknown["error"]["code"], "unknown_domain", "{unknown}");
}

/// The `certificate` check reads what the server serves now: after the certificate files are
/// replaced and reloaded (SIGHUP, the same swap an ACME renewal makes), the next check sees the new
/// certificate without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_check_sees_a_swapped_certificate() {
    let world = World::new().await;
    let dns = signed(&world.records()).await;
    let expiring = world.ca.issue_valid(&[US], -86_400, 5 * 86_400);
    let mut settings = support::config::Settings::new(None);
    settings.hostname = US.into();
    settings.smtp_port = world.listen.port();
    settings.certificate = Some(expiring.certificate());
    settings.nameservers = vec![dns.addr()];
    settings.domains = vec![support::config::Domain::by_mx("example.com")];
    settings.delivery_extra = vec![
        format!("tls_ca_file = {:?}", world.ca_file.display().to_string()),
        format!("mta_sts_port = {}", world.policy.addr().port()),
    ];
    let token = "readiness-token";
    let server = support::server::Server::with_api_token(settings, token).await;
    let path = "/api/v1/domains/example.com/readiness?refresh=true";
    let certificate = |json: &serde_json::Value| {
        json["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["name"] == "certificate").cloned())
            .unwrap_or_default()
    };
    let before = support::admin::api_get(server.admin_addr(), token, path).await;
    assert_eq!(certificate(&before)["status"], "warn", "{before:#}");
    // The TLSA record is for `ours`: DANE fails with the expiring certificate.
    assert_eq!(before["verdict"], "broken", "{before:#}");

    server.write_certificate(&world.ours.certificate());
    server.hangup();
    server
        .wait_log(
            "TLS certificate and key reloaded",
            std::time::Duration::from_secs(10),
        )
        .await;
    let after = support::admin::api_get(server.admin_addr(), token, path).await;
    assert_eq!(certificate(&after)["status"], "ok", "{after:#}");
    // And DANE now passes too.
    assert_eq!(after["verdict"], "ready", "{after:#}");
}
