//! Moving in (issue 13): a stopped server's local spool is exported and imported into the shared
//! queue (twice: the second run imports nothing), and the cluster then delivers every message once,
//! byte-identical, in per-mailbox order.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::SmtpSink;
use support::cluster::start_nodes;
use support::config::Settings;
use support::e2e::client::send_numbered;
use support::e2e::mail::{message_id, strip_first_received};
use support::postgres::TestPostgres;
use support::server::{Server, run_cli};

fn cli_ok(args: &[&str]) -> String {
    let out = run_cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "backupmx {args:?} failed: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_spool_moves_into_the_cluster_without_loss_or_duplicates() {
    let _machine = support::exclusive::shared().await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut settings = Settings::new(Some(primary.addr()));
    settings.domains[0].name = "d0.test".into();
    let mut local = Server::start(settings).await;
    let mailboxes = ["a@d0.test", "b@d0.test", "c@d0.test"];
    let expected = send_numbered(local.smtp_addr(), "m", 30, &mailboxes).await;
    local.terminate(Duration::from_secs(30)).await;

    let export = local.spool_dir().join("../export.bmx");
    let export = export.to_str().expect("path");
    let said = cli_ok(&[
        "spool",
        "export",
        "--spool",
        local.spool_dir().to_str().expect("path"),
        "--output",
        export,
    ]);
    assert!(said.contains("exported 30 queued messages"), "{said}");

    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("movein").await;
    let said = cli_ok(&["spool", "import", "--url", &url, export]);
    assert!(
        said.contains("imported 30 messages (0 were already there)"),
        "{said}"
    );
    let said = cli_ok(&["spool", "import", "--url", &url, export]);
    assert!(
        said.contains("imported 0 messages (30 were already there)"),
        "{said}"
    );
    let queued: i64 = db
        .query_one("SELECT count(*) FROM messages", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(queued, 30);

    primary.restart().await;
    let mut nodes = start_nodes(2, &url, primary.addr(), &["d0.test"], "t").await;
    let got = primary.wait_for(30, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(primary.messages().len(), 30, "delivered once each");
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &got {
        // Our Received header first, then the message as the client sent it.
        assert!(strip_first_received(&m.data).starts_with(b"From: "));
        for r in &m.recipients {
            order
                .entry(r.clone())
                .or_default()
                .push(message_id(&m.data));
        }
    }
    assert_eq!(order, expected, "per-mailbox order");
    for node in &mut nodes {
        node.kill9();
    }
    pg.stop();
}
