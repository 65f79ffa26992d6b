//! Per-domain quotas on the real binary (issue 16): with `max_messages = 2` and the primary down, the
//! third message for that domain gets 452 4.2.2 at RCPT while another domain still gets 250; the API
//! (and so the dashboard) shows the usage against the quota; once the primary drains the queue, the
//! domain takes mail again.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::admin::api_get;
use support::config::{Domain, Settings};
use support::e2e::client::send_one;
use support::e2e::mail::message;
use support::server::Server;

const TOKEN: &str = "quota-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_its_quota_a_domain_gets_452_4_2_2_and_others_still_get_250() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.domains[0].extra.extend([
        "max_messages = 2".to_string(),
        "max_lifetime = \"21d\"".to_string(),
    ]);
    settings.domains.push(Domain {
        name: "other.test".into(),
        primary: Some(sink.addr().to_string()),
        extra: Vec::new(),
    });
    let server = Server::with_api_token(settings, TOKEN).await;
    let send = |id: &'static str, to: &'static str| {
        let addr = server.smtp_addr();
        async move { send_one(addr, "sender@sender.test", &[to], &message(id, to)).await }
    };

    for id in ["first", "second"] {
        let sent = send(id, "user@example.test").await;
        assert_eq!(
            sent.data.map(|d| d.code),
            Some(250),
            "{id}: {:?}",
            sent.rcpt
        );
    }
    let over = send("third", "user@example.test").await;
    assert_eq!(over.rcpt[0].code, 452, "{:?}", over.rcpt[0]);
    assert!(over.rcpt[0].text.contains("4.2.2"), "{:?}", over.rcpt[0]);
    assert!(over.data.is_none());
    let other = send("other", "user@other.test").await;
    assert_eq!(other.data.map(|d| d.code), Some(250));

    let domains = api_get(server.admin_addr(), TOKEN, "/api/v1/domains").await;
    let example = domains["domains"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["domain"] == "example.test"))
        .cloned()
        .unwrap_or_else(|| panic!("{domains}"));
    assert_eq!(example["messages"], 2, "{example}");
    assert_eq!(example["max_messages"], 2, "{example}");

    // The primary drains the queue: the domain is under its quota again.
    sink.restart().await;
    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3, "{}", server.log());
    let mut accepted = false;
    for _ in 0..100 {
        if send("after", "user@example.test")
            .await
            .data
            .map(|d| d.code)
            == Some(250)
        {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "still refused after the drain:\n{}", server.log());
}
