//! The cluster when its database goes away (issue 13): PostgreSQL restarted under load (new mail
//! gets 451 4.3.0 while it is gone, nothing acknowledged is lost, the nodes resume on their own), and
//! one node cut off from the database (it stops delivering, another node takes its destinations over,
//! no message is delivered by both).

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::SmtpSink;
use support::cluster::{node_settings, start_nodes};
use support::e2e::client::Client;
use support::e2e::mail::{message, message_id};
use support::postgres::TestPostgres;
use support::server::Server;
use support::tcp_proxy::TcpProxy;

const DOMAINS: [&str; 4] = ["d0.test", "d1.test", "d2.test", "d3.test"];
const TOKEN: &str = "cluster-test-token";

/// Sends message `id` to `to` through `node`: its reply code after the final dot (0 when the
/// session failed before).
async fn send(node: std::net::SocketAddr, id: &str, to: &str) -> u16 {
    let mut client = Client::connect(node).await;
    let sent = client
        .send("sender@sender.test", &[to], &message(id, to))
        .await;
    client.quit().await;
    sent.data.map_or(0, |r| r.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_nothing_acknowledged() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, _db) = pg.migrated("restart").await;
    let primary = SmtpSink::start().await;
    let nodes = start_nodes(3, &url, primary.addr(), &DOMAINS, TOKEN).await;
    let addrs: Vec<_> = nodes.iter().map(|n| n.smtp_addr()).collect();

    // 150 messages at a steady pace; the database is stopped for 3 s in the middle.
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let mut replies: BTreeMap<String, u16> = BTreeMap::new();
        let mut last_refused = None;
        for i in 0..150usize {
            let id = format!("r-{i:03}");
            let to = format!("user{}@{}", i % 5, DOMAINS[i % 4]);
            let code = send(addrs[i % 3], &id, &to).await;
            if code != 250 {
                last_refused = Some(start.elapsed());
            }
            replies.insert(id.clone(), code);
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        (replies, last_refused)
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    pg.stop();
    let stopped = start.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg.restart();
    let restarted = start.elapsed();
    let (replies, last_refused) = sender.await.expect("sender");
    println!(
        "database stopped at {stopped:?}, running again at {restarted:?}; last 451 at {last_refused:?}"
    );

    let accepted: Vec<&String> = replies
        .iter()
        .filter(|(_, c)| **c == 250)
        .map(|(id, _)| id)
        .collect();
    let refused: Vec<(&String, &u16)> = replies.iter().filter(|(_, c)| **c != 250).collect();
    println!(
        "accepted {}, refused {}: {refused:?}",
        accepted.len(),
        refused.len()
    );
    assert!(
        !refused.is_empty(),
        "nothing was refused while the database was down"
    );
    assert!(
        refused.iter().all(|(_, code)| **code == 451),
        "refused otherwise than 451 (4.3.0): {refused:?}"
    );

    // Every acknowledged message arrives; the nodes resumed without help.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let got: std::collections::BTreeSet<String> = primary
            .messages()
            .iter()
            .map(|m| message_id(&m.data))
            .collect();
        let missing: Vec<_> = accepted
            .iter()
            .filter(|id| !got.contains(id.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged but not delivered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in primary.messages() {
        *counts.entry(message_id(&m.data)).or_default() += 1;
    }
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!("delivered twice (in flight when the database went away): {twice:?}");

    // New mail after the restart is accepted by every node and delivered.
    for (i, node) in nodes.iter().enumerate() {
        let id = format!("after-{i}");
        assert_eq!(send(node.smtp_addr(), &id, "late@d0.test").await, 250);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(0..3).all(|i| counts_of(&primary, &format!("after-{i}")) == 1) {
        assert!(
            Instant::now() < deadline,
            "mail after the restart not delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(nodes);
    pg.stop();
}

fn counts_of(primary: &SmtpSink, id: &str) -> usize {
    primary
        .messages()
        .iter()
        .filter(|m| message_id(&m.data) == id)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_database_stops_and_another_takes_over() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("cutoff").await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    // n1 reaches the database through a proxy that can cut it off; n2 directly.
    let proxy = TcpProxy::start(std::net::SocketAddr::from(([127, 0, 0, 1], pg.port()))).await;
    let proxied = url.replace(
        &format!(":{}/", pg.port()),
        &format!(":{}/", proxy.addr().port()),
    );
    let mut cut = Server::with_api_token(
        node_settings("n1", &proxied, primary.addr(), &DOMAINS),
        TOKEN,
    )
    .await;
    let mut other =
        Server::with_api_token(node_settings("n2", &url, primary.addr(), &DOMAINS), TOKEN).await;

    let mut ids = Vec::new();
    for i in 0..40usize {
        let id = format!("x-{i:03}");
        let to = format!("user{}@{}", i % 4, DOMAINS[i % 4]);
        let node = if i % 2 == 0 { &cut } else { &other };
        assert_eq!(send(node.smtp_addr(), &id, &to).await, 250);
        ids.push(id);
    }
    // Wait until n1 holds claims, then cut it off.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held: i64 = db
            .query_one(
                "SELECT count(*) FROM leases WHERE node = 'n1' AND expires_at >= now()",
                &[],
            )
            .await
            .expect("leases")
            .get(0);
        let all: i64 = db
            .query_one("SELECT count(*) FROM leases WHERE expires_at >= now()", &[])
            .await
            .expect("leases")
            .get(0);
        if held > 0 && all == DOMAINS.len() as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "n1 never held claims");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy.cut();
    let cut_at = Instant::now();
    // Beyond n1's own deadline (lease - margin) and the database's expiry: the primary answers.
    cut.wait_log("stopped delivering destination", Duration::from_secs(10))
        .await;
    println!("n1 stopped delivering {:?} after the cut", cut_at.elapsed());
    primary.restart().await;

    let deadline = Instant::now() + Duration::from_secs(30);
    while primary.messages().len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} delivered\n--- n2 ---\n{}",
            primary.messages().len(),
            ids.len(),
            other.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = primary.messages();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &got {
        *counts.entry(message_id(&m.data)).or_default() += 1;
        assert_eq!(
            m.helo,
            "n2.example.test",
            "the cut-off node delivered {}",
            message_id(&m.data)
        );
    }
    assert_eq!(counts.len(), ids.len(), "every message arrived");
    assert!(
        counts.values().all(|n| *n == 1),
        "delivered twice: {counts:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        primary.messages().len(),
        ids.len(),
        "nothing delivered twice later"
    );
    cut.kill9();
    other.kill9();
    pg.stop();
}
