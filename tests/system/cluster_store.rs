//! The shared queue's writes against a real PostgreSQL: a group commit's rows and consecutive arrival
//! numbers, chunked bodies streamed in and read back byte-identical (orphans swept), and delivery
//! results fenced by the lease: a node that lost its lease writes nothing; the last settled recipient
//! removes the message and its body.

use crate::support;

use std::time::Duration;

use backupmx::cluster::bodies::{CHUNK, ChunkReader, ChunkWriter, sweep_orphans};
use backupmx::cluster::commit::{NewMessage, NewRecipient, commit_batch};
use backupmx::cluster::lease_store;
use backupmx::cluster::load::pending_for;
use backupmx::cluster::results::{Change, Recorded, Settled, record};
use support::postgres::TestPostgres;
use tokio_postgres::Client;

/// The one number a `SELECT count(*) ...` query returns.
async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).await.expect("count").get(0)
}

fn message(id: u64, mailboxes: &[&str], body: Option<&[u8]>) -> NewMessage {
    NewMessage {
        id,
        sender: "alice@sender.test".into(),
        envelope: vec![id as u8; 3],
        recipients: mailboxes
            .iter()
            .map(|m| NewRecipient {
                address: m.to_string(),
                destination: m.rsplit('@').next().unwrap_or_default().to_string(),
                mailbox: m.to_string(),
            })
            .collect(),
        size: body.map_or(0, |b| b.len() as u64),
        received_at_ms: 1_700_000_000_000,
        inline_body: body.map(<[u8]>::to_vec),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_commit_stores_every_row_with_consecutive_arrivals() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, mut c) = pg.migrated("commit").await;
    let first = commit_batch(
        &mut c,
        "n1",
        &[
            message(7, &["a@d.test", "b@e.test"], Some(b"one")),
            message(3, &["a@d.test"], Some(b"two")),
        ],
    )
    .await
    .expect("commit");
    assert_eq!(first, vec![1, 2]);
    let second = commit_batch(&mut c, "n2", &[message(9, &["c@d.test"], None)])
        .await
        .expect("commit");
    assert_eq!(second, vec![3]);

    let rows = c
        .query(
            "SELECT id, arrival, accepted_by, envelope FROM messages ORDER BY arrival",
            &[],
        )
        .await
        .expect("messages");
    let got: Vec<(i64, i64, String, Vec<u8>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            (7, 1, "n1".into(), vec![7; 3]),
            (3, 2, "n1".into(), vec![3; 3]),
            (9, 3, "n2".into(), vec![9; 3])
        ]
    );
    let recipients = count(&c, "SELECT count(*) FROM recipients WHERE status = 0").await;
    assert_eq!(recipients, 4);
    let mut reader = ChunkReader::new(3);
    assert_eq!(
        reader.next_chunk(&c).await.expect("read"),
        Some(b"two".to_vec())
    );
    assert_eq!(reader.next_chunk(&c).await.expect("read"), None);

    // A failing batch (an id already stored) commits nothing and moves no arrival number.
    let clash = commit_batch(
        &mut c,
        "n1",
        &[
            message(10, &["x@d.test"], None),
            message(7, &["y@d.test"], None),
        ],
    )
    .await;
    assert!(clash.is_err());
    let messages = count(&c, "SELECT count(*) FROM messages").await;
    assert_eq!(messages, 3);
    let after = commit_batch(&mut c, "n1", &[message(11, &["z@d.test"], None)])
        .await
        .expect("commit after a failure");
    assert_eq!(after, vec![4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_streams_in_chunks_and_reads_back_identical() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, c) = pg.migrated("bodies").await;
    let body: Vec<u8> = (0..(2 * CHUNK + 12_345))
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let mut writer = ChunkWriter::new(42);
    for piece in body.chunks(65_537) {
        writer.write(&c, piece).await.expect("write");
    }
    assert_eq!(writer.finish(&c).await.expect("finish"), body.len() as u64);
    let mut back = Vec::new();
    let mut reader = ChunkReader::new(42);
    let mut chunks = 0;
    while let Some(chunk) = reader.next_chunk(&c).await.expect("read") {
        assert!(chunk.len() <= CHUNK);
        back.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    assert!(back == body, "body differs");
    // No message names id 42: an orphan, swept once old enough.
    assert_eq!(sweep_orphans(&c, 3600.0).await.expect("sweep"), 0);
    assert_eq!(sweep_orphans(&c, 0.0).await.expect("sweep"), 3);
}

fn delivered(id: u64, index: u16) -> Change {
    Change::Recipient {
        id,
        index,
        settled: Settled::Delivered,
        reply: "250 2.0.0 Ok".into(),
        at_ms: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_written_only_under_the_current_lease_and_finish_the_message() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (_, mut c) = pg.migrated("results").await;
    let short = Duration::from_millis(500);
    commit_batch(
        &mut c,
        "a",
        &[message(5, &["u@d.test", "v@d.test"], Some(b"body"))],
    )
    .await
    .expect("commit");
    let granted = lease_store::acquire(&c, "a", &["d.test".to_string()], short)
        .await
        .expect("a");
    assert_eq!(granted, vec![("d.test".to_string(), 1)]);
    let attempt = Change::Attempt {
        id: 5,
        at_ms: 1,
        host: "mx1.d.test".into(),
        result: "250 2.0.0 Ok".into(),
    };
    let first = record(&mut c, "a", "d.test", 1, &[delivered(5, 0), attempt])
        .await
        .expect("record");
    assert_eq!(first, Recorded::Written { removed: vec![] });

    tokio::time::sleep(short + Duration::from_millis(200)).await;
    // a's lease has expired: nothing it sends is written any more, before or after a take-over.
    assert_eq!(
        record(&mut c, "a", "d.test", 1, &[delivered(5, 1)])
            .await
            .expect("fenced"),
        Recorded::Fenced
    );
    let taken = lease_store::acquire(&c, "b", &["d.test".to_string()], short)
        .await
        .expect("b");
    assert_eq!(taken, vec![("d.test".to_string(), 2)]);
    assert_eq!(
        record(&mut c, "a", "d.test", 1, &[delivered(5, 1)])
            .await
            .expect("fenced"),
        Recorded::Fenced
    );
    assert_eq!(
        record(&mut c, "b", "d.test", 2, &[delivered(5, 1)])
            .await
            .expect("b writes"),
        Recorded::Written { removed: vec![5] }
    );
    let left = count(
        &c,
        "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM body_chunks)
                  + (SELECT count(*) FROM recipients) + (SELECT count(*) FROM attempts)",
    )
    .await;
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_loads_pending_mail_in_arrival_order_and_hears_new_commits() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, mut c) = pg.migrated("load").await;
    let (_listener, mut arrivals) = backupmx::cluster::load::listen_arrivals(&url, None)
        .await
        .expect("listen");
    commit_batch(
        &mut c,
        "a",
        &[
            message(30, &["u@d.test", "v@other.test"], None),
            message(20, &["w@other.test"], None),
            message(10, &["u@d.test"], None),
        ],
    )
    .await
    .expect("commit");
    tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
        .await
        .expect("notified in time")
        .expect("channel open");
    let lease = lease_store::acquire(&c, "a", &["d.test".to_string()], Duration::from_secs(30))
        .await
        .expect("lease");
    record(&mut c, "a", "d.test", lease[0].1, &[delivered(10, 0)])
        .await
        .expect("deliver 10");

    let page = pending_for(&c, "d.test", 0, 100).await.expect("load");
    let ids: Vec<u64> = page.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        vec![30],
        "10 is delivered, 20 is another destination's"
    );
    let m = &page[0];
    assert_eq!((m.arrival, m.accepted_by.as_str()), (1, "a"));
    let states: Vec<(u16, &str, i16)> = m
        .recipients
        .iter()
        .map(|r| (r.index, r.destination.as_str(), r.status))
        .collect();
    assert_eq!(states, vec![(0, "d.test", 0), (1, "other.test", 0)]);
    assert!(
        pending_for(&c, "d.test", 1, 100)
            .await
            .expect("after")
            .is_empty()
    );
    let other: Vec<u64> = pending_for(&c, "other.test", 0, 1)
        .await
        .expect("page of one")
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(other, vec![30]);
}
