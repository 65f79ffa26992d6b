//! MX routing through a real (in-process) DNS server: look-ups, route selection, misconfigurations,
//! delivery through the resolved route, and the check-dns verdicts.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use backupmx::config::{Config, DnsConfig, Primary};
use backupmx::delivery::client::Message;
use backupmx::delivery::{
    Deliverer, DnsError, DnsResolver, Misconfiguration, RecipientOutcome, RouteError, check_dns,
};
use support::{SmtpSink, TestDns, WAIT, addr, closed_port, envelope, mx};

const US: &str = "backup.example.test";

/// example.test: primary at 10, us at 20, a peer at 20, a worse host at 30 (all on 127.0.0.1).
async fn standard_dns() -> TestDns {
    TestDns::start(&[
        mx("example.test", 10, "primary.example.test"),
        mx("example.test", 20, US),
        mx("example.test", 20, "peer.example.test"),
        mx("example.test", 30, "worse.example.test"),
        addr("primary.example.test", "127.0.0.1"),
        addr("primary.example.test", "::1"),
        addr(US, "127.0.0.1"),
        addr("peer.example.test", "127.0.0.1"),
        addr("worse.example.test", "127.0.0.1"),
        mx("best.test", 5, US),
        mx("best.test", 10, "primary.example.test"),
        mx("unlisted.test", 10, "primary.example.test"),
        addr("nomx.test", "127.0.0.1"),
    ])
    .await
}

/// Our config: listening on some other local port, delivering to `delivery_port`.
async fn our_config(dns: &TestDns, delivery_port: u16) -> Config {
    let listen = closed_port().await;
    support::config(
        US,
        listen,
        dns.config(),
        delivery_port,
        &["example.test", "best.test", "unlisted.test"],
    )
}

