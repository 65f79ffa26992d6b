//! Recovery detection shared by the nodes (issue 13): two real nodes on one PostgreSQL, each
//! delivering one of the two backed-up domains to the same primary, which is down. The first node probes only
//! once a minute; the second five times a second. When the primary comes back, the second node's
//! probe sees it, announces it through the database, and the first node probes at once: its mail
//! reaches the primary within 2 s, not a minute later. Both consoles show each destination's health
//! as the node delivering it sees it.

use crate::support;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use support::SmtpSink;
use support::admin::{eventually, http};
use support::cluster::node_settings;
use support::e2e::client::Client;
use support::e2e::mail::message;
use support::postgres::TestPostgres;
use support::server::Server;

const TOKEN: &str = "cluster-health-token";
/// Both nodes back up both domains, as nodes of one cluster do.
const DOMAINS: [&str; 2] = ["a.test", "b.test"];
const WAIT: Duration = Duration::from_secs(10);

/// The state `node`'s `/api/v1/domains` shows for `domain`.
async fn state_on(node: &Server, domain: &str) -> String {
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let reply = http(
        localhost,
        node.admin_addr(),
        "GET",
        "/api/v1/domains",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["domains"]
        .as_array()
        .expect("domains")
        .iter()
        .find(|d| d["domain"] == domain)
        .map(|d| d["state"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

async fn lease_holder(db: &tokio_postgres::Client, destination: &str) -> Option<String> {
    db.query_opt(
        "SELECT node FROM leases WHERE destination = $1 AND expires_at >= now()",
        &[&destination],
    )
    .await
    .expect("leases")
    .map(|r| r.get(0))
}

async fn send(node: &Server, to: &str, id: &str) {
    let mut client = Client::connect(node.smtp_addr()).await;
    client
        .send_ok("sender@sender.test", &[to], &message(id, to))
        .await;
    client.quit().await;
}

fn signal(node: &Server, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &node.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_seen_answering_by_one_node_makes_every_node_probe_at_once() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("health").await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;

    let mut slow = node_settings("n1", &url, primary.addr(), &DOMAINS);
    slow.probe_interval = "60s".into();
    let slow = Server::with_api_token(slow, TOKEN).await;
    send(&slow, "user@a.test", "slow-1").await;
    eventually("n1 delivers a.test", WAIT, || async {
        lease_holder(&db, "a.test").await.as_deref() == Some("n1")
    })
    .await;

    // n2 claims b.test while n1 is paused (n1's leases outlive the pause): who delivers what is then
    // known, whatever the nodes' heartbeats would have raced to.
    let mut fast = node_settings("n2", &url, primary.addr(), &DOMAINS);
    fast.probe_interval = "200ms".into();
    let fast = Server::with_api_token(fast, TOKEN).await;
    signal(&slow, "STOP");
    send(&fast, "user@b.test", "fast-1").await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while lease_holder(&db, "b.test").await.as_deref() != Some("n2") {
        assert!(Instant::now() < deadline, "n2 did not claim b.test");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&slow, "CONT");

    // Each node's console shows the other's destination as the other sees it: down.
    for (node, domain) in [(&fast, "a.test"), (&slow, "b.test")] {
        eventually("the other node's destination shows down", WAIT, || async {
            state_on(node, domain).await == "down"
        })
        .await;
    }
    assert_eq!(lease_holder(&db, "a.test").await.as_deref(), Some("n1"));

    primary.restart().await;
    let back = Instant::now();
    let received = primary.wait_for(2, Duration::from_secs(20)).await;
    let took = back.elapsed();
    println!("both messages at the primary {took:?} after it answered");
    assert!(
        took <= Duration::from_secs(2),
        "n1's mail waited {took:?} for its own minute-long probe"
    );
    let mut ids: Vec<bool> = ["slow-1", "fast-1"]
        .iter()
        .map(|id| {
            received
                .iter()
                .any(|m| String::from_utf8_lossy(&m.data).contains(&format!("<{id}@e2e.test>")))
        })
        .collect();
    ids.dedup();
    assert_eq!(ids, vec![true], "both messages arrived");
    assert!(
        slow.log()
            .contains("another node sees a destination answer again"),
        "n1 says why it probed"
    );
    for (node, domain) in [(&fast, "a.test"), (&slow, "b.test")] {
        eventually("the other node's destination shows up", WAIT, || async {
            state_on(node, domain).await == "up"
        })
        .await;
    }
    let row: (String, String) = db
        .query_one(
            "SELECT state, node FROM destination_health WHERE destination = 'b.test'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .expect("b.test's shared health");
    assert_eq!(row, ("up".to_string(), "n2".to_string()));
    primary.stop().await;
    pg.stop();
}
