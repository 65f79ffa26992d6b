//! Node membership and destination leases against a real PostgreSQL: slots, a second process under a
//! live node's name refused, a dead node's name taken over; leases granted once, renewed, lost to
//! expiry under a new epoch, released for an immediate take-over; and the arrival counter giving
//! commit order.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use backupmx::cluster::lease::{self, Leases};
use backupmx::cluster::nodes::{self, NodeError};
use backupmx::cluster::{db, lease_store};
use support::postgres::TestPostgres;

const SHORT: Duration = Duration::from_millis(600);

fn dests(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_get_slots_and_a_live_name_is_not_taken_twice() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, c) = pg.migrated("membership").await;
    assert_eq!(nodes::register(&c, "a", 1, SHORT, "t").await.expect("a"), 0);
    assert_eq!(nodes::register(&c, "b", 2, SHORT, "t").await.expect("b"), 1);
    // The same process registering again (a reconnect) keeps its slot.
    assert_eq!(
        nodes::register(&c, "a", 1, SHORT, "t")
            .await
            .expect("a again"),
        0
    );
    match nodes::register(&c, "a", 3, SHORT, "t").await {
        Err(NodeError::NameInUse(name)) => assert_eq!(name, "a"),
        other => panic!("expected NameInUse, got {other:?}"),
    }
    assert!(nodes::heartbeat(&c, "a", 1).await.expect("hb"));
    tokio::time::sleep(SHORT + Duration::from_millis(300)).await;
    // a's heartbeat is older than its lease: a new process may take the name, and keeps slot 0.
    assert_eq!(
        nodes::register(&c, "a", 3, SHORT, "t")
            .await
            .expect("take over"),
        0
    );
    assert!(!nodes::heartbeat(&c, "a", 1).await.expect("old process"));
    let list = nodes::list(&c).await.expect("list");
    let names: Vec<(&str, bool)> = list.iter().map(|n| (n.name.as_str(), n.alive)).collect();
    assert_eq!(names, vec![("a", true), ("b", false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_granted_once_renewed_and_taken_over_under_a_new_epoch() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, c) = pg.migrated("leases").await;
    let mine = lease_store::acquire(&c, "a", &dests(&["d1.test", "d2.test"]), SHORT)
        .await
        .expect("a acquires");
    assert_eq!(mine, vec![("d1.test".into(), 1), ("d2.test".into(), 1)]);
    let theirs = lease_store::acquire(&c, "b", &dests(&["d1.test"]), SHORT)
        .await
        .expect("b tries");
    assert!(theirs.is_empty(), "{theirs:?}");

    let renewal = lease_store::renew(&c, "a", SHORT).await.expect("renew");
    assert_eq!(renewal.held.len(), 2);
    assert_eq!(renewal.next_foreign_expiry_ms, None);

    tokio::time::sleep(SHORT + Duration::from_millis(200)).await;
    let taken = lease_store::acquire(&c, "b", &dests(&["d1.test"]), SHORT)
        .await
        .expect("b takes over");
    assert_eq!(taken, vec![("d1.test".into(), 2)]);
    // a's renewal no longer returns d1 (taken) nor d2 (expired untaken: only acquire brings it back).
    let renewal = lease_store::renew(&c, "a", SHORT)
        .await
        .expect("renew late");
    assert!(renewal.held.is_empty(), "{:?}", renewal.held);
    assert!(renewal.next_foreign_expiry_ms.is_some_and(|ms| ms > 0));
    let back = lease_store::acquire(&c, "a", &dests(&["d2.test"]), SHORT)
        .await
        .expect("a again");
    assert_eq!(back, vec![("d2.test".into(), 2)]);

    // The pure core, fed the database's answers, drops exactly what was lost.
    let t0 = std::time::Instant::now();
    let mut leases = Leases::new(SHORT);
    leases.acquired("d1.test", 1, t0);
    leases.acquired("d2.test", 2, t0);
    let answer = lease_store::renew(&c, "a", SHORT).await.expect("renew");
    assert_eq!(
        leases.renewed(t0, &answer.held).destinations,
        vec!["d1.test"]
    );

    assert_eq!(lease_store::release(&c, "a").await.expect("release"), 1);
    let now_b = lease_store::acquire(&c, "b", &dests(&["d2.test"]), SHORT)
        .await
        .expect("b after release");
    assert_eq!(now_b, vec![("d2.test".into(), 3)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_list_destinations_with_pending_mail_oldest_first() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, c) = pg.migrated("candidates").await;
    c.batch_execute(
        "INSERT INTO messages (id, arrival, accepted_by, sender, envelope, size, received_at) VALUES
           (10, 1, 'a', 's@x', '', 1, now()), (11, 2, 'a', 's@x', '', 1, now()), (12, 3, 'b', 's@x', '', 1, now());
         INSERT INTO recipients (message_id, idx, address, destination, mailbox, status) VALUES
           (10, 0, 'u@late.test', 'late.test', 'u@late.test', 1),
           (11, 0, 'u@late.test', 'late.test', 'u@late.test', 0), (11, 1, 'v@early.test', 'early.test', 'v@early.test', 1),
           (10, 1, 'v@early.test', 'early.test', 'v@early.test', 0),
           (12, 0, 'w@owned.test', 'owned.test', 'w@owned.test', 0);",
    )
    .await
    .expect("fixture");
    lease_store::acquire(&c, "b", &dests(&["owned.test"]), Duration::from_secs(30))
        .await
        .expect("b owns one");
    let found = lease_store::candidates(&c).await.expect("candidates");
    let seen: Vec<(&str, Option<&str>, u64)> = found
        .iter()
        .map(|c| (c.destination.as_str(), c.owner.as_deref(), c.oldest_arrival))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("early.test", None, 1),
            ("late.test", None, 2),
            ("owned.test", Some("b"), 3)
        ]
    );
    assert_eq!(
        lease::to_acquire("a", &found, 2),
        vec!["early.test", "late.test", "owned.test"][..2].to_vec()
    );
}

/// Many concurrent commits, each taking its arrival number as its last statement: a reader that polls
/// must never see a number appear below one it has already seen (no commit overtakes a lower number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrival_numbers_become_visible_in_commit_order() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, _c) = pg.migrated("arrival").await;
    let writers = 8;
    let per_writer = 40;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = db::connect(&url, None).await.expect("writer");
            for i in 0..per_writer {
                let tx = client.transaction().await.expect("tx");
                let id = (w * 1_000 + i) as i64;
                let arrival: i64 = tx
                    .query_one("UPDATE arrival SET last = last + 1 RETURNING last", &[])
                    .await
                    .expect("counter")
                    .get(0);
                tx.execute(
                    "INSERT INTO messages (id, arrival, accepted_by, sender, envelope, size, received_at)
                     VALUES ($1, $2, 'n', '', '', 0, now())",
                    &[&id, &arrival],
                )
                .await
                .expect("insert");
                tx.commit().await.expect("commit");
            }
        }));
    }
    let reader = db::connect(&url, None).await.expect("reader");
    let reader = Arc::new(reader);
    let total = (writers * per_writer) as usize;
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while seen.len() < total && std::time::Instant::now() < deadline {
        let high = seen.iter().next_back().copied().unwrap_or(0i64);
        let rows = reader
            .query("SELECT arrival FROM messages ORDER BY arrival", &[])
            .await
            .expect("poll");
        for row in rows {
            let arrival: i64 = row.get(0);
            if seen.insert(arrival) {
                assert!(
                    arrival > high,
                    "arrival {arrival} appeared after {high} was seen"
                );
            }
        }
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    assert_eq!(seen.len(), total);
}
