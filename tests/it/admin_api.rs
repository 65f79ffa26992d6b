//! Admin listener over HTTP against the real binary: the allow list (127.0.0.1 closed at accept when
//! only 127.0.0.3 is allowed), bearer tokens (401), every queue action's effect,
//! hostile addresses staying valid JSON, the audit log and the Prometheus metrics.

use crate::support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::Value;
use support::admin::{Reply, eventually, http};
use support::config::free_port;
use support::e2e::client::send_one;
use support::e2e::mail::message;
use support::e2e::{sender_domain_records, settings_with_sender_sink};
use support::server::Server;
use support::{SmtpSink, TestDns};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "test-token-5b1f0c";
const ALLOWED: [u8; 4] = [127, 0, 0, 3];
const REFUSED: [u8; 4] = [127, 0, 0, 1];
const HOSTILE_SENDER: &str = "\"x\\\"</td><script>alert(1)</script>\"@sender.test";
const HOSTILE_RECIPIENT: &str = "\"<img src=x onerror=alert(1)>\"@example.test";

struct Setup {
    primary: SmtpSink,
    senders: SmtpSink,
    _dns: TestDns,
    server: Server,
}

impl Setup {
    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        http(
            IpAddr::from(ALLOWED),
            self.server.admin_addr(),
            method,
            path,
            Some(TOKEN),
            body,
        )
        .await
    }

    async fn list(&self, query: &str) -> Value {
        let reply = self
            .call("GET", &format!("/api/v1/queue{query}"), None)
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()
    }

    async fn id_from(&self, sender: &str) -> String {
        let all = self.list("").await;
        let found = all["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["sender"] == sender);
        found.unwrap_or_else(|| panic!("no message from {sender}: {all}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// A primary that is down, the senders' MX reachable through DNS, slow retries (only a flush retries).
async fn setup() -> Setup {
    let mut primary = SmtpSink::start().await;
    primary.stop().await;
    let senders = SmtpSink::start().await;
    let dns = TestDns::start(&sender_domain_records()).await;
    let mut settings = settings_with_sender_sink(primary.addr(), dns.addr(), senders.addr());
    settings.retry = vec!["1h".into()];
    settings.probe_interval = "1h".into();
    let admin_addr = SocketAddr::from(([127, 0, 0, 2], free_port()));
    let admin = format!("allow = [\"127.0.0.3/32\"]\napi_token = \"{TOKEN}\"\n");
    let server = Server::with_admin(settings, admin_addr, &admin).await;
    Setup {
        primary,
        senders,
        _dns: dns,
        server,
    }
}

/// Whatever the server answers a GET from `source` before closing (a reset counts as nothing).
async fn refused_exchange(source: IpAddr, to: SocketAddr, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::new(source, 0)).expect("bind");
    let mut stream = socket.connect(to).await.expect("connect");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {to}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "{path}: the connection was not closed");
    answer
}

async fn send(server: &Server, from: &str, to: &str, id: &str) {
    let sent = send_one(server.settings.smtp_addr(), from, &[to], &message(id, to)).await;
    assert_eq!(
        sent.data.as_ref().map(|d| d.code),
        Some(250),
        "not accepted: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_addresses_with_the_token_get_in() {
    let s = setup().await;
    let admin = s.server.admin_addr();
    // Outside the allow list the connection is closed at accept: no status, no header, no route.
    for path in ["/healthz", "/api/v1/queue", "/metrics", "/"] {
        let answer = refused_exchange(IpAddr::from(REFUSED), admin, path).await;
        assert!(
            answer.is_empty(),
            "{path}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(
        s.server.log().contains("admin access refused"),
        "{}",
        s.server.log()
    );
    let health = http(IpAddr::from(ALLOWED), admin, "GET", "/healthz", None, None).await;
    assert_eq!((health.status, health.text().trim()), (200, "ok"));
    for token in [None, Some("wrong"), Some("test-token-5b1f0")] {
        for path in ["/api/v1/queue", "/metrics", "/api/v1/domains"] {
            let reply = http(IpAddr::from(ALLOWED), admin, "GET", path, token, None).await;
            assert_eq!(reply.status, 401, "{path} {token:?}");
            assert_eq!(reply.error_code(), "unauthorized");
        }
    }
    let ok = s.call("GET", "/api/v1/queue", None).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["total"], 0);
    let unknown = s.call("GET", "/api/v1/nothing", None).await;
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (404, "not_found")
    );
    let wrong_method = s.call("GET", "/api/v1/hold", None).await;
    assert_eq!(wrong_method.status, 405, "state changes are POST only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_changes_the_queue_and_is_audited() {
    let mut s = setup().await;
    send(&s.server, HOSTILE_SENDER, HOSTILE_RECIPIENT, "hostile").await;
    send(&s.server, "hold-me@sender.test", "a@example.test", "hold").await;
    send(
        &s.server,
        "delete-me@sender.test",
        "b@example.test",
        "delete",
    )
    .await;
    send(
        &s.server,
        "bounce-me@sender.test",
        "c@example.test",
        "bounce",
    )
    .await;
    eventually("every message tried once", WAIT, || async {
        let all = s.list("").await;
        all["total"] == 4
            && all["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["status"] == "deferred")
    })
    .await;

    // Listing, filters and hostile text in JSON.
    let all = s.list("?sort=newest&limit=2").await;
    assert_eq!(
        (
            all["total"].as_u64(),
            all["messages"].as_array().unwrap().len()
        ),
        (Some(4), 2)
    );
    assert_eq!(s.list("?sender=BOUNCE-me").await["total"], 1);
    assert_eq!(
        s.list("?domain=example.test&status=deferred").await["total"],
        4
    );
    assert_eq!(s.list("?domain=other.test").await["total"], 0);
    let hostile = s.list("?recipient=onerror").await;
    assert_eq!(hostile["messages"][0]["sender"], HOSTILE_SENDER);
    assert_eq!(
        hostile["messages"][0]["recipients"][0]["address"],
        HOSTILE_RECIPIENT
    );
    for bad in [
        "?limit=0",
        "?limit=5000",
        "?sort=size",
        "?status=lost",
        "?bogus=1",
        "?offset=x",
    ] {
        let reply = s.call("GET", &format!("/api/v1/queue{bad}"), None).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "bad_query"),
            "{bad}"
        );
    }

    // Details and download.
    let hold_id = s.id_from("hold-me@sender.test").await;
    let detail = s
        .call("GET", &format!("/api/v1/queue/{hold_id}"), None)
        .await
        .json();
    assert_eq!(detail["recipients"][0]["address"], "a@example.test");
    assert!(
        !detail["history"].as_array().unwrap().is_empty(),
        "{detail}"
    );
    assert!(detail["last_error"].is_string(), "{detail}");
    let eml = s
        .call("GET", &format!("/api/v1/queue/{hold_id}/eml"), None)
        .await;
    assert_eq!(eml.header("content-type"), Some("message/rfc822"));
    assert!(
        eml.header("content-disposition")
            .unwrap()
            .contains(&format!("{hold_id}.eml"))
    );
    assert!(eml.text().contains("Subject: e2e hold") && eml.text().starts_with("Received:"));
    let bad_id = s.call("GET", "/api/v1/queue/not-an-id", None).await;
    assert_eq!(
        (bad_id.status, bad_id.error_code().as_str()),
        (400, "bad_id")
    );
    let unknown = s.call("GET", "/api/v1/queue/FFFFFF", None).await;
    assert_eq!(
        (unknown.status, unknown.error_code().as_str()),
        (404, "unknown_id")
    );

    // Hold (with an unknown id alongside), then release by ?id=.
    let body = format!("{{\"ids\":[\"{hold_id}\",\"FFFFFF\"]}}");
    let held = s.call("POST", "/api/v1/hold", Some(&body)).await.json();
    assert_eq!(held["done"], serde_json::json!([hold_id]));
    assert_eq!(held["failed"][0]["code"], "unknown_id");
    assert_eq!(
        s.list("?status=held").await["messages"][0]["id"],
        hold_id.as_str()
    );
    let bad_json = s.call("POST", "/api/v1/hold", Some("{\"ids\":")).await;
    assert_eq!(
        (bad_json.status, bad_json.error_code().as_str()),
        (400, "bad_json")
    );
    let no_ids = s.call("POST", "/api/v1/release", None).await;
    assert_eq!(
        (no_ids.status, no_ids.error_code().as_str()),
        (400, "no_ids")
    );
    let released = s
        .call("POST", &format!("/api/v1/release?id={hold_id}"), None)
        .await
        .json();
    assert_eq!(released["done"], serde_json::json!([hold_id]));
    assert_eq!(s.list("?status=held").await["total"], 0);

    // Delete.
    let delete_id = s.id_from("delete-me@sender.test").await;
    let deleted = s
        .call("DELETE", &format!("/api/v1/queue/{delete_id}"), None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        s.call("GET", &format!("/api/v1/queue/{delete_id}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        s.call("DELETE", &format!("/api/v1/queue/{delete_id}"), None)
            .await
            .status,
        404
    );

    // Bounce: gone from the queue, a DSN at the sender's MX.
    let bounce_id = s.id_from("bounce-me@sender.test").await;
    let bounced = s
        .call(
            "POST",
            "/api/v1/bounce",
            Some(&format!("{{\"ids\":[\"{bounce_id}\"]}}")),
        )
        .await;
    assert_eq!(bounced.json()["done"], serde_json::json!([bounce_id]));
    let dsn = s.senders.wait_for(1, WAIT).await;
    assert_eq!(dsn[0].recipients, vec!["bounce-me@sender.test".to_string()]);
    assert_eq!(
        s.call("GET", &format!("/api/v1/queue/{bounce_id}"), None)
            .await
            .status,
        404
    );

    // Domains and metrics while the primary is down.
    let domains = s.call("GET", "/api/v1/domains", None).await.json();
    assert_eq!(domains["domains"][0]["state"], "down", "{domains}");
    assert_eq!(domains["domains"][0]["messages"], 2);
    assert_eq!(domains["totals"]["messages"], 2);
    let metrics = s.call("GET", "/metrics", None).await;
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for name in [
        "backupmx_queued_messages{domain=\"example.test\"} 2",
        "backupmx_queued_bytes{domain=\"example.test\"}",
        "backupmx_oldest_message_age_seconds{domain=\"example.test\"}",
        "backupmx_primary_up{domain=\"example.test\"} 0",
        "backupmx_queue_messages 2",
        "backupmx_messages_accepted_total",
        "backupmx_connections_total",
        "backupmx_deferred_total",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }

    // The primary is back: a flush of the domain delivers what is left.
    s.primary.restart().await;
    let flushed = s
        .call("POST", "/api/v1/flush?domain=example.test", None)
        .await
        .json();
    assert_eq!(flushed["flushed"], 2, "{flushed}");
    let delivered = s.primary.wait_for(2, WAIT).await;
    assert!(
        delivered
            .iter()
            .any(|m| m.recipients == vec![HOSTILE_RECIPIENT.to_string()])
    );
    eventually("an empty queue", WAIT, || async {
        s.list("").await["total"] == 0
    })
    .await;
    let all = s.call("POST", "/api/v1/flush", Some("")).await.json();
    assert_eq!(all["flushed"], 0);
    let text = s.call("GET", "/metrics", None).await.text();
    // Two to the primary, one DSN to the senders' MX.
    for name in [
        "backupmx_delivered_total 3",
        "backupmx_delivery_attempt_duration_seconds_bucket",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    // A configured domain keeps its last known state while empty: up.
    assert!(
        text.contains("backupmx_primary_up{domain=\"example.test\"} 1\n"),
        "primary not up:\n{text}"
    );

    // Everything above is in the audit log, newest first.
    let audit = s.call("GET", "/api/v1/audit", None).await.json();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "flush", "flush", "bounce", "delete", "delete", "release", "hold"
        ],
        "{audit}"
    );
    assert!(
        audit["entries"][3]["detail"]
            .as_str()
            .unwrap()
            .contains("unknown_id"),
        "failures are audited too"
    );
    let hold = &audit["entries"][6];
    assert_eq!(
        (hold["who"].as_str(), hold["from_ip"].as_str()),
        (Some("api"), Some("127.0.0.3"))
    );
    assert!(hold["detail"].as_str().unwrap().contains(&hold_id));
    let file = std::fs::read_to_string(s.server.spool_dir().join("audit.log")).unwrap();
    assert_eq!(file.lines().count(), 7);
}