#[tokio::test]
async fn mx_and_address_lookups() {
    let dns = standard_dns().await;
    let resolver = DnsResolver::new(&dns.config()).unwrap();
    let records = resolver.lookup_mx("Example.Test").await.unwrap();
    let listed: Vec<(u16, &str)> = records
        .iter()
        .map(|r| (r.preference, r.exchange.as_str()))
        .collect();
    assert_eq!(listed[0], (10, "primary.example.test"));
    assert_eq!(listed[3], (30, "worse.example.test"));
    let ips = resolver.lookup_ips("primary.example.test").await.unwrap();
    assert_eq!(
        ips,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    assert_eq!(
        resolver.lookup_ips("192.0.2.7").await.unwrap(),
        ["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
}

#[tokio::test]
async fn nxdomain_and_nodata_are_told_apart() {
    let dns = standard_dns().await;
    let resolver = DnsResolver::new(&dns.config()).unwrap();
    let nx = resolver.lookup_mx("missing.test").await.unwrap_err();
    assert!(matches!(nx, DnsError::NxDomain { .. }), "{nx}");
    let nodata = resolver.lookup_mx("nomx.test").await.unwrap_err();
    assert!(matches!(nodata, DnsError::NoData { .. }), "{nodata}");
    assert!(!nx.is_temporary() && !nodata.is_temporary());
}

#[tokio::test]
async fn a_dead_nameserver_is_a_temporary_failure() {
    let dead = DnsConfig {
        nameservers: vec![closed_port().await],
        ..DnsConfig::default()
    };
    let resolver = DnsResolver::new(&dead).unwrap();
    let lookup =
        tokio::time::timeout(Duration::from_secs(30), resolver.lookup_mx("example.test")).await;
    let error = lookup
        .expect("bounded by the resolver's timeouts")
        .unwrap_err();
    assert!(error.is_temporary(), "{error}");
}

#[tokio::test]
async fn backup_at_20_routes_only_to_the_primary_at_10() {
    let dns = standard_dns().await;
    let config = our_config(&dns, 2525).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let hosts = deliverer.resolve(&config.domains[0]).await.unwrap();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(
        (hosts[0].name.as_str(), hosts[0].preference, hosts[0].port),
        ("primary.example.test", Some(10), 2525)
    );
    assert_eq!(
        hosts[0].sockets().next(),
        Some(SocketAddr::from(([127, 0, 0, 1], 2525)))
    );
}

#[tokio::test]
async fn misconfigurations_are_reported_not_bounced() {
    let dns = standard_dns().await;
    let mut config = our_config(&dns, 2525).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let best = deliverer.resolve(&config.domains[1]).await.unwrap_err();
    assert_eq!(
        best,
        RouteError::Misconfigured(Misconfiguration::MostPreferred { preference: 5 })
    );
    config.domains[0].name = "missing.test".into();
    let nx = deliverer.resolve(&config.domains[0]).await.unwrap_err();
    assert_eq!(
        nx,
        RouteError::Misconfigured(Misconfiguration::NoSuchDomain)
    );
    config.domains[0].name = "nomx.test".into();
    let nomx = deliverer.resolve(&config.domains[0]).await.unwrap_err();
    assert_eq!(nomx, RouteError::Misconfigured(Misconfiguration::NoMx));
    assert!(!nomx.is_unreachable());
}

#[tokio::test]
async fn an_mx_that_reaches_our_own_socket_points_back_to_myself() {
    let dns = TestDns::start(&[
        mx("loop.test", 10, "alias.loop.test"),
        addr("alias.loop.test", "127.0.0.1"),
    ])
    .await;
    let listen = closed_port().await;
    let config = support::config(US, listen, dns.config(), listen.port(), &["loop.test"]);
    let error = Deliverer::new(&config)
        .unwrap()
        .resolve(&config.domains[0])
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            RouteError::Misconfigured(Misconfiguration::PointsBackToMyself { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn delivers_through_the_resolved_route_and_the_static_primary() {
    let dns = standard_dns().await;
    let sink = SmtpSink::start().await;
    let mut config = our_config(&dns, sink.addr().port()).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let hosts = deliverer.resolve(&config.domains[0]).await.unwrap();
    let mut conn = deliverer
        .connect_first(&hosts)
        .await
        .expect("the sink answers");
    assert_eq!(conn.host(), "primary.example.test");
    let env = envelope("a@sender.test", &["bob@example.test"]);
    let report = conn
        .send(
            &Message {
                envelope: &env,
                recipients: &[0],
                size: 6,
            },
            &b"hello\r\n"[..],
        )
        .await;
    assert!(
        matches!(report.recipients[0].1, RecipientOutcome::Delivered(_)),
        "{report:?}"
    );
    conn.quit().await;
    config.domains[0].primary = Some(Primary {
        host: "127.0.0.1".into(),
        port: sink.addr().port(),
    });
    let hosts = deliverer.resolve(&config.domains[0]).await.unwrap();
    assert_eq!(deliverer.probe_first(&hosts).await.unwrap(), sink.addr());
    assert_eq!(sink.wait_for(1, WAIT).await[0].data, b"hello\r\n");
}

#[tokio::test]
async fn connect_first_reports_an_unreachable_destination() {
    let dns = standard_dns().await;
    let down = closed_port().await;
    let config = our_config(&dns, down.port()).await;
    let deliverer = Deliverer::new(&config).unwrap();
    let hosts = deliverer.resolve(&config.domains[0]).await.unwrap();
    let error = deliverer
        .connect_first(&hosts)
        .await
        .err()
        .expect("nothing listens");
    assert!(error.is_unreachable(), "{error}");
    assert_eq!(
        error.attempts.len(),
        2,
        "both addresses of the primary were tried: {error}"
    );
}

#[tokio::test]
async fn check_dns_verdicts() {
    let dns = standard_dns().await;
    let sink = SmtpSink::start().await;
    let config = our_config(&dns, sink.addr().port()).await;

    let ok = check_dns(&config, "example.test").await.to_string();
    assert!(
        ok.contains("OK: backup.example.test is a backup for primary.example.test"),
        "{ok}"
    );
    assert!(
        ok.contains("<- this host") && ok.contains("127.0.0.1:") && ok.contains("answers SMTP"),
        "{ok}"
    );

    let best = check_dns(&config, "best.test").await.to_string();
    assert!(
        best.contains("WRONG: this host is the most preferred MX"),
        "{best}"
    );

    let unlisted = check_dns(&config, "unlisted.test").await.to_string();
    assert!(
        unlisted.contains("WRONG: no MX record lists this host"),
        "{unlisted}"
    );

    let nomx = check_dns(&config, "nomx.test").await.to_string();
    assert!(
        nomx.contains("WRONG: the domain has no MX records"),
        "{nomx}"
    );
    assert!(nomx.contains("not one of the configured domains"), "{nomx}");

    drop(sink);
    let down = check_dns(&config, "example.test").await.to_string();
    assert!(
        down.contains("does not answer") && down.contains("WARNING"),
        "{down}"
    );
}
