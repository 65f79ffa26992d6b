//! Alerts (issue 16) against the real binary and a real local webhook receiver: a primary stopped
//! gives exactly one `primary_down` after the (shortened) delay, and started again exactly one
//! `primary_up` (then one `primary_drained`); an alert raised while the receiver is down survives a
//! restart of backupmx and is delivered exactly once when the receiver is back; the HMAC header
//! verifies; Slack and ntfy requests have the shapes those services take; `backupmx alerts test`,
//! `GET /api/v1/alerts`, the metrics and a reload that adds a webhook.

use std::time::Duration;

use ring::hmac;

use crate::support;
use support::WAIT;
use support::admin::api_get;
use support::config::Settings;
use support::e2e::client::send_one;
use support::inbound::API_TOKEN;
use support::server::Server;
use support::sink::SmtpSink;
use support::webhook::{Received, WebhookReceiver};

const SECRET: &str = "a-test-secret-of-some-length";

/// The real binary backing up `example.test` (primary `sink`), alerts every 200 ms after a 2 s
/// outage, `webhooks` as `[[alert]]` tables.
fn settings(sink: &SmtpSink, webhooks: &str) -> Settings {
    let mut settings = Settings::new(Some(sink.addr()));
    settings.admin_extra = format!("api_token = {API_TOKEN:?}\n");
    settings.extra_toml =
        format!("[alerts]\nprimary_down_after = \"2s\"\ncheck_interval = \"200ms\"\n{webhooks}");
    settings
}

fn json_webhook(url: &str) -> String {
    format!("[[alert]]\nurl = \"{url}\"\nformat = \"json\"\nsecret = \"{SECRET}\"\n")
}

async fn queue_one(server: &Server) {
    let body = b"Subject: alert test\r\n\r\nhello\r\n";
    let sent = send_one(
        server.smtp_addr(),
        "sender@else.test",
        &["user@example.test"],
        body,
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));
}

/// Asserts that the server's metrics have the line `line`.
fn assert_metric(server: &Server, line: &str) {
    let metrics = server.metrics(API_TOKEN);
    assert!(metrics.contains(line), "{line} not in\n{metrics}");
}

