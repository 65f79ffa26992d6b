//! `node_lost` in a cluster (issue 16): three real nodes on one PostgreSQL, each with the same
//! webhook. A node killed with SIGKILL is reported once, by the alive node with the smallest name;
//! when that node is killed in turn, the last one reports it once and does not repeat the first.

use std::time::Duration;

use crate::support;
use support::SmtpSink;
use support::cluster::{LEASE_SECS, node_settings};
use support::postgres::TestPostgres;
use support::server::Server;
use support::webhook::WebhookReceiver;

const TOKEN: &str = "alerts-cluster-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_node_is_reported_once_by_one_node() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, _db) = pg.migrated("alerts").await;
    let primary = SmtpSink::start().await;
    let receiver = WebhookReceiver::start().await;
    let mut nodes = Vec::new();
    for name in ["n1", "n2", "n3"] {
        let mut settings = node_settings(name, &url, primary.addr(), &["d.test"]);
        settings.extra_toml.push_str(&format!(
            "[alerts]\ncheck_interval = \"200ms\"\n[[alert]]\nurl = \"{}\"\n",
            receiver.url(name)
        ));
        nodes.push(Server::with_api_token(settings, TOKEN).await);
    }
    // Every node has seen the others alive.
    tokio::time::sleep(Duration::from_secs(2)).await;

    nodes[1].kill9();
    let wait = Duration::from_secs(LEASE_SECS + 10);
    let lost = receiver.wait_for("node_lost", 1, wait).await;
    assert_eq!(
        lost[0].path, "/n1",
        "sent by the alive node with the smallest name"
    );
    assert_eq!(lost[0].json()["subject"], "n2");
    assert_eq!(lost[0].json()["state"], "firing");

    nodes[0].kill9();
    let lost = receiver.wait_for("node_lost", 2, wait).await;
    assert_eq!(lost[1].path, "/n3");
    assert_eq!(lost[1].json()["subject"], "n1");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all: Vec<(String, String)> = receiver
        .of("node_lost")
        .iter()
        .map(|r| {
            (
                r.path.clone(),
                r.json()["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        all,
        [
            ("/n1".to_string(), "n2".to_string()),
            ("/n3".to_string(), "n1".to_string())
        ]
    );
}
