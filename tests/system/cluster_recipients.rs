//! The recipient-verification cache shared by the nodes of a cluster (issue 13): what one node's
//! callout learns, every node knows (and refuses a known-bad address with the primary down); a purge
//! on any node reaches every node; a node started later copies the whole cache from the database.

use crate::support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use support::SmtpSink;
use support::admin::{api_get, eventually, http};
use support::cluster::{node_settings, rcpt_code};
use support::postgres::TestPostgres;
use support::server::Server;

const DOMAIN: &str = "d0.test";
const TOKEN: &str = "cluster-recipients-token";
const WAIT: Duration = Duration::from_secs(10);

async fn node(name: &str, url: &str, primary: SocketAddr) -> Server {
    let mut settings = node_settings(name, url, primary, &[DOMAIN]);
    for domain in &mut settings.domains {
        domain.extra.push("recipients = \"verify\"".into());
    }
    Server::with_api_token(settings, TOKEN).await
}

/// What `node`'s cache says about `address` (`good`, `bad` or `unknown`).
async fn known(node: &Server, address: &str) -> String {
    let path = format!("/api/v1/recipients/lookup?address={address}");
    let view = api_get(node.admin_addr(), TOKEN, &path).await;
    view["state"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_learns_every_node_knows() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("recipients").await;
    let mut primary = SmtpSink::start().await;
    primary.reject("bad@d0.test", "550 5.1.1 no such user");
    let n1 = node("n1", &url, primary.addr()).await;
    let n2 = node("n2", &url, primary.addr()).await;

    // n1 asks the primary (callouts) and learns both answers.
    assert_eq!(rcpt_code(&n1, "good@d0.test").await, 250);
    assert_eq!(rcpt_code(&n1, "bad@d0.test").await, 550);

    // With the primary gone, n2 can ask nobody; it knows anyway.
    primary.stop().await;
    eventually("n2 knows what n1 learnt", WAIT, || async {
        known(&n2, "bad@d0.test").await == "bad" && known(&n2, "good@d0.test").await == "good"
    })
    .await;
    assert_eq!(
        rcpt_code(&n2, "bad@d0.test").await,
        550,
        "refused from the shared cache"
    );
    assert_eq!(rcpt_code(&n2, "good@d0.test").await, 250);
    let row = db
        .query_one(
            "SELECT verdict, source, learned_by FROM recipient_cache WHERE key = 'bad@d0.test'",
            &[],
        )
        .await
        .expect("the shared row");
    let row: (String, String, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(row, ("bad".into(), "callout".into(), "n1".into()));

    // A purge on n2 reaches n1.
    let purged = http(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        n2.admin_addr(),
        "POST",
        "/api/v1/recipients/purge",
        Some(TOKEN),
        Some(r#"{"address":"good@d0.test"}"#),
    )
    .await;
    assert_eq!(purged.status, 200, "{}", purged.text());
    eventually("n1 forgot the purged address", WAIT, || async {
        known(&n1, "good@d0.test").await == "unknown"
    })
    .await;

    // A node started now copies the cache from the database.
    let n3 = node("n3", &url, primary.addr()).await;
    eventually("n3 copied the shared cache", WAIT, || async {
        known(&n3, "bad@d0.test").await == "bad"
    })
    .await;
    assert_eq!(known(&n3, "good@d0.test").await, "unknown");
}
