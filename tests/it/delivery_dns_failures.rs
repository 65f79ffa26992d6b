//! DNS failures at the deliverer: SERVFAIL (for the domain's MX, for the MX host's address, for a
//! static primary's name) and a nameserver that never answers are temporary (the destination counts
//! as unreachable and is retried); NXDOMAIN and "no MX" are misconfigurations (kept, never bounced).

use crate::support;

use std::net::SocketAddr;
use std::time::Duration;

use backupmx::config::{Config, DnsConfig, Primary};
use backupmx::delivery::{Deliverer, DnsError, DnsResolver, Misconfiguration, RouteError};
use support::{TestDns, addr, closed_port, mx};

const US: &str = "backup.example.test";
/// Bound for any look-up: the resolver's own timeouts (3 s × 2 tries) end it well before.
const LOOKUP_BOUND: Duration = Duration::from_secs(30);

async fn dns() -> TestDns {
    TestDns::start(&[
        mx("example.test", 10, "primary.example.test"),
        mx("example.test", 20, US),
        addr("primary.example.test", "127.0.0.1"),
        addr(US, "127.0.0.1"),
        addr("nomx.test", "127.0.0.1"),
    ])
    .await
}

async fn config(dns: DnsConfig, domains: &[&str]) -> Config {
    support::config(US, closed_port().await, dns, 25, domains)
}

/// A nameserver that receives queries (UDP and TCP) and never answers: look-ups time out.
struct SilentNameserver {
    addr: SocketAddr,
    _udp: tokio::net::UdpSocket,
    _tcp: tokio::net::TcpListener,
}

async fn silent_nameserver() -> SilentNameserver {
    for _ in 0..50 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
            return SilentNameserver {
                addr,
                _udp: udp,
                _tcp: tcp,
            };
        }
    }
    panic!("no loopback port free on both UDP and TCP");
}

async fn resolve(deliverer: &Deliverer, config: &Config, i: usize) -> Result<usize, RouteError> {
    tokio::time::timeout(LOOKUP_BOUND, deliverer.resolve(&config.domains[i]))
        .await
        .expect("bounded by the resolver's timeouts")
        .map(|hosts| hosts.iter().map(|h| h.addresses.len()).sum())
}

#[tokio::test]
async fn servfail_is_temporary_and_heals() {
    let dns = dns().await;
    let resolver = DnsResolver::new(&dns.config()).unwrap();
    dns.servfail("example.test");
    let error = resolver.lookup_mx("example.test").await.unwrap_err();
    assert!(matches!(error, DnsError::Temporary { .. }), "{error}");
    assert!(error.is_temporary());

    let config = config(dns.config(), &["example.test"]).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let route = resolve(&deliverer, &config, 0).await.unwrap_err();
    assert!(matches!(route, RouteError::Dns(_)), "{route}");
    assert!(route.is_unreachable(), "SERVFAIL: retried, probed");

    dns.heal("example.test");
    // hickory may cache the failure for a moment (negative TTL is capped at 60 s; SERVFAIL is not
    // cached as NXDOMAIN would be): a fresh resolver shows the healed answer.
    let fresh = Deliverer::new(&config).unwrap();
    assert_eq!(resolve(&fresh, &config, 0).await.unwrap(), 1);
}

#[tokio::test]
async fn servfail_for_the_mx_host_leaves_no_address_to_try_not_a_misconfiguration() {
    let dns = dns().await;
    dns.servfail("primary.example.test");
    let config = config(dns.config(), &["example.test"]).await;
    let deliverer = Deliverer::new(&config).unwrap();
    match resolve(&deliverer, &config, 0).await {
        // The route stands but has no address: connecting fails as unreachable (retried).
        Ok(0) => {
            let hosts = deliverer.resolve(&config.domains[0]).await.unwrap();
            let error = deliverer.connect_first(&hosts).await.err().unwrap();
            assert!(error.is_unreachable(), "{error}");
        }
        Ok(n) => panic!("{n} addresses despite SERVFAIL"),
        Err(e) => assert!(e.is_unreachable(), "must not be a misconfiguration: {e}"),
    }
}

#[tokio::test]
async fn a_static_primary_name_with_servfail_is_temporary_and_nxdomain_is_a_misconfiguration() {
    let dns = dns().await;
    dns.servfail("primary.example.test");
    let mut config = config(dns.config(), &["example.test"]).await;
    config.domains[0].primary = Some(Primary {
        host: "primary.example.test".into(),
        port: 25,
    });
    let deliverer = Deliverer::new(&config).unwrap();
    let error = resolve(&deliverer, &config, 0).await.unwrap_err();
    assert!(error.is_unreachable(), "{error}");

    config.domains[0].primary = Some(Primary {
        host: "gone.example.test".into(),
        port: 25,
    });
    let error = resolve(&deliverer, &config, 0).await.unwrap_err();
    assert!(
        matches!(
            error,
            RouteError::Misconfigured(Misconfiguration::PrimaryNotFound { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn nxdomain_and_no_mx_are_misconfigurations() {
    let dns = dns().await;
    let config = config(dns.config(), &["missing.test", "nomx.test"]).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let nx = resolve(&deliverer, &config, 0).await.unwrap_err();
    assert_eq!(
        nx,
        RouteError::Misconfigured(Misconfiguration::NoSuchDomain),
        "{nx}"
    );
    let nomx = resolve(&deliverer, &config, 1).await.unwrap_err();
    assert_eq!(
        nomx,
        RouteError::Misconfigured(Misconfiguration::NoMx),
        "{nomx}"
    );
    assert!(!nx.is_unreachable() && !nomx.is_unreachable());
}

#[tokio::test]
async fn a_nameserver_that_never_answers_is_a_temporary_failure() {
    let silent = silent_nameserver().await;
    let dns = DnsConfig {
        nameservers: vec![silent.addr],
        ..DnsConfig::default()
    };
    let config = config(dns, &["example.test"]).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let started = std::time::Instant::now();
    let error = resolve(&deliverer, &config, 0).await.unwrap_err();
    assert!(matches!(error, RouteError::Dns(_)), "{error}");
    assert!(error.is_unreachable());
    assert!(error.to_string().contains("temporary"), "{error}");
    println!("silent nameserver: gave up after {:?}", started.elapsed());
}
