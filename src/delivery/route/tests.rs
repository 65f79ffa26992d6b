//! Exhaustive tests of the pure backup-MX routing rule.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

const PORT: u16 = 25;

fn me() -> SelfIdentity {
    SelfIdentity::new(
        &[
            "MX2.Example.Test.".to_owned(),
            "backup.other.test".to_owned(),
        ],
        &["192.0.2.2:25".parse().unwrap()],
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn mx(preference: u16, name: &str, addrs: &[&str]) -> MxTarget {
    MxTarget {
        preference,
        name: name.to_owned(),
        addresses: addrs.iter().map(|a| ip(a)).collect(),
    }
}

fn plan(list: &[MxTarget]) -> RouteDecision {
    plan_route(list, &me(), PORT, &mut StdRng::seed_from_u64(7))
}

fn names(decision: &RouteDecision) -> Vec<String> {
    match decision {
        RouteDecision::Candidates(hosts) => hosts.iter().map(|h| h.name.clone()).collect(),
        RouteDecision::Misconfigured(m) => panic!("unexpected misconfiguration: {m}"),
    }
}

#[test]
fn recognises_names_case_insensitively_and_without_trailing_dot() {
    let me = me();
    assert!(me.is_our_name("mx2.example.test"));
    assert!(me.is_our_name("MX2.EXAMPLE.TEST."));
    assert!(me.is_our_name("backup.other.test."));
    assert!(!me.is_our_name("mx1.example.test"));
}

#[test]
fn recognises_sockets_by_address_and_port() {
    let me = me();
    assert!(me.is_our_socket("192.0.2.2:25".parse().unwrap()));
    assert!(!me.is_our_socket("192.0.2.2:2525".parse().unwrap()));
    assert!(!me.is_our_socket("192.0.2.3:25".parse().unwrap()));
    let wildcard = SelfIdentity::new(&[], &["0.0.0.0:25".parse().unwrap()]);
    assert!(wildcard.is_our_socket("127.0.0.1:25".parse().unwrap()));
    assert!(wildcard.is_our_socket("[::1]:25".parse().unwrap()));
    assert!(!wildcard.is_our_socket("127.0.0.1:26".parse().unwrap()));
    let loopback = SelfIdentity::new(&[], &["127.0.0.1:2525".parse().unwrap()]);
    assert!(loopback.is_our_socket("127.0.0.2:2525".parse().unwrap()));
    assert!(!loopback.is_our_socket("127.0.0.1:2526".parse().unwrap()));
}

#[test]
fn backup_at_20_delivers_only_to_the_primary_at_10() {
    let list = [
        mx(10, "mx1.example.test", &["192.0.2.1"]),
        mx(20, "mx2.example.test", &["192.0.2.2"]),
        mx(30, "mx3.example.test", &["192.0.2.3"]),
    ];
    let decision = plan(&list);
    assert_eq!(names(&decision), ["mx1.example.test"]);
    if let RouteDecision::Candidates(hosts) = decision {
        assert_eq!(hosts[0].preference, Some(10));
        assert_eq!(hosts[0].port, PORT);
        assert_eq!(
            hosts[0].sockets().collect::<Vec<_>>(),
            ["192.0.2.1:25".parse::<SocketAddr>().unwrap()]
        );
    }
}

#[test]
fn equal_preference_peer_is_never_used() {
    let list = [
        mx(10, "mx1.example.test", &[]),
        mx(20, "peer.example.test", &[]),
        mx(20, "mx2.example.test", &[]),
    ];
    assert_eq!(names(&plan(&list)), ["mx1.example.test"]);
}

#[test]
fn most_preferred_is_misconfigured() {
    let list = [
        mx(5, "mx2.example.test", &[]),
        mx(10, "mx1.example.test", &[]),
    ];
    assert_eq!(
        plan(&list),
        RouteDecision::Misconfigured(Misconfiguration::MostPreferred { preference: 5 })
    );
}

#[test]
fn tie_with_the_best_is_misconfigured() {
    let list = [
        mx(10, "mx1.example.test", &[]),
        mx(10, "mx2.example.test", &[]),
    ];
    assert_eq!(
        plan(&list),
        RouteDecision::Misconfigured(Misconfiguration::MostPreferred { preference: 10 })
    );
}

#[test]
fn our_lowest_entry_counts_when_listed_twice() {
    let list = [
        mx(10, "mx1.example.test", &[]),
        mx(20, "mx2.example.test", &[]),
        mx(30, "backup.other.test", &[]),
    ];
    assert_eq!(names(&plan(&list)), ["mx1.example.test"]);
}

#[test]
fn alias_resolving_to_our_socket_is_us() {
    let list = [
        mx(10, "mx1.example.test", &["192.0.2.1"]),
        mx(20, "alias.example.test", &["192.0.2.2"]),
        mx(30, "mx3.example.test", &["192.0.2.3"]),
    ];
    assert_eq!(names(&plan(&list)), ["mx1.example.test"]);
}

#[test]
fn best_entry_pointing_to_our_socket_points_back_to_myself() {
    let list = [
        mx(10, "alias.example.test", &["192.0.2.2"]),
        mx(20, "mx3.example.test", &[]),
    ];
    assert_eq!(
        plan(&list),
        RouteDecision::Misconfigured(Misconfiguration::PointsBackToMyself {
            name: "alias.example.test".into()
        })
    );
}

#[test]
fn not_listed_delivers_to_every_host_in_preference_order() {
    let list = [
        mx(30, "c.example.test", &[]),
        mx(10, "a.example.test", &[]),
        mx(20, "b.example.test", &[]),
    ];
    assert_eq!(
        names(&plan(&list)),
        ["a.example.test", "b.example.test", "c.example.test"]
    );
}

#[test]
fn no_mx_and_null_mx_are_misconfigured() {
    assert_eq!(
        plan(&[]),
        RouteDecision::Misconfigured(Misconfiguration::NoMx)
    );
    assert_eq!(
        plan(&[mx(0, "", &[])]),
        RouteDecision::Misconfigured(Misconfiguration::NullMx)
    );
}

#[test]
fn duplicate_names_appear_once_at_their_best_preference() {
    let list = [
        mx(5, "a.example.test", &[]),
        mx(8, "a.example.test", &[]),
        mx(20, "mx2.example.test", &[]),
    ];
    let RouteDecision::Candidates(hosts) = plan(&list) else {
        panic!("misconfigured")
    };
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0].preference, Some(5));
}

