//! Full disk: the spool on a 4 MiB tmpfs (mounted by the test; it needs root and fails loudly
//! without it, never skips). Filled up, the server refuses new mail with 452 4.3.1, keeps answering
//! EHLO/NOOP, delivers what it had queued once the primary answers (byte-identical, once each, and
//! recorded: a restart on the still full disk sends nothing again), and accepts again after space
//! is freed.

use crate::support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use support::SmtpSink;
use support::config::Settings;
use support::e2e::mail::{message_id, strip_first_received};
use support::fault::mount::TmpfsMount;
use support::fault::{Outcome, Session, sized_message};
use support::server::Server;

const WAIT: Duration = Duration::from_secs(20);
const QUEUED: usize = 12;
const MAILBOXES: [&str; 3] = ["a@example.test", "b@example.test", "c@example.test"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_refuses_with_452_keeps_serving_and_delivering_and_recovers() {
    let _machine = support::exclusive::shared().await;
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut server = Server::start(Settings::new(Some(sink.addr()))).await;
    // Move the spool onto a small tmpfs: stop, mount over the spool directory, start again.
    server.terminate(Duration::from_secs(10)).await;
    let mount = TmpfsMount::mount(&server.spool_dir(), "4m");
    server.restart().await;

    // Mail queued while the primary is down, before the disk fills.
    let mut sent: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut session = Session::open(server.smtp_addr()).await.expect("a session");
    for i in 0..QUEUED {
        let id = format!("queued-{i:02}");
        let to = MAILBOXES[i % MAILBOXES.len()];
        // Two large bodies (own files) among small ones (data segment).
        let size = if i % 6 == 5 {
            300_000
        } else {
            20_000 + i * 1000
        };
        let message = sized_message(&id, to, size);
        let outcome = session.send("sender@sender.test", to, &message).await;
        assert_eq!(outcome, Outcome::Acknowledged, "{id}");
        sent.insert(id, message);
    }

    let filler = mount.path().join("filler");
    let filled = fill(&filler);
    println!("full disk: filler took {filled} bytes of the 4 MiB spool");

    // New mail: 452 4.3.1, on the same session and on a new one.
    for attempt in 0..2 {
        if attempt == 1 {
            session = Session::open(server.smtp_addr())
                .await
                .expect("a new session");
        }
        let message = sized_message("refused", "a@example.test", 64 * 1024);
        let outcome = session
            .send("sender@sender.test", "a@example.test", &message)
            .await;
        match &outcome {
            Outcome::Refused(text) => assert!(
                text.starts_with("452") && text.contains("4.3.1"),
                "refused with {text:?}"
            ),
            other => panic!("full disk: the message got {other:?}, not 452 4.3.1"),
        }
        let noop = session.command("NOOP").await;
        assert_eq!(noop.map(|r| r.0), Some(250), "NOOP on a full disk");
    }
    let fresh = Session::open(server.smtp_addr()).await;
    assert!(fresh.is_some(), "greeting and EHLO on a full disk");

    // Deferrals go on while the primary is down (an attempt record each per retry): let them use
    // up whatever room the journal's last page had, so the results below need the reserve.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The primary comes back: everything queued is delivered, byte-identical, while the disk is full.
    sink.restart().await;
    sink.wait_for(QUEUED, WAIT).await;
    assert!(filler.exists(), "the disk was full during the deliveries");
    let log = server.log();
    assert!(
        log.contains("released the space reserve"),
        "the results were recorded in the reserved space:\n{log}"
    );
    session.quit().await;

    // The deliveries were recorded although the disk is full: a restart on the still full disk
    // (no room for a fresh journal: it appends to the old one) sends nothing again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate(Duration::from_secs(10)).await;
    // The deliveries freed the bodies' space: fill it again, so the restart finds a full disk.
    let topped = fill_more(&filler);
    println!("full disk: {topped} more bytes of filler after the deliveries");
    server.restart().await;
    server
        .wait_log("cannot write a fresh journal", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.messages().len(),
        QUEUED,
        "redelivered after a restart on a full disk"
    );
    let mut session = Session::open(server.smtp_addr())
        .await
        .expect("a session after the restart");

    // Space freed: accepted again, and delivered.
    std::fs::remove_file(&filler).expect("remove the filler");
    let late = sized_message("after-free", "b@example.test", 64 * 1024);
    let outcome = session
        .send("sender@sender.test", "b@example.test", &late)
        .await;
    assert_eq!(outcome, Outcome::Acknowledged, "after space was freed");
    sent.insert("after-free".into(), late);
    session.quit().await;
    sink.wait_for(QUEUED + 1, WAIT).await;
    // Anything delivered twice would show up shortly after.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let delivered = sink.messages();
    let mut times: BTreeMap<String, usize> = BTreeMap::new();
    for m in &delivered {
        let id = message_id(&m.data);
        let original = sent
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected delivery {id}"));
        assert!(
            strip_first_received(&m.data) == &original[..],
            "{id} damaged"
        );
        *times.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "full disk: {} queued before the disk filled, 2 refused with 452 4.3.1 while full, \
         {} delivered byte-identical (duplicates {twice:?}), 1 accepted after space was freed",
        QUEUED,
        delivered.len()
    );
    assert_eq!(times.len(), QUEUED + 1, "every message delivered");
    assert!(twice.is_empty(), "delivered twice: {twice:?}");
    assert!(
        server.log().contains("spool commit failed"),
        "the refusal was logged"
    );
}

/// Writes `path` until the filesystem is full (ENOSPC); returns the bytes written.
fn fill(path: &Path) -> u64 {
    fill_file(std::fs::File::create(path).expect("create the filler"))
}

/// Appends to the filler until the filesystem is full again.
fn fill_more(path: &Path) -> u64 {
    let file = std::fs::OpenOptions::new().append(true).open(path);
    fill_file(file.expect("open the filler"))
}

fn fill_file(mut file: std::fs::File) -> u64 {
    let mut written = 0u64;
    for chunk in [64 * 1024, 4096, 512, 1] {
        let block = vec![0x55u8; chunk];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the spool: {e}"),
            }
        }
    }
    file.sync_all().expect("sync the filler");
    written
}
