//! End-to-end, postmaster (issue 2, RFC 5321 §4.5.1): `postmaster` and `postmaster@<our hostname>` are
//! accepted whatever the relay domains, kept in the local postmaster mailbox, and never forwarded.

use crate::support;

use std::time::{Duration, Instant};

use support::SmtpSink;
use support::config::Settings;
use support::e2e::client::send_one;
use support::e2e::mail::{message, strip_first_received};
use support::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmaster_mail_is_kept_locally_and_never_forwarded() {
    let sink = SmtpSink::start().await;
    let server = Server::start(Settings::new(Some(sink.addr()))).await;
    let hostname = server.settings.hostname.clone();

    let bare = message("pm-bare", "postmaster");
    let sent = send_one(server.smtp_addr(), "a@sender.test", &["PostMaster"], &bare).await;
    assert_eq!(sent.data.expect("DATA").code, 250);
    let qualified = message("pm-qualified", "postmaster");
    let to = format!("postmaster@{}", hostname.to_uppercase());
    let sent = send_one(
        server.smtp_addr(),
        "a@sender.test",
        &[to.as_str()],
        &qualified,
    )
    .await;
    assert_eq!(sent.data.expect("DATA").code, 250);

    let mailbox = server.spool_dir().join("postmaster");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut files = Vec::new();
    while Instant::now() < deadline {
        files = std::fs::read_dir(&mailbox)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        if files.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        files.len(),
        2,
        "both messages in the postmaster mailbox: {files:?}"
    );
    files.sort();
    let first = std::fs::read(&files[0]).expect("read");
    assert_eq!(strip_first_received(&first), bare.as_slice());
    assert!(
        sink.messages().is_empty(),
        "postmaster mail must not be forwarded"
    );
}
