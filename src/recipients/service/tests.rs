//! The service's shell decisions with a primary that cannot be reached (a closed loopback port): the
//! failed callout makes the primary count as down, and each policy then decides as documented.

use std::sync::Arc;

use super::*;
use crate::clock::SystemClock;
use crate::delivery::{ClientConfig, DnsResolver, SelfIdentity, TlsPolicy};

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn service(domain_keys: &str, list: Option<&str>) -> (RecipientService, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = domain_keys.to_string();
    if let Some(text) = list {
        let path = dir.path().join("users");
        std::fs::write(&path, text).unwrap();
        keys.push_str(&format!(
            "\nrecipient_list = {:?}",
            path.display().to_string()
        ));
    }
    let toml = format!(
        "[[domain]]\nname = \"example.test\"\nprimary = \"127.0.0.1:{}\"\n{keys}\n\
         [recipients]\ncallout_timeout = \"2s\"\n",
        closed_port()
    );
    let config = Config::from_toml_str(&toml, "t.toml").unwrap();
    let resolver = DnsResolver::new(&config.dns).unwrap();
    let client = ClientConfig::new(&config.hostname, &config.delivery, TlsPolicy::None).unwrap();
    let deliverer = Deliverer::from_parts(resolver, SelfIdentity::from_config(&config), 25, client);
    let service = RecipientService::in_memory(&config, Arc::new(SystemClock), Some(deliverer));
    (service, dir)
}

async fn verdict(s: &RecipientService, address: &str) -> Verdict {
    s.check(address, "example.test").await.verdict
}

#[tokio::test]
async fn monitoring_with_a_list_keeps_the_list_when_the_primary_is_down() {
    let keys = "recipients = \"list\"\naccept_only_when_primary_down = true";
    let (s, _dir) = service(keys, Some("alice@example.test\n"));
    assert_eq!(verdict(&s, "alice@example.test").await, Verdict::Accept);
    assert_eq!(verdict(&s, "bob@example.test").await, Verdict::Refuse550);
}

#[tokio::test]
async fn verify_follows_unknown_when_down_and_still_uses_the_cache() {
    let (s, _dir) = service(
        "recipients = \"verify\"\nunknown_when_down = \"tempfail\"",
        None,
    );
    assert_eq!(verdict(&s, "who@example.test").await, Verdict::Tempfail450);
    let good = AddressKey::parse("good@example.test").unwrap();
    s.learn(&good, Known::Good, "import");
    assert_eq!(verdict(&s, "good+x@example.test").await, Verdict::Accept);
    let (s, _dir) = service("recipients = \"verify\"", None);
    assert_eq!(verdict(&s, "who@example.test").await, Verdict::Accept);
}

#[tokio::test]
async fn accept_all_domains_and_odd_addresses_are_accepted() {
    let (s, _dir) = service("", None);
    assert_eq!(verdict(&s, "anyone@example.test").await, Verdict::Accept);
    let (s, _dir) = service("recipients = \"verify\"", None);
    assert_eq!(verdict(&s, "no-domain").await, Verdict::Accept);
}

#[test]
fn learning_from_deliveries_only_for_verify_domains() {
    let toml = "[[domain]]\nname = \"example.test\"\nrecipients = \"verify\"\n\
                [[domain]]\nname = \"plain.test\"\n";
    let config = Config::from_toml_str(toml, "t.toml").unwrap();
    let s = RecipientService::in_memory(&config, Arc::new(SystemClock), None);
    let relay = |address: &str, domain: &str| crate::envelope::Recipient {
        address: address.into(),
        route: Route::Relay {
            domain: domain.into(),
        },
        notify: None,
        orcpt: None,
        status: crate::envelope::RecipientStatus::Pending,
    };
    let envelope = Envelope {
        sender: String::new(),
        recipients: vec![
            relay("a@example.test", "example.test"),
            relay("b@example.test", "example.test"),
            relay("c@example.test", "example.test"),
            relay("d@plain.test", "plain.test"),
        ],
        body_type: crate::envelope::BodyType::SevenBit,
        smtputf8: false,
        ret: None,
        envid: None,
        client_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        helo: "h".into(),
        received_at_ms: 0,
        auth: None,
    };
    let failed = |status| DeliveryAnswer::Refused { status };
    let results = [
        (0, DeliveryAnswer::Accepted),
        (1, failed("5.1.1")),
        (2, failed("5.7.1")),
        (3, DeliveryAnswer::Accepted),
        (9, DeliveryAnswer::Accepted),
    ];
    s.learn_delivery(&envelope, results);
    let now = s.now_ms();
    let state = |a: &str| s.cache().state(&AddressKey::parse(a).unwrap(), now);
    assert_eq!(state("a@example.test"), CacheState::Good);
    assert_eq!(state("b@example.test"), CacheState::Bad);
    assert_eq!(state("c@example.test"), CacheState::Unknown);
    assert_eq!(state("d@plain.test"), CacheState::Unknown);
}
