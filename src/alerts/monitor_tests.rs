//! The state machine against every short history of a primary, and each threshold's edges.

use std::time::Duration;

use super::*;

const MIN: u64 = 60_000;

fn settings() -> AlertsConfig {
    AlertsConfig {
        primary_down_after: Duration::from_secs(120),
        queue_age: Some(Duration::from_secs(3600)),
        queue_size: Some(10),
        disk_space: Some(DiskThreshold::Percent(10)),
        ..AlertsConfig::default()
    }
}

fn facts(now_ms: u64, health: DestinationHealth, queued: u64) -> Facts {
    Facts {
        now_ms,
        destinations: vec![DestinationFacts {
            domain: "example.test".into(),
            health,
            queued,
        }],
        ..Facts::default()
    }
}

fn events(raised: &[Raised]) -> Vec<(&'static str, bool)> {
    raised.iter().map(|r| (r.event, r.resolved)).collect()
}

/// One step of a primary's history: down, up with mail waiting, up and empty, unknown.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Step {
    Down,
    UpBusy,
    UpEmpty,
    Unknown,
}

/// Every history of 7 samples a minute apart (4^7 of them), with a 2-minute delay: `primary_down`
/// exactly when a down spell reaches 2 minutes and none was sent for it; `primary_up` exactly at the
/// first up sample after one was sent; `primary_drained` exactly at the first empty up sample after
/// a `primary_up` with mail, unless the primary went down in between. A restart (the monitor saved
/// and loaded) at every step changes nothing.
#[test]
fn every_short_history_gives_one_alert_per_change() {
    let steps = [Step::Down, Step::UpBusy, Step::UpEmpty, Step::Unknown];
    let length = 7;
    for code in 0..4_usize.pow(length) {
        let history: Vec<Step> = (0..length)
            .map(|i| steps[(code / 4_usize.pow(i)) % 4])
            .collect();
        let mut monitor = Monitor::default();
        // The oracle.
        let (mut alerted, mut draining, mut down_since) = (false, false, None::<u64>);
        for (i, step) in history.iter().enumerate() {
            let now = i as u64 * MIN;
            let (health, queued) = match step {
                Step::Down => {
                    let since = *down_since.get_or_insert(now);
                    (
                        DestinationHealth::Down {
                            since_ms: since,
                            error: "refused".into(),
                        },
                        3,
                    )
                }
                Step::UpBusy => (DestinationHealth::Up, 2),
                Step::UpEmpty => (DestinationHealth::Up, 0),
                Step::Unknown => (DestinationHealth::Unknown, 3),
            };
            if !matches!(step, Step::Down | Step::Unknown) {
                down_since = None;
            }
            let mut expected = Vec::new();
            match step {
                Step::Down => {
                    draining = false;
                    if !alerted && now - down_since.unwrap_or(now) >= 2 * MIN {
                        alerted = true;
                        expected.push(("primary_down", false));
                    }
                }
                Step::UpBusy | Step::UpEmpty if alerted => {
                    alerted = false;
                    expected.push(("primary_up", false));
                    draining = *step == Step::UpBusy;
                }
                Step::UpEmpty if draining => {
                    draining = false;
                    expected.push(("primary_drained", false));
                }
                _ => {}
            }
            let raised = monitor.observe(&facts(now, health, queued), &settings());
            assert_eq!(events(&raised), expected, "history {history:?} at step {i}");
            // A restart in between: the saved state is the same machine.
            let saved = serde_json::to_string(&monitor).unwrap();
            monitor = serde_json::from_str(&saved).unwrap();
        }
    }
}

#[test]
fn primary_alerts_carry_the_numbers() {
    let mut monitor = Monitor::default();
    let down = |now| {
        facts(
            now,
            DestinationHealth::Down {
                since_ms: 0,
                error: "connection refused".into(),
            },
            5,
        )
    };
    assert!(monitor.observe(&down(MIN), &settings()).is_empty());
    let raised = monitor.observe(&down(3 * MIN), &settings());
    assert_eq!(
        raised[0].text,
        "primary of example.test unreachable for 3m (connection refused); 5 message(s) queued"
    );
    assert_eq!(raised[0].subject.as_deref(), Some("example.test"));
    assert!(monitor.observe(&down(4 * MIN), &settings()).is_empty());
    let up = monitor.observe(&facts(5 * MIN, DestinationHealth::Up, 5), &settings());
    assert_eq!(up[0].details["queued"], 5);
    let drained = monitor.observe(
        &facts(5 * MIN + 4000, DestinationHealth::Up, 0),
        &settings(),
    );
    assert_eq!(drained[0].event, "primary_drained");
    assert_eq!(drained[0].details["drain_ms"], 4000);
    assert_eq!(
        drained[0].text,
        "queue of example.test drained: 5 message(s) delivered in 4s"
    );
}

#[test]
fn a_domain_that_leaves_is_forgotten_unless_its_primary_up_is_owed() {
    let mut monitor = Monitor::default();
    let down = || DestinationHealth::Down {
        since_ms: 0,
        error: "x".into(),
    };
    assert_eq!(
        monitor
            .observe(&facts(5 * MIN, down(), 1), &settings())
            .len(),
        1
    );
    // Absent for a sample (moved to another node and back, say): no second primary_down.
    monitor.observe(&Facts::default(), &settings());
    assert!(
        monitor
            .observe(&facts(6 * MIN, down(), 1), &settings())
            .is_empty()
    );
    let up = monitor.observe(&facts(7 * MIN, DestinationHealth::Up, 0), &settings());
    assert_eq!(events(&up), [("primary_up", false)]);
    monitor.observe(&Facts::default(), &settings());
    assert_eq!(monitor, Monitor::default());
}

