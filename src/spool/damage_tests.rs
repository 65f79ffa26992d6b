//! Spool damage: a damaged record in the middle of a journal is skipped and quarantined while the
//! records after it still count (recovery resynchronises on the next intact frame); a truncated data
//! segment sets aside only the bodies it cut off.

use super::tests::envelope;
use super::*;

/// Three messages to `m0@`, `m1@`, `m2@`; returns the newest journal's path and its frames'
/// (offset, length) after the header.
async fn three_messages(dir: &std::path::Path) -> (std::path::PathBuf, Vec<(usize, usize)>) {
    {
        let (spool, _) = Spool::open(dir).unwrap();
        for i in 0..3 {
            let mut w = spool.body_writer();
            w.write(format!("body {i}\r\n").as_bytes()).await.unwrap();
            spool
                .commit(envelope(&format!("m{i}@example.test")), w)
                .await
                .unwrap();
        }
    }
    let mut journals: Vec<_> = std::fs::read_dir(dir.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    journals.sort();
    let path = journals.pop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut frames = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        frames.push((at, 8 + len));
        at += 8 + len;
    }
    assert_eq!(frames.len(), 3, "one record per message");
    (path, frames)
}

fn recipients(messages: &[StoredMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.envelope.recipients[0].address.clone())
        .collect()
}

#[tokio::test]
async fn flipped_bytes_in_a_middle_record_lose_only_that_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, frames) = three_messages(dir.path()).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let (at, len) = frames[1];
    for b in &mut bytes[at + len / 2..at + len / 2 + 3] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();

    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(
        recipients(&recovered),
        ["m0@example.test", "m2@example.test"]
    );
    assert_eq!(spool.quarantined().len(), 1, "{:?}", spool.quarantined());
    assert!(
        spool.quarantined()[0].contains("records after them were kept"),
        "{:?}",
        spool.quarantined()
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("quarantine"))
            .unwrap()
            .count(),
        1,
        "a copy of the damaged journal"
    );
}

#[tokio::test]
async fn a_damaged_length_field_is_skipped_too() {
    let dir = tempfile::tempdir().unwrap();
    let (path, frames) = three_messages(dir.path()).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let (at, _) = frames[0];
    bytes[at..at + 4].copy_from_slice(&0x00ff_fff0u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(
        recipients(&recovered),
        ["m1@example.test", "m2@example.test"]
    );
    assert_eq!(spool.quarantined().len(), 1);
}

#[tokio::test]
async fn garbage_to_the_end_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let (path, frames) = three_messages(dir.path()).await;
    let mut bytes = std::fs::read(&path).unwrap();
    let (at, _) = frames[1];
    for b in &mut bytes[at + 4..] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recipients(&recovered), ["m0@example.test"]);
    assert_eq!(spool.quarantined().len(), 1);
    // A second start finds a clean (compacted) journal: nothing more to quarantine.
    drop(spool);
    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(recipients(&recovered), ["m0@example.test"]);
    assert!(spool.quarantined().is_empty());
}

#[tokio::test]
async fn a_truncated_data_segment_quarantines_only_the_bodies_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    three_messages(dir.path()).await;
    let mut segments: Vec<_> = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    let segment = segments.pop().unwrap();
    // Each body is "body N\r\n" (8 bytes): cut into the last one.
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 3).unwrap();

    let (spool, recovered) = Spool::open(dir.path()).unwrap();
    assert_eq!(
        recipients(&recovered),
        ["m0@example.test", "m1@example.test"]
    );
    assert_eq!(spool.quarantined().len(), 1);
    assert!(
        spool.quarantined()[0].contains("has"),
        "{:?}",
        spool.quarantined()
    );
}
