//! Domains provisioned through the admin API in a cluster (issues 13 and 16): a domain added through
//! one node takes mail on every node, one removed through another node is refused on all of them,
//! and a node started later has them too.

use crate::support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use support::SmtpSink;
use support::admin::{eventually, http};
use support::cluster::{rcpt_code, start_nodes};
use support::postgres::TestPostgres;
use support::server::Server;

const TOKEN: &str = "cluster-domains-token";
const WAIT: Duration = Duration::from_secs(10);

async fn api(node: &Server, method: &str, path: &str, body: Option<&str>) -> support::admin::Reply {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    http(
        localhost,
        node.admin_addr(),
        method,
        path,
        Some(TOKEN),
        body,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_provisioned_through_one_node_takes_mail_on_every_node() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("domains").await;
    let primary = SmtpSink::start().await;
    let nodes = start_nodes(2, &url, primary.addr(), &["d0.test"], TOKEN).await;
    assert_eq!(rcpt_code(&nodes[1], "user@shop.test").await, 550);

    let body = format!(r#"{{"primary": "{}"}}"#, primary.addr());
    let put = api(&nodes[0], "PUT", "/api/v1/domains/shop.test", Some(&body)).await;
    assert!(matches!(put.status, 200 | 201), "{}", put.text());
    eventually(
        "the other node takes mail for the new domain",
        WAIT,
        || async { rcpt_code(&nodes[1], "user@shop.test").await == 250 },
    )
    .await;
    let shown = api(&nodes[1], "GET", "/api/v1/domains/shop.test", None).await;
    assert_eq!(shown.status, 200, "{}", shown.text());
    let row: String = db
        .query_one(
            "SELECT changed_by FROM provisioned_domains WHERE name = 'shop.test'",
            &[],
        )
        .await
        .expect("the shared row")
        .get(0);
    assert_eq!(row, "n1");

    // A node started now has it at once.
    let mut settings = support::cluster::node_settings("n3", &url, primary.addr(), &["d0.test"]);
    settings.hostname = "n3.example.test".into();
    let n3 = Server::with_api_token(settings, TOKEN).await;
    eventually("a new node has the provisioned domain", WAIT, || async {
        rcpt_code(&n3, "user@shop.test").await == 250
    })
    .await;

    // Removed through the second node: refused on the first.
    let removed = api(&nodes[1], "DELETE", "/api/v1/domains/shop.test", None).await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    eventually(
        "the first node refuses the removed domain",
        WAIT,
        || async { rcpt_code(&nodes[0], "user@shop.test").await == 550 },
    )
    .await;
    eventually("the third node refuses it too", WAIT, || async {
        rcpt_code(&n3, "user@shop.test").await == 550
    })
    .await;
}
