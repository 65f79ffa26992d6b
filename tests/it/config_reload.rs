//! Live reload on the real binary (issue 16): SIGHUP and `backupmx reload` apply a changed config
//! without a restart. A domain added is accepted at once; a file that fails validation is refused
//! with FILE:LINE: KEY in the log (and in the CLI's answer) while the old config keeps working; a
//! removed domain gets no new mail, is shown "removed" by the API, and its queued mail is still
//! delivered once its primary answers.

use crate::support;

use std::time::Duration;

use support::SmtpSink;
use support::admin::api_get;
use support::config::{Domain, Settings};
use support::e2e::client::send_codes;
use support::server::Server;

const TOKEN: &str = "reload-test-token-0123456789";
const WAIT: Duration = Duration::from_secs(20);

fn domain(name: &str, sink: &SmtpSink) -> Domain {
    Domain {
        name: name.into(),
        primary: Some(sink.addr().to_string()),
        extra: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_domain_and_refuses_a_broken_file_keeping_the_old_config() {
    let sink = SmtpSink::start().await;
    let mut server = Server::with_api_token(Settings::new(Some(sink.addr())), TOKEN).await;
    assert_eq!(
        send_codes(&server, "before", "user@added.test").await.0,
        550
    );

    server.settings.domains.push(domain("added.test", &sink));
    server.write_config();
    server.hangup();
    server.wait_log("config reloaded", WAIT).await;
    assert!(
        server.log().contains("domains added: added.test"),
        "{}",
        server.log()
    );
    assert_eq!(
        send_codes(&server, "added", "user@added.test").await,
        (250, Some(250))
    );
    assert_eq!(sink.wait_for(1, WAIT).await.len(), 1);

    // A typo: refused with the file, line and key; the running config stays.
    server.settings.smtp_extra.push("max_recipents = 3".into());
    server.write_config();
    server.hangup();
    server.wait_log("config reload refused", WAIT).await;
    let log = server.log();
    let config = server.config_path().display().to_string();
    let refusal = log
        .lines()
        .find(|l| l.contains("config reload refused"))
        .unwrap_or_default();
    assert!(
        refusal.contains(&format!("{config}:")) && refusal.contains("smtp.max_recipents"),
        "{refusal}"
    );
    assert_eq!(
        send_codes(&server, "after-refusal", "user@added.test").await,
        (250, Some(250))
    );
    assert_eq!(
        send_codes(&server, "old", "user@example.test").await,
        (250, Some(250))
    );
    assert_eq!(sink.wait_for(3, WAIT).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_domain_gets_no_new_mail_and_its_queue_drains() {
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut settings = Settings::new(Some(sink.addr()));
    settings.domains.push(domain("gone.test", &sink));
    let mut server = Server::with_api_token(settings, TOKEN).await;
    // Queued while the primary is down.
    assert_eq!(
        send_codes(&server, "queued", "user@gone.test").await,
        (250, Some(250))
    );

    server.settings.domains.retain(|d| d.name != "gone.test");
    server.write_config();
    let config = server.config_path().display().to_string();
    let url = format!("http://{}", server.admin_addr());
    let reload = server.cli(&[
        "reload", "--config", &config, "--url", &url, "--token", TOKEN,
    ]);
    let said = String::from_utf8_lossy(&reload.stdout).to_string();
    assert!(
        reload.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&reload.stderr)
    );
    assert!(said.contains("removed (draining): gone.test"), "{said}");

    assert_eq!(
        send_codes(&server, "refused", "user@gone.test").await.0,
        550
    );
    let domains = api_get(server.admin_addr(), TOKEN, "/api/v1/domains").await;
    let gone = domains["domains"]
        .as_array()
        .and_then(|all| all.iter().find(|d| d["domain"] == "gone.test"))
        .unwrap_or_else(|| panic!("gone.test not listed while its mail waits: {domains}"));
    assert_eq!(gone["removed"], true, "{gone}");
    assert_eq!(gone["messages"], 1, "{gone}");

    // A broken file through the CLI (given the URL and token: it cannot read them from the broken
    // file): exit 1, the server's refusal names file, line and key.
    server.settings.queue_extra.push("max_paralel = 3".into());
    server.write_config();
    let refused = server.cli(&["reload", "--url", &url, "--token", TOKEN]);
    let error = String::from_utf8_lossy(&refused.stderr).to_string();
    assert_eq!(refused.status.code(), Some(1), "{error}");
    assert!(
        error.contains("config_refused") && error.contains("queue.max_paralel"),
        "{error}"
    );

    // The primary answers: the removed domain's queued mail is delivered.
    sink.restart().await;
    let delivered = sink.wait_for(1, WAIT).await;
    assert_eq!(delivered.len(), 1, "{}", server.log());
    assert_eq!(delivered[0].recipients, ["user@gone.test"]);
}