fn queue(now_ms: u64, messages: u64, oldest: Option<u64>) -> Facts {
    Facts {
        now_ms,
        queue: Some(QueueFacts {
            messages,
            oldest_received_ms: oldest,
        }),
        ..Facts::default()
    }
}

#[test]
fn thresholds_raise_once_and_resolve_once() {
    let mut monitor = Monitor::default();
    let s = settings();
    let hour = 60 * MIN;
    // Queue size: 11 > 10 raises, staying over is quiet, 10 resolves.
    assert_eq!(
        events(&monitor.observe(&queue(0, 11, Some(0)), &s)),
        [("queue_size", false)]
    );
    assert!(monitor.observe(&queue(1, 50, Some(0)), &s).is_empty());
    // The oldest passes an hour.
    assert_eq!(
        events(&monitor.observe(&queue(hour + 1, 50, Some(0)), &s)),
        [("queue_age", false)]
    );
    assert_eq!(
        events(&monitor.observe(&queue(hour + 2, 10, Some(hour)), &s)),
        [("queue_age", true), ("queue_size", true)]
    );
    assert!(monitor.observe(&queue(hour + 3, 0, None), &s).is_empty());
    // A cluster node that does not judge the queue changes nothing.
    assert!(monitor.observe(&Facts::default(), &s).is_empty());
}

#[test]
fn disk_space_by_percent_and_bytes() {
    let mut monitor = Monitor::default();
    let disk = |free| Facts {
        disk: Some(DiskFacts { free, total: 1000 }),
        ..Facts::default()
    };
    assert!(monitor.observe(&disk(100), &settings()).is_empty());
    assert_eq!(
        events(&monitor.observe(&disk(99), &settings())),
        [("disk_space", false)]
    );
    assert!(monitor.observe(&disk(50), &settings()).is_empty());
    assert_eq!(
        events(&monitor.observe(&disk(500), &settings())),
        [("disk_space", true)]
    );
    let bytes = AlertsConfig {
        disk_space: Some(DiskThreshold::Bytes(300)),
        ..settings()
    };
    assert_eq!(
        events(&monitor.observe(&disk(299), &bytes)),
        [("disk_space", false)]
    );
}

#[test]
fn certificate_expiry_within_the_window() {
    let mut monitor = Monitor::default();
    let day = 24 * 60 * MIN;
    let cert = |now, end| Facts {
        now_ms: now,
        certificate_not_after_ms: Some(end),
        ..Facts::default()
    };
    let s = settings();
    assert!(monitor.observe(&cert(0, 15 * day), &s).is_empty());
    let raised = monitor.observe(&cert(day, 15 * day), &s);
    assert_eq!(events(&raised), [("certificate_expiry", false)]);
    assert_eq!(raised[0].text, "the inbound TLS certificate expires in 14d");
    assert!(monitor.observe(&cert(2 * day, 15 * day), &s).is_empty());
    assert_eq!(
        events(&monitor.observe(&cert(3 * day, 90 * day), &s)),
        [("certificate_expiry", true)]
    );
}

#[test]
fn node_lost_only_from_the_leader_and_only_after_being_seen_alive() {
    let nodes = |leader, list: &[(&str, bool)]| Facts {
        nodes: list
            .iter()
            .map(|(name, alive)| NodeFact {
                name: name.to_string(),
                alive: *alive,
            })
            .collect(),
        node_leader: leader,
        ..Facts::default()
    };
    let s = settings();
    let mut leader = Monitor::default();
    let mut other = Monitor::default();
    // An old dead row is not news.
    for m in [&mut leader, &mut other] {
        assert!(
            m.observe(
                &nodes(true, &[("a", true), ("b", true), ("old", false)]),
                &s
            )
            .is_empty()
        );
    }
    let lost = [("a", true), ("b", false), ("old", false)];
    let raised = leader.observe(&nodes(true, &lost), &s);
    assert_eq!(events(&raised), [("node_lost", false)]);
    assert_eq!(raised[0].subject.as_deref(), Some("b"));
    assert!(other.observe(&nodes(false, &lost), &s).is_empty());
    // The other node becomes leader later: it does not repeat what it already knew.
    assert!(other.observe(&nodes(true, &lost), &s).is_empty());
    assert_eq!(
        events(&other.observe(&nodes(true, &[("a", true), ("b", true)]), &s)),
        [("node_lost", true)]
    );
}

#[test]
fn each_quarantined_line_is_alerted_once_even_across_restarts() {
    let mut monitor = Monitor::default();
    let lines = |l: &[&str]| Facts {
        quarantined: l.iter().map(|s| s.to_string()).collect(),
        ..Facts::default()
    };
    assert_eq!(monitor.observe(&lines(&["a", "b"]), &settings()).len(), 2);
    assert!(monitor.observe(&lines(&["a", "b"]), &settings()).is_empty());
    let mut restarted: Monitor =
        serde_json::from_str(&serde_json::to_string(&monitor).unwrap()).unwrap();
    assert_eq!(
        restarted.observe(&lines(&["a", "c"]), &settings())[0].text,
        "set aside at start-up: c"
    );
}
