//! Three real nodes on one PostgreSQL (issue 13): mail accepted on every node while the primary is
//! down is delivered by whichever node owns its destination; a node killed with SIGKILL while it
//! holds claims loses nothing: its destinations move to the others within `lease` + 2 s, every
//! acknowledged message arrives byte-identical, once, in per-mailbox order.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::SmtpSink;
use support::cluster::{LEASE_SECS, start_nodes};
use support::e2e::client::Client;
use support::e2e::mail::{message, message_id, strip_first_received};
use support::postgres::TestPostgres;

const DOMAINS: [&str; 6] = [
    "d0.test", "d1.test", "d2.test", "d3.test", "d4.test", "d5.test",
];
const TOKEN: &str = "cluster-test-token";

/// (node, leases) of every node holding a live lease.
async fn claims(db: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    db.query(
        "SELECT node, count(*) FROM leases WHERE expires_at >= now() GROUP BY node",
        &[],
    )
    .await
    .expect("leases")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_and_its_mail_moves_on() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("nodes").await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut nodes = start_nodes(3, &url, primary.addr(), &DOMAINS, TOKEN).await;

    // 180 messages, 18 mailboxes over 6 domains, sent round-robin to the three nodes, one session
    // per message (so each goes to its node as soon as the previous one is acknowledged).
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..180usize {
        let to = format!("user{}@{}", i % 3, DOMAINS[i % 6]);
        let id = format!("c-{i:03}");
        let body = message(&id, &to);
        let node = &nodes[i % 3];
        let mut client = Client::connect(node.smtp_addr()).await;
        client.send_ok("sender@sender.test", &[&to], &body).await;
        client.quit().await;
        expected.entry(to).or_default().push(id.clone());
        bodies.insert(id, body);
    }

    // Every destination claimed; the victim is a node holding claims.
    let deadline = Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let held = claims(&db).await;
        if held.values().sum::<i64>() == DOMAINS.len() as i64 {
            let (name, _) = held.iter().max_by_key(|(_, n)| **n).expect("a holder");
            break name.clone();
        }
        assert!(
            Instant::now() < deadline,
            "destinations not all claimed: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let victim_index: usize = victim[1..].parse::<usize>().expect("node name") - 1;
    let victim_destinations: Vec<String> = db
        .query(
            "SELECT destination FROM leases WHERE node = $1 AND expires_at >= now()",
            &[&victim],
        )
        .await
        .expect("leases")
        .iter()
        .map(|r| r.get(0))
        .collect();

    nodes[victim_index].kill9();
    let killed_at = Instant::now();
    primary.restart().await;

    // The first message of the dead node's destinations reaches the primary within lease + 2 s.
    let takeover = first_delivery_for(&primary, &victim_destinations, killed_at).await;
    println!("takeover after kill -9 of {victim}: {takeover:?} (lease {LEASE_SECS} s)");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS + 2),
        "takeover took {takeover:?}"
    );
    let received = primary.wait_for(180, Duration::from_secs(60)).await;

    // Every acknowledged message once, byte-identical behind our Received header, in order.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &received {
        let id = message_id(&m.data);
        *seen.entry(id.clone()).or_default() += 1;
        let original = &bodies[&id];
        assert_eq!(
            strip_first_received(&m.data),
            &original[..],
            "message {id} changed on its way"
        );
    }
    assert_eq!(seen.len(), 180, "every acknowledged message arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered twice (nothing was in flight at the kill): {twice:?}"
    );
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &received {
        for r in &m.recipients {
            order
                .entry(r.clone())
                .or_default()
                .push(message_id(&m.data));
        }
    }
    assert_eq!(order, expected, "per-mailbox order");

    // The shared queue is empty once everything is delivered.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = db
            .query_one("SELECT count(*) FROM messages", &[])
            .await
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} messages left in the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &mut nodes {
        node.kill9();
    }
    primary.stop().await;
    pg.stop();
}

/// How long after `since` the primary first received a message for one of `destinations`.
async fn first_delivery_for(
    primary: &SmtpSink,
    destinations: &[String],
    since: Instant,
) -> Duration {
    let for_them = |m: &support::ReceivedMessage| {
        m.recipients.iter().any(|r| {
            destinations
                .iter()
                .any(|d| r.ends_with(&format!("@{d}>")) || r.ends_with(&format!("@{d}")))
        })
    };
    loop {
        if primary.messages().iter().any(for_them) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "the dead node's mail never moved on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
