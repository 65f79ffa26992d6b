//! Three real nodes on one PostgreSQL (issue 13): mail accepted on every node while the primary is
//! down is delivered by whichever node owns its destination; a node killed with SIGKILL while it
//! holds claims loses nothing: its destinations move to the others within `lease` + 2 s, every
//! acknowledged message arrives byte-identical, once, in per-mailbox order.

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::SmtpSink;
use support::cluster::{LEASE_SECS, start_nodes};
use support::e2e::client::Client;
use support::e2e::mail::{message, message_id, strip_first_received};
use support::postgres::TestPostgres;

const DOMAINS: [&str; 6] = [
    "d0.test", "d1.test", "d2.test", "d3.test", "d4.test", "d5.test",
];
const TOKEN: &str = "cluster-test-token";

/// (node, leases) of every node holding a live lease.
async fn claims(db: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    db.query(
        "SELECT node, count(*) FROM leases WHERE expires_at >= now() GROUP BY node",
        &[],
    )
    .await
    .expect("leases")
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_and_its_mail_moves_on() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("nodes").await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut nodes = start_nodes(3, &url, primary.addr(), &DOMAINS, TOKEN).await;

    // 180 messages, 18 mailboxes over 6 domains, sent round-robin to the three nodes, one session
    // per message (so each goes to its node as soon as the previous one is acknowledged).
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut bodies: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..180usize {
        let to = format!("user{}@{}", i % 3, DOMAINS[i % 6]);
        let id = format!("c-{i:03}");
        let body = message(&id, &to);
        let node = &nodes[i % 3];
        let mut client = Client::connect(node.smtp_addr()).await;
        client.send_ok("sender@sender.test", &[&to], &body).await;
        client.quit().await;
        expected.entry(to).or_default().push(id.clone());
        bodies.insert(id, body);
    }

    // Every destination claimed; the victim is a node holding claims.
    let deadline = Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let held = claims(&db).await;
        if held.values().sum::<i64>() == DOMAINS.len() as i64 {
            let (name, _) = held.iter().max_by_key(|(_, n)| **n).expect("a holder");
            break name.clone();
        }
        assert!(
            Instant::now() < deadline,
            "destinations not all claimed: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let victim_index: usize = victim[1..].parse::<usize>().expect("node name") - 1;
    let victim_destinations: Vec<String> = db
        .query(
            "SELECT destination FROM leases WHERE node = $1 AND expires_at >= now()",
            &[&victim],
        )
        .await
        .expect("leases")
        .iter()
        .map(|r| r.get(0))
        .collect();

    nodes[victim_index].kill9();
    let killed_at = Instant::now();
    primary.restart().await;

    // The first message of the dead node's destinations reaches the primary within lease + 2 s.
    let takeover = first_delivery_for(&primary, &victim_destinations, killed_at).await;
    println!("takeover after kill -9 of {victim}: {takeover:?} (lease {LEASE_SECS} s)");
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS + 2),
        "takeover took {takeover:?}"
    );
    let received = primary.wait_for(180, Duration::from_secs(60)).await;

    // Every acknowledged message once, byte-identical behind our Received header, in order.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for m in &received {
        let id = message_id(&m.data);
        *seen.entry(id.clone()).or_default() += 1;
        let original = &bodies[&id];
        assert_eq!(
            strip_first_received(&m.data),
            &original[..],
            "message {id} changed on its way"
        );
    }
    assert_eq!(seen.len(), 180, "every acknowledged message arrived");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "delivered twice (nothing was in flight at the kill): {twice:?}"
    );
    let mut order: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &received {
        for r in &m.recipients {
            order
                .entry(r.clone())
                .or_default()
                .push(message_id(&m.data));
        }
    }
    assert_eq!(order, expected, "per-mailbox order");

    // The shared queue is empty once everything is delivered.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = db
            .query_one("SELECT count(*) FROM messages", &[])
            .await
            .expect("count")
            .get(0);
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} messages left in the queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for node in &mut nodes {
        node.kill9();
    }
    primary.stop().await;
    pg.stop();
}