fn verify_signature(request: &Received) {
    let header = request
        .header("x-backupmx-signature")
        .expect("a signature header");
    let hex = header.strip_prefix("sha256=").expect("sha256=<hex>");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    hmac::verify(&key, &request.body, &tag).expect("the HMAC of the body verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_primary_gives_one_primary_down_and_its_return_one_primary_up() {
    let receiver = WebhookReceiver::start().await;
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let server = Server::start(settings(&sink, &json_webhook(&receiver.url("hook")))).await;
    queue_one(&server).await;

    let down = receiver.wait_for("primary_down", 1, WAIT).await;
    let alert = down[0].json();
    assert_eq!(alert["event"], "primary_down");
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["subject"], "example.test");
    assert_eq!(alert["host"], "mx2.example.test");
    assert_eq!(alert["details"]["queued"], 1);
    let since = alert["details"]["down_since_ms"].as_u64().unwrap();
    assert!(
        alert["at_ms"].as_u64().unwrap() >= since + 2000,
        "raised before the delay: {alert}"
    );
    assert_eq!(down[0].path, "/hook");
    assert_eq!(down[0].header("content-type"), Some("application/json"));
    verify_signature(&down[0]);
    // Probes keep failing every 200 ms: still one alert.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.of("primary_down").len(), 1);

    sink.restart().await;
    let up = receiver.wait_for("primary_up", 1, WAIT).await;
    let up = up[0].json();
    // The sample after the probe sees the message waiting (then `primary_drained` follows once it
    // is delivered), or, when the drain beat the sample, already delivered.
    let drained_at_once = up["details"]["drained"] == true;
    let mut expected = vec!["primary_down", "primary_up"];
    if drained_at_once {
        assert_eq!(up["details"]["queued"], 0, "{up}");
    } else {
        assert_eq!(up["details"]["queued"], 1, "{up}");
        let drained = receiver.wait_for("primary_drained", 1, WAIT).await;
        assert_eq!(drained[0].json()["details"]["delivered"], 1);
        expected.push("primary_drained");
    }
    sink.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for event in ["primary_down", "primary_up"] {
        assert_eq!(
            receiver.of(event).len(),
            1,
            "{event}: {:?}",
            receiver.of(event)
        );
    }
    assert_eq!(
        receiver.of("primary_drained").len(),
        usize::from(!drained_at_once)
    );

    let listed = api_get(server.admin_addr(), API_TOKEN, "/api/v1/alerts").await;
    let events: Vec<&str> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["event"].as_str().unwrap())
        .collect();
    expected.reverse();
    assert_eq!(events, expected);
    assert_eq!(listed["pending"], 0);
    assert_eq!(listed["alerts"][0]["deliveries"][0]["state"], "delivered");
    assert_metric(
        &server,
        "backupmx_alerts_sent_total{event=\"primary_down\"} 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_raised_while_the_receiver_is_down_survives_a_restart_and_arrives_once() {
    let mut receiver = WebhookReceiver::start().await;
    receiver.stop().await;
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut server = Server::start(settings(&sink, &json_webhook(&receiver.url("hook")))).await;
    queue_one(&server).await;
    server
        .wait_log("alert delivery failed", Duration::from_secs(15))
        .await;
    let before = api_get(server.admin_addr(), API_TOKEN, "/api/v1/alerts").await;
    assert_eq!(before["alerts"][0]["event"], "primary_down", "{before}");
    assert_eq!(before["alerts"][0]["deliveries"][0]["state"], "pending");

    // SIGKILL and start again: the outbox is on disk.
    server.restart().await;
    server
        .wait_log("alert delivery failed", Duration::from_secs(15))
        .await;
    receiver.restart().await;
    let got = receiver.wait_for("primary_down", 1, WAIT).await;
    assert_eq!(got[0].json()["id"], before["alerts"][0]["id"]);
    verify_signature(&got[0]);
    // The primary is still down after the restart: no second primary_down, and no repeat.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.received().len(), 1, "{:?}", receiver.received());
    let after = api_get(server.admin_addr(), API_TOKEN, "/api/v1/alerts").await;
    assert_eq!(after["alerts"].as_array().unwrap().len(), 1, "{after}");
    assert_eq!(after["alerts"][0]["deliveries"][0]["state"], "delivered");
    assert!(
        after["alerts"][0]["deliveries"][0]["attempts"]
            .as_u64()
            .unwrap()
            >= 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_ntfy_shapes_the_test_command_and_a_reload() {
    let receiver = WebhookReceiver::start().await;
    let sink = SmtpSink::start().await;
    let webhooks = format!(
        "[[alert]]\nurl = \"{}\"\nformat = \"slack\"\n\
         [[alert]]\nurl = \"{}\"\nformat = \"ntfy\"\nevents = [\"primary_down\"]\n\
         headers = {{ Authorization = \"Bearer tk_test\" }}\n",
        receiver.url("slack"),
        receiver.url("ntfy/backupmx")
    );
    let mut server = Server::start(settings(&sink, &webhooks)).await;
    let admin = format!("http://{}", server.admin_addr());
    let test = ["alerts", "test", "--url", &admin, "--token", API_TOKEN];
    let output = server.cli(&test);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.matches(": delivered").count(), 2, "{stdout}");

    let got = receiver.of("test");
    let slack = got
        .iter()
        .find(|r| r.path == "/slack")
        .expect("slack request");
    let body = slack.json();
    let object = body.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>(), ["text"], "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("*test* on mx2.example.test"),
        "{body}"
    );
    assert_eq!(slack.header("content-type"), Some("application/json"));
    assert_eq!(slack.header("x-backupmx-signature"), None);

    let ntfy = got
        .iter()
        .find(|r| r.path == "/ntfy/backupmx")
        .expect("ntfy request (a test goes to every webhook, whatever its events)");
    assert!(
        String::from_utf8_lossy(&ntfy.body).starts_with("test alert from mx2.example.test"),
        "{:?}",
        ntfy.body
    );
    assert_eq!(
        ntfy.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        ntfy.header("title"),
        Some("backupmx mx2.example.test: test")
    );
    assert_eq!(ntfy.header("priority"), Some("default"));
    assert_eq!(ntfy.header("tags"), Some("white_check_mark,backupmx"));
    assert_eq!(ntfy.header("authorization"), Some("Bearer tk_test"));

    let list = server.cli(&["alerts", "list", "--url", &admin, "--token", API_TOKEN]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("test firing [delivered,delivered]"),
        "{listed}"
    );

    // The console's Alerts page shows it and its deliveries.
    let password = support::ui::admin_password(&mut server).await;
    let mut console = support::ui::console::Console::new(&admin);
    console.login(&password);
    let page = console.get("/alerts");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"alerts\""), "{}", page.body);
    assert!(
        page.body.contains("test alert from mx2.example.test"),
        "{}",
        page.body
    );
    assert_eq!(
        page.body.matches(">delivered</span>").count(),
        2,
        "{}",
        page.body
    );

    // A reload adds a webhook: the next test goes to three.
    server
        .settings
        .extra_toml
        .push_str(&json_webhook(&receiver.url("third")));
    server.write_config();
    server.hangup();
    server.wait_log("config reloaded", WAIT).await;
    let output = server.cli(&test);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches(": delivered").count(), 3, "{stdout}");
    let third = receiver.of("test");
    let third = third.iter().find(|r| r.path == "/third").expect("third");
    verify_signature(third);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_command_fails_when_a_webhook_does_not_answer_2xx() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer(500);
    let sink = SmtpSink::start().await;
    let server = Server::start(settings(&sink, &json_webhook(&receiver.url("x")))).await;
    let admin = format!("http://{}", server.admin_addr());
    let output = server.cli(&["alerts", "test", "--url", &admin, "--token", API_TOKEN]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAILED (HTTP status 500 Internal Server Error)"),
        "{stdout}"
    );
    // Retried: the receiver now accepts, the alert arrives again and is delivered.
    receiver.answer(200);
    receiver.wait_for("test", 2, WAIT).await;
    let listed = api_get(server.admin_addr(), API_TOKEN, "/api/v1/alerts").await;
    assert_eq!(
        listed["alerts"][0]["deliveries"][0]["state"], "delivered",
        "{listed}"
    );
    assert_metric(&server, "backupmx_alerts_failed_total{event=\"test\"} 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_and_the_certificate_raise_once_and_resolve_once() {
    let receiver = WebhookReceiver::start().await;
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let ca = support::tls_front::TestCa::new();
    let expiring = ca.issue_valid(&["mx2.example.test"], -86_400, 10 * 86_400);
    let mut settings = settings(&sink, &json_webhook(&receiver.url("hook")));
    settings.certificate = Some(support::config::Certificate {
        cert_pem: expiring.cert_pem.clone(),
        key_pem: expiring.key_pem.clone(),
    });
    // More space than any disk has: disk_space fires at once.
    settings.extra_toml = settings.extra_toml.replace(
        "[alerts]\n",
        "[alerts]\nqueue_size = 1\nqueue_age = \"1s\"\ndisk_space = \"1000TiB\"\n",
    );
    let server = Server::start(settings).await;
    let cert = receiver.wait_for("certificate_expiry", 1, WAIT).await;
    assert_eq!(cert[0].json()["state"], "firing");
    assert!(
        cert[0].json()["text"]
            .as_str()
            .unwrap()
            .starts_with("the inbound TLS certificate expires in 9d"),
        "{}",
        cert[0].json()
    );
    let disk = receiver.wait_for("disk_space", 1, WAIT).await;
    assert!(disk[0].json()["details"]["free_bytes"].as_u64().is_some());

    queue_one(&server).await;
    queue_one(&server).await;
    let size = receiver.wait_for("queue_size", 1, WAIT).await;
    assert_eq!(size[0].json()["details"]["messages"], 2);
    receiver.wait_for("queue_age", 1, WAIT).await;

    // The primary is back, the queue drains: both resolve, once.
    sink.restart().await;
    sink.wait_for(2, WAIT).await;
    let size = receiver.wait_for("queue_size", 2, WAIT).await;
    assert_eq!(size[1].json()["state"], "resolved");
    let age = receiver.wait_for("queue_age", 2, WAIT).await;
    assert_eq!(age[1].json()["state"], "resolved");

    // A renewed certificate (read again on SIGHUP) resolves its alert.
    let renewed = ca.issue(&["mx2.example.test"]);
    server.write_certificate(&support::config::Certificate {
        cert_pem: renewed.cert_pem,
        key_pem: renewed.key_pem,
    });
    server.hangup();
    let cert = receiver.wait_for("certificate_expiry", 2, WAIT).await;
    assert_eq!(cert[1].json()["state"], "resolved");
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (event, n) in [
        ("certificate_expiry", 2),
        ("disk_space", 1),
        ("queue_size", 2),
        ("queue_age", 2),
    ] {
        assert_eq!(receiver.of(event).len(), n, "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_is_verified_against_the_configured_roots() {
    let ca = support::tls_front::TestCa::new();
    let trusted = WebhookReceiver::start_tls(ca.acceptor(&["localhost"])).await;
    let stranger =
        WebhookReceiver::start_tls(support::tls_front::self_signed_acceptor(&["localhost"])).await;
    let files = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(files.path());
    let sink = SmtpSink::start().await;
    let url = |r: &WebhookReceiver| format!("https://localhost:{}/hook", r.addr().port());
    let webhooks = format!(
        "{}[[alert]]\nurl = \"{}\"\n",
        json_webhook(&url(&trusted)),
        url(&stranger)
    );
    let mut settings = settings(&sink, &webhooks);
    settings
        .delivery_extra
        .push(format!("tls_ca_file = {:?}", ca_file.display().to_string()));
    let server = Server::start(settings).await;
    let admin = format!("http://{}", server.admin_addr());
    let output = server.cli(&["alerts", "test", "--url", &admin, "--token", API_TOKEN]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{}: delivered", url(&trusted))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}: FAILED (TLS:", url(&stranger))),
        "{stdout}"
    );
    let got = trusted.wait_for("test", 1, WAIT).await;
    verify_signature(&got[0]);
    let host = format!("localhost:{}", trusted.addr().port());
    assert_eq!(got[0].header("host"), Some(host.as_str()));
    assert!(stranger.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_quarantined_at_start_is_alerted_once() {
    let receiver = WebhookReceiver::start().await;
    let mut sink = SmtpSink::start().await;
    sink.stop().await;
    let mut settings = settings(&sink, &json_webhook(&receiver.url("hook")));
    settings.retry = vec!["1h".into()];
    let mut server = Server::start(settings).await;
    // Larger than 256 KiB: its body has a file of its own.
    let mut body = b"Subject: big\r\n\r\n".to_vec();
    for _ in 0..5000 {
        body.extend_from_slice(&[b'x'; 98]);
        body.extend_from_slice(b"\r\n");
    }
    let sent = send_one(
        server.smtp_addr(),
        "s@else.test",
        &["u@example.test"],
        &body,
    )
    .await;
    assert_eq!(sent.data.map(|d| d.code), Some(250));
    server.terminate(Duration::from_secs(10)).await;
    let bodies: Vec<_> = std::fs::read_dir(server.spool_dir().join("body"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    std::fs::remove_file(&bodies[0]).unwrap();

    server.restart().await;
    let got = receiver.wait_for("quarantine", 1, WAIT).await;
    let text = got[0].json()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("set aside at start-up: "), "{text}");
    // Another restart: the same line (if recovery lists it again) is not alerted again.
    server.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.of("quarantine").len(),
        1,
        "{:?}",
        receiver.of("quarantine")
    );
}
