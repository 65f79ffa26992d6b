//! Unit tests of the pure limiter: counts, window arithmetic, keys and the sweep, with explicit times.

use super::*;

fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + Duration::from_millis(ms)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn limiter(max_connections: u32, connections_per_minute: u32, recipients: u32) -> Limiter {
    Limiter::new(
        ClientLimits {
            max_connections,
            connections_per_minute,
            recipients_per_minute: recipients,
        },
        t(0),
    )
}

#[test]
fn concurrent_connections_are_counted_per_address() {
    let mut l = limiter(2, 0, 0);
    let a = ip("192.0.2.1");
    assert_eq!(l.connect(a, t(0)), Ok(()));
    assert_eq!(l.connect(a, t(1)), Ok(()));
    assert_eq!(l.connect(a, t(2)), Err(LimitHit::Connections));
    // Another address has its own count.
    assert_eq!(l.connect(ip("192.0.2.2"), t(3)), Ok(()));
    l.disconnect(a);
    assert_eq!(l.connect(a, t(4)), Ok(()));
    assert_eq!(l.connect(a, t(5)), Err(LimitHit::Connections));
}

#[test]
fn zero_turns_every_limit_off() {
    let mut l = limiter(0, 0, 0);
    let a = ip("192.0.2.1");
    for i in 0..10_000 {
        assert_eq!(l.connect(a, t(i)), Ok(()));
        assert_eq!(l.recipient(a, t(i)), Ok(()));
    }
}

#[test]
fn connection_rate_within_one_window() {
    let mut l = limiter(0, 3, 0);
    let a = ip("192.0.2.1");
    for i in 0..3 {
        assert_eq!(l.connect(a, t(i)), Ok(()));
        l.disconnect(a);
    }
    assert_eq!(l.connect(a, t(10)), Err(LimitHit::ConnectionRate));
    // A refused attempt is not counted: the count stays at 3.
    assert_eq!(l.connect(a, t(59_999)), Err(LimitHit::ConnectionRate));
}

#[test]
fn the_previous_window_weighs_by_its_remaining_overlap() {
    let mut l = limiter(0, 4, 0);
    let a = ip("192.0.2.1");
    for i in 0..4 {
        assert_eq!(l.connect(a, t(i)), Ok(()));
    }
    // 15 s into the next window the previous 4 still weigh 4 × 45/60 = 3: one more fits.
    assert_eq!(l.connect(a, t(75_000)), Ok(()));
    assert_eq!(l.connect(a, t(75_001)), Err(LimitHit::ConnectionRate));
    // 45 s in, they weigh 1 (+1 current = 2): two more fit.
    assert_eq!(l.connect(a, t(105_000)), Ok(()));
    assert_eq!(l.connect(a, t(105_000)), Ok(()));
    assert_eq!(l.connect(a, t(105_001)), Err(LimitHit::ConnectionRate));
}

#[test]
fn a_quiet_client_starts_afresh_after_two_windows() {
    let mut l = limiter(0, 2, 2);
    let a = ip("192.0.2.1");
    assert_eq!(l.recipient(a, t(0)), Ok(()));
    assert_eq!(l.recipient(a, t(1)), Ok(()));
    assert_eq!(l.recipient(a, t(2)), Err(LimitHit::RecipientRate));
    assert_eq!(l.recipient(a, t(120_000)), Ok(()));
    assert_eq!(l.recipient(a, t(120_001)), Ok(()));
    assert_eq!(l.recipient(a, t(120_002)), Err(LimitHit::RecipientRate));
}

#[test]
fn recipient_rate_is_shared_by_the_connections_of_one_address() {
    let mut l = limiter(0, 0, 5);
    let a = ip("2001:db8:1:2::10");
    let same_64 = ip("2001:db8:1:2:ffff::1");
    for i in 0..3 {
        assert_eq!(l.recipient(a, t(i)), Ok(()));
    }
    for i in 3..5 {
        assert_eq!(l.recipient(same_64, t(i)), Ok(()));
    }
    assert_eq!(l.recipient(a, t(6)), Err(LimitHit::RecipientRate));
    assert_eq!(l.recipient(ip("2001:db8:1:3::10"), t(7)), Ok(()));
}

#[test]
fn a_clock_that_goes_back_does_not_reset_counts() {
    let mut l = limiter(0, 2, 0);
    let a = ip("192.0.2.1");
    assert_eq!(l.connect(a, t(50_000)), Ok(()));
    assert_eq!(l.connect(a, t(50_001)), Ok(()));
    assert_eq!(l.connect(a, t(10)), Err(LimitHit::ConnectionRate));
}

#[test]
fn keys_group_ipv6_by_64_and_unmap_ipv4() {
    assert_eq!(client_key(ip("192.0.2.1")), ip("192.0.2.1"));
    assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    assert_eq!(client_key(ip("2001:db8:a:b:c:d:e:f")), ip("2001:db8:a:b::"));
    assert_eq!(client_key(ip("::1")), ip("::"));
}

#[test]
fn idle_clients_are_forgotten_and_connected_ones_kept() {
    let mut l = limiter(0, 10, 10);
    for i in 0..100u32 {
        let a = IpAddr::from(std::net::Ipv4Addr::from(0xC000_0200 + i));
        l.connect(a, t(u64::from(i))).unwrap();
        l.disconnect(a);
    }
    let busy = ip("198.51.100.1");
    l.connect(busy, t(200)).unwrap();
    assert_eq!(l.tracked(), 101);
    // Two windows later the sweep drops everyone without a connection and without recent counts.
    l.connect(ip("198.51.100.2"), t(121_000)).unwrap();
    assert_eq!(l.tracked(), 2);
    assert_eq!(l.connect(busy, t(121_001)), Ok(()));
}

#[test]
fn every_hit_has_a_metric_label() {
    let all = [
        LimitHit::Connections,
        LimitHit::ConnectionRate,
        LimitHit::RecipientRate,
        LimitHit::Messages,
        LimitHit::Errors,
        LimitHit::UnknownCommands,
        LimitHit::EarlyTalker,
        LimitHit::SessionTime,
    ];
    let names: std::collections::HashSet<_> = all.iter().map(|h| h.name()).collect();
    assert_eq!(names.len(), all.len());
}