#[test]
fn equal_preferences_are_shuffled_but_stay_before_worse_ones() {
    let list = [
        mx(10, "a.example.test", &[]),
        mx(10, "b.example.test", &[]),
        mx(10, "c.example.test", &[]),
        mx(15, "d.example.test", &[]),
        mx(20, "mx2.example.test", &[]),
    ];
    let mut firsts = std::collections::HashSet::new();
    for seed in 0..64 {
        let decision = plan_route(&list, &me(), PORT, &mut StdRng::seed_from_u64(seed));
        let order = names(&decision);
        assert_eq!(order.len(), 4);
        assert_eq!(order[3], "d.example.test");
        firsts.insert(order[0].clone());
    }
    assert_eq!(
        firsts.len(),
        3,
        "every equal-preference host comes first sometimes"
    );
}

#[test]
fn find_self_reports_how_we_were_recognised() {
    let list = [
        mx(10, "mx1.example.test", &[]),
        mx(20, "MX2.example.test", &[]),
    ];
    let us = find_self(&list, &me(), PORT).unwrap();
    assert_eq!((us.preference, us.by_address), (20, false));
    assert!(find_self(&[mx(10, "mx1.example.test", &["192.0.2.1"])], &me(), PORT).is_none());
}

#[test]
fn static_primary_is_the_only_candidate_unless_it_is_us() {
    let addrs = vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))];
    let decision = plan_static("Primary.Example.Test", 2525, addrs.clone(), &me());
    assert_eq!(
        decision,
        RouteDecision::Candidates(vec![Host {
            name: "primary.example.test".into(),
            preference: None,
            port: 2525,
            addresses: addrs,
        }])
    );
    let ours = plan_static("192.0.2.2", 25, vec![ip("192.0.2.2")], &me());
    assert!(matches!(
        ours,
        RouteDecision::Misconfigured(Misconfiguration::PointsBackToMyself { .. })
    ));
    let by_name = plan_static("mx2.example.test", 25, vec![], &me());
    assert!(matches!(
        by_name,
        RouteDecision::Misconfigured(Misconfiguration::PointsBackToMyself { .. })
    ));
}
