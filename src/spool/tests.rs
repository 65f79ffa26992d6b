//! Spool tests against a real directory: durability across reopen, group commit, spill files, crash
//! leftovers, torn and damaged journals.

use std::sync::atomic::Ordering;

use tokio::io::AsyncReadExt;

use super::*;

/// A one-recipient envelope for `to`; shared with the damage tests.
pub(super) fn envelope(to: &str) -> Envelope {
    crate::envelope::samples::envelope(to, 1)
}

async fn store(spool: &Spool, body: &[u8]) -> StoredMessage {
    let mut w = spool.body_writer();
    for chunk in body.chunks(7000) {
        w.write(chunk).await.unwrap();
    }
    spool.commit(envelope("bob@example.test"), w).await.unwrap()
}

async fn read_all(spool: &Spool, id: QueueId) -> Vec<u8> {
    let mut out = Vec::new();
    spool
        .open_body(id)
        .await
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    out
}

#[tokio::test]
async fn committed_messages_survive_reopen_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![b'x'; INLINE_LIMIT * 3 + 17];
    let (small_id, big_id) = {
        let (spool, recovered) = Spool::open(dir.path()).unwrap();
        assert!(recovered.is_empty());
        let small = store(&spool, b"Subject: hi\r\n\r\nbody\r\n").await;
        let big_msg = store(&spool, &big).await;
        assert!(big_msg.id > small.id, "ids increase in arrival order");
        (small.id, big_msg.id)
    };
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    let ids: Vec<QueueId> = recovered.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![small_id, big_id]);
    assert_eq!(recovered[1].size, big.len() as u64);
    assert_eq!(
        read_all(&spool, small_id).await,
        b"Subject: hi\r\n\r\nbody\r\n"
    );
    assert_eq!(read_all(&spool, big_id).await, big);
    // New ids continue above the recovered ones.
    assert!(spool.body_writer().id() > big_id);
}

#[tokio::test]
async fn updates_are_durable_and_remove_frees_files() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        let m = store(&spool, &vec![b'y'; INLINE_LIMIT + 1]).await;
        let status = RecipientStatus::Delivered {
            at_ms: 5,
            reply: "250 ok".into(),
        };
        let attempt = Attempt {
            at_ms: 4,
            host: "mx".into(),
            result: "421 busy".into(),
        };
        spool
            .update(vec![
                Update::Attempt { id: m.id, attempt },
                Update::Recipient {
                    id: m.id,
                    index: 0,
                    status,
                },
                Update::Hold {
                    id: m.id,
                    held: true,
                },
            ])
            .await
            .unwrap();
        m.id
    };
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    let m = &recovered[0];
    assert!(m.held);
    assert_eq!(m.attempts.len(), 1);
    assert!(matches!(
        m.envelope.recipients[0].status,
        RecipientStatus::Delivered { .. }
    ));
    assert!(dir.path().join("body").join(format!("{id}.eml")).exists());
    spool.update(vec![Update::Remove { id }]).await.unwrap();
    assert!(!dir.path().join("body").join(format!("{id}.eml")).exists());
    drop(spool);
    let (_spool, recovered) = Spool::open(dir.path()).unwrap();
    assert!(recovered.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let spool = spool.clone();
        tasks.push(tokio::spawn(async move {
            store(&spool, format!("message {i}\r\n").as_bytes())
                .await
                .id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let stats = spool.stats();
    assert_eq!(stats.commits.load(Ordering::Relaxed), 200);
    let batches = stats.batches.load(Ordering::Relaxed);
    assert!(
        batches < 200,
        "group commit: {batches} batches for 200 messages"
    );
    drop(spool);
    let (_spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recovered.len(), 200);
}

#[tokio::test]
async fn abandoned_body_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path()).unwrap();
    let mut w = spool.body_writer();
    w.write(&vec![b'z'; INLINE_LIMIT * 2]).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        1
    );
    drop(w);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    drop(spool);
    let (_spool, recovered) = Spool::open(dir.path()).unwrap();
    assert!(recovered.is_empty());
}

#[tokio::test]
async fn second_process_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_spool, _) = Spool::open(dir.path()).unwrap();
    assert!(matches!(
        Spool::open(dir.path()),
        Err(SpoolError::Locked(_))
    ));
}

fn journal_path(dir: &std::path::Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.pop().unwrap()
}

#[tokio::test]
async fn torn_tail_is_cut_and_earlier_messages_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        store(&spool, b"one\r\n").await;
        store(&spool, b"two\r\n").await;
    }
    let path = journal_path(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 3).unwrap();
    let (_spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(
        recovered.len(),
        1,
        "the torn second record is dropped, the first kept"
    );
}

#[tokio::test]
async fn damaged_journal_is_quarantined_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        store(&spool, b"one\r\n").await;
        store(&spool, b"two\r\n").await;
    }
    let path = journal_path(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    // A newer journal beside it makes the damaged one "not last": it must be quarantined.
    std::fs::write(
        dir.path().join("journal").join("00000000FFFFFFFF.log"),
        b"BMXJ0001",
    )
    .unwrap();
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(spool.quarantined().len(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .count(),
        1
    );
}

#[tokio::test]
async fn missing_body_quarantines_only_that_message() {
    let dir = tempfile::tempdir().unwrap();
    let big_id = {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        store(&spool, b"small\r\n").await;
        store(&spool, &vec![b'b'; INLINE_LIMIT + 5]).await.id
    };
    std::fs::remove_file(dir.path().join("body").join(format!("{big_id}.eml"))).unwrap();
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(spool.quarantined().len(), 1);
    assert!(
        dir.path()
            .join("quarantine")
            .join(format!("{big_id}.envelope"))
            .exists()
    );
}

#[tokio::test]
async fn postmaster_mailbox_gets_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _) = Spool::open(dir.path()).unwrap();
    let m = store(&spool, b"to the postmaster\r\n").await;
    spool.deliver_to_postmaster(m.id).await.unwrap();
    let copy = std::fs::read(dir.path().join("postmaster").join(format!("{}.eml", m.id))).unwrap();
    assert_eq!(copy, b"to the postmaster\r\n");
}

#[tokio::test]
async fn a_finished_segment_is_deleted_even_after_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let (spool, _) = Spool::open(dir.path()).unwrap();
        store(&spool, b"small body\r\n").await.id
    };
    // After a restart the message lives in an older segment than the one being appended to.
    let (spool, _) = Spool::open(dir.path()).unwrap();
    let segments = || std::fs::read_dir(dir.path().join("data")).unwrap().count();
    assert_eq!(segments(), 2);
    assert_eq!(read_all(&spool, id).await, b"small body\r\n");
    spool.update(vec![Update::Remove { id }]).await.unwrap();
    assert_eq!(
        segments(),
        1,
        "the read segment is gone once its last message is"
    );
    assert!(spool.open_body(id).await.is_err());
}