/// How long after `since` the primary first received a message for one of `destinations`.
async fn first_delivery_for(
    primary: &SmtpSink,
    destinations: &[String],
    since: Instant,
) -> Duration {
    let for_them = |m: &support::ReceivedMessage| {
        m.recipients.iter().any(|r| {
            destinations
                .iter()
                .any(|d| r.ends_with(&format!("@{d}>")) || r.ends_with(&format!("@{d}")))
        })
    };
    loop {
        if primary.messages().iter().any(for_them) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "the dead node's mail never moved on"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A POST to a node's admin API with a JSON body; the reply as JSON.
async fn api_post(node: &support::server::Server, path: &str, body: &str) -> serde_json::Value {
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    let reply = support::admin::http(
        localhost,
        node.admin_addr(),
        "POST",
        path,
        Some(TOKEN),
        Some(body),
    )
    .await;
    reply.json()
}

async fn api_delete(node: &support::server::Server, path: &str) -> String {
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    support::admin::http(
        localhost,
        node.admin_addr(),
        "DELETE",
        path,
        Some(TOKEN),
        None,
    )
    .await
    .text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_shows_and_acts_on_the_whole_cluster() {
    let _machine = support::exclusive::shared().await;
    let pg = TestPostgres::start();
    let (url, db) = pg.migrated("view").await;
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let mut nodes = start_nodes(2, &url, primary.addr(), &["d0.test"], TOKEN).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let send = |to: &'static str, id: &'static str| async move {
        let mut client = Client::connect(a.smtp_addr()).await;
        client
            .send_ok("sender@sender.test", &[to], &message(id, to))
            .await;
        client.quit().await;
    };
    send("keep@d0.test", "v-keep").await;
    send("drop@d0.test", "v-drop").await;

    // Both listed through node B, accepted by n1, claimed by whichever node owns d0.test.
    let api = support::admin::api_get;
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = api(b.admin_addr(), TOKEN, "/api/v1/queue").await;
        let claimed = listed["messages"]
            .as_array()
            .is_some_and(|m| m.iter().all(|m| m["claimed_by"].is_string()));
        if listed["total"] == 2 && claimed {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "not both listed and claimed: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let messages = listed["messages"].as_array().expect("messages").clone();
    assert!(
        messages.iter().all(|m| m["accepted_by"] == "n1"),
        "{listed}"
    );
    let id_of = |marker: &str| -> String {
        messages
            .iter()
            .find(|m| {
                m["recipients"][0]["address"]
                    .as_str()
                    .is_some_and(|r| r.starts_with(marker))
            })
            .and_then(|m| m["id"].as_str())
            .expect("listed")
            .to_string()
    };
    let (keep, drop) = (id_of("keep"), id_of("drop"));
    let detail = api(b.admin_addr(), TOKEN, &format!("/api/v1/queue/{keep}")).await;
    assert_eq!(detail["accepted_by"], "n1", "{detail}");

    // The cluster view lists both nodes, alive.
    let cluster = api(b.admin_addr(), TOKEN, "/api/v1/cluster").await;
    let names: Vec<&str> = cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["alive"] == true)
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["n1", "n2"], "{cluster}");

    // Hold one and delete the other through node B; the owner follows.
    let held = api_post(b, "/api/v1/hold", &format!("{{\"ids\":[\"{keep}\"]}}")).await;
    assert!(held.to_string().contains(&keep), "{held}");
    let deleted = api_delete(b, &format!("/api/v1/queue/{drop}")).await;
    assert!(!deleted.contains("error"), "{deleted}");
    let detail = api(a.admin_addr(), TOKEN, &format!("/api/v1/queue/{keep}")).await;
    assert_eq!(detail["status"], "held", "{detail}");
    let gone = api(a.admin_addr(), TOKEN, &format!("/api/v1/queue/{drop}")).await;
    assert_eq!(gone["error"]["code"], "unknown_id", "{gone}");
    // The audit log is shared: node A lists what was done through node B, naming B.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let audit = api(a.admin_addr(), TOKEN, "/api/v1/audit?kind=actions").await;
        let from_b: Vec<&str> = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["node"] == "n2")
            .filter_map(|e| e["action"].as_str())
            .collect();
        if from_b.contains(&"hold") && from_b.contains(&"delete") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's actions not in A's audit: {audit}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The primary comes back and a flush through node B runs: the held message waits, the deleted
    // one never leaves.
    primary.restart().await;
    let flushed = api_post(b, "/api/v1/flush", "").await;
    assert_eq!(flushed["flushed"], 1, "{flushed}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        primary.messages().is_empty(),
        "a held or deleted message left"
    );

    // Released through node B: delivered by its owner.
    api_post(b, "/api/v1/release", &format!("{{\"ids\":[\"{keep}\"]}}")).await;
    let got = primary.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(message_id(&got[0].data), "v-keep");
    support::admin::eventually("the queue empties", Duration::from_secs(10), || async {
        db.query_one("SELECT count(*) FROM messages", &[])
            .await
            .expect("count")
            .get::<_, i64>(0)
            == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(primary.messages().len(), 1, "delivered once");
    for node in &mut nodes {
        node.kill9();
    }
    pg.stop();
}
